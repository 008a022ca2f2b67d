"""The 14 third-party 835 samples, read in place: counts, key values and balancing."""

from __future__ import annotations

import hashlib
from collections import Counter

import pytest

from domain.remittances.balance import check_remittance
from domain.remittances.errors import RemittanceError
from domain.remittances.parsed import Remittance
from domain.remittances.parser import parse_835
from tests.remittances.sample_facts import BIG, SAMPLES, Expected, Row
from tests.remittances.samples import sample


def _parse(expected: Expected) -> list[Remittance]:
    return parse_835(sample(expected.name), strict=expected.strict_error is None)


def _imbalances(remittances: list[Remittance]) -> list[Row]:
    return [
        (i.level, i.reference, i.segment, i.expected_cents, i.actual_cents)
        for r in remittances
        for i in check_remittance(r).imbalances
    ]


@pytest.mark.parametrize("expected", SAMPLES, ids=lambda e: e.name[:2])
def test_counts_and_key_values(expected: Expected) -> None:
    remittances = _parse(expected)
    claims = [c for r in remittances for c in r.claims]
    adjustments = [
        a
        for c in claims
        for a in (*c.adjustments, *(x for line in c.lines for x in line.adjustments))
    ]
    plb = [p for r in remittances for p in r.provider_adjustments]
    assert len(remittances) == expected.sets
    assert len(claims) == expected.claims
    assert sum(len(c.lines) for c in claims) == expected.lines
    assert len({a.segment for a in adjustments}) == expected.cas_segments
    assert len(adjustments) == expected.adjustments
    assert len({p.segment for p in plb}) == expected.plb_segments
    assert len(plb) == expected.plb_pairs
    first = remittances[0]
    assert first.trace.number == expected.trace
    assert first.payer_id == expected.payer_id
    assert tuple(r.payment.cents for r in remittances) == expected.bpr_cents
    assert (first.version, first.release) == (expected.version, expected.release)
    claim = first.claims[0]
    assert (
        claim.segment,
        claim.patient_control_number,
        claim.status_code,
        claim.charge_cents,
        claim.paid_cents,
        claim.patient_responsibility_cents,
        claim.filing_indicator,
        claim.payer_claim_control_number,
    ) == expected.first_claim
    assert [(i.segment, i.code) for r in remittances for i in r.issues] == list(expected.issues)


@pytest.mark.parametrize("expected", SAMPLES, ids=lambda e: e.name[:2])
def test_balancing(expected: Expected) -> None:
    remittances = _parse(expected)
    rows = _imbalances(remittances)
    if expected.name in BIG:
        levels, total, head, digest = BIG[expected.name]
        assert Counter(row[0] for row in rows) == levels
        assert sum(row[3] - row[4] for row in rows) == total
        assert tuple(rows[:3]) == head
        assert hashlib.sha256(repr(rows).encode()).hexdigest()[:16] == digest
        return
    assert rows == list(expected.imbalances)
    results = [check_remittance(r) for r in remittances]
    assert all(r.balanced for r in results) == (not expected.imbalances)


@pytest.mark.parametrize(
    "expected", [e for e in SAMPLES if e.strict_error], ids=lambda e: e.name[:2]
)
def test_strict_parse_refuses_the_defective_samples(expected: Expected) -> None:
    with pytest.raises(RemittanceError) as raised:
        parse_835(sample(expected.name))
    assert (raised.value.code, str(raised.value)) == expected.strict_error
    assert raised.value.problems[0].field == "file"


def test_posting_md_claims_not_balancing() -> None:
    # POSTING.md: "claims not balancing" is 51 for file 13 and 86 for file 14, 0 elsewhere.
    counts = {
        e.name[:2]: len([r for r in _imbalances(_parse(e)) if r[0] == "claim"]) for e in SAMPLES
    }
    assert counts == {e.name[:2]: {"13": 51, "14": 86}.get(e.name[:2], 0) for e in SAMPLES}
