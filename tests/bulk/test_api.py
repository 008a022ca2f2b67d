"""Bulk jobs over HTTP with the real worker: bulk write-offs of explicit lines and by filter,
bulk self-pay transactions, bad input, the scope matrix, idempotency, cancelling and reversing.

Every job is submitted through the API, comes back QUEUED, and is planned and applied by the
Celery worker; results are read back through GraphQL and checked against the database."""

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from celery import Celery
from sqlalchemy import select, update

from arledger.config import Settings
from domain.db import SessionFactory
from domain.models import LedgerEntry, Tenant, Transaction
from tests.bulk.gql import (
    ADJUST,
    BULK_JOBS,
    BULK_SELF_PAY,
    BULK_WRITE_OFF,
    CANCEL_BULK_JOB,
    EVERY_SCOPE,
    JOB,
    PAYMENT,
    READ,
    REVERSE_BULK_JOB,
    Line,
    add_account,
    add_payer,
    add_visit,
    balances_shown,
    cents_of,
    codes,
    command_final,
    days_ago,
    hold_write_off,
    job_items,
    line_ids_by_visit,
    money,
    mutate,
    pk,
    plan_holding_chunks,
    read_job,
    reverse_input,
    run_job,
    self_pay_input,
    stored,
    submit,
    visit_ids,
    wait_job,
    write_off_input,
)
from tests.support.client import WRITE_OFF, gid, gql, wait_final
from tests.support.client import write_off_input as single_write_off
from tests.support.factories import World, ledger_drift, make_world
from tests.transactions.ops import setup_codes

# --- bulkWriteOff of explicit lines in every skip situation -------------------------------------


@dataclass
class SkipWorld:
    """A1 visit 1 [3.00, 1.50] open; visit 2 [4.00, 0.00] open; visit 3 [2.00] on hold;
    visit 4 [2.00 protected, 1.00] open; A2 visit 1 [4.00, 3.00] open (7.00, over the 5.00
    small-balance threshold); visit 2 [-5.00] (a credit); visit 3 [2.50], not selected.
    One small-balance write-off job of every line but the last, applied by the worker."""

    world: World
    lines: dict[str, int]
    token: str
    job: dict[str, Any]
    before: dict[str, str]


@pytest.fixture(scope="module")
async def skips(server: str, sessions: SessionFactory, settings: Settings) -> SkipWorld:
    world = await make_world(sessions, [300, 150])
    lines = dict(zip(["n1", "n2"], world.line_ids, strict=True))
    for visit, names, specs, state, account in [
        (2, ["n3", "zero"], [Line(400), Line(0)], "open", "A1"),
        (3, ["held"], [Line(200)], "on_hold", "A1"),
        (4, ["protected", "n4"], [Line(200, protected=True), Line(100)], "open", "A1"),
        (1, ["over1", "over2"], [Line(400), Line(300)], "open", "A2"),
        (2, ["credit"], [Line(1000, paid=1500)], "open", "A2"),
        (3, ["untouched"], [Line(250)], "open", "A2"),
    ]:
        ids = await add_visit(
            sessions, world, specs, account_number=account, visit_number=visit, state=state
        )
        lines.update(zip(names, ids, strict=True))
    token = world.token(settings, EVERY_SCOPE)
    async with httpx.AsyncClient(base_url=server, timeout=30) as client:
        before = (await balances_shown(client, token)).lines
        # every line but "untouched", in an order unlike the job's
        chosen = [lines[n] for n in reversed(lines) if n != "untouched"]
        variables = write_off_input("skips", line_ids=chosen, reason="SMALL_BALANCE")
        job = await run_job(client, BULK_WRITE_OFF, variables, token)
    return SkipWorld(world, lines, token, job, before)


# (line, status, code, amount applied, balance at selection) in the job's order
SKIP_ITEMS = [
    ("n1", "APPLIED", None, "3.00", "3.00"),
    ("n2", "APPLIED", None, "1.50", "1.50"),
    ("n3", "APPLIED", None, "4.00", "4.00"),
    ("zero", "SKIPPED", "NO_BALANCE", None, "0.00"),
    ("held", "SKIPPED", "VISIT_STATE_BLOCKS_WRITEOFF", None, "2.00"),
    ("protected", "SKIPPED", "LINE_PROTECTED", None, "2.00"),
    ("n4", "APPLIED", None, "1.00", "1.00"),
    ("over1", "SKIPPED", "SMALL_BALANCE_OVER_THRESHOLD", None, "4.00"),
    ("over2", "SKIPPED", "SMALL_BALANCE_OVER_THRESHOLD", None, "3.00"),
    ("credit", "SKIPPED", "CREDIT_BALANCE", None, "-5.00"),
]


async def test_explicit_lines_job_counts_every_line_and_says_why_rows_were_skipped(
    skips: SkipWorld,
) -> None:
    # given the small-balance job over ten lines in every situation (see SkipWorld)
    job = skips.job
    # then it is DONE with four lines applied for 9.50 and six skipped, counted by reason
    assert {k: v for k, v in job.items() if k != "id"} == {
        "kind": "WRITEOFF",
        "status": "DONE",
        "transactionType": None,
        "reason": "small-balance",
        "actor": "tester",
        "total": 10,
        "applied": 4,
        "skipped": 6,
        "cancelled": 0,
        "remaining": 0,
        "summary": "4 of 10 applied, 6 skipped",
        "appliedAmount": "9.50",
        "finished": True,
        "errorCode": None,
        "reversesJobId": None,
        "reversedBy": None,
        "skipReasons": [
            {"code": "SMALL_BALANCE_OVER_THRESHOLD", "count": 2},
            {"code": "CREDIT_BALANCE", "count": 1},
            {"code": "LINE_PROTECTED", "count": 1},
            {"code": "NO_BALANCE", "count": 1},
            {"code": "VISIT_STATE_BLOCKS_WRITEOFF", "count": 1},
        ],
    }


async def test_explicit_lines_items_are_in_account_visit_line_order_with_their_outcome(
    client: httpx.AsyncClient, skips: SkipWorld
) -> None:
    # when every item of the job is read
    items = await job_items(client, skips.job["id"], skips.token)
    # then there is one per selected line, numbered in (account, visit, line) order
    assert [i["seq"] for i in items] == list(range(1, 11))
    assert [
        (i["lineId"], i["status"], i["code"], i["amount"], i["expectedBalance"]) for i in items
    ] == [(gid("ChargeLine", skips.lines[n]), *rest) for n, *rest in SKIP_ITEMS]
    # and each names its account and visit, an entry when applied and a message when skipped
    accounts = {i["accountId"] for i in items[:7]}, {i["accountId"] for i in items[7:]}
    assert accounts == ({gid("Account", skips.world.account_id)}, {items[7]["accountId"]})
    assert items[0]["visitId"] == items[1]["visitId"] == gid("Visit", skips.world.visit_id)
    assert len({i["visitId"] for i in items}) == 6
    for item in items:
        assert (item["entryId"] is not None) == (item["status"] == "APPLIED"), item
        assert (item["message"] is not None) == (item["status"] == "SKIPPED"), item
        assert item["transactionId"] is None
    over = next(i for i in items if i["code"] == "SMALL_BALANCE_OVER_THRESHOLD")
    assert over["message"] == (
        "The visit balance 7.00 is over the small-balance threshold of 5.00."
    )


async def test_items_by_status_skipped_lists_each_skipped_line_with_its_code(
    client: httpx.AsyncClient, skips: SkipWorld
) -> None:
    # when only the SKIPPED items are asked for, and only the APPLIED ones
    skipped = await job_items(client, skips.job["id"], skips.token, status="SKIPPED")
    applied = await job_items(client, skips.job["id"], skips.token, status="APPLIED")
    # then each list holds exactly those lines, in job order
    assert [(i["lineId"], i["code"]) for i in skipped] == [
        (gid("ChargeLine", skips.lines[n]), code)
        for n, status, code, *_ in SKIP_ITEMS
        if status == "SKIPPED"
    ]
    assert [i["lineId"] for i in applied] == [
        gid("ChargeLine", skips.lines[n]) for n in ("n1", "n2", "n3", "n4")
    ]
    assert await job_items(client, skips.job["id"], skips.token, status="CANCELLED") == []


async def test_explicit_lines_job_wrote_off_only_the_applied_lines(
    client: httpx.AsyncClient, sessions: SessionFactory, skips: SkipWorld
) -> None:
    # when the balances are read through GraphQL
    shown = await balances_shown(client, skips.token)
    # then each applied line is at zero and every other line is as it was
    line = {n: gid("ChargeLine", i) for n, i in skips.lines.items()}
    expected = dict(skips.before)
    expected.update({line[n]: "0.00" for n in ("n1", "n2", "n3", "n4")})
    assert shown.lines == expected
    assert skips.before[line["untouched"]] == "2.50"
    # and the visits and accounts add up: A1 13.50 → 4.00, A2 4.50 unchanged
    assert shown.visits == {
        ("A1", 1): "0.00",
        ("A1", 2): "0.00",
        ("A1", 3): "2.00",
        ("A1", 4): "2.00",
        ("A2", 1): "7.00",
        ("A2", 2): "-5.00",
        ("A2", 3): "2.50",
    }
    assert shown.accounts == {"A1": "4.00", "A2": "4.50"}
    # and each applied item names the one small-balance WRITEOFF entry posted for its line
    async with sessions() as session:
        rows = await session.execute(
            select(
                LedgerEntry.id, LedgerEntry.line_id, LedgerEntry.amount_cents, LedgerEntry.reason
            )
            .where(LedgerEntry.tenant_id == skips.world.tenant_id, LedgerEntry.kind == "WRITEOFF")
            .order_by(LedgerEntry.line_id)
        )
        entries = [(e, line_id, money(-cents), reason) for e, line_id, cents, reason in rows]
    applied = await job_items(client, skips.job["id"], skips.token, status="APPLIED")
    assert [
        (
            pk(i["entryId"], "LedgerEntry"),
            pk(i["lineId"], "ChargeLine"),
            i["amount"],
            "small-balance",
        )
        for i in applied
    ] == entries
    assert await ledger_drift(sessions, skips.world.tenant_id) == []


# --- bulkWriteOff by filter ---------------------------------------------------------------------


@dataclass
class FilterWorld:
    world: World
    lines: dict[str, int]
    payer2: str


async def filter_world(sessions: SessionFactory) -> FilterWorld:
    """A1 v2 open, 100 days old: a 10.00, b 2.50, z 0.00; A1 v3 on hold, 5 days: h 6.00;
    A2 v2 denied, 10 days: d1 50.00, d2 0.75, cr -2.00 (credit); A3 v2 open, 40 days, payer 2:
    p 3.00. (A1 v1 has no lines.)"""
    world = await make_world(sessions, [])
    payer2 = await add_payer(sessions, world, "2")
    lines: dict[str, int] = {}
    visits: list[tuple[list[str], list[Line], dict[str, Any]]] = [
        (["a", "b", "z"], [Line(1000), Line(250), Line(0)], {"date_of_service": days_ago(100)}),
        (["h"], [Line(600)], {"visit_number": 3, "state": "on_hold"}),
        (
            ["d1", "d2", "cr"],
            [Line(5000), Line(75), Line(100, paid=300)],
            {"account_number": "A2", "state": "denied", "date_of_service": days_ago(10)},
        ),
        (
            ["p"],
            [Line(300)],
            {"account_number": "A3", "payer_code": "2", "date_of_service": days_ago(40)},
        ),
    ]
    for names, specs, kw in visits:
        options: dict[str, Any] = {"visit_number": 2, "date_of_service": days_ago(5), **kw}
        ids = await add_visit(sessions, world, specs, **options)
        lines.update(zip(names, ids, strict=True))
    return FilterWorld(world, lines, gid("Payer", payer2))


BALANCES = {"a": 1000, "b": 250, "z": 0, "h": 600, "d1": 5000, "d2": 75, "cr": -200, "p": 300}
APPLIED, NO_BALANCE, ON_HOLD, CREDIT = (
    ("APPLIED", None),
    ("SKIPPED", "NO_BALANCE"),
    ("SKIPPED", "VISIT_STATE_BLOCKS_WRITEOFF"),
    ("SKIPPED", "CREDIT_BALANCE"),
)
FILTERS = [
    pytest.param({"accountNumbers": ["A2"]}, [("d1", APPLIED), ("d2", APPLIED)], id="account"),
    pytest.param(
        {"balanceMin": "2.50", "balanceMax": "10.00"},
        [("a", APPLIED), ("b", APPLIED), ("h", ON_HOLD), ("p", APPLIED)],
        id="balance-range",
    ),
    pytest.param(
        {"visitStates": ["on_hold", "denied"]},
        [("h", ON_HOLD), ("d1", APPLIED), ("d2", APPLIED)],
        id="visit-states",
    ),
    pytest.param(
        {"minAgeDays": 30}, [("a", APPLIED), ("b", APPLIED), ("p", APPLIED)], id="min-age"
    ),
    pytest.param(
        {"minAgeDays": 40}, [("a", APPLIED), ("b", APPLIED), ("p", APPLIED)], id="age-inclusive"
    ),
    pytest.param({"minAgeDays": 41}, [("a", APPLIED), ("b", APPLIED)], id="age-one-day-more"),
    pytest.param({"payerId": "PAYER2"}, [("p", APPLIED)], id="payer"),
    pytest.param(
        {"minAgeDays": 30, "balanceMax": "5.00", "visitStates": ["open"]},
        [("b", APPLIED), ("z", NO_BALANCE), ("p", APPLIED)],
        id="max-only-has-no-default-min",
    ),
    pytest.param({"balanceMax": "-0.01"}, [("cr", CREDIT)], id="credits"),
    pytest.param(
        {"balanceMin": "0", "accountNumbers": ["A1"]},
        [("a", APPLIED), ("b", APPLIED), ("z", NO_BALANCE), ("h", ON_HOLD)],
        id="zero-min",
    ),
    pytest.param({"accountNumbers": ["A3"], "visitStates": ["denied"]}, [], id="nothing"),
]


@pytest.mark.parametrize(("chosen", "expected"), FILTERS)
async def test_filter_selects_exactly_the_matching_lines(
    client: httpx.AsyncClient,
    sessions: SessionFactory,
    settings: Settings,
    chosen: dict[str, Any],
    expected: list[tuple[str, tuple[str, str | None]]],
) -> None:
    # given lines of several balances, states, ages, payers and accounts (see filter_world)
    fw = await filter_world(sessions)
    token = fw.world.token(settings, EVERY_SCOPE)
    if chosen.get("payerId") == "PAYER2":
        chosen = {**chosen, "payerId": fw.payer2}
    # when a charity write-off of the filter is run
    job = await run_job(client, BULK_WRITE_OFF, write_off_input("f", filter=chosen), token)
    # then its items are exactly the matching lines, in order, each with its outcome
    items = await job_items(client, job["id"], token)
    assert [(i["lineId"], (i["status"], i["code"]), i["expectedBalance"]) for i in items] == [
        (gid("ChargeLine", fw.lines[n]), outcome, money(BALANCES[n])) for n, outcome in expected
    ]
    applied = [n for n, outcome in expected if outcome == APPLIED]
    total, done = len(expected), len(applied)
    summary = f"{done} of {total} applied" + (f", {total - done} skipped" if total > done else "")
    assert (job["status"], job["total"], job["summary"]) == ("DONE", total, summary)
    assert job["appliedAmount"] == money(sum(BALANCES[n] for n in applied))
    # and only the applied lines lost their balance
    after = {n: 0 if n in applied else c for n, c in BALANCES.items()}
    by_id = sorted((fw.lines[n], c) for n, c in after.items())
    assert (await stored(sessions, fw.world.tenant_id)).balances == [c for _, c in by_id]
    assert await ledger_drift(sessions, fw.world.tenant_id) == []


# --- bad input ----------------------------------------------------------------------------------


@dataclass
class BadInputWorld:
    """A tenant with two lines and self-pay codes (no AC default); another tenant; a tenant
    whose only enabled write-off reason is small-balance."""

    world: World
    other: World
    other_payer: str
    narrow: World


@pytest.fixture(scope="module")
async def bad(sessions: SessionFactory) -> BadInputWorld:
    world = await make_world(sessions, [1000, 2000])
    await setup_codes(sessions, world, defaults=("BD", "FC", "AD", "RF"))
    other = await make_world(sessions, [500])
    other_payer = await add_payer(sessions, other, "9")
    narrow = await make_world(sessions, [1000])
    async with sessions() as session, session.begin():
        await session.execute(
            update(Tenant)
            .where(Tenant.id == narrow.tenant_id)
            .values(writeoff_reasons=["small-balance"])
        )
    return BadInputWorld(world, other, gid("Payer", other_payer), narrow)


def _lines(b: BadInputWorld, *ids: int) -> dict[str, Any]:
    return {"lineIds": [gid("ChargeLine", i) for i in ids]}


MISSING_LINE = gid("ChargeLine", 2**62)
WRITE_OFF_BAD = [
    pytest.param(lambda b: {}, "CHARITY", None, [("selection", "SELECTION_REQUIRED")], id="none"),
    pytest.param(
        lambda b: {**_lines(b, b.world.line_ids[0]), "filter": {"accountNumbers": ["A1"]}},
        "CHARITY",
        None,
        [("selection", "SELECTION_REQUIRED")],
        id="both-lines-and-filter",
    ),
    pytest.param(
        lambda b: {"lineIds": []},
        "CHARITY",
        None,
        [("selection.lineIds", "NO_LINES")],
        id="empty-line-list",
    ),
    pytest.param(
        lambda b: {"lineIds": [gid("ChargeLine", b.world.line_ids[0]), MISSING_LINE]},
        "CHARITY",
        None,
        [("selection.lineIds.1", "LINE_NOT_FOUND")],
        id="unknown-line",
    ),
    pytest.param(
        lambda b: {"lineIds": ["nope", gid("ChargeLine", b.world.line_ids[0]), "", MISSING_LINE]},
        "CHARITY",
        None,
        [("selection.lineIds.0", "LINE_NOT_FOUND"), ("selection.lineIds.2", "LINE_NOT_FOUND")],
        id="malformed-line-ids",
    ),
    pytest.param(
        lambda b: {"lineIds": [gid("Visit", b.world.visit_id)]},
        "CHARITY",
        None,
        [("selection.lineIds.0", "LINE_NOT_FOUND")],
        id="id-of-another-type",
    ),
    pytest.param(
        lambda b: _lines(b, b.world.line_ids[0], b.other.line_ids[0]),
        "CHARITY",
        None,
        [("selection.lineIds.1", "LINE_NOT_FOUND")],
        id="other-tenants-line",
    ),
    pytest.param(
        lambda b: _lines(b, b.world.line_ids[0], b.world.line_ids[0]),
        "CHARITY",
        None,
        [("selection.lineIds.1", "DUPLICATE_LINE")],
        id="line-twice",
    ),
    pytest.param(
        lambda b: _lines(b, b.world.line_ids[0]),
        "OTHER",
        "   ",
        [("note", "NOTE_REQUIRED")],
        id="other-without-note",
    ),
    pytest.param(
        lambda b: {"filter": {"balanceMin": "1.234"}},
        "CHARITY",
        None,
        [("selection.filter.balanceMin", "TOO_MANY_DECIMALS")],
        id="money-three-decimals",
    ),
    pytest.param(
        lambda b: {"filter": {"balanceMax": "ten"}},
        "CHARITY",
        None,
        [("selection.filter.balanceMax", "INVALID_AMOUNT")],
        id="money-not-a-number",
    ),
    pytest.param(
        lambda b: {"filter": {"balanceMin": "10.00", "balanceMax": "9.99"}},
        "CHARITY",
        None,
        [("selection.filter.balanceMax", "INVALID_RANGE")],
        id="min-over-max",
    ),
    pytest.param(
        lambda b: {"filter": {"visitStates": ["open", "lost"]}},
        "CHARITY",
        None,
        [("selection.filter.visitStates", "UNKNOWN_VISIT_STATE")],
        id="unknown-visit-state",
    ),
    pytest.param(
        lambda b: {"filter": {"accountNumbers": ["A1", "NO-SUCH"]}},
        "CHARITY",
        None,
        [("selection.filter.accountNumbers", "ACCOUNT_NOT_FOUND")],
        id="unknown-account",
    ),
    pytest.param(
        lambda b: {"filter": {"minAgeDays": -1}},
        "CHARITY",
        None,
        [("selection.filter.minAgeDays", "INVALID_AGE")],
        id="negative-age",
    ),
    pytest.param(
        lambda b: {"filter": {"payerId": b.other_payer}},
        "CHARITY",
        None,
        [("selection.filter.payerId", "PAYER_NOT_FOUND")],
        id="other-tenants-payer",
    ),
    pytest.param(
        lambda b: {"filter": {"balanceMin": "1.234", "minAgeDays": 40000, "visitStates": ["lost"]}},
        "CHARITY",
        None,
        [
            ("selection.filter.balanceMin", "TOO_MANY_DECIMALS"),
            ("selection.filter.minAgeDays", "INVALID_AGE"),
            ("selection.filter.visitStates", "UNKNOWN_VISIT_STATE"),
        ],
        id="every-filter-problem-at-once",
    ),
]


@pytest.mark.parametrize(("selection", "reason", "note", "expected"), WRITE_OFF_BAD)
async def test_bad_write_off_input_is_a_user_error_and_stores_nothing(
    client: httpx.AsyncClient,
    sessions: SessionFactory,
    settings: Settings,
    bad: BadInputWorld,
    selection: Any,
    reason: str,
    note: str | None,
    expected: list[tuple[str, str]],
) -> None:
    # given a tenant with two lines and what it holds
    before = await stored(sessions, bad.world.tenant_id)
    variables = {
        "input": {
            "idempotencyKey": "bad",
            "selection": selection(bad),
            "reason": reason,
            "note": note,
        }
    }
    # when a bad bulk write-off is submitted
    payload = await mutate(client, BULK_WRITE_OFF, variables, bad.world.token(settings))
    # then it is refused field by field, and no job, command or entry was stored
    assert codes(payload) == expected
    assert await stored(sessions, bad.world.tenant_id) == before


async def test_write_off_reason_disabled_for_the_tenant_is_refused(
    client: httpx.AsyncClient, sessions: SessionFactory, settings: Settings, bad: BadInputWorld
) -> None:
    # given a tenant that only allows small-balance write-offs
    before = await stored(sessions, bad.narrow.tenant_id)
    variables = write_off_input("disabled", line_ids=bad.narrow.line_ids, reason="CHARITY")
    # when a charity bulk write-off is submitted
    payload = await mutate(client, BULK_WRITE_OFF, variables, bad.narrow.token(settings))
    # then the reason is refused as disabled and nothing is stored
    assert codes(payload) == [("reason", "REASON_DISABLED")]
    assert payload["userErrors"][0]["message"] == "The reason 'charity' is not enabled."
    assert await stored(sessions, bad.narrow.tenant_id) == before


SELF_PAY_BAD = [
    pytest.param(
        "FC", {"amount": "1.00", "percent": "1.5"}, [("percent", "AMOUNT_OR_PERCENT")], id="fc-both"
    ),
    pytest.param("FC", {}, [("amount", "AMOUNT_REQUIRED")], id="fc-neither"),
    pytest.param("FC", {"percent": "0"}, [("percent", "INVALID_PERCENT")], id="percent-0"),
    pytest.param("FC", {"percent": "101"}, [("percent", "INVALID_PERCENT")], id="percent-101"),
    pytest.param(
        "FC", {"percent": "1.23456"}, [("percent", "INVALID_PERCENT")], id="percent-5-decimals"
    ),
    pytest.param("FC", {"percent": "-1"}, [("percent", "INVALID_PERCENT")], id="percent-negative"),
    pytest.param("FC", {"percent": "1e1"}, [("percent", "INVALID_PERCENT")], id="percent-exponent"),
    pytest.param("AC", {"percent": "1.5"}, [("percent", "PERCENT_NOT_ALLOWED")], id="ac-percent"),
    pytest.param("BD", {"filter": {}}, [("filter.minAgeDays", "AGE_REQUIRED")], id="bd-no-age"),
    pytest.param(
        "BD",
        {"amount": "1.00", "filter": {"minAgeDays": 90}},
        [("amount", "AMOUNT_NOT_ALLOWED")],
        id="bd-amount",
    ),
    pytest.param("RF", {"amount": "1.00"}, [("amount", "AMOUNT_NOT_ALLOWED")], id="rf-amount"),
    pytest.param("AC", {}, [("amount", "AMOUNT_REQUIRED")], id="ac-no-amount"),
    pytest.param("AD", {"amount": "0"}, [("amount", "AMOUNT_NOT_POSITIVE")], id="ad-zero"),
    pytest.param("AD", {"amount": "1.234"}, [("amount", "TOO_MANY_DECIMALS")], id="ad-3-decimals"),
    pytest.param(
        "FC",
        {"percent": "1.5", "payerCode": "99"},
        [("payerCode", "PAYER_NOT_FOUND")],
        id="unknown-payer",
    ),
    pytest.param(
        "FC",
        {"percent": "1.5", "filter": {"accountNumbers": ["NO-SUCH"]}},
        [("filter.accountNumbers", "ACCOUNT_NOT_FOUND")],
        id="unknown-account",
    ),
    pytest.param(
        "AD",
        {"amount": "1.00", "filter": {"balanceMin": "5", "balanceMax": "1"}},
        [("filter.balanceMax", "INVALID_RANGE")],
        id="min-over-max",
    ),
]


@pytest.mark.parametrize(("type_", "fields", "expected"), SELF_PAY_BAD)
async def test_bad_self_pay_input_is_a_user_error_and_stores_nothing(
    client: httpx.AsyncClient,
    sessions: SessionFactory,
    settings: Settings,
    bad: BadInputWorld,
    type_: str,
    fields: dict[str, Any],
    expected: list[tuple[str, str]],
) -> None:
    # given a tenant with self-pay codes and what it holds
    before = await stored(sessions, bad.world.tenant_id)
    # when a bad bulk self-pay run is submitted by a caller with every scope
    payload = await mutate(
        client,
        BULK_SELF_PAY,
        self_pay_input("bad", type_, **fields),
        bad.world.token(settings, EVERY_SCOPE),
    )
    # then it is refused with the field and code, and nothing is stored
    assert codes(payload) == expected
    assert await stored(sessions, bad.world.tenant_id) == before


ENUM_BAD = [
    pytest.param(
        BULK_WRITE_OFF,
        lambda b: write_off_input("bad-enum", line_ids=b.world.line_ids, reason="nope"),
        id="unknown-write-off-reason",
    ),
    pytest.param(
        BULK_WRITE_OFF,
        lambda b: write_off_input("bad-enum", line_ids=b.world.line_ids, reason="charity"),
        id="write-off-reason-in-stored-form",
    ),
    pytest.param(
        BULK_SELF_PAY,
        lambda b: self_pay_input("bad-enum", "PY", amount="1.00"),
        id="PY-is-not-a-bulk-self-pay-type",
    ),
    pytest.param(
        BULK_SELF_PAY,
        lambda b: self_pay_input("bad-enum", "fc", amount="1.00"),
        id="self-pay-type-lower-case",
    ),
]


@pytest.mark.parametrize(("document", "variables"), ENUM_BAD)
async def test_value_outside_an_enum_is_a_typed_graphql_error_and_stores_nothing(
    client: httpx.AsyncClient,
    sessions: SessionFactory,
    settings: Settings,
    bad: BadInputWorld,
    document: str,
    variables: Any,
) -> None:
    # given a tenant and what it holds
    before = await stored(sessions, bad.world.tenant_id)
    # when a job is submitted with a reason or type its enum does not have
    body = await gql(client, document, variables(bad), bad.world.token(settings, EVERY_SCOPE))
    # then the variables are refused before anything runs, with a typed error and no data
    assert body.get("data") is None, body
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"], body
    # and nothing is stored
    assert await stored(sessions, bad.world.tenant_id) == before


async def test_self_pay_for_a_payer_without_a_default_code_names_the_payer_field(
    client: httpx.AsyncClient, sessions: SessionFactory, settings: Settings, bad: BadInputWorld
) -> None:
    # given payer 1 has default codes for BD, FC, AD and RF but not for AC
    before = await stored(sessions, bad.world.tenant_id)
    # when a bulk AC run is submitted for payer 1
    payload = await mutate(
        client,
        BULK_SELF_PAY,
        self_pay_input("no-default", "AC", amount="5.00"),
        bad.world.token(settings, EVERY_SCOPE),
    )
    # then it is refused (nothing stored) naming an input field the client sent: payerCode
    assert await stored(sessions, bad.world.tenant_id) == before
    assert payload["userErrors"][0]["code"] == "NO_DEFAULT_CODE"
    assert "no default AC code" in payload["userErrors"][0]["message"]
    assert codes(payload) == [("payerCode", "NO_DEFAULT_CODE")]


async def test_self_pay_for_a_payer_without_a_default_code_is_refused(
    client: httpx.AsyncClient, sessions: SessionFactory, settings: Settings, bad: BadInputWorld
) -> None:
    # given payer 1 has no default AC code
    before = await stored(sessions, bad.world.tenant_id)
    # when a bulk AC run is submitted
    payload = await mutate(
        client,
        BULK_SELF_PAY,
        self_pay_input("no-default", "AC", amount="5.00"),
        bad.world.token(settings, EVERY_SCOPE),
    )
    # then it is refused as NO_DEFAULT_CODE and nothing is stored
    assert [e["code"] for e in payload["userErrors"]] == ["NO_DEFAULT_CODE"]
    assert payload["job"] is None
    assert await stored(sessions, bad.world.tenant_id) == before


# --- the scope matrix ---------------------------------------------------------------------------


@dataclass
class AuthWorld:
    """Tenant A: lines 10.00, 20.00, 30.00 and self-pay codes, with a finished write-off job of
    its first line; tenant B: one line of 5.00."""

    a: World
    b: World
    job_id: str


@pytest.fixture(scope="module")
async def auth(server: str, sessions: SessionFactory, settings: Settings) -> AuthWorld:
    a = await make_world(sessions, [1000, 2000, 3000])
    await setup_codes(sessions, a)
    await add_account(sessions, a, "ONLY-A")
    b = await make_world(sessions, [500])
    await setup_codes(sessions, b)
    async with httpx.AsyncClient(base_url=server, timeout=30) as client:
        variables = write_off_input("seed", line_ids=a.line_ids[:1])
        job = await run_job(client, BULK_WRITE_OFF, variables, a.token(settings, EVERY_SCOPE))
    assert job["summary"] == "1 of 1 applied"
    return AuthWorld(a, b, job["id"])


MUTATIONS = ["bulkWriteOff", "bulkSelfPay", "reverseBulkJob", "cancelBulkJob"]


def request(name: str, w: AuthWorld, self_pay_type: str = "FC") -> tuple[str, dict[str, Any]]:
    """The document and variables of a valid call of mutation `name` on tenant A."""
    if name == "bulkWriteOff":
        return BULK_WRITE_OFF, write_off_input("auth", line_ids=w.a.line_ids[1:])
    if name == "bulkSelfPay":
        fields = {"percent": "1.5"} if self_pay_type == "FC" else {"amount": "1.00"}
        return BULK_SELF_PAY, self_pay_input("auth", self_pay_type, **fields)
    if name == "reverseBulkJob":
        return REVERSE_BULK_JOB, reverse_input("auth", w.job_id)
    return CANCEL_BULK_JOB, {"jobId": w.job_id}


@pytest.mark.parametrize("name", MUTATIONS)
@pytest.mark.parametrize(
    ("token_kind", "code"),
    [("none", "UNAUTHENTICATED"), ("expired", "TOKEN_EXPIRED"), ("read-only", "FORBIDDEN")],
)
async def test_mutation_without_a_writer_scope_is_a_user_error_and_changes_nothing(
    client: httpx.AsyncClient,
    sessions: SessionFactory,
    settings: Settings,
    auth: AuthWorld,
    name: str,
    token_kind: str,
    code: str,
) -> None:
    # given no token, an expired one, or one with billing.read only
    token = {
        "none": None,
        "expired": auth.a.token(settings, EVERY_SCOPE, ttl=-10),
        "read-only": auth.a.token(settings, READ),
    }[token_kind]
    before = await stored(sessions, auth.a.tenant_id)
    # when the mutation is sent
    query, variables = request(name, auth)
    payload = await mutate(client, query, variables, token)
    # then it is a user error without a field (never a top-level error) and nothing changed
    assert codes(payload) == [(None, code)]
    assert await stored(sessions, auth.a.tenant_id) == before


@pytest.mark.parametrize(
    ("name", "self_pay_type", "scopes", "expected"),
    [
        ("bulkWriteOff", "FC", f"{READ} {ADJUST}", [(None, "FORBIDDEN")]),
        ("bulkSelfPay", "FC", f"{READ} {ADJUST}", [("type", "FORBIDDEN")]),
        ("bulkSelfPay", "BD", f"{READ} {ADJUST}", [("type", "FORBIDDEN")]),
        ("bulkSelfPay", "AD", f"{READ} {PAYMENT}", [("type", "FORBIDDEN")]),
        ("reverseBulkJob", "FC", f"{READ} {ADJUST}", [("jobId", "FORBIDDEN")]),
        ("cancelBulkJob", "FC", f"{READ} {ADJUST}", [("jobId", "FORBIDDEN")]),
    ],
)
async def test_mutation_with_the_other_writer_scope_is_forbidden(
    client: httpx.AsyncClient,
    sessions: SessionFactory,
    settings: Settings,
    auth: AuthWorld,
    name: str,
    self_pay_type: str,
    scopes: str,
    expected: list[tuple[str | None, str]],
) -> None:
    # given a token holding only the writer scope the operation does not need
    before = await stored(sessions, auth.a.tenant_id)
    # when the mutation is sent
    query, variables = request(name, auth, self_pay_type)
    payload = await mutate(client, query, variables, auth.a.token(settings, scopes))
    # then it is forbidden and nothing changed
    assert codes(payload) == expected
    assert await stored(sessions, auth.a.tenant_id) == before


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "bulkWriteOff",
            [("selection.lineIds.0", "LINE_NOT_FOUND"), ("selection.lineIds.1", "LINE_NOT_FOUND")],
        ),
        ("reverseBulkJob", [("jobId", "JOB_NOT_FOUND")]),
        ("cancelBulkJob", [("jobId", "JOB_NOT_FOUND")]),
    ],
)
async def test_other_tenant_cannot_touch_this_tenants_lines_or_jobs(
    client: httpx.AsyncClient,
    sessions: SessionFactory,
    settings: Settings,
    auth: AuthWorld,
    name: str,
    expected: list[tuple[str, str]],
) -> None:
    # given tenant B's token with every scope
    token = auth.b.token(settings, EVERY_SCOPE)
    before = (await stored(sessions, auth.a.tenant_id), await stored(sessions, auth.b.tenant_id))
    # when B sends the mutation with A's line ids or job id
    query, variables = request(name, auth)
    payload = await mutate(client, query, variables, token)
    # then A's objects do not exist for B, and neither tenant changed
    assert codes(payload) == expected
    after = (await stored(sessions, auth.a.tenant_id), await stored(sessions, auth.b.tenant_id))
    assert after == before


async def test_other_tenants_job_answers_exactly_like_a_missing_one(
    client: httpx.AsyncClient, settings: Settings, auth: AuthWorld
) -> None:
    # given tenant B's token, A's job and a job id that exists nowhere
    token = auth.b.token(settings, EVERY_SCOPE)
    missing = gid("BulkJob", 2**62)
    for query, variables in [
        (REVERSE_BULK_JOB, lambda job: reverse_input("x", job)),
        (CANCEL_BULK_JOB, lambda job: {"jobId": job}),
        (JOB, lambda job: {"id": job}),
    ]:
        # when B asks for each
        foreign = await gql(client, query, variables(auth.job_id), token)
        absent = await gql(client, query, variables(missing), token)
        # then the answers cannot be told apart
        assert foreign == absent
    assert await read_job(client, auth.job_id, token) is None
    # and B's job list does not show A's job
    body = await gql(client, BULK_JOBS, {"first": 100}, token)
    assert body == {
        "data": {"bulkJobs": {"pageInfo": {"hasNextPage": False, "endCursor": None}, "nodes": []}}
    }


async def test_self_pay_with_other_tenants_account_number_finds_no_account(
    client: httpx.AsyncClient, sessions: SessionFactory, settings: Settings, auth: AuthWorld
) -> None:
    # given tenant B's token and an account number only tenant A has
    before = await stored(sessions, auth.b.tenant_id)
    variables = self_pay_input("x", "FC", percent="1.5", filter={"accountNumbers": ["ONLY-A"]})
    # when B runs a bulk finance charge over it
    payload = await mutate(client, BULK_SELF_PAY, variables, auth.b.token(settings, EVERY_SCOPE))
    # then the account does not exist for B
    assert codes(payload) == [("filter.accountNumbers", "ACCOUNT_NOT_FOUND")]
    assert await stored(sessions, auth.b.tenant_id) == before


@pytest.mark.parametrize(
    ("query", "variables", "data"),
    [
        (BULK_JOBS, {"first": 10}, None),
        (JOB, {"id": gid("BulkJob", 1)}, {"node": None}),
    ],
    ids=["bulkJobs", "node"],
)
@pytest.mark.parametrize(
    ("token_kind", "code"), [("none", "UNAUTHENTICATED"), ("write-only", "FORBIDDEN")]
)
async def test_queries_without_billing_read_are_top_level_errors(
    client: httpx.AsyncClient,
    settings: Settings,
    auth: AuthWorld,
    query: str,
    variables: dict[str, Any],
    data: Any,
    token_kind: str,
    code: str,
) -> None:
    # given no token, or a token with both writer scopes but not billing.read
    token = None if token_kind == "none" else auth.a.token(settings, f"{PAYMENT} {ADJUST}")
    # when the job list or a job is read
    body = await gql(client, query, {**variables, "id": auth.job_id} if data else variables, token)
    # then one top-level error with the code, and no data
    field = "node" if data else "bulkJobs"
    assert [(e["path"], e["extensions"]["code"]) for e in body["errors"]] == [([field], code)]
    assert body["data"] == data


async def test_write_off_with_only_the_payment_scope_is_applied(
    client: httpx.AsyncClient, sessions: SessionFactory, settings: Settings
) -> None:
    # given two lines and a token holding billing.payment.write only
    world = await make_world(sessions, [1000, 2000])
    variables = write_off_input("ok", line_ids=world.line_ids)
    # when a bulk write-off is submitted
    job = await submit(client, BULK_WRITE_OFF, variables, world.token(settings, PAYMENT))
    # then it is QUEUED and the worker applies it
    assert (job["status"], job["kind"], job["reason"]) == ("QUEUED", "WRITEOFF", "charity")
    final = await wait_job(client, job["id"], world.token(settings, READ))
    assert (final["status"], final["summary"]) == ("DONE", "2 of 2 applied")
    assert (await stored(sessions, world.tenant_id)).balances == [0, 0]


async def test_self_pay_adjustment_needs_the_adjustment_scope_to_submit_cancel_and_reverse(
    client: httpx.AsyncClient, sessions: SessionFactory, settings: Settings
) -> None:
    # given a 10.00 visit, AD codes, and a token holding billing.adjustment.write only
    world = await make_world(sessions, [400, 600])
    await setup_codes(sessions, world)
    adjuster = world.token(settings, ADJUST)
    variables = self_pay_input("ad", "AD", amount="2.50", transactionDate="2026-10-20")
    # when a bulk AD run of 2.50 per visit is submitted
    job = await submit(client, BULK_SELF_PAY, variables, adjuster)
    # then the worker posts it: 2.50 off the first line
    final = await wait_job(client, job["id"], world.token(settings, READ))
    assert (final["transactionType"], final["summary"], final["appliedAmount"]) == (
        "AD",
        "1 of 1 applied",
        "2.50",
    )
    assert (await stored(sessions, world.tenant_id)).balances == [150, 600]
    # when a payment writer cancels or reverses it
    before = await stored(sessions, world.tenant_id)
    payer = world.token(settings, f"{READ} {PAYMENT}")
    cancel = await mutate(client, CANCEL_BULK_JOB, {"jobId": job["id"]}, payer)
    reverse = await mutate(client, REVERSE_BULK_JOB, reverse_input("r", job["id"]), payer)
    # then both are forbidden: the job's transactions need billing.adjustment.write
    assert codes(cancel) == codes(reverse) == [("jobId", "FORBIDDEN")]
    assert "billing.adjustment.write" in reverse["userErrors"][0]["message"]
    assert await stored(sessions, world.tenant_id) == before
    # and the adjustment writer reverses it
    reversal = await submit(client, REVERSE_BULK_JOB, reverse_input("r", job["id"]), adjuster)
    reversal = await wait_job(client, reversal["id"], world.token(settings, READ))
    assert (reversal["summary"], reversal["transactionType"]) == ("1 of 1 applied", "AD")
    assert (await stored(sessions, world.tenant_id)).balances == [400, 600]
    assert await ledger_drift(sessions, world.tenant_id) == []


async def test_replaying_an_adjustment_run_still_needs_the_adjustment_scope(
    client: httpx.AsyncClient, sessions: SessionFactory, settings: Settings
) -> None:
    # given a bulk AD run submitted by an adjustment writer under key "ad"
    world = await make_world(sessions, [1000])
    await setup_codes(sessions, world)
    variables = self_pay_input("ad", "AD", amount="1.00")
    await run_job(client, BULK_SELF_PAY, variables, world.token(settings, EVERY_SCOPE))
    # when a payment writer sends the same request under the same key
    replay = await mutate(
        client, BULK_SELF_PAY, variables, world.token(settings, f"{READ} {PAYMENT}")
    )
    # then it is forbidden, as a new request would be
    assert codes(replay) == [("type", "FORBIDDEN")]


async def test_replaying_a_reversal_of_an_adjustment_run_still_needs_the_scope(
    client: httpx.AsyncClient, sessions: SessionFactory, settings: Settings
) -> None:
    # given a bulk AD run and its reversal under key "r", both by an adjustment writer
    world = await make_world(sessions, [1000])
    await setup_codes(sessions, world)
    token = world.token(settings, EVERY_SCOPE)
    job = await run_job(client, BULK_SELF_PAY, self_pay_input("ad", "AD", amount="1.00"), token)
    await run_job(client, REVERSE_BULK_JOB, reverse_input("r", job["id"]), token)
    # when a payment writer sends the same reversal under the same key
    replay = await mutate(
        client,
        REVERSE_BULK_JOB,
        reverse_input("r", job["id"]),
        world.token(settings, f"{READ} {PAYMENT}"),
    )
    # then it is forbidden, as a new reversal would be
    assert codes(replay) == [("jobId", "FORBIDDEN")]


async def test_reverse_and_cancel_with_only_the_payment_scope(
    client: httpx.AsyncClient, sessions: SessionFactory, settings: Settings, celery_app: Celery
) -> None:
    # given a finished write-off job and a queued one whose planning was held back
    world = await make_world(sessions, [1000, 2000])
    token = world.token(settings, PAYMENT)
    reader = world.token(settings, READ)
    done = await submit(
        client, BULK_WRITE_OFF, write_off_input("a", line_ids=world.line_ids[:1]), token
    )
    done = await wait_job(client, done["id"], reader)
    queued, plan = await hold_write_off(sessions, world, "held", world.line_ids[1:])
    # when a payment-writer reverses the first and cancels the second
    reversal = await submit(client, REVERSE_BULK_JOB, reverse_input("r", done["id"]), token)
    cancelled = await mutate(client, CANCEL_BULK_JOB, {"jobId": queued}, token)
    # then the reversal is applied and the cancelled job finishes with nothing selected
    assert cancelled["userErrors"] == []
    assert {k: cancelled["job"][k] for k in ("status", "total", "finished", "summary")} == {
        "status": "CANCELLED",
        "total": 0,
        "finished": True,
        "summary": "0 of 0 applied",
    }
    reversal = await wait_job(client, reversal["id"], reader)
    assert (reversal["kind"], reversal["summary"]) == ("REVERSAL", "1 of 1 applied")
    # and when the held planning runs after all, it does nothing
    celery_app.send_task("arledger.apply_bulk", args=[plan], queue=settings.bulk_queue_name)
    await command_final(sessions, plan)
    assert (await stored(sessions, world.tenant_id)).balances == [1000, 2000]
    assert await ledger_drift(sessions, world.tenant_id) == []


# --- idempotency --------------------------------------------------------------------------------


async def test_same_key_and_input_returns_the_same_job(
    client: httpx.AsyncClient, sessions: SessionFactory, settings: Settings
) -> None:
    # given a finished bulk write-off of two lines under key "k"
    world = await make_world(sessions, [1000, 2000])
    token = world.token(settings, EVERY_SCOPE)
    variables = write_off_input("k", line_ids=world.line_ids)
    first = await run_job(client, BULK_WRITE_OFF, variables, token)
    before = await stored(sessions, world.tenant_id)
    # when the same request is sent again
    again = await submit(client, BULK_WRITE_OFF, variables, token)
    # then it answers with the same (finished) job, and nothing new is stored or applied
    assert again == first
    assert await stored(sessions, world.tenant_id) == before
    assert before.jobs == 1 and before.balances == [0, 0]


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(
            lambda w: write_off_input("k", line_ids=w.line_ids, reason="BAD_DEBT"), id="reason"
        ),
        pytest.param(lambda w: write_off_input("k", line_ids=w.line_ids[:1]), id="lines"),
        pytest.param(lambda w: write_off_input("k", line_ids=w.line_ids, note="n"), id="note"),
        pytest.param(
            lambda w: write_off_input("k", filter={"accountNumbers": ["A1"]}), id="filter"
        ),
    ],
)
async def test_same_key_with_a_different_write_off_is_refused(
    client: httpx.AsyncClient, sessions: SessionFactory, settings: Settings, change: Any
) -> None:
    # given a finished bulk write-off of two lines under key "k"
    world = await make_world(sessions, [1000, 2000])
    token = world.token(settings, EVERY_SCOPE)
    await run_job(client, BULK_WRITE_OFF, write_off_input("k", line_ids=world.line_ids), token)
    before = await stored(sessions, world.tenant_id)
    # when a different request is sent under the same key
    payload = await mutate(client, BULK_WRITE_OFF, change(world), token)
    # then the key is refused as reused and no job is added
    assert codes(payload) == [("idempotencyKey", "IDEMPOTENCY_KEY_REUSED")]
    assert await stored(sessions, world.tenant_id) == before


async def test_self_pay_key_is_checked_against_every_kind_of_job(
    client: httpx.AsyncClient, sessions: SessionFactory, settings: Settings
) -> None:
    # given a finished bulk write-off under key "k" and a finished FC run under key "fc"
    world = await make_world(sessions, [1000])
    await add_visit(sessions, world, [Line(2000)], visit_number=2)
    await setup_codes(sessions, world)
    token = world.token(settings, EVERY_SCOPE)
    await run_job(client, BULK_WRITE_OFF, write_off_input("k", line_ids=world.line_ids), token)
    fc = self_pay_input("fc", "FC", percent="1.5")
    first = await run_job(client, BULK_SELF_PAY, fc, token)
    before = await stored(sessions, world.tenant_id)
    # when the FC run is sent again, a different percent under its key, and an FC run under
    # the write-off's key
    again = await submit(client, BULK_SELF_PAY, fc, token)
    other_percent = await mutate(
        client, BULK_SELF_PAY, self_pay_input("fc", "FC", percent="2"), token
    )
    other_kind = await mutate(
        client, BULK_SELF_PAY, self_pay_input("k", "FC", percent="1.5"), token
    )
    # then the retry is the same job and the others are refused; nothing new is stored
    assert again == first
    assert first["summary"] == "1 of 1 applied"
    assert codes(other_percent) == [("idempotencyKey", "IDEMPOTENCY_KEY_REUSED")]
    assert codes(other_kind) == [("idempotencyKey", "IDEMPOTENCY_KEY_REUSED")]
    assert await stored(sessions, world.tenant_id) == before


async def test_a_refused_request_does_not_use_up_its_key(
    client: httpx.AsyncClient, sessions: SessionFactory, settings: Settings
) -> None:
    # given a bulk write-off refused under key "k" (reason OTHER without a note)
    world = await make_world(sessions, [1000])
    token = world.token(settings, EVERY_SCOPE)
    refused = await mutate(
        client, BULK_WRITE_OFF, write_off_input("k", line_ids=world.line_ids, reason="OTHER"), token
    )
    assert codes(refused) == [("note", "NOTE_REQUIRED")]
    # when a valid request is sent under the same key
    job = await run_job(
        client, BULK_WRITE_OFF, write_off_input("k", line_ids=world.line_ids), token
    )
    # then it is accepted and applied
    assert job["summary"] == "1 of 1 applied"


@pytest.mark.parametrize("key", ["", "   ", "x" * 201])
async def test_bad_idempotency_key_is_refused(
    client: httpx.AsyncClient, sessions: SessionFactory, settings: Settings, key: str
) -> None:
    world = await make_world(sessions, [1000])
    payload = await mutate(
        client,
        BULK_WRITE_OFF,
        write_off_input(key, line_ids=world.line_ids),
        world.token(settings, EVERY_SCOPE),
    )
    assert codes(payload) == [("idempotencyKey", "INVALID_IDEMPOTENCY_KEY")]
    assert (await stored(sessions, world.tenant_id)).jobs == 0


# --- bulk self-pay finance charge by percent ----------------------------------------------------


@dataclass
class FinanceWorld:
    world: World
    visits: list[str]
    token: str
    job: dict[str, Any]
    fc_code: int


@pytest.fixture(scope="module")
async def finance(server: str, sessions: SessionFactory, settings: Settings) -> FinanceWorld:
    """Self-pay visits of 1.00, 0.33 (A1), 0.34, 10.00 (A2), and three not selected: a zero
    balance, another payer's and a credit; a 1.5 % finance charge over them, dated 2026-10-20."""
    world = await make_world(sessions, [100])
    await add_payer(sessions, world, "2")
    await add_visit(sessions, world, [Line(33)], visit_number=2)
    await add_visit(sessions, world, [Line(34)], account_number="A2", visit_number=1)
    await add_visit(sessions, world, [Line(500), Line(500)], account_number="A2", visit_number=2)
    await add_visit(sessions, world, [Line(0)], account_number="A3", visit_number=1)
    await add_visit(
        sessions, world, [Line(1000)], account_number="A3", visit_number=2, payer_code="2"
    )
    await add_visit(sessions, world, [Line(100, paid=300)], account_number="A4", visit_number=1)
    codes_ = await setup_codes(sessions, world)
    token = world.token(settings, EVERY_SCOPE)
    variables = self_pay_input("fc", "FC", percent="1.5", transactionDate="2026-10-20")
    async with httpx.AsyncClient(base_url=server, timeout=30) as client:
        job = await run_job(client, BULK_SELF_PAY, variables, token)
        shown = await balances_shown(client, token)
    assert shown.visits[("A1", 1)] == "1.02"  # the job has run
    visits = [gid("Visit", v) for v in await visit_ids(sessions, world)]
    return FinanceWorld(world, visits, token, job, codes_.default["FC"])


async def test_finance_charge_percent_is_rounded_half_up_per_visit(
    client: httpx.AsyncClient, sessions: SessionFactory, finance: FinanceWorld
) -> None:
    # given the 1.5 % finance charge over 1.00, 0.33, 0.34 and 10.00 (see `finance`)
    job, v = finance.job, finance.visits
    # then 1.00 → 0.015 → 0.02, 0.33 → 0.00495 → nothing, 0.34 → 0.0051 → 0.01, 10.00 → 0.15
    assert {k: job[k] for k in ("kind", "transactionType", "status", "summary")} == {
        "kind": "SELF_PAY",
        "transactionType": "FC",
        "status": "DONE",
        "summary": "3 of 4 applied, 1 skipped",
    }
    assert (job["appliedAmount"], job["skipReasons"]) == (
        "0.18",
        [{"code": "ZERO_AMOUNT", "count": 1}],
    )
    items = await job_items(client, job["id"], finance.token)
    assert [
        (i["seq"], i["visitId"], i["status"], i["code"], i["amount"], i["expectedBalance"])
        for i in items
    ] == [
        (1, v[0], "APPLIED", None, "0.02", "1.00"),
        (2, v[1], "SKIPPED", "ZERO_AMOUNT", None, "0.33"),
        (3, v[2], "APPLIED", None, "0.01", "0.34"),
        (4, v[3], "APPLIED", None, "0.15", "10.00"),
    ]
    assert all(i["lineId"] is None for i in items)
    assert items[1]["message"] == "The percentage rounds to 0.00 on this balance."
    # and the charges raised the visits (on the last line), nothing else moved
    shown = await balances_shown(client, finance.token)
    assert shown.visits == {
        ("A1", 1): "1.02",
        ("A1", 2): "0.33",
        ("A2", 1): "0.35",
        ("A2", 2): "10.15",
        ("A3", 1): "0.00",
        ("A3", 2): "10.00",
        ("A4", 1): "-2.00",
    }
    assert (await stored(sessions, finance.world.tenant_id)).balances == [
        102,
        33,
        35,
        500,
        515,
        0,
        1000,
        -200,
    ]
    assert await ledger_drift(sessions, finance.world.tenant_id) == []


TRANSACTIONS = """
query {
  transactions(status: POSTED) {
    nodes {
      id type transactionDate amount status payer { code } code { code type }
      applications { visitId amount }
      entries { kind amount lineId }
    }
  }
}"""


async def test_finance_charge_transactions_are_posted_with_the_payers_default_code(
    client: httpx.AsyncClient, sessions: SessionFactory, finance: FinanceWorld
) -> None:
    # when the posted transactions are listed, and each applied item's transaction read by id
    body = await gql(client, TRANSACTIONS, None, finance.token)
    assert "errors" not in body, body
    listed = body["data"]["transactions"]["nodes"]
    applied = await job_items(client, finance.job["id"], finance.token, status="APPLIED")
    # then there is one POSTED FC transaction per applied visit, with payer 1's FC01 code
    assert [t["id"] for t in listed] == [i["transactionId"] for i in applied]
    lines = await line_ids_by_visit(sessions, finance.world)
    assert [{k: t[k] for k in t if k != "id"} for t in listed] == [
        {
            "type": "FC",
            "transactionDate": "2026-10-20",
            "amount": i["amount"],
            "status": "POSTED",
            "payer": {"code": "1"},
            "code": {"code": "FC01", "type": "FC"},
            "applications": [{"visitId": i["visitId"], "amount": i["amount"]}],
            "entries": [
                {
                    "kind": "FINANCE_CHARGE",
                    "amount": i["amount"],
                    "lineId": gid("ChargeLine", lines[pk(i["visitId"], "Visit")][-1]),
                }
            ],
        }
        for i in applied
    ]
    # and the entries carry the code and the transaction
    async with sessions() as session:
        rows = await session.execute(
            select(LedgerEntry.transaction_id, LedgerEntry.transaction_code_id)
            .where(
                LedgerEntry.tenant_id == finance.world.tenant_id,
                LedgerEntry.kind == "FINANCE_CHARGE",
            )
            .order_by(LedgerEntry.id)
        )
        assert [tuple(r) for r in rows] == [
            (pk(i["transactionId"], "Transaction"), finance.fc_code) for i in applied
        ]


async def test_reversing_a_self_pay_job_voids_its_transactions(
    client: httpx.AsyncClient, sessions: SessionFactory, settings: Settings
) -> None:
    # given a finished 2.00 AC run over two visits
    world = await make_world(sessions, [1000])
    await add_visit(sessions, world, [Line(500)], account_number="A2", visit_number=1)
    await setup_codes(sessions, world)
    token = world.token(settings, EVERY_SCOPE)
    original = await run_job(
        client, BULK_SELF_PAY, self_pay_input("ac", "AC", amount="2.00"), token
    )
    assert (original["summary"], original["appliedAmount"]) == ("2 of 2 applied", "4.00")
    assert (await stored(sessions, world.tenant_id)).balances == [1200, 700]
    # when it is reversed
    reversal = await run_job(client, REVERSE_BULK_JOB, reverse_input("rev", original["id"]), token)
    # then each transaction is voided and every balance is back
    assert (reversal["kind"], reversal["transactionType"], reversal["summary"]) == (
        "REVERSAL",
        "AC",
        "2 of 2 applied",
    )
    assert reversal["appliedAmount"] == "4.00"
    originals = await job_items(client, original["id"], token)
    reversed_ = await job_items(client, reversal["id"], token)
    assert [i["transactionId"] for i in reversed_] == [i["transactionId"] for i in originals]
    async with sessions() as session:
        statuses = await session.scalars(
            select(Transaction.status)
            .where(Transaction.tenant_id == world.tenant_id)
            .order_by(Transaction.id)
        )
        assert list(statuses) == ["VOIDED", "VOIDED"]
    assert (await stored(sessions, world.tenant_id)).balances == [1000, 500]
    assert await ledger_drift(sessions, world.tenant_id) == []


async def test_bad_debt_writes_off_the_whole_balance_of_visits_old_enough(
    client: httpx.AsyncClient, sessions: SessionFactory, settings: Settings
) -> None:
    # given self-pay visits of 12.00 (100 days old, over two lines), 5.00 (10 days old) and a
    # 0.00 one (100 days old)
    world = await make_world(sessions, [])
    await add_visit(
        sessions, world, [Line(700), Line(500)], visit_number=2, date_of_service=days_ago(100)
    )
    await add_visit(sessions, world, [Line(500)], visit_number=3, date_of_service=days_ago(10))
    await add_visit(sessions, world, [Line(0)], visit_number=4, date_of_service=days_ago(100))
    await setup_codes(sessions, world)
    token = world.token(settings, EVERY_SCOPE)
    # when bad debt is run over visits at least 30 days old
    job = await run_job(
        client, BULK_SELF_PAY, self_pay_input("bd", "BD", filter={"minAgeDays": 30}), token
    )
    # then only the old visit with a balance is written off, whole, as bad debt
    assert (job["summary"], job["appliedAmount"]) == ("1 of 1 applied", "12.00")
    assert (await stored(sessions, world.tenant_id)).balances == [0, 0, 500, 0]
    async with sessions() as session:
        rows = await session.execute(
            select(LedgerEntry.kind, LedgerEntry.amount_cents, LedgerEntry.reason)
            .where(LedgerEntry.tenant_id == world.tenant_id, LedgerEntry.kind != "CHARGE")
            .order_by(LedgerEntry.id)
        )
        assert [tuple(r) for r in rows] == [
            ("WRITEOFF", -700, "bad-debt"),
            ("WRITEOFF", -500, "bad-debt"),
        ]
    assert await ledger_drift(sessions, world.tenant_id) == []


async def test_refund_run_refunds_every_credit_and_nothing_else(
    client: httpx.AsyncClient, sessions: SessionFactory, settings: Settings
) -> None:
    # given self-pay visits with credits of 2.00 and 0.50 and one with a 3.00 balance
    world = await make_world(sessions, [300])
    await add_visit(sessions, world, [Line(100, paid=300)], visit_number=2)
    await add_visit(sessions, world, [Line(50, paid=100)], account_number="A2", visit_number=1)
    await setup_codes(sessions, world)
    token = world.token(settings, EVERY_SCOPE)
    # when a refund run with no filter is submitted
    job = await run_job(client, BULK_SELF_PAY, self_pay_input("rf", "RF"), token)
    # then each credit is refunded in full and the balance is left alone
    assert (job["summary"], job["appliedAmount"]) == ("2 of 2 applied", "2.50")
    assert (await stored(sessions, world.tenant_id)).balances == [300, 0, 0]
    assert await ledger_drift(sessions, world.tenant_id) == []


async def test_adjustment_over_a_visits_balance_skips_that_visit(
    client: httpx.AsyncClient, sessions: SessionFactory, settings: Settings
) -> None:
    # given self-pay visits of 10.00 and 3.00
    world = await make_world(sessions, [1000])
    await add_visit(sessions, world, [Line(300)], visit_number=2)
    await setup_codes(sessions, world)
    token = world.token(settings, EVERY_SCOPE)
    # when a 5.00 adjustment is run over both
    job = await run_job(client, BULK_SELF_PAY, self_pay_input("ad", "AD", amount="5"), token)
    # then the 3.00 visit is skipped (an adjustment never goes below zero), the other adjusted
    assert (job["summary"], job["appliedAmount"]) == ("1 of 2 applied, 1 skipped", "5.00")
    [skipped] = await job_items(client, job["id"], token, status="SKIPPED")
    assert (skipped["code"], skipped["message"], skipped["transactionId"]) == (
        "EXCEEDS_BALANCE",
        "Amount exceeds the visit balance of 3.00.",
        None,
    )
    assert (await stored(sessions, world.tenant_id)).balances == [500, 300]
    assert (await stored(sessions, world.tenant_id)).transactions == 1


async def test_line_changed_after_selection_is_skipped(
    client: httpx.AsyncClient, sessions: SessionFactory, settings: Settings, celery_app: Celery
) -> None:
    # given a write-off of two lines, planned (balances 10.00 and 20.00 selected) but not applied
    world = await make_world(sessions, [1000, 2000])
    token = world.token(settings, EVERY_SCOPE)
    job_id, plan = await hold_write_off(sessions, world, "held", world.line_ids)
    chunks = await plan_holding_chunks(sessions, settings, plan)
    # when 1.00 of the first line is written off on its own, and then the chunk is applied
    body = await gql(
        client, WRITE_OFF, single_write_off("single", [(world.line_ids[0], "1")]), token
    )
    command = body["data"]["writeOff"]["command"]
    assert (await wait_final(client, command["id"], token))["status"] == "APPLIED"
    for command_id in chunks:
        celery_app.send_task(
            "arledger.apply_bulk", args=[command_id], queue=settings.bulk_queue_name
        )
    job = await wait_job(client, job_id, token)
    # then the changed line is skipped, saying how it changed, and the other written off
    assert job["summary"] == "1 of 2 applied, 1 skipped"
    items = await job_items(client, job_id, token)
    assert [(i["status"], i["code"], i["message"], i["expectedBalance"]) for i in items] == [
        (
            "SKIPPED",
            "CHANGED_SINCE_SELECTION",
            "The balance changed from 10.00 to 9.00 since the job selected it.",
            "10.00",
        ),
        ("APPLIED", None, None, "20.00"),
    ]
    assert (await stored(sessions, world.tenant_id)).balances == [900, 0]
    assert await ledger_drift(sessions, world.tenant_id) == []


# --- cancelling and reversing -------------------------------------------------------------------


@dataclass
class Reversed:
    world: World
    token: str
    original: dict[str, Any]
    reversal: dict[str, Any]
    before: list[int]


@pytest.fixture(scope="module")
async def reversed_job(server: str, sessions: SessionFactory, settings: Settings) -> Reversed:
    """A charity write-off of A1's and A2's lines (one protected, skipped), then its reversal."""
    world = await make_world(sessions, [1000, 2500])
    await add_visit(
        sessions,
        world,
        [Line(700), Line(300, protected=True), Line(1234)],
        account_number="A2",
        visit_number=1,
    )
    token = world.token(settings, EVERY_SCOPE)
    before = (await stored(sessions, world.tenant_id)).balances
    async with httpx.AsyncClient(base_url=server, timeout=30) as client:
        original = await run_job(client, BULK_WRITE_OFF, write_off_input("wo", filter={}), token)
        assert original["summary"] == "4 of 5 applied, 1 skipped"
        reversal = await run_job(
            client, REVERSE_BULK_JOB, reverse_input("rev", original["id"], "posted twice"), token
        )
        original = await wait_job(client, original["id"], token)
    return Reversed(world, token, original, reversal, before)


async def test_reversal_restores_every_balance(
    client: httpx.AsyncClient, sessions: SessionFactory, reversed_job: Reversed
) -> None:
    # given the write-off of 10.00, 25.00, 7.00 and 12.34 (3.00 protected) and its reversal
    r = reversed_job
    # then the reversal applied one row per applied line, for the same amount
    assert {k: r.reversal[k] for k in ("kind", "status", "reason", "summary", "appliedAmount")} == {
        "kind": "REVERSAL",
        "status": "DONE",
        "reason": "posted twice",
        "summary": "4 of 4 applied",
        "appliedAmount": "54.34",
    }
    assert r.original["appliedAmount"] == "54.34"
    # and every line is back where it was
    assert (
        (await stored(sessions, r.world.tenant_id)).balances
        == r.before
        == [
            1000,
            2500,
            700,
            300,
            1234,
        ]
    )
    shown = await balances_shown(client, r.token)
    assert shown.accounts == {"A1": "35.00", "A2": "22.34"}
    # and each reversal entry negates the write-off entry its original item names
    originals = await job_items(client, r.original["id"], r.token, status="APPLIED")
    reversals = await job_items(client, r.reversal["id"], r.token)
    async with sessions() as session:
        rows = await session.execute(
            select(
                LedgerEntry.id,
                LedgerEntry.line_id,
                LedgerEntry.amount_cents,
                LedgerEntry.reverses_entry_id,
            )
            .where(LedgerEntry.tenant_id == r.world.tenant_id, LedgerEntry.kind == "WRITEOFF")
            .where(LedgerEntry.reverses_entry_id.is_not(None))
            .order_by(LedgerEntry.id)
        )
        entries = {e: (line, cents, target) for e, line, cents, target in rows}
    assert [(i["lineId"], i["status"], i["amount"]) for i in reversals] == [
        (i["lineId"], "APPLIED", i["amount"]) for i in originals
    ]
    assert [entries[pk(x["entryId"], "LedgerEntry")] for x in reversals] == [
        (
            pk(i["lineId"], "ChargeLine"),
            cents_of(i["amount"]),
            pk(i["entryId"], "LedgerEntry"),
        )
        for i in originals
    ]
    assert await ledger_drift(sessions, r.world.tenant_id) == []


async def test_reversal_and_original_link_both_ways(
    client: httpx.AsyncClient, reversed_job: Reversed
) -> None:
    r = reversed_job
    assert r.reversal["reversesJobId"] == r.original["id"]
    assert r.original["reversedBy"] == {"id": r.reversal["id"]}
    assert r.original["reversesJobId"] is None
    assert r.reversal["reversedBy"] is None
    assert (await read_job(client, r.original["id"], r.token) or {})["reversedBy"] == {
        "id": r.reversal["id"]
    }


async def test_reversing_twice_is_refused_and_the_same_key_replays(
    client: httpx.AsyncClient, sessions: SessionFactory, reversed_job: Reversed
) -> None:
    r = reversed_job
    before = await stored(sessions, r.world.tenant_id)
    # when the job is reversed again under a new key, and under the first reversal's key
    again = await mutate(
        client, REVERSE_BULK_JOB, reverse_input("rev-2", r.original["id"]), r.token
    )
    replay = await submit(
        client, REVERSE_BULK_JOB, reverse_input("rev", r.original["id"], "posted twice"), r.token
    )
    # and the reversal itself is reversed
    of_reversal = await mutate(
        client, REVERSE_BULK_JOB, reverse_input("rev-3", r.reversal["id"]), r.token
    )
    # then a second reversal is refused, the retry is the first reversal, nothing new is stored
    assert codes(again) == [("jobId", "JOB_ALREADY_REVERSED")]
    assert replay == r.reversal
    assert codes(of_reversal) == [("jobId", "JOB_NOT_REVERSIBLE")]
    assert await stored(sessions, r.world.tenant_id) == before


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        pytest.param(
            lambda r: (REVERSE_BULK_JOB, reverse_input("x", r.original["id"], "  ")),
            [("reason", "REASON_REQUIRED")],
            id="reverse-without-reason",
        ),
        pytest.param(
            lambda r: (REVERSE_BULK_JOB, reverse_input("x", "not-an-id")),
            [("jobId", "JOB_NOT_FOUND")],
            id="reverse-malformed-id",
        ),
        pytest.param(
            lambda r: (REVERSE_BULK_JOB, reverse_input("x", gid("Account", r.world.account_id))),
            [("jobId", "JOB_NOT_FOUND")],
            id="reverse-id-of-another-type",
        ),
        pytest.param(
            lambda r: (REVERSE_BULK_JOB, reverse_input("rev", r.reversal["id"], "posted twice")),
            [("idempotencyKey", "IDEMPOTENCY_KEY_REUSED")],
            id="reverse-key-reused-for-another-job",
        ),
        pytest.param(
            lambda r: (CANCEL_BULK_JOB, {"jobId": "not-an-id"}),
            [("jobId", "JOB_NOT_FOUND")],
            id="cancel-malformed-id",
        ),
    ],
)
async def test_bad_reverse_or_cancel_input_is_refused(
    client: httpx.AsyncClient,
    sessions: SessionFactory,
    reversed_job: Reversed,
    make: Any,
    expected: list[tuple[str, str]],
) -> None:
    before = await stored(sessions, reversed_job.world.tenant_id)
    query, variables = make(reversed_job)
    payload = await mutate(client, query, variables, reversed_job.token)
    assert codes(payload) == expected
    assert await stored(sessions, reversed_job.world.tenant_id) == before


async def test_cancelling_a_finished_job_is_refused(
    client: httpx.AsyncClient, sessions: SessionFactory, reversed_job: Reversed
) -> None:
    r = reversed_job
    before = await stored(sessions, r.world.tenant_id)
    # when each finished job is cancelled
    for job in (r.original, r.reversal):
        payload = await mutate(client, CANCEL_BULK_JOB, {"jobId": job["id"]}, r.token)
        # then it is refused as finished and the job is unchanged
        assert codes(payload) == [("jobId", "JOB_FINISHED")]
        assert payload["userErrors"][0]["message"] == (
            "The job is DONE; only a queued or running job stops."
        )
        assert await read_job(client, job["id"], r.token) == job
    assert await stored(sessions, r.world.tenant_id) == before


async def test_queued_job_cannot_be_reversed_and_cancelling_it_twice_is_a_no_op(
    client: httpx.AsyncClient, sessions: SessionFactory, settings: Settings, celery_app: Celery
) -> None:
    # given a queued write-off whose planning was held back
    world = await make_world(sessions, [1000])
    token = world.token(settings, EVERY_SCOPE)
    job_id, plan = await hold_write_off(sessions, world, "held", world.line_ids)
    # when it is reversed before it finished
    early = await mutate(client, REVERSE_BULK_JOB, reverse_input("r", job_id), token)
    # then that is refused
    assert codes(early) == [("jobId", "JOB_NOT_FINISHED")]
    # when it is cancelled twice
    first = await mutate(client, CANCEL_BULK_JOB, {"jobId": job_id}, token)
    second = await mutate(client, CANCEL_BULK_JOB, {"jobId": job_id}, token)
    # then both answer with the same cancelled job
    assert first["userErrors"] == second["userErrors"] == []
    assert first["job"] == second["job"]
    assert (first["job"]["status"], first["job"]["cancelled"]) == ("CANCELLED", 0)
    # and its planning, when it runs, selects and applies nothing
    celery_app.send_task("arledger.apply_bulk", args=[plan], queue=settings.bulk_queue_name)
    assert await command_final(sessions, plan) == "APPLIED"
    assert await job_items(client, job_id, token) == []
    assert (await stored(sessions, world.tenant_id)).balances == [1000]


async def test_bulk_jobs_lists_by_kind_and_status_a_page_at_a_time(
    client: httpx.AsyncClient, reversed_job: Reversed
) -> None:
    r = reversed_job
    token = r.token

    async def ids(**variables: Any) -> tuple[list[tuple[str, str, str]], bool]:
        body = await gql(client, BULK_JOBS, {"first": 10, **variables}, token)
        assert "errors" not in body, body
        page = body["data"]["bulkJobs"]
        return [(n["id"], n["kind"], n["status"]) for n in page["nodes"]], page["pageInfo"][
            "hasNextPage"
        ]

    original = (r.original["id"], "WRITEOFF", "DONE")
    reversal = (r.reversal["id"], "REVERSAL", "DONE")
    assert await ids() == ([original, reversal], False)
    assert await ids(kind="REVERSAL") == ([reversal], False)
    assert await ids(status="DONE", kind="WRITEOFF") == ([original], False)
    assert await ids(status="RUNNING") == ([], False)
    first_page = await gql(client, BULK_JOBS, {"first": 1}, token)
    page = first_page["data"]["bulkJobs"]
    assert (page["nodes"][0]["id"], page["pageInfo"]["hasNextPage"]) == (r.original["id"], True)
    assert await ids(after=page["pageInfo"]["endCursor"]) == ([reversal], False)
