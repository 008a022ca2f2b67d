"""Remittances posted through the real worker: payments, CARC adjustments, patient
responsibility, denials, unmatched claims, review, payer reversals and reversing a remittance,
to the cent, with the oracle clean after each."""

import json
import time
from collections.abc import Iterable
from datetime import date
from typing import Any

import pytest
from celery import Celery
from redis.asyncio import Redis
from sqlalchemy import select

from arledger.config import Settings
from domain.db import SessionFactory
from domain.errors import DomainError
from domain.models import AuditRow, LedgerEntry, Transaction, TransactionApplication, Visit
from domain.remittances.generate import (
    AdjustmentSpec,
    ClaimSpec,
    LineSpec,
    ProviderAdjustmentSpec,
    RemittanceSpec,
    generate_835,
)
from domain.remittances.models import RemittanceProviderAdjustment
from domain.remittances.parsed import Claim
from domain.remittances.parser import parse_835
from tests.bulk.ops import Bulk
from tests.remittances.samples import sample
from tests.remittances.world import Remit, world_for


@pytest.fixture
def remit(sessions: SessionFactory, celery_app: Celery, settings: Settings, worker: Any) -> Remit:
    return Remit(sessions, Bulk(sessions, celery_app, settings))


def _sums(entries: Iterable[LedgerEntry]) -> dict[str, int]:
    """Cents by what an entry did: payments, reductions, increases, memo (all positive)."""
    out = {"paid": 0, "reduced": 0, "increased": 0, "memo": 0}
    for e in entries:
        if e.kind == "PAYMENT":
            out["paid"] -= e.amount_cents
        elif e.memo_amount_cents is not None:
            out["memo"] -= e.memo_amount_cents
        elif e.amount_cents < 0:
            out["reduced"] -= e.amount_cents
        else:
            out["increased"] += e.amount_cents
    return out


def _billed(claim: Claim) -> int:
    """What the world charged for a claim: its lines' SVC02, or CLP03 without lines."""
    return sum(line.charge_cents for line in claim.lines) if claim.lines else claim.charge_cents


def _expected(claim: Claim, memo_groups: frozenset[str] = frozenset()) -> dict[str, int]:
    """What a matched claim posts, from the file alone (independent of the allocation)."""
    cas = [*claim.adjustments, *(a for line in claim.lines for a in line.adjustments)]
    memo = {a for a in cas if claim.status_code == "4" or a.group == "PR" or a.group in memo_groups}
    reducing = [a.cents for a in cas if a not in memo]
    return {
        "paid": 0 if claim.status_code == "4" else claim.paid_cents,
        "reduced": sum(c for c in reducing if c > 0),
        "increased": -sum(c for c in reducing if c < 0),
        "memo": sum(a.cents for a in memo),
    }


async def test_two_managed_care_claims_post_to_the_cent(remit: Remit) -> None:
    # given the visits of sample 02 (Rushmore Life, check 7170066655 for 945.00), whose BPR16
    # is an impossible date: a strict import refuses it, naming the segment
    data = sample("02_lfh_managed_care_two_claims.835")
    world = await world_for(remit.sessions, parse_835(data, strict=False))
    with pytest.raises(DomainError) as refused:
        await remit.import_(world.tenant_id, data)
    assert (refused.value.code, str(refused.value)) == (
        "REMITTANCE_MALFORMED",
        "segment 4 (BPR): BPR16 '20002316' is not a calendar date",
    )
    # when it is imported leniently, held for review, and posted anyway
    imported = await remit.import_(world.tenant_id, data, lenient=True)
    held = await remit.remittance(imported.remittance_ids[0])
    assert (held.status, held.balanced, [i["segment"] for i in held.issues]) == (
        "NEEDS_REVIEW",
        True,
        [4],
    )
    await remit.post_anyway(world.tenant_id, held.id)
    remittance = await remit.settled(held.id)
    # then claim 5554555444: CO-A2 50.00, PR-1 300.00 as memo, paid 450.00, owing 300.00
    first = await remit.entries(world.visits["5554555444"])
    assert [
        (e.kind, e.amount_cents, e.memo_amount_cents, e.carc_group, e.carc_reason) for e in first
    ] == [
        ("ADJUSTMENT", -5000, None, "CO", "A2"),
        ("ADJUSTMENT", 0, -30000, "PR", "1"),
        ("PAYMENT", -45000, None, None, None),
    ]
    assert (await remit.visit(world.visits["5554555444"])).balance_cents == 30000
    # and claim 8765432112: CO-A2 55.00, PR-1 600.00 memo, CO-45 50.00 contractual, paid 495.00
    second = await remit.entries(world.visits["8765432112"])
    assert [
        (e.kind, e.amount_cents, e.memo_amount_cents, e.carc_reason, e.category) for e in second
    ] == [
        ("ADJUSTMENT", -5500, None, "A2", None),
        ("ADJUSTMENT", 0, -60000, "1", None),
        ("ADJUSTMENT", -5000, None, "45", "contractual"),
        ("PAYMENT", -49500, None, None, None),
    ]
    assert (await remit.visit(world.visits["8765432112"])).balance_cents == 60000
    # and one PY transaction of 945.00, one application per claim, every entry in it
    async with remit.sessions() as session:
        txn = await session.get_one(Transaction, remittance.transaction_id)
        apps = await session.scalars(
            select(TransactionApplication.amount_cents)
            .where(TransactionApplication.transaction_id == txn.id)
            .order_by(TransactionApplication.amount_cents)
        )
        assert (txn.type, txn.status, txn.amount_cents) == ("PY", "POSTED", 94500)
        assert list(apps) == [45000, 49500]
    assert {e.transaction_id for e in [*first, *second]} == {txn.id}
    assert (remittance.status, remittance.posted_cents, remittance.unapplied_cents) == (
        "POSTED",
        94500,
        0,
    )
    assert [c.outcome for c in await remit.claims(remittance.id)] == ["POSTED", "POSTED"]
    assert await remit.oracle(world.tenant_id) == []


SAMPLES = {
    # name: (strict import refused with, posts without review)
    "01_lfh_medicare_part_a_institutional.835": (None, True),
    "02_lfh_managed_care_two_claims.835": ("REMITTANCE_MALFORMED", False),
    "03_pyx12_denials_mult_svc_loops.835": (None, True),
    "04_pyx12_4010_reversal_correction_plb.835": (None, False),
    "05_badx12_dental_multiple_claims_single_check.835": (None, True),
    "06_badx12_secondary_payments_cob.835": (None, True),
    "07_badx12_secondary_negative_cas_oa94.835": (None, True),
    "08_edi835parser_uhc_gt_component_sep.835": (None, True),
    "09_edi835parser_bcbsnc_no_envelope.835": ("REMITTANCE_BAD_COUNT", False),
    "10_tastypackets_emedny_newline_terminated.835": (None, True),
    "11_tigershark_pipe_delimited_plb_wo.835": ("REMITTANCE_BAD_COUNT", False),
    "12_oopfactory_reversals_cr_group_bom_indented.835": ("REMITTANCE_MALFORMED", False),
    "13_oopfactory_deident_medicaid_3_interchanges.835": (None, False),
    "14_oopfactory_deident_4010_96_claims_reversals.835": (None, False),
}


@pytest.mark.parametrize("name", SAMPLES)
async def test_each_sample_imports_and_posts_every_claim_exactly(remit: Remit, name: str) -> None:
    refused_with, posts_at_once = SAMPLES[name]
    # given a world matching the sample
    data = sample(name)
    parsed = parse_835(data, strict=False)
    world = await world_for(remit.sessions, parsed)
    # when it is imported (strictly, then, if refused, leniently) and posted
    if refused_with:
        with pytest.raises(DomainError) as refused:
            await remit.import_(world.tenant_id, data)
        assert refused.value.code == refused_with
        assert str(refused.value).startswith("segment ")
        assert await remit.entry_count(world.tenant_id) == len(
            [x for ls in world.lines.values() for x in ls]
        )
    imported = await remit.import_(world.tenant_id, data, lenient=True)
    for remittance_id in imported.remittance_ids:
        first = await remit.remittance(remittance_id)
        assert first.status == ("POSTING" if posts_at_once else "NEEDS_REVIEW")
        if first.status == "NEEDS_REVIEW":
            await remit.post_anyway(world.tenant_id, remittance_id)
        assert (await remit.settled(remittance_id)).status == "POSTED"
    # then each visit got exactly what its posted claims say, and owes the rest
    outcomes = {
        c.segment: c.outcome
        for remittance_id in imported.remittance_ids
        for c in await remit.claims(remittance_id)
    }
    for number, visit_id in world.visits.items():
        claims = [c for r in parsed for c in r.claims if c.patient_control_number == number]
        posted = [c for c in claims if outcomes[c.segment] in ("POSTED", "DENIED")]
        expected = {k: sum(_expected(c)[k] for c in posted) for k in _sums([])}
        assert _sums(await remit.entries(visit_id)) == expected, number
        charged = sum(_billed(c) for c in claims if not c.is_reversal)
        owed = charged - expected["paid"] - expected["reduced"] + expected["increased"]
        assert (await remit.visit(visit_id)).balance_cents == owed, number
    assert await remit.oracle(world.tenant_id) == []
    # and the same file again returns the same remittances and posts nothing
    before = await remit.entry_count(world.tenant_id)
    again = await remit.import_(world.tenant_id, data, lenient=True)
    assert (again.file_id, again.remittance_ids, again.replayed) == (
        imported.file_id,
        imported.remittance_ids,
        True,
    )
    assert await remit.entry_count(world.tenant_id) == before


async def test_a_denial_posts_memo_only_and_flags_the_visit(remit: Remit) -> None:
    # given sample 03: claim 2005555A denied (CLP02 4), three lines fully adjusted
    data = sample("03_pyx12_denials_mult_svc_loops.835")
    world = await world_for(remit.sessions, parse_835(data))
    # when posted
    imported = await remit.import_(world.tenant_id, data)
    await remit.settled(imported.remittance_ids[0])
    # then nothing moved the balance, every CAS is a memo, and the visit waits for a person
    visit = await remit.visit(world.visits["2005555A"])
    entries = await remit.entries(visit.id)
    assert {e.amount_cents for e in entries} == {0}
    assert visit.balance_cents == 91539
    assert visit.state == "denied"
    assert visit.follow_up is not None and "CO-16" in visit.follow_up
    assert [c.outcome for c in await remit.claims(imported.remittance_ids[0])] == ["DENIED"]
    assert await remit.oracle(world.tenant_id) == []


def _file(trace: str, *claims: ClaimSpec, plb: tuple[ProviderAdjustmentSpec, ...] = ()) -> bytes:
    spec = RemittanceSpec(trace, "1999999999", tuple(claims), provider_adjustments=plb)
    return generate_835([spec]).encode()


def _claim(number: str, status: str = "1", sign: int = 1, pcn: str = "PCN1") -> ClaimSpec:
    """A 100.00 charge: CO-45 20.00, PR-2 10.00, paid 70.00 (negated for a reversal)."""
    line = LineSpec(
        "99213",
        sign * 10000,
        sign * 7000,
        service_date=date(2026, 1, 5),
        adjustments=(
            AdjustmentSpec("CO", "45", sign * 2000),
            AdjustmentSpec("PR", "2", sign * 1000),
        ),
    )
    return ClaimSpec(
        number, sign * 10000, sign * 7000, status, payer_claim_number=pcn, lines=(line,)
    )


async def test_an_unmatched_claim_keeps_its_money_unapplied(remit: Remit) -> None:
    # given a file of two claims whose second names no visit
    data = _file("T-UNMATCHED", _claim("C1"), _claim("C2"))
    world = await world_for(remit.sessions, parse_835(data), skip=["C2"])
    # when posted
    imported = await remit.import_(world.tenant_id, data)
    remittance = await remit.settled(imported.remittance_ids[0])
    # then C1 posted, C2 is listed with its reason, and its 70.00 stayed unapplied
    claims = await remit.claims(remittance.id)
    assert [(c.outcome, c.code, c.unapplied_cents) for c in claims] == [
        ("POSTED", None, 0),
        ("UNMATCHED", "CLAIM_NOT_FOUND", 7000),
    ]
    assert claims[1].message == "No visit has claim number 'C2'."
    assert (remittance.posted_cents, remittance.unapplied_cents) == (7000, 7000)
    assert await remit.oracle(world.tenant_id) == []


async def test_an_unbalanced_remittance_waits_for_review_then_posts(remit: Remit) -> None:
    # given a file whose claim does not balance (CLP03 - CLP04 = 30.00, CAS say 25.00)
    claim = ClaimSpec(
        "U1",
        10000,
        7000,
        lines=(LineSpec("99213", 10000, 7000, adjustments=(AdjustmentSpec("CO", "45", 2500),)),),
    )
    data = _file("T-UNBALANCED", claim)
    world = await world_for(remit.sessions, parse_835(data))
    # when imported
    imported = await remit.import_(world.tenant_id, data)
    held = await remit.remittance(imported.remittance_ids[0])
    # then it is held, nothing posted, and the imbalance says where
    assert (held.status, held.balanced) == ("NEEDS_REVIEW", False)
    assert [i["level"] for i in held.imbalances] == ["claim", "line"]
    assert await remit.entries(world.visits["U1"]) == []
    # when a person posts it anyway
    await remit.post_anyway(world.tenant_id, held.id)
    posted = await remit.settled(held.id)
    # then it posts, and the review is audited
    assert (posted.status, posted.reviewed_by) == ("POSTED", "remitter")
    assert (await remit.visit(world.visits["U1"])).balance_cents == 10000 - 2500 - 7000
    async with remit.sessions() as session:
        actions = await session.scalars(
            select(AuditRow.action).where(
                AuditRow.tenant_id == world.tenant_id, AuditRow.action.like("REMITTANCE_%")
            )
        )
        assert sorted(set(actions)) == [
            "REMITTANCE_ADJUSTMENT_POSTED",
            "REMITTANCE_IMPORTED",
            "REMITTANCE_PAYMENT_POSTED",
            "REMITTANCE_POSTED",
            "REMITTANCE_POSTED_AFTER_REVIEW",
        ]
    assert await remit.oracle(world.tenant_id) == []


async def test_a_payer_reversal_negates_the_earlier_posting(remit: Remit) -> None:
    # given claim R1 posted from a first remittance
    first = _file("T-ORIGINAL", _claim("R1", pcn="PAYER-77"))
    world = await world_for(remit.sessions, parse_835(first))
    original = await remit.import_(world.tenant_id, first)
    await remit.settled(original.remittance_ids[0])
    posted = await remit.entries(world.visits["R1"])
    # when a later remittance reverses it (CLP02 22, amounts negated)
    second = _file("T-REVERSAL", _claim("R1", status="22", sign=-1, pcn="PAYER-77"))
    reversal = await remit.import_(world.tenant_id, second)
    await remit.settled(reversal.remittance_ids[0])
    # then every entry of the original posting is exactly negated and linked
    entries = await remit.entries(world.visits["R1"])
    reversals = entries[len(posted) :]
    assert [(e.reverses_entry_id, e.amount_cents, e.memo_amount_cents) for e in reversals] == [
        (p.id, -p.amount_cents, None if p.memo_amount_cents is None else -p.memo_amount_cents)
        for p in posted
    ]
    assert (await remit.visit(world.visits["R1"])).balance_cents == 10000
    assert [c.outcome for c in await remit.claims(original.remittance_ids[0])] == ["REVERSED"]
    assert [c.outcome for c in await remit.claims(reversal.remittance_ids[0])] == ["POSTED"]
    async with remit.sessions() as session:
        paired = await session.scalars(
            select(AuditRow.action).where(
                AuditRow.tenant_id == world.tenant_id, AuditRow.paired_audit_id.is_not(None)
            )
        )
        assert sorted(paired) == sorted(
            [f"{p.kind}_REVERSAL" for p in posted] + [f"{p.kind}_REVERSED" for p in posted]
        )
    assert await remit.oracle(world.tenant_id) == []


async def test_a_reversal_with_no_original_is_listed_unmatched(remit: Remit) -> None:
    data = _file("T-ORPHAN", _claim("O1", status="22", sign=-1))
    world = await world_for(remit.sessions, parse_835(data), skip=["O1"])
    imported = await remit.import_(world.tenant_id, data)
    await remit.settled(imported.remittance_ids[0])
    claims = await remit.claims(imported.remittance_ids[0])
    assert [(c.outcome, c.code) for c in claims] == [("UNMATCHED", "REVERSAL_NOT_FOUND")]
    assert await remit.entry_count(world.tenant_id) == 0


async def test_provider_adjustments_post_against_the_remittance(remit: Remit) -> None:
    # given a remittance with interest paid (L6, -5.00) and a recoupment (WO, 12.00)
    plb = (ProviderAdjustmentSpec("L6", -500), ProviderAdjustmentSpec("WO", 1200, "CLM9"))
    data = _file("T-PLB", _claim("P1"), plb=plb)
    world = await world_for(remit.sessions, parse_835(data))
    # when posted
    imported = await remit.import_(world.tenant_id, data)
    remittance = await remit.settled(imported.remittance_ids[0])
    # then no claim's balance saw them; they are posted on the remittance
    assert (remittance.paid_cents, remittance.provider_adjustment_cents) == (7000 - 700, 700)
    assert (await remit.visit(world.visits["P1"])).balance_cents == 1000
    async with remit.sessions() as session:
        rows = await session.scalars(
            select(RemittanceProviderAdjustment)
            .where(RemittanceProviderAdjustment.remittance_id == remittance.id)
            .order_by(RemittanceProviderAdjustment.id)
        )
        assert [
            (r.reason_code, r.reference, r.amount_cents, r.posted_at is not None) for r in rows
        ] == [("L6", "", -500, True), ("WO", "CLM9", 1200, True)]


async def test_reversing_a_remittance_undoes_everything_it_posted(remit: Remit) -> None:
    # given a posted remittance of two claims
    data = _file("T-UNDO", _claim("D1"), _claim("D2"))
    world = await world_for(remit.sessions, parse_835(data))
    imported = await remit.import_(world.tenant_id, data)
    remittance = await remit.settled(imported.remittance_ids[0])
    # when it is reversed
    job = await remit.reverse(world.tenant_id, remittance.id)
    done = await remit.settled(remittance.id)
    # then every balance is back, the payment is voided, and it happens once
    assert done.status == "REVERSED"
    for number in ("D1", "D2"):
        assert (await remit.visit(world.visits[number])).balance_cents == 10000
    async with remit.sessions() as session:
        txn = await session.get_one(Transaction, remittance.transaction_id)
        assert txn.status == "VOIDED"
    assert (await remit.reverse(world.tenant_id, remittance.id)).id == job.id
    with pytest.raises(DomainError) as refused:
        await remit.reverse(world.tenant_id, remittance.id, key="another")
    assert refused.value.code == "REMITTANCE_ALREADY_REVERSED"
    assert await remit.oracle(world.tenant_id) == []


async def test_a_file_with_a_used_trace_is_refused_and_stores_nothing(remit: Remit) -> None:
    # given a posted remittance under trace T-ONCE
    data = _file("T-ONCE", _claim("K1"))
    world = await world_for(remit.sessions, parse_835(data))
    await remit.settled((await remit.import_(world.tenant_id, data)).remittance_ids[0])
    before = await remit.entry_count(world.tenant_id)
    # when another file reuses the payer and trace
    other = _file("T-ONCE", _claim("K1"), _claim("K2"))
    with pytest.raises(DomainError) as refused:
        await remit.import_(world.tenant_id, other)
    # then it is refused by name, and nothing is stored
    assert refused.value.code == "REMITTANCE_TRACE_REUSED"
    assert "T-ONCE" in refused.value.problems[0].message
    assert await remit.entry_count(world.tenant_id) == before


async def test_every_account_a_remittance_changes_is_announced(
    remit: Remit, settings: Settings
) -> None:
    # given two claims on two accounts, and a subscriber to both accounts' channels
    data = _file("T-EVENTS", _claim("E1"), _claim("E2"))
    world = await world_for(remit.sessions, parse_835(data))
    async with remit.sessions() as session:
        accounts = {
            number: (await session.get_one(Visit, visit_id)).account_id
            for number, visit_id in world.visits.items()
        }
    redis = Redis.from_url(settings.redis_url)
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(
        *[f"{settings.channel_prefix}:{world.tenant_id}:account:{a}" for a in accounts.values()]
    )
    try:
        # when the remittance posts
        imported = await remit.import_(world.tenant_id, data)
        await remit.settled(imported.remittance_ids[0])
        # then each account's change arrives with its new balance (10.00 of patient share)
        seen: dict[int, Any] = {}
        deadline = time.monotonic() + 10
        while len(seen) < 2 and time.monotonic() < deadline:
            message = await pubsub.get_message(timeout=0.5)
            if message is not None:
                event = json.loads(message["data"])
                seen[event["account_id"]] = event
        assert {a: e["balance_cents"] for a, e in seen.items()} == dict.fromkeys(
            accounts.values(), 1000
        )
    finally:
        await pubsub.aclose()
        await redis.aclose()
