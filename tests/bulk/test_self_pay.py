"""Bulk self-pay transaction runs (BD, FC, AC, AD, RF) through the domain and the real worker:
one POSTED transaction per selected visit of the self-pay payer with the payer's default code,
exact amounts (finance charges rounded half-up to the cent), and their reversal."""

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from celery import Celery
from sqlalchemy import select

from arledger.config import Settings
from domain.bulk.rules import parse_percent, percent_of
from domain.bulk.selection import RawFilter
from domain.bulk.service import submit_bulk_reversal, submit_bulk_self_pay
from domain.commands.apply import apply
from domain.db import SessionFactory
from domain.errors import DomainError
from domain.ledger.batch import Posting, post
from domain.locks import lock_lines
from domain.models import Transaction
from domain.transactions.posting import submit_void
from domain.uow import UnitOfWork
from tests.bulk.ops import (
    ACTOR,
    SCOPES,
    Bulk,
    BulkWorld,
    build,
    drift,
    entries,
    items,
    line_balances,
    no_enqueue,
    posted,
    reversal_args,
    self_pay_args,
    stored,
    totals,
    visit,
    visit_outcomes,
)


@pytest.fixture
def bulk(sessions: SessionFactory, celery_app: Celery, settings: Settings, worker: Any) -> Bulk:
    return Bulk(sessions, celery_app, settings)


def done(total: int, applied: int, cents: int, chunks: int = 1) -> dict[str, Any]:
    """The totals of a job that finished with `applied` of `total` rows and no cancellation."""
    return {
        "status": "DONE",
        "total": total,
        "applied": applied,
        "skipped": total - applied,
        "cancelled": 0,
        "cents": cents,
        "chunks": (chunks, chunks),
        "finished": True,
        "error": None,
    }


# --- rounding -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("balance_cents", "percent", "cents"),
    [
        (33, "1.5", 0),  # 0.495 cent → 0
        (100, "1.5", 2),  # 1.5 cents → 2 (half up)
        (5, "10", 1),  # 0.5 cent → 1 (half up)
        (4, "10", 0),  # 0.4 cent → 0
        (15, "10", 2),  # 1.5 cents → 2
        (25, "10", 3),  # 2.5 cents → 3 (half up, not to even)
        (3333, "1.5", 50),  # 49.995 cents → 50
        (99, "1.5", 1),  # 1.485 cents → 1
        (350, "1.5", 5),  # 5.25 cents → 5
        (1, "50", 1),  # 0.5 cent → 1
        (1, "49.9999", 0),  # 0.499999 cent → 0
        (500_000, "0.0001", 1),  # 0.5 cent → 1 at the smallest percent
        (499_999, "0.0001", 0),  # 0.4999990 cent → 0
        (10_000, "100", 10_000),  # all of it
        (10**12, "1.2345", 12_345_000_000),  # no float error on large balances
        (123_456_789, "33.3333", 41_152_222),  # 41152221.847737 cents → 41152222
    ],
)
def test_percent_of_a_balance_is_rounded_half_up_to_the_cent(
    balance_cents: int, percent: str, cents: int
) -> None:
    # given a balance and a percentage, when the finance charge is computed, then it is exact
    assert percent_of(balance_cents, parse_percent(percent)) == cents


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1.5", Decimal("1.5")),
        (" 2 ", Decimal(2)),
        ("100", Decimal(100)),
        ("100.0000", Decimal(100)),
        ("0.0001", Decimal("0.0001")),
    ],
)
def test_a_percent_has_up_to_four_decimals_above_zero_and_at_most_100(
    text: str, value: Decimal
) -> None:
    assert parse_percent(text) == value


@pytest.mark.parametrize(
    "text", ["0", "0.0000", "100.0001", "101", "1.23456", "-1", "1e1", "1,5", "", " ", "abc", ".5"]
)
def test_a_bad_percent_is_refused(text: str) -> None:
    with pytest.raises(DomainError) as caught:
        parse_percent(text)
    assert [(p.field, p.code) for p in caught.value.problems] == [("percent", "INVALID_PERCENT")]


# --- each type end to end -----------------------------------------------------------------------


async def test_finance_charge_by_percent_posts_each_visit_rounded_half_up(
    bulk: Bulk, sessions: SessionFactory
) -> None:
    # given self-pay visits owing 0.33, 1.00, 100.00 (two lines), 33.33, 0.99, 3.50 (a 0.50
    # credit line and a 4.00 line), 0.00 and -2.00; and a visit of another payer
    world = await build(
        sessions,
        {
            "A1": [visit(33), visit(100), visit(5000, 5000)],
            "A2": [visit(3333), visit(99), visit(-50, 400)],
            "A3": [visit(0), visit(300, -500)],
            "A4": [visit(1000, payer="2")],
        },
    )
    # when a 1.5 % finance charge runs on self-pay visits owing at least -5.00
    job = await bulk.self_pay(
        world.tenant_id, "fc", "FC", percent="1.5", raw_filter=RawFilter(balance_min="-5.00")
    )
    job = await bulk.finished(job.id)
    # then each visit is charged its percentage rounded half-up, or skipped with the reason
    assert await visit_outcomes(sessions, world, job.id) == [
        ("A1/1", "SKIPPED", "ZERO_AMOUNT", None),
        ("A1/2", "APPLIED", None, 2),
        ("A1/3", "APPLIED", None, 150),
        ("A2/1", "APPLIED", None, 50),
        ("A2/2", "APPLIED", None, 1),
        ("A2/3", "APPLIED", None, 5),
        ("A3/1", "SKIPPED", "NO_BALANCE", None),
        ("A3/2", "SKIPPED", "NO_BALANCE", None),
    ]
    assert totals(job) == done(total=8, applied=5, cents=208)
    skipped = {world.visit_name(i.visit_id): i.message for i in await items(sessions, job.id)}
    assert skipped["A1/1"] == "The percentage rounds to 0.00 on this balance."
    assert skipped["A3/1"] == "The visit has no balance."
    # and each is one POSTED FC transaction of payer 1 with its default code FC01, one
    # application on its visit, and entries linked to it (a credit line is brought back first,
    # the rest goes on the last line)
    assert await posted(sessions, world, job.id) == {
        "A1/2": fc(world, "A1/2", "A1", 2, [("A1/2/1", 2)]),
        "A1/3": fc(world, "A1/3", "A1", 150, [("A1/3/2", 150)]),
        "A2/1": fc(world, "A2/1", "A2", 50, [("A2/1/1", 50)]),
        "A2/2": fc(world, "A2/2", "A2", 1, [("A2/2/1", 1)]),
        "A2/3": fc(world, "A2/3", "A2", 5, [("A2/3/1", 5)]),
    }
    assert await line_balances(sessions, world) == {
        "A1/1/1": 33,
        "A1/2/1": 102,
        "A1/3/1": 5000,
        "A1/3/2": 5150,
        "A2/1/1": 3383,
        "A2/2/1": 100,
        "A2/3/1": -45,
        "A2/3/2": 400,
        "A3/1/1": 0,
        "A3/2/1": 300,
        "A3/2/2": -500,
        "A4/1/1": 1000,
    }
    # and each transaction was posted by its chunk's command
    await assert_posted_by_chunks(bulk, sessions, job.id)
    assert await drift(sessions, world.tenant_id) == []


def fc(
    world: BulkWorld, visit_name: str, account: str, cents: int, lines: list[tuple[str, int]]
) -> dict[str, Any]:
    """An FC transaction of payer 1 dated today, as `posted` reports it."""
    return {
        "txn": ("FC", "POSTED", "FC01", "1", world.today, cents, ACTOR),
        "applications": [(visit_name, account, cents)],
        "entries": [(line, "FINANCE_CHARGE", c, "FC01", world.today) for line, c in lines],
    }


async def assert_posted_by_chunks(bulk: Bulk, sessions: SessionFactory, job_id: int) -> None:
    chunk_ids = {c.id for c in await bulk.commands(job_id) if c.kind == "BULK_CHUNK"}
    txn_ids = [i.transaction_id for i in await items(sessions, job_id) if i.transaction_id]
    async with sessions() as session:
        rows = (
            await session.execute(
                select(Transaction.post_command_id, Transaction.posted_at).where(
                    Transaction.id.in_(txn_ids)
                )
            )
        ).all()
    assert len(rows) == len(txn_ids)
    assert all(command in chunk_ids and at is not None for command, at in rows)


async def test_finance_charge_of_a_fixed_amount(bulk: Bulk, sessions: SessionFactory) -> None:
    # given self-pay visits owing 1.00 and 0.00
    world = await build(sessions, {"A1": [visit(100), visit(0)]})
    # when a fixed 0.75 finance charge runs (default filter: balance at least 0.01)
    job = await bulk.finished((await bulk.self_pay(world.tenant_id, "k", "FC", amount="0.75")).id)
    # then only the visit with a balance is charged 0.75
    assert await visit_outcomes(sessions, world, job.id) == [("A1/1", "APPLIED", None, 75)]
    assert totals(job) == done(total=1, applied=1, cents=75)
    assert await posted(sessions, world, job.id) == {
        "A1/1": fc(world, "A1/1", "A1", 75, [("A1/1/1", 75)])
    }
    assert await line_balances(sessions, world) == {"A1/1/1": 175, "A1/2/1": 0}
    assert await drift(sessions, world.tenant_id) == []


async def test_bad_debt_writes_off_the_whole_balance_of_visits_old_enough(
    bulk: Bulk, sessions: SessionFactory
) -> None:
    # given self-pay visits of 90, 89, 365, 100 and 95 days owing 30.00 (two lines), 5.00,
    # 4.00 (a 7.00 line and a 3.00 credit line), 0.00 and 5.00 (two lines); another payer's
    world = await build(
        sessions,
        {
            "A1": [visit(1000, 2000, age=90), visit(500, age=89)],
            "A2": [visit(700, -300, age=365), visit(800, age=120, payer="2")],
            "A3": [visit(0, age=100), visit(250, 250, age=95)],
        },
    )
    # when bad debt runs on visits at least 90 days old
    job = await bulk.self_pay(world.tenant_id, "bd", "BD", raw_filter=RawFilter(min_age_days=90))
    job = await bulk.finished(job.id)
    # then each selected visit's whole balance is written off by one BD transaction
    assert await visit_outcomes(sessions, world, job.id) == [
        ("A1/1", "APPLIED", None, 3000),
        ("A2/1", "APPLIED", None, 400),
        ("A3/2", "APPLIED", None, 500),
    ]
    assert totals(job) == done(total=3, applied=3, cents=3900)
    today = world.today

    def bd(visit_name: str, account: str, cents: int, lines: list[tuple[str, int]]) -> Any:
        return {
            "txn": ("BD", "POSTED", "BD01", "1", today, cents, ACTOR),
            "applications": [(visit_name, account, cents)],
            "entries": [(line, "WRITEOFF", c, "BD01", today) for line, c in lines],
        }

    assert await posted(sessions, world, job.id) == {
        "A1/1": bd("A1/1", "A1", 3000, [("A1/1/1", -1000), ("A1/1/2", -2000)]),
        "A2/1": bd("A2/1", "A2", 400, [("A2/1/1", -400)]),
        "A3/2": bd("A3/2", "A3", 500, [("A3/2/1", -250), ("A3/2/2", -250)]),
    }
    assert {e.reason for e in await entries(sessions, world.tenant_id)} == {"bad-debt"}
    assert await line_balances(sessions, world) == {
        "A1/1/1": 0,
        "A1/1/2": 0,
        "A1/2/1": 500,
        "A2/1/1": 300,
        "A2/1/2": -300,
        "A2/2/1": 800,
        "A3/1/1": 0,
        "A3/2/1": 0,
        "A3/2/2": 0,
    }
    await assert_posted_by_chunks(bulk, sessions, job.id)
    assert await drift(sessions, world.tenant_id) == []


async def test_additional_charge_posts_a_fixed_amount_on_every_visit_on_the_date_given(
    bulk: Bulk, sessions: SessionFactory
) -> None:
    # given self-pay visits owing 10.00, 0.00 and -2.00 (a 3.00 credit line and a 1.00 line)
    world = await build(
        sessions,
        {"A1": [visit(1000), visit(0)], "A2": [visit(-300, 100), visit(400, payer="2")]},
    )
    # when a 2.50 additional charge dated 2026-01-31 runs with no filter
    job = await bulk.self_pay(
        world.tenant_id, "ac", "AC", amount="2.50", transaction_date=date(2026, 1, 31)
    )
    job = await bulk.finished(job.id)
    # then every self-pay visit, whatever its balance, gets 2.50
    assert await visit_outcomes(sessions, world, job.id) == [
        ("A1/1", "APPLIED", None, 250),
        ("A1/2", "APPLIED", None, 250),
        ("A2/1", "APPLIED", None, 250),
    ]
    assert totals(job) == done(total=3, applied=3, cents=750)
    day = date(2026, 1, 31)

    def ac(visit_name: str, account: str, line: str) -> Any:
        return {
            "txn": ("AC", "POSTED", "AC01", "1", day, 250, ACTOR),
            "applications": [(visit_name, account, 250)],
            "entries": [(line, "ADDITIONAL_CHARGE", 250, "AC01", day)],
        }

    assert await posted(sessions, world, job.id) == {
        "A1/1": ac("A1/1", "A1", "A1/1/1"),
        "A1/2": ac("A1/2", "A1", "A1/2/1"),
        "A2/1": ac("A2/1", "A2", "A2/1/1"),
    }
    assert await line_balances(sessions, world) == {
        "A1/1/1": 1250,
        "A1/2/1": 250,
        "A2/1/1": -50,
        "A2/1/2": 100,
        "A2/2/1": 400,
    }
    assert await drift(sessions, world.tenant_id) == []


async def test_adjustment_posts_a_fixed_amount_and_skips_visits_owing_less(
    bulk: Bulk, sessions: SessionFactory
) -> None:
    # given self-pay visits owing 15.00 (6.00 and 9.00 lines), 9.99, 10.00 and 0.00
    world = await build(
        sessions, {"A1": [visit(600, 900), visit(999)], "A2": [visit(1000), visit(0)]}
    )
    # when a 10.00 adjustment runs (default filter: balance at least 0.01)
    job = await bulk.finished((await bulk.self_pay(world.tenant_id, "ad", "AD", amount="10")).id)
    # then the visits owing at least 10.00 are adjusted, in line order; the other is skipped
    assert await visit_outcomes(sessions, world, job.id) == [
        ("A1/1", "APPLIED", None, 1000),
        ("A1/2", "SKIPPED", "EXCEEDS_BALANCE", None),
        ("A2/1", "APPLIED", None, 1000),
    ]
    assert totals(job) == done(total=3, applied=2, cents=2000)
    [skipped] = [i for i in await items(sessions, job.id) if i.status == "SKIPPED"]
    assert skipped.message == "Amount exceeds the visit balance of 9.99."
    today = world.today
    assert await posted(sessions, world, job.id) == {
        "A1/1": {
            "txn": ("AD", "POSTED", "AD01", "1", today, 1000, ACTOR),
            "applications": [("A1/1", "A1", 1000)],
            "entries": [
                ("A1/1/1", "ADJUSTMENT", -600, "AD01", today),
                ("A1/1/2", "ADJUSTMENT", -400, "AD01", today),
            ],
        },
        "A2/1": {
            "txn": ("AD", "POSTED", "AD01", "1", today, 1000, ACTOR),
            "applications": [("A2/1", "A2", 1000)],
            "entries": [("A2/1/1", "ADJUSTMENT", -1000, "AD01", today)],
        },
    }
    assert {
        (e.category, e.carc_group, e.carc_reason) for e in await entries(sessions, world.tenant_id)
    } == {("adjustment", "OA", "45")}
    assert await line_balances(sessions, world) == {
        "A1/1/1": 0,
        "A1/1/2": 500,
        "A1/2/1": 999,
        "A2/1/1": 0,
        "A2/2/1": 0,
    }
    assert await drift(sessions, world.tenant_id) == []
    # and reversing it needs the adjustment scope
    without = reversal_args(
        world.tenant_id, "r", job.id, scopes=frozenset({"billing.read", "billing.payment.write"})
    )
    assert await bulk.refusal(submit_bulk_reversal, without) == [("jobId", "FORBIDDEN")]


async def test_adjustment_skips_a_visit_owing_less_because_of_a_credit_line(
    bulk: Bulk, sessions: SessionFactory
) -> None:
    # given a self-pay visit owing 2.00: a 5.00 line and a 3.00 credit line
    world = await build(sessions, {"A1": [visit(500, -300)]})
    # when a 4.00 adjustment runs
    job = await bulk.finished((await bulk.self_pay(world.tenant_id, "ad", "AD", amount="4")).id)
    # then the visit, owing less than 4.00, is skipped and keeps its balance
    assert await visit_outcomes(sessions, world, job.id) == [
        ("A1/1", "SKIPPED", "EXCEEDS_BALANCE", None)
    ]
    assert await line_balances(sessions, world) == {"A1/1/1": 500, "A1/1/2": -300}


async def test_refund_pays_back_each_credit_balance(bulk: Bulk, sessions: SessionFactory) -> None:
    # given self-pay visits with credits of 3.00 and 3.00 (a 2.00 line and a 5.00 credit line),
    # a visit owing 1.00, one at zero; and another payer's credit
    world = await build(
        sessions,
        {
            "A1": [visit(-300), visit(200, -500)],
            "A2": [visit(100), visit(-100, payer="2")],
            "A3": [visit(0)],
        },
    )
    # when refunds run with the default filter (balance at most -0.01)
    job = await bulk.finished((await bulk.self_pay(world.tenant_id, "rf", "RF")).id)
    # then each credit is refunded in full, on its credit lines
    assert await visit_outcomes(sessions, world, job.id) == [
        ("A1/1", "APPLIED", None, 300),
        ("A1/2", "APPLIED", None, 300),
    ]
    assert totals(job) == done(total=2, applied=2, cents=600)
    today = world.today
    assert await posted(sessions, world, job.id) == {
        "A1/1": {
            "txn": ("RF", "POSTED", "RF01", "1", today, 300, ACTOR),
            "applications": [("A1/1", "A1", 300)],
            "entries": [("A1/1/1", "REFUND", 300, "RF01", today)],
        },
        "A1/2": {
            "txn": ("RF", "POSTED", "RF01", "1", today, 300, ACTOR),
            "applications": [("A1/2", "A1", 300)],
            "entries": [("A1/2/2", "REFUND", 300, "RF01", today)],
        },
    }
    assert await line_balances(sessions, world) == {
        "A1/1/1": 0,
        "A1/2/1": 200,
        "A1/2/2": -200,
        "A2/1/1": 100,
        "A2/2/1": -100,
        "A3/1/1": 0,
    }
    # when refunds run again on self-pay visits at most 0.00
    again = await bulk.self_pay(world.tenant_id, "rf2", "RF", raw_filter=RawFilter(balance_max="0"))
    again = await bulk.finished(again.id)
    # then there is no credit left to refund
    assert await visit_outcomes(sessions, world, again.id) == [
        ("A1/1", "SKIPPED", "NO_CREDIT", None),
        ("A1/2", "SKIPPED", "NO_CREDIT", None),
        ("A3/1", "SKIPPED", "NO_CREDIT", None),
    ]
    assert totals(again) == done(total=3, applied=0, cents=0)
    assert await drift(sessions, world.tenant_id) == []


async def test_a_visit_whose_balance_moved_since_selection_is_skipped(
    bulk: Bulk, sessions: SessionFactory
) -> None:
    # given a finance charge of 10 % planned on two self-pay visits owing 10.00 each
    world = await build(sessions, {"A1": [visit(1000)], "A2": [visit(1000)]})

    async def charge_a2_meanwhile(uow: UnitOfWork) -> None:
        # a 1.00 additional charge on A2's visit commits after the selection
        line = world.lines["A2/1/1"]
        locked = await lock_lines(uow.session, world.tenant_id, [line])
        await post(
            uow.session,
            world.tenant_id,
            locked,
            [Posting(line, 100, "ADDITIONAL_CHARGE", "TRANSACTION_AC_POSTED")],
            "clerk",
            None,
        )

    planned = await bulk.plan_here(
        submit_bulk_self_pay,
        self_pay_args(world.tenant_id, "fc", "FC", percent="10"),
        chunk_size=500,
        meanwhile=charge_a2_meanwhile,
    )
    # when the worker applies it
    bulk.send(planned.chunk_ids)
    job = await bulk.finished(planned.job_id)
    # then the visit that moved is skipped, the other charged 1.00
    assert await visit_outcomes(sessions, world, job.id) == [
        ("A1/1", "APPLIED", None, 100),
        ("A2/1", "SKIPPED", "CHANGED_SINCE_SELECTION", None),
    ]
    assert await line_balances(sessions, world) == {"A1/1/1": 1100, "A2/1/1": 1100}
    assert await drift(sessions, world.tenant_id) == []


# --- refusals -----------------------------------------------------------------------------------

PAYMENT_ONLY = frozenset({"billing.read", "billing.payment.write"})
ADJUST_ONLY = frozenset({"billing.read", "billing.adjustment.write"})
REFUSED: list[tuple[str, str, dict[str, Any], list[tuple[str, str]]]] = [
    ("PY is not a bulk type", "PY", {"amount": "1"}, [("type", "UNKNOWN_TYPE")]),
    (
        "AD needs adjustment scope",
        "AD",
        {"amount": "1", "scopes": PAYMENT_ONLY},
        [("type", "FORBIDDEN")],
    ),
    (
        "FC needs payment scope",
        "FC",
        {"amount": "1", "scopes": ADJUST_ONLY},
        [("type", "FORBIDDEN")],
    ),
    ("AC without amount", "AC", {}, [("amount", "AMOUNT_REQUIRED")]),
    ("FC without amount or percent", "FC", {}, [("amount", "AMOUNT_REQUIRED")]),
    (
        "BD with an amount",
        "BD",
        {"amount": "1", "raw_filter": RawFilter(min_age_days=1)},
        [("amount", "AMOUNT_NOT_ALLOWED")],
    ),
    ("RF with a percent", "RF", {"percent": "1"}, [("amount", "AMOUNT_NOT_ALLOWED")]),
    ("AC with a percent", "AC", {"percent": "1"}, [("percent", "PERCENT_NOT_ALLOWED")]),
    ("FC with both", "FC", {"amount": "1", "percent": "1"}, [("percent", "AMOUNT_OR_PERCENT")]),
    ("FC percent 0", "FC", {"percent": "0"}, [("percent", "INVALID_PERCENT")]),
    ("FC percent over 100", "FC", {"percent": "100.5"}, [("percent", "INVALID_PERCENT")]),
    ("AC amount 0", "AC", {"amount": "0"}, [("amount", "AMOUNT_NOT_POSITIVE")]),
    ("AD negative amount", "AD", {"amount": "-2"}, [("amount", "AMOUNT_NOT_POSITIVE")]),
    ("AC three decimals", "AC", {"amount": "1.005"}, [("amount", "TOO_MANY_DECIMALS")]),
    ("BD without age", "BD", {}, [("filter.minAgeDays", "AGE_REQUIRED")]),
    ("unknown payer", "AC", {"amount": "1", "payer_code": "9"}, [("payerCode", "PAYER_NOT_FOUND")]),
    (
        "payer without a default",
        "AC",
        {"amount": "1", "payer_code": "2"},
        [("payerCode", "NO_DEFAULT_CODE")],
    ),
    (
        "a payer in the filter",
        "AC",
        {"amount": "1", "raw_filter": RawFilter(payer_id=1)},
        [("filter.payerId", "PAYER_NOT_ALLOWED")],
    ),
    (
        "bad filter money",
        "FC",
        {"amount": "1", "raw_filter": RawFilter(balance_min="1.5.0")},
        [("filter.balanceMin", "INVALID_AMOUNT")],
    ),
    (
        "filter minimum over maximum",
        "FC",
        {"amount": "1", "raw_filter": RawFilter(balance_min="2", balance_max="1")},
        [("filter.balanceMax", "INVALID_RANGE")],
    ),
    (
        "unknown account",
        "AC",
        {"amount": "1", "raw_filter": RawFilter(account_numbers=("A1", "B7"))},
        [("filter.accountNumbers", "ACCOUNT_NOT_FOUND")],
    ),
]


@pytest.mark.parametrize(
    ("type_", "request_", "problems"),
    [pytest.param(t, r, p, id=name) for name, t, r, p in REFUSED],
)
async def test_a_refused_self_pay_run_stores_nothing(
    bulk: Bulk,
    sessions: SessionFactory,
    type_: str,
    request_: dict[str, Any],
    problems: list[tuple[str, str]],
) -> None:
    # given a self-pay visit (payer 1 has default codes, payer 2 none)
    world = await build(sessions, {"A1": [visit(100)]})
    # when a bad self-pay run is submitted
    refused = await bulk.refusal(
        submit_bulk_self_pay, self_pay_args(world.tenant_id, "k", type_, **request_)
    )
    # then it is refused and nothing is stored
    assert refused == problems
    assert await stored(sessions, world.tenant_id) == {
        "jobs": 0,
        "items": 0,
        "commands": 0,
        "audit": 0,
    }


# --- reversing ----------------------------------------------------------------------------------


async def test_reversing_a_self_pay_job_voids_each_transaction_and_restores_balances(
    bulk: Bulk, sessions: SessionFactory
) -> None:
    # given a 2.50 additional charge run over three self-pay visits (one with a credit line)
    world = await build(sessions, {"A1": [visit(1000), visit(0)], "A2": [visit(-300, 100)]})
    before = await line_balances(sessions, world)
    original = await bulk.self_pay(world.tenant_id, "ac", "AC", amount="2.50")
    original = await bulk.finished(original.id)
    assert totals(original) == done(total=3, applied=3, cents=750)
    txn = {
        world.visit_name(i.visit_id): i.transaction_id for i in await items(sessions, original.id)
    }
    # and A1/2's transaction already voided on its own
    async with UnitOfWork(sessions) as uow:
        command = await submit_void(
            uow,
            tenant_id=world.tenant_id,
            actor="clerk",
            scopes=SCOPES,
            idempotency_key="void",
            transaction_id=txn["A1/2"],
            reason="duplicate",
            enqueue=no_enqueue,
        )
        assert await apply(uow, command.id) == "APPLIED"
        await uow.commit()
    # when the job is reversed
    reversal = await bulk.finished((await bulk.reverse(world.tenant_id, "r", original.id)).id)
    # then every other transaction is voided by it, the voided one skipped
    assert await visit_outcomes(sessions, world, reversal.id) == [
        ("A1/1", "APPLIED", None, 250),
        ("A1/2", "SKIPPED", "TRANSACTION_NOT_POSTED", None),
        ("A2/1", "APPLIED", None, 250),
    ]
    assert totals(reversal) == done(total=3, applied=2, cents=500)
    reversal_chunks = {c.id for c in await bulk.commands(reversal.id) if c.kind == "BULK_CHUNK"}
    async with sessions() as session:
        rows = await session.execute(
            select(
                Transaction.id,
                Transaction.status,
                Transaction.void_reason,
                Transaction.void_command_id,
            )
            .where(Transaction.tenant_id == world.tenant_id)
            .order_by(Transaction.id)
        )
        voided = {
            row.id: (row.status, row.void_reason, row.void_command_id in reversal_chunks)
            for row in rows
        }
    assert voided == {
        txn["A1/1"]: ("VOIDED", "entered in error", True),
        txn["A1/2"]: ("VOIDED", "duplicate", False),
        txn["A2/1"]: ("VOIDED", "entered in error", True),
    }
    # and every balance is what it was before the job, each entry reversed exactly once
    assert await line_balances(sessions, world) == before
    charges = [e for e in await entries(sessions, world.tenant_id) if e.reverses_entry_id is None]
    reversed_ = [
        e.reverses_entry_id for e in await entries(sessions, world.tenant_id) if e.reverses_entry_id
    ]
    assert sorted(reversed_) == sorted(e.id for e in charges)
    assert await drift(sessions, world.tenant_id) == []
    # and it cannot be reversed twice
    twice = reversal_args(world.tenant_id, "r2", original.id)
    assert await bulk.refusal(submit_bulk_reversal, twice) == [("jobId", "JOB_ALREADY_REVERSED")]
