"""Generated 835s read back exactly: parse(generate(spec)) carries the spec, and balances.

Hypothesis draws remittances (claims with and without lines, signed CAS, reversals, PLB rows)
and layouts (separators, newlines, CRLF, BOM, indentation). Seeded with the run's seed
(`ARLEDGER_SEED` replays a run).
"""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from domain.remittances.balance import check_remittance
from domain.remittances.generate import (
    AdjustmentSpec,
    ClaimSpec,
    Layout,
    LineSpec,
    ProviderAdjustmentSpec,
    RemittanceSpec,
    generate_835,
)
from domain.remittances.parsed import Adjustment, Claim, Remittance, ServiceLine
from domain.remittances.parser import parse_835
from tests.support.seeds import SEED

SETTINGS = settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
IDS = st.text("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789-", min_size=1, max_size=20).filter(
    lambda s: s[0] != "-"
)
WORDS = st.lists(
    st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=8), min_size=1, max_size=3
)
NAMES = WORDS.map(" ".join)
CENTS = st.integers(-10_000_000, 10_000_000)
DATES = st.dates(date(1990, 1, 1), date(2039, 12, 31))
QUANTITIES = (
    st.none()
    | st.integers(-99, 999).map(Decimal)
    | st.integers(0, 999_999).map(lambda n: Decimal(f"{n // 1000}.{n % 1000:03d}"))
)
GROUPS = st.sampled_from(["CO", "PR", "OA", "PI"])
REASONS = st.sampled_from(["1", "2", "3", "16", "23", "45", "94", "97", "253", "A2", "B7"])


@st.composite
def adjustments_summing_to(draw: st.DrawFn, total: int) -> tuple[AdjustmentSpec, ...]:
    """1-8 signed adjustments whose amounts add up to `total` (0 allows none)."""
    count = draw(st.integers(0 if total == 0 else 1, 8))
    amounts = [draw(CENTS) for _ in range(max(count - 1, 0))]
    if count:
        amounts.append(total - sum(amounts))
    return tuple(AdjustmentSpec(draw(GROUPS), draw(REASONS), a, draw(QUANTITIES)) for a in amounts)


@st.composite
def lines(draw: st.DrawFn) -> LineSpec:
    charge, paid = draw(CENTS), draw(CENTS)
    return LineSpec(
        code=draw(st.sampled_from(["99213", "99214", "D0120", "T1017", "B4152", "0450"])),
        charge_cents=charge,
        paid_cents=paid,
        qualifier=draw(st.sampled_from(["HC", "AD", "NU", "ZZ"])),
        modifiers=tuple(
            draw(st.lists(st.sampled_from(["25", "26", "59", "GT", "TG"]), max_size=4))
        ),
        service_date=draw(st.none() | DATES),
        units=draw(QUANTITIES),
        adjustments=draw(adjustments_summing_to(charge - paid)),
        control_number=draw(st.none() | IDS),
    )


@st.composite
def claims(draw: st.DrawFn) -> ClaimSpec:
    own = draw(lines().map(lambda line: line.adjustments)) if draw(st.booleans()) else ()
    drawn = tuple(draw(st.lists(lines(), max_size=4)))
    charge = sum(line.charge_cents for line in drawn) if drawn else draw(CENTS)
    line_paid = sum(line.paid_cents for line in drawn) if drawn else charge
    claim = ClaimSpec(
        claim_id=draw(IDS),
        charge_cents=charge,
        paid_cents=line_paid - sum(a.cents for a in own),
        status=draw(st.sampled_from(["1", "2", "3", "4", "19", "22", "23", "25"])),
        patient_responsibility_cents=draw(st.none() | CENTS),
        filing_indicator=draw(st.sampled_from(["12", "MA", "MB", "MC", "HM", "CI"])),
        payer_claim_number=draw(IDS),
        patient_last=draw(NAMES),
        patient_first=draw(NAMES),
        member_id=draw(IDS),
        adjustments=own,
        lines=drawn,
    )
    return claim


@st.composite
def remittances(draw: st.DrawFn) -> RemittanceSpec:
    plb = st.builds(
        ProviderAdjustmentSpec,
        st.sampled_from(["WO", "L6", "FB", "CS", "72"]),
        CENTS,
        st.just("") | IDS,
    )
    return RemittanceSpec(
        trace_number=draw(IDS),
        payer_id=draw(IDS),
        claims=tuple(draw(st.lists(claims(), max_size=5))),
        payer_name=draw(NAMES),
        payee_name=draw(NAMES),
        payee_npi=draw(IDS),
        payment_date=draw(DATES),
        handling_code=draw(st.sampled_from(["C", "D", "H", "I", "P", "U", "X"])),
        method=draw(st.sampled_from(["ACH", "CHK", "NON", "BOP", "FWT"])),
        provider_id=draw(IDS),
        fiscal_period_end=draw(DATES),
        provider_adjustments=tuple(draw(st.lists(plb, max_size=8))),
    )


@st.composite
def layouts(draw: st.DrawFn) -> Layout:
    element = draw(st.sampled_from("*|!^"))
    component = draw(st.sampled_from([c for c in ":>\\^" if c != element]))
    segment = draw(st.sampled_from([c for c in "~'\n" if c not in (element, component)]))
    used = (element, component, segment)
    repetition = draw(st.sampled_from([None, *(c for c in "^{}" if c not in used)]))
    return Layout(element, component, repetition, segment, draw(st.booleans()))


@st.composite
def dressed(draw: st.DrawFn, text: str) -> bytes | str:
    """The same file with CRLF, indentation, a BOM, as bytes or str."""
    if "\n" in text and draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    if "\n" in text and draw(st.booleans()):
        text = text.replace("\n", "\n    ")
    if draw(st.booleans()):
        return ("\ufeff" if draw(st.booleans()) else "") + text
    return text.encode("utf-8-sig" if draw(st.booleans()) else "utf-8")


def adjustment_specs(found: tuple[Adjustment, ...]) -> tuple[AdjustmentSpec, ...]:
    return tuple(AdjustmentSpec(a.group, a.reason, a.cents, a.quantity) for a in found)


def line_spec(line: ServiceLine) -> LineSpec:
    return LineSpec(
        code=line.procedure.code,
        charge_cents=line.charge_cents,
        paid_cents=line.paid_cents,
        qualifier=line.procedure.qualifier,
        modifiers=line.procedure.modifiers,
        service_date=line.service_date,
        units=line.units,
        adjustments=adjustment_specs(line.adjustments),
        control_number=line.control_number,
    )


def claim_spec(claim: Claim) -> ClaimSpec:
    patient = claim.name("QC")
    assert patient is not None
    return ClaimSpec(
        claim_id=claim.patient_control_number,
        charge_cents=claim.charge_cents,
        paid_cents=claim.paid_cents,
        status=claim.status_code,
        patient_responsibility_cents=claim.patient_responsibility_cents,
        filing_indicator=claim.filing_indicator,
        payer_claim_number=claim.payer_claim_control_number,
        patient_last=patient.last_or_organization,
        patient_first=patient.first,
        member_id=patient.identifier,
        adjustments=adjustment_specs(claim.adjustments),
        lines=tuple(line_spec(line) for line in claim.lines),
    )


def spec_of(remittance: Remittance, original: RemittanceSpec) -> RemittanceSpec:
    """What the parsed remittance says, in the generator's terms."""
    plb = remittance.provider_adjustments
    assert remittance.payment.payment_date is not None
    return RemittanceSpec(
        trace_number=remittance.trace.number,
        payer_id=remittance.trace.payer_id,
        claims=tuple(claim_spec(c) for c in remittance.claims),
        payer_name=remittance.payer.name,
        payee_name=remittance.payee.name,
        payee_npi=remittance.payee.identifier,
        payment_date=remittance.payment.payment_date,
        handling_code=remittance.payment.handling_code,
        method=remittance.payment.method,
        provider_id=plb[0].provider_id if plb else original.provider_id,
        fiscal_period_end=(plb[0].fiscal_period_end or date.min)
        if plb
        else original.fiscal_period_end,
        provider_adjustments=tuple(
            ProviderAdjustmentSpec(p.reason, p.cents, p.reference) for p in plb
        ),
    )


@seed(SEED)
@SETTINGS
@given(st.lists(remittances(), min_size=1, max_size=3), layouts(), st.data())
def test_parse_gives_back_the_generated_values(
    specs: list[RemittanceSpec], layout: Layout, data: st.DataObject
) -> None:
    text = generate_835(specs, layout)
    parsed = parse_835(data.draw(dressed(text)))
    assert [spec_of(r, s) for r, s in zip(parsed, specs, strict=True)] == specs
    for remittance, spec in zip(parsed, specs, strict=True):
        assert remittance.payment.cents == spec.payment_cents
        assert remittance.issues == ()
        assert check_remittance(remittance).balanced
        assert remittance.envelope is not None
        assert remittance.envelope.separators.element == layout.element


@seed(SEED)
@SETTINGS
@given(remittances(), layouts())
def test_several_interchanges_in_one_file(spec: RemittanceSpec, layout: Layout) -> None:
    first = generate_835([spec], layout, control=1)
    second = generate_835([spec, spec], layout, control=2)
    parsed = parse_835(first + second)
    assert [(r.index, r.envelope.interchange_control if r.envelope else "") for r in parsed] == [
        (1, "000000001"),
        (2, "000000002"),
        (3, "000000002"),
    ]
    assert len({spec_of(r, spec) for r in parsed}) == 1


@seed(SEED)
@SETTINGS
@given(remittances(), st.sampled_from([":", ">", "^"]))
def test_a_file_without_envelope_reads_the_same(spec: RemittanceSpec, component: str) -> None:
    text = generate_835([spec], Layout(component=component, newlines=True))
    bare = "".join(
        line + "\n" for line in text.splitlines() if line[:3] not in {"ISA", "GS*", "GE*", "IEA"}
    )
    (remittance,) = parse_835(bare)
    assert remittance.envelope is None and remittance.start_segment == 1
    assert spec_of(remittance, spec) == spec


def test_a_reversal_pair_round_trips() -> None:
    line = LineSpec("T1017", 30000, 20000, adjustments=(AdjustmentSpec("CO", "45", 10000),))
    original = ClaimSpec("C1", 30000, 20000, lines=(line,))
    negated = dataclasses.replace(
        original,
        status="22",
        charge_cents=-30000,
        paid_cents=-20000,
        lines=(
            dataclasses.replace(
                line,
                charge_cents=-30000,
                paid_cents=-20000,
                units=Decimal(-6),
                adjustments=(AdjustmentSpec("CO", "45", -10000),),
            ),
        ),
    )
    spec = RemittanceSpec("T1", "P1", (negated, original))
    (remittance,) = parse_835(generate_835([spec]))
    assert spec_of(remittance, spec) == spec
    assert [c.is_reversal for c in remittance.claims] == [True, False]
    assert remittance.payment.cents == 0 and check_remittance(remittance).balanced
