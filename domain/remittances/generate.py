"""Writes valid, balanced 5010 835s from specs: for tests (round trips) and the benchmark.

The specs say what the parser should read back: `parse_835(generate_835([spec]))[0]` carries the
spec's values. BPR02 is computed (Σ paid - Σ PLB), so the transaction level always balances;
claims and lines balance when their specs do (`balanced_line` / `balanced_claim` build such).
Separators and line breaks are chosen with `Layout`; SE/GE/IEA counts are always right.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class AdjustmentSpec:
    """One CAS triplet (consecutive specs of one group share a CAS segment, six at most)."""

    group: str
    reason: str
    cents: int
    quantity: Decimal | None = None


@dataclass(frozen=True, slots=True)
class LineSpec:
    """One SVC loop."""

    code: str
    charge_cents: int
    paid_cents: int
    qualifier: str = "HC"
    modifiers: tuple[str, ...] = ()
    service_date: date | None = None
    units: Decimal | None = None
    adjustments: tuple[AdjustmentSpec, ...] = ()
    control_number: str | None = None


@dataclass(frozen=True, slots=True)
class ClaimSpec:
    """One CLP loop; claim-level `adjustments` come before the lines."""

    claim_id: str
    charge_cents: int
    paid_cents: int
    status: str = "1"
    patient_responsibility_cents: int | None = None
    filing_indicator: str = "12"
    payer_claim_number: str = "PCN1"
    patient_last: str = "DOE"
    patient_first: str = "JANE"
    member_id: str = "M123456"
    adjustments: tuple[AdjustmentSpec, ...] = ()
    lines: tuple[LineSpec, ...] = ()


@dataclass(frozen=True, slots=True)
class ProviderAdjustmentSpec:
    """One PLB pair: reason (WO, L6, FB, CS…), optional reference, amount (+ = withheld)."""

    reason: str
    cents: int
    reference: str = ""


@dataclass(frozen=True, slots=True)
class RemittanceSpec:
    """One ST..SE transaction set."""

    trace_number: str
    payer_id: str
    claims: tuple[ClaimSpec, ...]
    payer_name: str = "ACME HEALTH PLAN"
    payee_name: str = "GOOD CLINIC"
    payee_npi: str = "1234567893"
    payment_date: date = date(2026, 1, 15)
    handling_code: str = "I"
    method: str = "ACH"
    provider_id: str = "1234567893"
    fiscal_period_end: date = date(2026, 12, 31)
    provider_adjustments: tuple[ProviderAdjustmentSpec, ...] = ()

    @property
    def payment_cents(self) -> int:
        """BPR02: Σ CLP04 - Σ PLB."""
        paid = sum(claim.paid_cents for claim in self.claims)
        return paid - sum(plb.cents for plb in self.provider_adjustments)


@dataclass(frozen=True, slots=True)
class Layout:
    """Separators (`repetition` None writes 4010's `U`) and whether a newline follows `~`."""

    element: str = "*"
    component: str = ":"
    repetition: str | None = "^"
    segment: str = "~"
    newlines: bool = False


def x12_amount(cents: int) -> str:
    """Cents as an X12 decimal without needless zeros: 30000 → 300, 2421 → 24.21, 50 → 0.5."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    if frac == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac:02d}".rstrip("0")


def generate_835(
    specs: Sequence[RemittanceSpec], layout: Layout | None = None, control: int = 1
) -> str:
    """One interchange with one HP group holding one transaction set per spec."""
    layout = layout or Layout()
    out = _Writer(layout)
    out.isa(control)
    out.seg("GS", "HP", "SENDER", "RECEIVER", "20260115", "1200", str(control), "X", "005010X221A1")
    for number, spec in enumerate(specs, start=1):
        start = out.count
        st_control = f"{number:04d}"
        out.seg("ST", "835", st_control)
        for parts in _transaction(spec, layout.component):
            out.seg(*parts)
        out.seg("SE", str(out.count - start + 1), st_control)
    out.seg("GE", str(len(specs)), str(control))
    out.seg("IEA", "1", f"{control:09d}")
    return out.text()


class _Writer:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.parts: list[str] = []
        self.count = 0
        self.end = layout.segment + ("\n" if layout.newlines and layout.segment != "\n" else "")

    def isa(self, control: int) -> None:
        lay = self.layout
        fields = ["ISA", "00", " " * 10, "00", " " * 10, "ZZ", "SENDER".ljust(15)]
        fields += ["ZZ", "RECEIVER".ljust(15), "260115", "1200", lay.repetition or "U"]
        fields += ["00501" if lay.repetition else "00401", f"{control:09d}", "0", "T"]
        self.parts.append(lay.element.join(fields) + lay.element + lay.component + self.end)
        self.count += 1

    def seg(self, *elements: str) -> None:
        values = list(elements)
        while values and not values[-1]:
            values.pop()
        self.parts.append(self.layout.element.join(values) + self.end)
        self.count += 1

    def text(self) -> str:
        return "".join(self.parts)


def _transaction(spec: RemittanceSpec, component: str) -> Iterator[tuple[str, ...]]:
    paid_on = spec.payment_date.strftime("%Y%m%d")
    bpr = [spec.handling_code, x12_amount(spec.payment_cents), "C", spec.method, "CCP"]
    yield ("BPR", *bpr, *[""] * 10, paid_on)
    yield ("TRN", "1", spec.trace_number, spec.payer_id)
    yield ("DTM", "405", paid_on)
    yield ("N1", "PR", spec.payer_name)
    yield ("N3", "1 MAIN STREET")
    yield ("N4", "SPRINGFIELD", "IL", "62701")
    yield ("PER", "BL", "PROVIDER SERVICES", "TE", "8005551212")
    yield ("N1", "PE", spec.payee_name, "XX", spec.payee_npi)
    if spec.claims:
        yield ("LX", "1")
    for claim in spec.claims:
        yield from _claim(claim, component)
    yield from _plb(spec, component)


def _claim(claim: ClaimSpec, component: str) -> Iterator[tuple[str, ...]]:
    share = claim.patient_responsibility_cents
    yield (
        "CLP",
        claim.claim_id,
        claim.status,
        x12_amount(claim.charge_cents),
        x12_amount(claim.paid_cents),
        "" if share is None else x12_amount(share),
        claim.filing_indicator,
        claim.payer_claim_number,
    )
    yield from _cas(claim.adjustments)
    patient = (claim.patient_last, claim.patient_first)
    yield ("NM1", "QC", "1", *patient, "", "", "", "MI", claim.member_id)
    for line in claim.lines:
        yield from _line(line, component)


def _line(line: LineSpec, component: str) -> Iterator[tuple[str, ...]]:
    procedure = component.join((line.qualifier, line.code, *line.modifiers))
    units = "" if line.units is None else str(line.units)
    yield ("SVC", procedure, x12_amount(line.charge_cents), x12_amount(line.paid_cents), "", units)
    if line.service_date is not None:
        yield ("DTM", "472", line.service_date.strftime("%Y%m%d"))
    yield from _cas(line.adjustments)
    if line.control_number is not None:
        yield ("REF", "6R", line.control_number)


def _cas(adjustments: tuple[AdjustmentSpec, ...]) -> Iterator[tuple[str, ...]]:
    """Consecutive adjustments of one group share a CAS segment, up to six triplets each."""
    run: list[AdjustmentSpec] = []
    for adjustment in adjustments:
        if run and (run[0].group != adjustment.group or len(run) == 6):
            yield _cas_segment(run)
            run = []
        run.append(adjustment)
    if run:
        yield _cas_segment(run)


def _cas_segment(run: list[AdjustmentSpec]) -> tuple[str, ...]:
    elements = ["CAS", run[0].group]
    for a in run:
        elements += [a.reason, x12_amount(a.cents), "" if a.quantity is None else str(a.quantity)]
    return tuple(elements)


def _plb(spec: RemittanceSpec, component: str) -> Iterator[tuple[str, ...]]:
    adjustments = spec.provider_adjustments
    period = spec.fiscal_period_end.strftime("%Y%m%d")
    for start in range(0, len(adjustments), 6):
        elements = ["PLB", spec.provider_id, period]
        for plb in adjustments[start : start + 6]:
            reason = component.join((plb.reason, plb.reference)) if plb.reference else plb.reason
            elements += [reason, x12_amount(plb.cents)]
        yield tuple(elements)


def balanced_line(rng: random.Random, number: int, charge_cents: int) -> LineSpec:
    """A line that balances: paid part of the charge, the rest split into CO-45 and PR-2."""
    paid = rng.randint(0, charge_cents)
    patient = rng.randint(0, charge_cents - paid)
    adjustments = [AdjustmentSpec("CO", "45", charge_cents - paid - patient)]
    if patient:
        adjustments.append(AdjustmentSpec("PR", "2", patient))
    return LineSpec(
        code=rng.choice(("99213", "99214", "93000", "36415", "80053")),
        charge_cents=charge_cents,
        paid_cents=paid,
        modifiers=rng.choice(((), ("25",), ("26", "59"))),
        service_date=date(2026, 1, 1 + number % 28),
        units=Decimal(1 + number % 3),
        adjustments=tuple(adjustments),
        control_number=f"L{number}",
    )


def balanced_claim(claim_id: str, lines: tuple[LineSpec, ...], status: str = "1") -> ClaimSpec:
    """A claim whose charge and paid are the sums of its (balanced) lines."""
    patient = sum(a.cents for line in lines for a in line.adjustments if a.group == "PR")
    return ClaimSpec(
        claim_id=claim_id,
        charge_cents=sum(line.charge_cents for line in lines),
        paid_cents=sum(line.paid_cents for line in lines),
        status=status,
        patient_responsibility_cents=patient,
        lines=lines,
    )


def synthetic_remittance(claims: int, lines_per_claim: int, seed: int = 0) -> RemittanceSpec:
    """A large balanced remittance (e.g. 10,000 claims x 3 lines) for benchmarks."""
    rng = random.Random(seed)
    built: list[ClaimSpec] = []
    for number in range(1, claims + 1):
        lines = tuple(
            balanced_line(rng, number * 10 + n, rng.randint(1_000, 500_000))
            for n in range(lines_per_claim)
        )
        built.append(balanced_claim(f"C{number:08d}", lines))
    return RemittanceSpec(f"TRACE{seed:06d}", "1999999999", tuple(built))
