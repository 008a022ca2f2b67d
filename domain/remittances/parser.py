"""`parse_835`: an X12 835 file into one typed `Remittance` per ST/SE transaction set.

Strict (the default) raises `RemittanceError` (a `DomainError`, field `file`) at the first
defect. `strict=False` still raises for what makes a file unreadable — not an 835, binary, over
the size limit, bad separators, truncated, garbage amounts or dates, a missing BPR/TRN/N1*PR/
N1*PE — but keeps envelope count and control-number mismatches, empty required elements (read
as 0 / "") and impossible calendar dates as `Remittance.issues`, so a document a payer really
sent can be stored and shown to a person instead of being lost.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from domain.remittances import segments as read
from domain.remittances.claims import ClaimBuilder
from domain.remittances.elements import Fields
from domain.remittances.envelope import TransactionSet, read_transaction_sets
from domain.remittances.errors import MALFORMED, Issues, RemittanceError
from domain.remittances.parsed import (
    Address,
    Claim,
    Party,
    Payment,
    ProviderAdjustment,
    ProviderSummary,
    RawSegment,
    Reference,
    Remittance,
    Trace,
)
from domain.remittances.x12 import MAX_BYTES, Segment, tokenize

T = TypeVar("T")
Tick = Callable[[int, int], None]
"""Told (segments read, segments in the file's transaction sets) as a parse goes on."""
TICK_EVERY = 10_000
_CLAIM_ONLY = frozenset({"SVC", "CAS", "LQ", "MIA", "MOA"})
_HEADER_ONLY = frozenset({"BPR", "TRN", "N1", "LX", "TS3", "TS2", "CLP", "PLB"})


def parse_835(
    data: bytes | str,
    *,
    strict: bool = True,
    max_bytes: int = MAX_BYTES,
    tick: Tick | None = None,
) -> list[Remittance]:
    """Every transaction set of an 835 file, typed; see the module docstring for errors.
    `tick` hears how far the typed parse got, every `TICK_EVERY` segments."""
    with _collector_paused():
        tokens = tokenize(data, max_bytes)
        sets = read_transaction_sets(tokens, strict=strict)
        component = tokens.separators.component
        count = _Count(sum(len(s.body) for s in sets), tick)
        return [_parse_set(s, i, component, strict, count) for i, s in enumerate(sets, start=1)]


class _Count:
    """Segments read so far, told to a `Tick` now and then."""

    def __init__(self, total: int, tick: Tick | None) -> None:
        self.done, self.total, self.tick = 0, total, tick
        if tick is not None:
            tick(0, total)

    def add(self, segments: int) -> None:
        self.done += segments
        if self.tick is not None:
            self.tick(self.done, self.total)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic GC: a big file allocates ~1M acyclic tuples and objects, and the
    collector's repeated passes over them cost ~30% of the parse time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def release_of(version: str | None, interchange_version: str | None) -> str | None:
    """The release, "5010" or "4010", from GS08/ST03 (005010X221A1…), else ISA12, else None."""
    text = version or ""
    for release in ("5010", "4010"):
        if text.startswith(f"00{release}") or text == release:
            return release
    return {"00501": "5010", "00401": "4010"}.get(interchange_version or "")


def _parse_set(
    found: TransactionSet, index: int, component: str, strict: bool, count: _Count
) -> Remittance:
    issues = Issues(strict=strict)
    issues.items.extend(found.issues)
    builder = _TransactionBuilder(Fields(issues, component))
    for start in range(0, len(found.body), TICK_EVERY):
        chunk = found.body[start : start + TICK_EVERY]
        for segment in chunk:
            builder.add(segment)
        count.add(len(chunk))
    return builder.build(found, index)


class _PartyBuilder:
    """An N1 loop: N1, N3, N4, REF, PER."""

    def __init__(self, fields: Fields, n1: Segment) -> None:
        self.fields = fields
        self.n1 = n1
        self.lines: list[str] = []
        self.address_at: int | None = None
        self.place: tuple[str, str, str, str] = ("", "", "", "")
        self.references: list[Reference] = []
        self.contacts: list[RawSegment] = []

    def add(self, segment: Segment) -> bool:
        tag = segment.tag
        if tag == "N3":
            self.lines.extend(e for e in segment.elements[:2] if e)
        elif tag == "N4":
            self.place = (segment.get(1), segment.get(2), segment.get(3), segment.get(4))
        elif tag == "REF":
            self.references.append(read.reference(self.fields, segment))
        elif tag in {"PER", "RDM", "N2"}:
            self.contacts.append(read.raw(segment))
        else:
            return False
        if tag in {"N3", "N4"} and self.address_at is None:
            self.address_at = segment.number
        return True

    def build(self) -> Party:
        address = None
        if self.address_at is not None:
            address = Address(self.address_at, tuple(self.lines), *self.place)
        n1 = self.n1
        return Party(
            segment=n1.number,
            entity=n1.get(1),
            name=n1.get(2),
            id_qualifier=n1.get(3),
            identifier=n1.get(4),
            address=address,
            references=tuple(self.references),
            contacts=tuple(self.contacts),
        )


class _TransactionBuilder:
    """Feeds the body of one ST..SE to the loop it belongs to."""

    def __init__(self, fields: Fields) -> None:
        self.fields = fields
        self.payment: Payment | None = None
        self.trace: Trace | None = None
        self.production: Segment | None = None
        self.references: list[Reference] = []
        self.parties: list[Party] = []
        self.party: _PartyBuilder | None = None
        self.summaries: list[ProviderSummary] = []
        self.claims: list[Claim] = []
        self.claim: ClaimBuilder | None = None
        self.plb: list[ProviderAdjustment] = []
        self.other: list[RawSegment] = []

    def add(self, segment: Segment) -> None:
        if segment.tag in _HEADER_ONLY:
            self._close_claim()
            self._add_header(segment)
        elif self._in_loop(segment):
            return
        elif segment.tag in _CLAIM_ONLY:
            what = f"{segment.tag} outside any claim (no CLP before it)"
            raise RemittanceError.at(segment.number, segment.tag, MALFORMED, what)
        elif segment.tag == "REF" and not self.claims and not self.parties:
            self.references.append(read.reference(self.fields, segment))
        elif segment.tag == "DTM" and segment.get(1) == "405" and self.production is None:
            self.production = segment
        else:
            self.other.append(read.raw(segment))

    def _in_loop(self, segment: Segment) -> bool:
        """Whether the open claim (and its line) or the open party took the segment."""
        if self.claim is not None:
            return self.claim.add(segment)
        return self.party is not None and self.party.add(segment)

    def _add_header(self, segment: Segment) -> None:
        tag, fields = segment.tag, self.fields
        if tag != "N1" and tag not in {"TS3", "TS2"}:
            self._close_party()
        if tag == "BPR" and self.payment is None:
            self.payment = _payment(fields, segment)
        elif tag == "TRN" and self.trace is None:
            self.trace = _trace(fields, segment)
        elif tag == "N1":
            self._close_party()
            self.party = _PartyBuilder(fields, segment)
        elif tag == "LX":
            self.summaries.append(ProviderSummary(segment.number, segment.get(1), None, None))
        elif tag in {"TS3", "TS2"} and self.summaries:
            self._add_summary(segment)
        elif tag == "CLP":
            number = self.summaries[-1].number if self.summaries else None
            self.claim = ClaimBuilder(fields, segment, number)
        elif tag == "PLB":
            self.plb.extend(read.provider_adjustments(fields, segment))
        else:
            self.other.append(read.raw(segment))

    def _add_summary(self, segment: Segment) -> None:
        last = self.summaries[-1]
        kept = read.raw(segment)
        if segment.tag == "TS3" and last.ts3 is None:
            self.summaries[-1] = ProviderSummary(last.segment, last.number, kept, last.ts2)
        elif segment.tag == "TS2" and last.ts2 is None:
            self.summaries[-1] = ProviderSummary(last.segment, last.number, last.ts3, kept)
        else:
            self.other.append(kept)

    def _close_claim(self) -> None:
        if self.claim is not None:
            self.claims.append(self.claim.build())
            self.claim = None

    def _close_party(self) -> None:
        if self.party is not None:
            self.parties.append(self.party.build())
            self.party = None

    def build(self, found: TransactionSet, index: int) -> Remittance:
        self._close_claim()
        self._close_party()
        st = found.header
        envelope = found.envelope
        version = st.get(3) or (envelope.group_version if envelope else "") or None
        interchange = envelope.interchange_version if envelope else None
        production = self.production
        return Remittance(
            index=index,
            control_number=st.get(2),
            version=version,
            release=release_of(version, interchange),
            envelope=envelope,
            start_segment=st.number,
            end_segment=found.trailer.number,
            payment=_required(self.payment, st, "BPR"),
            trace=_required(self.trace, st, "TRN"),
            production_date=self.fields.date(production, 2) if production else None,
            references=tuple(self.references),
            payer=_required(self._party("PR"), st, "N1*PR (payer)"),
            payee=_required(self._party("PE"), st, "N1*PE (payee)"),
            summaries=tuple(self.summaries),
            claims=tuple(self.claims),
            provider_adjustments=tuple(self.plb),
            other_segments=tuple(self.other),
            issues=tuple(self.fields.issues.items),
        )

    def _party(self, entity: str) -> Party | None:
        return next((p for p in self.parties if p.entity == entity), None)


def _payment(fields: Fields, bpr: Segment) -> Payment:
    return Payment(
        segment=bpr.number,
        handling_code=fields.required_text(bpr, 1),
        cents=fields.required_cents(bpr, 2),
        credit_debit=bpr.get(3),
        method=fields.required_text(bpr, 4),
        format_code=bpr.get(5),
        payment_date=fields.date(bpr, 16),
        elements=bpr.elements,
    )


def _trace(fields: Fields, trn: Segment) -> Trace:
    return Trace(
        segment=trn.number,
        type_code=trn.get(1),
        number=fields.required_text(trn, 2),
        payer_id=fields.required_text(trn, 3),
        supplemental_id=trn.get(4),
    )


def _required(value: T | None, st: Segment, what: str) -> T:
    if value is None:
        raise RemittanceError.at(
            st.number, "ST", MALFORMED, f"transaction set {st.get(2)!r} has no {what} segment"
        )
    return value
