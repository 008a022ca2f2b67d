"""The parts of a remittance: its file, imbalances, issues, PLB rows, claim counts, and a claim's
service lines and CAS adjustments. Money is integer cents in, decimal strings out."""

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Self

import strawberry

from api.context import Info
from api.ids import encode_id
from api.ledger.types import ChargeLine
from api.remittances.enums import AdjustmentEffect, CasGroup, ImbalanceLevel
from api.remittances.loaders import remittance_loaders
from api.scalars import Money
from domain.remittances import codes
from domain.remittances import models as remit
from domain.remittances.summary import ClaimCounts


def quantity(value: Decimal | None) -> str | None:
    """A stored quantity as the file gave it (no float, no trailing zeros)."""
    return None if value is None else format(value.normalize(), "f")


def cas_group(code: str) -> CasGroup | None:
    """The group as the enum, or None for a code outside the X12 list (kept as sent)."""
    try:
        return CasGroup(code)
    except ValueError:
        return None


@strawberry.type(description="An imported 835 file as received (its text is kept, not shown).")
class RemittanceFile:
    filename: str | None
    sha256: str = strawberry.field(description="The SHA-256 of the bytes received, in hex.")
    size_bytes: int
    imported_by: str
    created_at: datetime

    @classmethod
    def from_row(cls, row: remit.RemittanceFile) -> Self:
        return cls(
            filename=row.filename,
            sha256=row.sha256.hex(),
            size_bytes=row.size_bytes,
            imported_by=row.imported_by,
            created_at=row.created_at,
        )


@strawberry.type(description="One balancing equation of the 835 that does not hold.")
class RemittanceImbalance:
    level: ImbalanceLevel
    reference: str = strawberry.field(
        description="The trace number, the claim's CLP01, or CLP01 and the line number."
    )
    segment: int = strawberry.field(description="The BPR, CLP or SVC segment (ISA is 1).")
    expected: Money = strawberry.field(description="The left side: BPR02, CLP03-CLP04, SVC02-03.")
    actual: Money = strawberry.field(description="The right side: what the parts add up to.")
    difference: Money = strawberry.field(description="expected - actual.")
    message: str

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> Self:
        expected, actual = int(row["expected"]), int(row["actual"])
        return cls(
            level=ImbalanceLevel(row["level"]),
            reference=str(row["reference"]),
            segment=int(row["segment"]),
            expected=expected,
            actual=actual,
            difference=expected - actual,
            message=str(row["message"]),
        )


@strawberry.type(description="A defect a lenient import kept (it would have refused the file).")
class RemittanceIssue:
    segment: int
    tag: str
    code: str
    message: str


@strawberry.type(description="A provider-level adjustment (PLB): against the remittance.")
class RemittanceProviderAdjustment:
    segment: int
    provider_identifier: str
    reason_code: str
    reason_text: str | None = strawberry.field(description="e.g. Interest for L6; null if unknown.")
    reference: str
    amount: Money = strawberry.field(description="Positive: withheld; negative: added (interest).")
    fiscal_period_end: date | None
    posted_at: datetime | None

    @classmethod
    def from_row(cls, row: remit.RemittanceProviderAdjustment) -> Self:
        return cls(
            segment=row.segment,
            provider_identifier=row.provider_identifier,
            reason_code=row.reason_code,
            reason_text=codes.plb_reason_text(row.reason_code) or None,
            reference=row.reference,
            amount=row.amount_cents,
            fiscal_period_end=row.fiscal_period_end,
            posted_at=row.posted_at,
        )


@strawberry.type(description="A remittance's claims counted by what matching and posting did.")
class RemittanceClaimSummary:
    claim_count: int
    matched_count: int = strawberry.field(description="Matched to a visit.")
    unmatched_count: int = strawberry.field(description="Outcome UNMATCHED.")
    posted_count: int = strawberry.field(
        description="Posted (POSTED, or REVERSED later), payer reversals and denials apart."
    )
    denied_count: int
    reversed_count: int = strawberry.field(
        description="Payer reversals (CLP02 22) here that undid an earlier posting."
    )
    skipped_count: int
    unapplied_count: int = strawberry.field(description="Claims with money left unapplied.")

    @classmethod
    def of(cls, c: ClaimCounts) -> Self:
        return cls(
            claim_count=c.claims,
            matched_count=c.matched,
            unmatched_count=c.unmatched,
            posted_count=c.posted,
            denied_count=c.denied,
            reversed_count=c.reversed,
            skipped_count=c.skipped,
            unapplied_count=c.unapplied,
        )


@strawberry.type(description="One CAS reason triplet of a claim or of a service line.")
class RemittanceAdjustment:
    group: CasGroup | None = strawberry.field(description="Null for a code outside the X12 list.")
    group_code: str = strawberry.field(description="CAS01 as the file gave it.")
    reason_code: str
    amount: Money = strawberry.field(description="Signed: a negative amount undoes one.")
    quantity: str | None
    effect: AdjustmentEffect
    segment: int

    @classmethod
    def from_row(cls, row: remit.RemittanceAdjustment) -> Self:
        return cls(
            group=cas_group(row.group_code),
            group_code=row.group_code,
            reason_code=row.reason_code,
            amount=row.amount_cents,
            quantity=quantity(row.quantity),
            effect=AdjustmentEffect(row.effect),
            segment=row.segment,
        )

    @strawberry.field(description="The CARC text (CMS list), null for an unknown code.")
    def reason_text(self) -> str | None:
        return codes.carc_text(self.reason_code)


@strawberry.type(description="One service line (SVC loop) and the charge line it matched.")
class RemittanceLine:
    id: strawberry.ID
    pk: strawberry.Private[int]
    claim_pk: strawberry.Private[int]
    charge_line_pk: strawberry.Private[int | None]
    seq: int
    segment: int
    procedure_qualifier: str = strawberry.field(description="SVC01-1, e.g. HC (HCPCS/CPT).")
    procedure_code: str
    modifiers: list[str]
    service_date: date | None
    charge: Money
    paid: Money
    units: str | None = strawberry.field(description="Paid units, as a decimal string.")
    control_number: str | None = strawberry.field(description="REF*6R, the line's own number.")
    remarks: list[str] = strawberry.field(description="LQ remark codes (RARC).")
    unmatched_code: str | None
    unmatched_message: str | None

    @classmethod
    def from_row(cls, row: remit.RemittanceLine) -> Self:
        return cls(
            id=strawberry.ID(encode_id("RemittanceLine", row.id)),
            pk=row.id,
            claim_pk=row.claim_id,
            charge_line_pk=row.charge_line_id,
            seq=row.seq,
            segment=row.segment,
            procedure_qualifier=row.procedure_qualifier,
            procedure_code=row.procedure_code,
            modifiers=list(row.modifiers),
            service_date=row.service_date,
            charge=row.charge_cents,
            paid=row.paid_cents,
            units=quantity(row.units),
            control_number=row.control_number,
            remarks=list(row.remarks),
            unmatched_code=row.unmatched_code,
            unmatched_message=row.unmatched_message,
        )

    @strawberry.field(description="The charge line it matched; null when it matched none.")
    async def charge_line(self, info: Info) -> ChargeLine | None:
        if self.charge_line_pk is None:
            return None
        row = await remittance_loaders(info).charge_line.load(self.charge_line_pk)
        return None if row is None else ChargeLine.from_row(row)

    @strawberry.field(description="The line's CAS adjustments, in file order.")
    async def adjustments(self, info: Info) -> list[RemittanceAdjustment]:
        rows = await remittance_loaders(info).adjustments_by_claim.load(self.claim_pk)
        return [RemittanceAdjustment.from_row(r) for r in rows if r.line_id == self.pk]
