"""Readers for the small segments shared by the loops: CAS, DTM, REF, AMT, QTY, LQ, NM1, PLB."""

from __future__ import annotations

from domain.remittances.elements import Fields
from domain.remittances.parsed import (
    Adjustment,
    DateValue,
    MonetaryAmount,
    Name,
    Procedure,
    ProviderAdjustment,
    Quantity,
    RawSegment,
    Reference,
    Remark,
)
from domain.remittances.x12 import Segment

MAX_TRIPLETS = 6  # CAS02-CAS19
MAX_PLB_PAIRS = 6  # PLB03-PLB14


def raw(segment: Segment) -> RawSegment:
    """The segment kept as it came."""
    return RawSegment(segment.number, segment.tag, segment.elements)


def adjustments(fields: Fields, segment: Segment) -> list[Adjustment]:
    """CAS: the group code and up to six reason/amount/quantity triplets (signed amounts)."""
    group = fields.required_text(segment, 1)
    found: list[Adjustment] = []
    for index in range(min(MAX_TRIPLETS, (len(segment.elements) + 1) // 3)):
        reason_at = 2 + 3 * index
        reason = segment.get(reason_at)
        if not reason:
            if segment.get(reason_at + 1):
                fields.required_text(segment, reason_at)
            continue
        cents = fields.required_cents(segment, reason_at + 1)
        units = fields.quantity(segment, reason_at + 2)
        found.append(Adjustment(segment.number, index + 1, group, reason, cents, units))
    if not found:
        fields.required_text(segment, 2)
    return found


def date_value(fields: Fields, segment: Segment) -> DateValue:
    """DTM01 qualifier and DTM02 date."""
    fields.required_text(segment, 2)
    return DateValue(segment.number, segment.get(1), fields.date(segment, 2), segment.get(2))


def reference(fields: Fields, segment: Segment) -> Reference:
    """REF01 qualifier and REF02 value."""
    return Reference(segment.number, segment.get(1), fields.required_text(segment, 2))


def amount(fields: Fields, segment: Segment) -> MonetaryAmount:
    """AMT01 qualifier and AMT02 amount in cents."""
    return MonetaryAmount(segment.number, segment.get(1), fields.required_cents(segment, 2))


def quantity(fields: Fields, segment: Segment) -> Quantity | None:
    """QTY01 qualifier and QTY02 quantity (None after an issue when it is empty)."""
    value = fields.quantity(segment, 2)
    if value is None:
        fields.required_text(segment, 2)
        return None
    return Quantity(segment.number, segment.get(1), value)


def remark(fields: Fields, segment: Segment) -> Remark:
    """LQ01 qualifier (HE: RARC) and LQ02 code."""
    return Remark(segment.number, segment.get(1), fields.required_text(segment, 2))


def name(segment: Segment) -> Name:
    """NM1 with the elements the 835 uses (an empty name, as some payers send, is kept)."""
    return Name(
        segment=segment.number,
        entity=segment.get(1),
        entity_type=segment.get(2),
        last_or_organization=segment.get(3),
        first=segment.get(4),
        middle=segment.get(5),
        suffix=segment.get(7),
        id_qualifier=segment.get(8),
        identifier=segment.get(9),
    )


def procedure(parts: tuple[str, ...]) -> Procedure:
    """SVC01/SVC06 composite: qualifier, code, modifiers 1-4, description (SVC01-7)."""
    if len(parts) < 7:
        parts = (*parts, "", "", "", "", "", "", "")
    return Procedure(parts[0], parts[1], tuple(m for m in parts[2:6] if m), parts[6])


def provider_adjustments(fields: Fields, segment: Segment) -> list[ProviderAdjustment]:
    """PLB: provider id, fiscal period date, then up to six (reason:reference, amount) pairs."""
    provider = fields.required_text(segment, 1)
    fields.required_text(segment, 2)
    period = fields.date(segment, 2)
    found: list[ProviderAdjustment] = []
    for index in range(MAX_PLB_PAIRS):
        reason_at = 3 + 2 * index
        parts = fields.composite(segment, reason_at)
        if not parts or not parts[0]:
            if segment.get(reason_at + 1):
                fields.required_text(segment, reason_at)
            continue
        cents = fields.required_cents(segment, reason_at + 1)
        ref = fields.component.join(parts[1:])
        found.append(
            ProviderAdjustment(segment.number, index + 1, provider, period, parts[0], ref, cents)
        )
    if not found:
        fields.required_text(segment, 3)
    return found
