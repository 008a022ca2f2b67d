"""Bulk write-off jobs through the domain and the real worker: what a job selects, why each row
is applied or skipped, refusals that store nothing, idempotency keys, cancelling and reversing."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from celery import Celery
from sqlalchemy import func, select

from arledger.config import Settings
from domain.bulk.selection import RawFilter
from domain.bulk.service import submit_bulk_reversal, submit_bulk_self_pay, submit_bulk_writeoff
from domain.commands.apply import apply
from domain.db import SessionFactory
from domain.errors import DomainError
from domain.models import AuditRow, Command
from domain.reversals.service import submit_reversal
from domain.tenants.settings import SettingsChange, update_settings
from domain.uow import UnitOfWork
from domain.writeoffs.rules import parse_writeoff
from domain.writeoffs.service import submit_writeoff
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
    line_outcomes,
    no_enqueue,
    reversal_args,
    self_pay_args,
    stored,
    totals,
    visit,
    writeoff_args,
)

pytestmark = pytest.mark.usefixtures("worker")


@pytest.fixture
def bulk(sessions: SessionFactory, celery_app: Celery, settings: Settings) -> Bulk:
    return Bulk(sessions, celery_app, settings)


def single_writeoff(
    world: BulkWorld, line: str, amount: str, key: str
) -> Callable[[UnitOfWork], Awaitable[None]]:
    """A single write-off of `amount` on `line`, stored and applied inside the caller's unit of
    work (so it commits together with whatever else the caller does)."""

    async def write_off(uow: UnitOfWork) -> None:
        command = await submit_writeoff(
            uow,
            tenant_id=world.tenant_id,
            actor="clerk",
            idempotency_key=key,
            request=parse_writeoff([(world.lines[line], amount)], "charity", None),
            enqueue=no_enqueue,
        )
        assert await apply(uow, command.id) == "APPLIED"

    return write_off


# --- one job, every reason ----------------------------------------------------------------------


async def test_summary_names_the_outcome_of_every_row_with_each_skip_reason(
    bulk: Bulk, sessions: SessionFactory
) -> None:
    # given a tenant (small-balance threshold 5.00) with, per account:
    #   A1: two lines of a 3.50 visit; a protected 3.00 line and a 1.00 line of a 4.00 visit
    #   A2: a submitted visit, an on-hold visit, and a visit with a zero, a credit and a 4.00 line
    #   A3: a 7.50 visit (over the threshold) and a 4.80 visit
    world = await build(
        sessions,
        {
            "A1": [visit(150, 200), visit(300, 100, protected=(1,))],
            "A2": [visit(250, state="submitted"), visit(120, state="on_hold"), visit(0, -75, 400)],
            "A3": [visit(300, 450), visit(480)],
        },
    )
    every_line = list(world.lines)
    # when a small-balance write-off of every line is planned in chunks of 2 rows, and a single
    # 1.00 write-off of A3/2/1 commits after the selection, before the chunks run
    planned = await bulk.plan_here(
        submit_bulk_writeoff,
        writeoff_args(
            world.tenant_id, "k", line_ids=world.ids(*every_line), reason="small-balance"
        ),
        chunk_size=2,
        meanwhile=single_writeoff(world, "A3/2/1", "1.00", "single"),
    )
    # then the rows are cut into 3 chunks that never split an account
    assert [
        (world.line_name(i.line_id or 0), i.chunk_no) for i in await items(sessions, planned.job_id)
    ] == [
        ("A1/1/1", 0),
        ("A1/1/2", 0),
        ("A1/2/1", 0),
        ("A1/2/2", 0),
        ("A2/1/1", 1),
        ("A2/2/1", 1),
        ("A2/3/1", 1),
        ("A2/3/2", 1),
        ("A2/3/3", 1),
        ("A3/1/1", 2),
        ("A3/1/2", 2),
        ("A3/2/1", 2),
    ]
    # when the real worker applies the chunks
    bulk.send(planned.chunk_ids)
    job = await bulk.finished(planned.job_id)
    # then 4 of 12 rows are applied, each skipped row says why
    assert totals(job) == {
        "status": "DONE",
        "total": 12,
        "applied": 4,
        "skipped": 8,
        "cancelled": 0,
        "cents": 850,
        "chunks": (3, 3),
        "finished": True,
        "error": None,
    }
    assert await line_outcomes(sessions, world, job.id) == [
        ("A1/1/1", "APPLIED", None, 150),
        ("A1/1/2", "APPLIED", None, 200),
        ("A1/2/1", "SKIPPED", "LINE_PROTECTED", None),
        ("A1/2/2", "APPLIED", None, 100),
        ("A2/1/1", "SKIPPED", "VISIT_STATE_BLOCKS_WRITEOFF", None),
        ("A2/2/1", "SKIPPED", "VISIT_STATE_BLOCKS_WRITEOFF", None),
        ("A2/3/1", "SKIPPED", "NO_BALANCE", None),
        ("A2/3/2", "SKIPPED", "CREDIT_BALANCE", None),
        ("A2/3/3", "APPLIED", None, 400),
        ("A3/1/1", "SKIPPED", "SMALL_BALANCE_OVER_THRESHOLD", None),
        ("A3/1/2", "SKIPPED", "SMALL_BALANCE_OVER_THRESHOLD", None),
        ("A3/2/1", "SKIPPED", "CHANGED_SINCE_SELECTION", None),
    ]
    messages = {world.line_name(i.line_id or 0): i.message for i in await items(sessions, job.id)}
    assert messages["A1/2/1"] == "This line is protected."
    assert messages["A2/1/1"] == "The visit is submitted, which blocks write-offs."
    assert messages["A2/2/1"] == "The visit is on_hold, which blocks write-offs."
    assert messages["A3/1/1"] == (
        "The visit balance 7.50 is over the small-balance threshold of 5.00."
    )
    assert messages["A3/2/1"] == (
        "The balance changed from 4.80 to 3.80 since the job selected it."
    )
    # and exactly the applied lines are at zero, with one write-off entry each from their chunk
    assert await line_balances(sessions, world) == {
        "A1/1/1": 0,
        "A1/1/2": 0,
        "A1/2/1": 300,
        "A1/2/2": 0,
        "A2/1/1": 250,
        "A2/2/1": 120,
        "A2/3/1": 0,
        "A2/3/2": -75,
        "A2/3/3": 0,
        "A3/1/1": 300,
        "A3/1/2": 450,
        "A3/2/1": 380,
    }
    rows = await items(sessions, job.id)
    chunk_of = {i.line_id: planned.chunk_ids[i.chunk_no] for i in rows}
    line_of = {i.entry_id: i.line_id for i in rows if i.entry_id}
    bulk_entries = [e for e in await entries(sessions, world.tenant_id) if e.id in line_of]
    assert sorted(
        (world.line_name(e.line_id), e.kind, e.amount_cents, e.reason, e.actor)
        for e in bulk_entries
    ) == [
        ("A1/1/1", "WRITEOFF", -150, "small-balance", ACTOR),
        ("A1/1/2", "WRITEOFF", -200, "small-balance", ACTOR),
        ("A1/2/2", "WRITEOFF", -100, "small-balance", ACTOR),
        ("A2/3/3", "WRITEOFF", -400, "small-balance", ACTOR),
    ]
    assert all(line_of[e.id] == e.line_id for e in bulk_entries)
    assert all(e.command_id == chunk_of[e.line_id] for e in bulk_entries)
    assert len(await entries(sessions, world.tenant_id)) == 5  # and the single 1.00 write-off
    assert await drift(sessions, world.tenant_id) == []


# --- selection ----------------------------------------------------------------------------------

SELECTION_WORLD = {
    "A1": [visit(100, 250, age=29), visit(99, 251, age=30, payer="2")],
    "A2": [visit(500, state="denied", age=120), visit(0, -50, 700, age=400)],
    "A3": [visit(1000, state="paid", age=10, payer="2")],
}
SELECTED: list[tuple[str, Any, list[tuple[str, str, str | None, int | None]]]] = [
    (
        "payer 2",
        lambda w: {"raw_filter": RawFilter(payer_id=w.payers["2"])},
        [
            ("A1/2/1", "APPLIED", None, 99),
            ("A1/2/2", "APPLIED", None, 251),
            ("A3/1/1", "APPLIED", None, 1000),
        ],
    ),
    (
        "balance 1.00 to 2.50, bounds included",
        lambda w: {"raw_filter": RawFilter(balance_min="1.00", balance_max="2.50")},
        [("A1/1/1", "APPLIED", None, 100), ("A1/1/2", "APPLIED", None, 250)],
    ),
    (
        "at least 30 days old (default minimum balance 0.01)",
        lambda w: {"raw_filter": RawFilter(min_age_days=30)},
        [
            ("A1/2/1", "APPLIED", None, 99),
            ("A1/2/2", "APPLIED", None, 251),
            ("A2/1/1", "APPLIED", None, 500),
            ("A2/2/3", "APPLIED", None, 700),
        ],
    ),
    (
        "visit states denied and paid",
        lambda w: {"raw_filter": RawFilter(visit_states=("paid", "denied"))},
        [("A2/1/1", "APPLIED", None, 500), ("A3/1/1", "APPLIED", None, 1000)],
    ),
    (
        "accounts A3 and A2",
        lambda w: {"raw_filter": RawFilter(account_numbers=("A3", " A2 ", "A3"))},
        [
            ("A2/1/1", "APPLIED", None, 500),
            ("A2/2/3", "APPLIED", None, 700),
            ("A3/1/1", "APPLIED", None, 1000),
        ],
    ),
    (
        "payer 2, 30 days old, at most 2.00",
        lambda w: {
            "raw_filter": RawFilter(payer_id=w.payers["2"], balance_max="2.00", min_age_days=30)
        },
        [("A1/2/1", "APPLIED", None, 99)],
    ),
    (
        "only a maximum of -0.01: the credit line, skipped",
        lambda w: {"raw_filter": RawFilter(balance_max="-0.01")},
        [("A2/2/2", "SKIPPED", "CREDIT_BALANCE", None)],
    ),
    (
        "explicit lines, in account order",
        lambda w: {"line_ids": w.ids("A2/2/1", "A1/1/2")},
        [("A1/1/2", "APPLIED", None, 250), ("A2/2/1", "SKIPPED", "NO_BALANCE", None)],
    ),
    (
        "nothing matches",
        lambda w: {"raw_filter": RawFilter(account_numbers=("A1",), visit_states=("paid",))},
        [],
    ),
]


@pytest.mark.parametrize(
    ("selection", "expected"),
    [pytest.param(s, e, id=name) for name, s, e in SELECTED],
)
async def test_a_job_selects_by_filter_or_explicit_lines(
    bulk: Bulk, sessions: SessionFactory, selection: Any, expected: list[Any]
) -> None:
    # given lines of two payers, ages 10 to 400 days, open, denied and paid visits, a zero line
    # and a credit line, over three accounts
    world = await build(sessions, SELECTION_WORLD)
    before = await line_balances(sessions, world)
    # when a charity write-off job runs on the selection
    job = await bulk.write_off(world.tenant_id, "k", **selection(world))
    done = await bulk.finished(job.id)
    # then exactly the selected rows were judged, in account order, and only the applied moved
    assert await line_outcomes(sessions, world, job.id) == expected
    applied = [row for row in expected if row[1] == "APPLIED"]
    assert totals(done) == {
        "status": "DONE",
        "total": len(expected),
        "applied": len(applied),
        "skipped": len(expected) - len(applied),
        "cancelled": 0,
        "cents": sum(row[3] for row in applied),
        "chunks": (1, 1) if expected else (0, 0),
        "finished": True,
        "error": None,
    }
    assert await line_balances(sessions, world) == {
        **before,
        **{line: 0 for line, *_ in applied},
    }
    assert await drift(sessions, world.tenant_id) == []


# --- refusals -----------------------------------------------------------------------------------

REFUSED: list[tuple[str, Any, list[tuple[str, str]]]] = [
    (
        "unknown line",
        lambda w, o: {"line_ids": [w.lines["A1/1/1"], 999_999_999]},
        [("selection.lineIds.1", "LINE_NOT_FOUND")],
    ),
    (
        "another tenant's line",
        lambda w, o: {"line_ids": [o.lines["A1/1/1"]]},
        [("selection.lineIds.0", "LINE_NOT_FOUND")],
    ),
    (
        "a null line id",
        lambda w, o: {"line_ids": [w.lines["A1/1/1"], None]},
        [("selection.lineIds.1", "LINE_NOT_FOUND")],
    ),
    (
        "a line twice",
        lambda w, o: {"line_ids": w.ids("A1/1/1", "A1/1/2", "A1/1/1")},
        [("selection.lineIds.2", "DUPLICATE_LINE")],
    ),
    ("no lines", lambda w, o: {"line_ids": []}, [("selection.lineIds", "NO_LINES")]),
    (
        "unknown account",
        lambda w, o: {"raw_filter": RawFilter(account_numbers=("A1", "Z9"))},
        [("selection.filter.accountNumbers", "ACCOUNT_NOT_FOUND")],
    ),
    (
        "three decimals and not money",
        lambda w, o: {"raw_filter": RawFilter(balance_min="1.234", balance_max="ten")},
        [
            ("selection.filter.balanceMin", "TOO_MANY_DECIMALS"),
            ("selection.filter.balanceMax", "INVALID_AMOUNT"),
        ],
    ),
    (
        "minimum over maximum",
        lambda w, o: {"raw_filter": RawFilter(balance_min="5.00", balance_max="4.99")},
        [("selection.filter.balanceMax", "INVALID_RANGE")],
    ),
    (
        "another tenant's payer",
        lambda w, o: {"raw_filter": RawFilter(payer_id=o.payers["1"])},
        [("selection.filter.payerId", "PAYER_NOT_FOUND")],
    ),
    (
        "unknown visit state",
        lambda w, o: {"raw_filter": RawFilter(visit_states=("open", "lost"))},
        [("selection.filter.visitStates", "UNKNOWN_VISIT_STATE")],
    ),
    (
        "negative age",
        lambda w, o: {"raw_filter": RawFilter(min_age_days=-1)},
        [("selection.filter.minAgeDays", "INVALID_AGE")],
    ),
    (
        "lines and a filter",
        lambda w, o: {"line_ids": w.ids("A1/1/1"), "raw_filter": RawFilter()},
        [("selection", "SELECTION_REQUIRED")],
    ),
    ("neither lines nor a filter", lambda w, o: {}, [("selection", "SELECTION_REQUIRED")]),
    (
        "unknown reason",
        lambda w, o: {"line_ids": w.ids("A1/1/1"), "reason": "boredom"},
        [("reason", "UNKNOWN_REASON")],
    ),
    (
        "reason other without a note",
        lambda w, o: {"line_ids": w.ids("A1/1/1"), "reason": "other", "note": "  "},
        [("note", "NOTE_REQUIRED")],
    ),
]


@pytest.mark.parametrize(
    ("request_", "problems"), [pytest.param(r, p, id=name) for name, r, p in REFUSED]
)
async def test_a_refused_write_off_job_stores_nothing(
    bulk: Bulk, sessions: SessionFactory, request_: Any, problems: list[tuple[str, str]]
) -> None:
    # given a tenant with two lines, and another tenant
    world = await build(sessions, {"A1": [visit(100, 200)]})
    other = await build(sessions, {"A1": [visit(100)]})
    before = await stored(sessions, world.tenant_id)
    # when a bulk write-off is submitted with a bad selection or reason
    refused = await bulk.refusal(
        submit_bulk_writeoff, writeoff_args(world.tenant_id, "k", **request_(world, other))
    )
    # then it is refused with every problem, and no job, command or audit row was stored
    assert refused == problems
    assert before == {"jobs": 0, "items": 0, "commands": 0, "audit": 0}
    assert await stored(sessions, world.tenant_id) == before
    assert await line_balances(sessions, world) == {"A1/1/1": 100, "A1/1/2": 200}


async def test_an_explicit_selection_of_40000_lines_is_checked(
    bulk: Bulk, sessions: SessionFactory
) -> None:
    # given a tenant with one line
    world = await build(sessions, {"A1": [visit(100)]})
    # when a write-off job names it and 39,999 lines that do not exist (under the 50,000 cap)
    line_ids: list[int | None] = [world.lines["A1/1/1"], *range(-39_999, 0)]
    args = writeoff_args(world.tenant_id, "k", line_ids=line_ids)
    # then the unknown lines are refused (the first hundred listed) and nothing is stored
    assert await bulk.refusal(submit_bulk_writeoff, args) == [
        (f"selection.lineIds.{i}", "LINE_NOT_FOUND") for i in range(1, 101)
    ]
    assert (await stored(sessions, world.tenant_id))["jobs"] == 0


async def test_a_blank_idempotency_key_is_refused(bulk: Bulk, sessions: SessionFactory) -> None:
    # given a tenant with a line
    world = await build(sessions, {"A1": [visit(100)]})
    # when a job is submitted under a blank key, then it is refused and nothing is stored
    args = writeoff_args(world.tenant_id, "  ", line_ids=world.ids("A1/1/1"))
    assert await bulk.refusal(submit_bulk_writeoff, args) == [
        ("idempotencyKey", "INVALID_IDEMPOTENCY_KEY")
    ]
    assert await stored(sessions, world.tenant_id) == {
        "jobs": 0,
        "items": 0,
        "commands": 0,
        "audit": 0,
    }


async def test_a_reason_disabled_after_planning_skips_every_row_and_new_jobs_are_refused(
    bulk: Bulk, sessions: SessionFactory
) -> None:
    # given a charity write-off of two lines, planned, its chunk not yet applied
    world = await build(sessions, {"A1": [visit(100, 200)]})
    args = writeoff_args(world.tenant_id, "k", line_ids=world.ids("A1/1/1", "A1/1/2"))
    planned = await bulk.plan_here(submit_bulk_writeoff, args, chunk_size=500)
    # when the tenant disables the charity reason, then the chunk runs
    async with UnitOfWork(sessions) as uow:
        await update_settings(
            uow,
            tenant_id=world.tenant_id,
            actor="admin",
            change=SettingsChange(writeoff_reasons=["small-balance", "bad-debt"]),
        )
        await uow.commit()
    bulk.send(planned.chunk_ids)
    job = await bulk.finished(planned.job_id)
    # then every row is skipped for the disabled reason and nothing moved
    assert await line_outcomes(sessions, world, job.id) == [
        ("A1/1/1", "SKIPPED", "REASON_DISABLED", None),
        ("A1/1/2", "SKIPPED", "REASON_DISABLED", None),
    ]
    assert (job.status, job.applied_items, job.skipped_items) == ("DONE", 0, 2)
    assert await line_balances(sessions, world) == {"A1/1/1": 100, "A1/1/2": 200}
    # and a new charity job is refused, while the same request under the same key is the job
    new = writeoff_args(world.tenant_id, "k2", line_ids=world.ids("A1/1/1"))
    assert await bulk.refusal(submit_bulk_writeoff, new) == [("reason", "REASON_DISABLED")]
    assert (await bulk.submit(submit_bulk_writeoff, args, None)).id == job.id


# --- idempotency --------------------------------------------------------------------------------


async def test_the_same_key_returns_the_same_job_and_a_different_request_is_refused(
    bulk: Bulk, sessions: SessionFactory
) -> None:
    # given a write-off job of two lines, submitted five times at once under one key
    world = await build(sessions, {"A1": [visit(100, 200)], "A2": [visit(300)]})
    other = await build(sessions, {"A1": [visit(100)]})
    lines = world.ids("A1/1/1", "A1/1/2")
    jobs = await asyncio.gather(
        *[bulk.write_off(world.tenant_id, "key-1", line_ids=lines) for _ in range(5)]
    )
    # then they all are one job, with one planning command, applied once
    assert len({j.id for j in jobs}) == 1
    job = await bulk.finished(jobs[0].id)
    assert (job.status, job.applied_items, job.applied_cents) == ("DONE", 2, 300)
    # when the same request comes again after it finished, then it is the same job
    again = await bulk.write_off(world.tenant_id, " key-1 ", line_ids=lines)
    assert again.id == job.id
    assert await stored(sessions, world.tenant_id) == {
        "jobs": 1,
        "items": 2,
        "commands": 2,  # the planning and one chunk
        "audit": 3,  # submitted, and one write-off per line
    }
    # when a different request comes under the key, then it is refused
    for different in (
        writeoff_args(world.tenant_id, "key-1", line_ids=world.ids("A1/1/1")),
        writeoff_args(world.tenant_id, "key-1", line_ids=lines, reason="bad-debt"),
        writeoff_args(world.tenant_id, "key-1", line_ids=lines, note="n"),
        writeoff_args(world.tenant_id, "key-1", raw_filter=RawFilter()),
    ):
        refused = await bulk.refusal(submit_bulk_writeoff, different)
        assert refused == [("idempotencyKey", "IDEMPOTENCY_KEY_REUSED")]
    self_pay = self_pay_args(world.tenant_id, "key-1", "AC", amount="1.00")
    assert await bulk.refusal(submit_bulk_self_pay, self_pay) == [
        ("idempotencyKey", "IDEMPOTENCY_KEY_REUSED")
    ]
    reversal = reversal_args(world.tenant_id, "key-1", job.id)
    assert await bulk.refusal(submit_bulk_reversal, reversal) == [
        ("idempotencyKey", "IDEMPOTENCY_KEY_REUSED")
    ]
    # and nothing more was stored; another tenant's same key is its own job
    assert (await stored(sessions, world.tenant_id))["jobs"] == 1
    theirs = await bulk.write_off(other.tenant_id, "key-1", line_ids=other.ids("A1/1/1"))
    assert theirs.id != job.id
    assert (await bulk.finished(theirs.id)).applied_items == 1
    assert await line_balances(sessions, world) == {"A1/1/1": 0, "A1/1/2": 0, "A2/1/1": 300}


# --- cancelling ---------------------------------------------------------------------------------


async def test_cancelling_a_queued_job_finishes_it_before_it_selects_anything(
    bulk: Bulk, sessions: SessionFactory
) -> None:
    # given a job stored QUEUED whose planning message is not sent yet
    world = await build(sessions, {"A1": [visit(100, 200)]})
    args = writeoff_args(world.tenant_id, "k", line_ids=world.ids("A1/1/1", "A1/1/2"))
    queued = await bulk.submit(submit_bulk_writeoff, args, no_enqueue)
    [plan_id] = await bulk.hold(queued.id)
    assert queued.status == "QUEUED"
    # when it is cancelled
    cancelled = await bulk.cancel(world.tenant_id, queued.id)
    # then it is CANCELLED and finished at once, with nothing selected
    expected = {
        "status": "CANCELLED",
        "total": 0,
        "applied": 0,
        "skipped": 0,
        "cancelled": 0,
        "cents": 0,
        "chunks": (0, 0),
        "finished": True,
        "error": None,
    }
    assert totals(cancelled) == expected
    # when its planning message arrives after all
    bulk.send([plan_id])
    await wait_command_final(sessions, plan_id)
    # then the planning is a no-op: no rows, no chunks, nothing moved
    assert totals(await bulk.job(queued.id)) == expected
    assert await items(sessions, queued.id) == []
    assert [c.kind for c in await bulk.commands(queued.id)] == ["BULK_PLAN"]
    assert await line_balances(sessions, world) == {"A1/1/1": 100, "A1/1/2": 200}
    # and cancelling again is a no-op
    assert totals(await bulk.cancel(world.tenant_id, queued.id)) == expected
    assert await audit_actions(sessions, world.tenant_id) == [
        "BULK_JOB_SUBMITTED",
        "BULK_JOB_CANCELLED",
    ]


async def test_cancelling_a_running_job_applies_no_further_chunk(
    bulk: Bulk, sessions: SessionFactory
) -> None:
    # given a write-off of four accounts' lines planned one account per chunk
    world = await build(
        sessions,
        {
            "A1": [visit(100, 200)],
            "A2": [visit(300, protected=(1,))],
            "A3": [visit(400)],
            "A4": [visit(500, 600)],
        },
    )
    args = writeoff_args(world.tenant_id, "k", raw_filter=RawFilter())
    planned = await bulk.plan_here(submit_bulk_writeoff, args, chunk_size=1)
    assert len(planned.chunk_ids) == 4
    # when the worker applied the first two chunks
    bulk.send(planned.chunk_ids[:2])
    running = await bulk.wait(planned.job_id, lambda job: job.done_chunks == 2)
    assert (running.status, running.finished_at) == ("RUNNING", None)
    # then it cannot be reversed yet
    reversal = reversal_args(world.tenant_id, "r", planned.job_id)
    assert await bulk.refusal(submit_bulk_reversal, reversal) == [("jobId", "JOB_NOT_FINISHED")]
    # when it is cancelled
    cancelled = await bulk.cancel(world.tenant_id, planned.job_id)
    assert (cancelled.status, cancelled.finished_at) == ("CANCELLED", None)
    # and the remaining chunks' messages arrive
    bulk.send(planned.chunk_ids[2:])
    job = await bulk.finished(planned.job_id)
    # then their rows are cancelled, not attempted, and the counters add up to the total
    assert await line_outcomes(sessions, world, job.id) == [
        ("A1/1/1", "APPLIED", None, 100),
        ("A1/1/2", "APPLIED", None, 200),
        ("A2/1/1", "SKIPPED", "LINE_PROTECTED", None),
        ("A3/1/1", "CANCELLED", "JOB_CANCELLED", None),
        ("A4/1/1", "CANCELLED", "JOB_CANCELLED", None),
        ("A4/1/2", "CANCELLED", "JOB_CANCELLED", None),
    ]
    assert {i.message for i in await items(sessions, job.id) if i.status == "CANCELLED"} == {
        "Not attempted: the job was CANCELLED."
    }
    assert totals(job) == {
        "status": "CANCELLED",
        "total": 6,
        "applied": 2,
        "skipped": 1,
        "cancelled": 3,
        "cents": 300,
        "chunks": (4, 4),
        "finished": True,
        "error": None,
    }
    assert await line_balances(sessions, world) == {
        "A1/1/1": 0,
        "A1/1/2": 0,
        "A2/1/1": 300,
        "A3/1/1": 400,
        "A4/1/1": 500,
        "A4/1/2": 600,
    }
    assert await drift(sessions, world.tenant_id) == []
    # and cancelling it again is a no-op
    assert totals(await bulk.cancel(world.tenant_id, job.id)) == totals(job)


async def test_a_finished_job_cannot_be_cancelled(bulk: Bulk, sessions: SessionFactory) -> None:
    # given a finished job, and another tenant
    world = await build(sessions, {"A1": [visit(100)]})
    other = await build(sessions, {"A1": [visit(100)]})
    job = await bulk.finished(
        (await bulk.write_off(world.tenant_id, "k", line_ids=world.ids("A1/1/1"))).id
    )
    assert job.status == "DONE"
    # when it is cancelled, then that is refused and the job is unchanged
    assert await bulk.cancel_refusal(world.tenant_id, job.id) == [("jobId", "JOB_FINISHED")]
    assert totals(await bulk.job(job.id)) == totals(job)
    # and another tenant cannot see it at all
    assert await bulk.cancel_refusal(other.tenant_id, job.id) == [("jobId", "JOB_NOT_FOUND")]


# --- reversing ----------------------------------------------------------------------------------


async def test_reversing_a_write_off_job_restores_every_balance_exactly(
    bulk: Bulk, sessions: SessionFactory
) -> None:
    # given a write-off job (reason other, with a note) that applied four lines over two chunks
    # and skipped a protected one
    world = await build(
        sessions,
        {"A1": [visit(1234, 5678), visit(900, protected=(1,))], "A2": [visit(1), visit(99999)]},
    )
    before = await line_balances(sessions, world)
    args = writeoff_args(
        world.tenant_id, "k", raw_filter=RawFilter(), reason="other", note=" year-end clean-up "
    )
    planned = await bulk.plan_here(submit_bulk_writeoff, args, chunk_size=2, hold=False)
    bulk.send(planned.chunk_ids)
    original = await bulk.finished(planned.job_id)
    assert (original.applied_items, original.skipped_items, original.applied_cents) == (
        4,
        1,
        106912,
    )
    written = await entries(sessions, world.tenant_id)
    assert {(e.reason, e.note) for e in written} == {("other", "year-end clean-up")}
    # and one of its entries (A2/1/1) already reversed on its own
    [single] = [i for i in await items(sessions, original.id) if i.line_id == world.lines["A2/1/1"]]
    async with UnitOfWork(sessions) as uow:
        submitted = await submit_reversal(
            uow,
            tenant_id=world.tenant_id,
            actor="clerk",
            scopes=SCOPES,
            idempotency_key="single",
            entry_id=single.entry_id,
            reason="wrong patient",
            enqueue=no_enqueue,
        )
        assert await apply(uow, submitted.command.id) == "APPLIED"
        await uow.commit()
    # when the job is reversed
    reversal = await bulk.reverse(world.tenant_id, "r", original.id, reason=" entered in error ")
    job = await bulk.finished(reversal.id)
    # then every other entry it applied is reversed and the one reversed already is skipped
    assert (job.kind, job.reverses_job_id) == ("REVERSAL", original.id)
    assert await line_outcomes(sessions, world, job.id) == [
        ("A1/1/1", "APPLIED", None, 1234),
        ("A1/1/2", "APPLIED", None, 5678),
        ("A2/1/1", "SKIPPED", "ALREADY_REVERSED", None),
        ("A2/2/1", "APPLIED", None, 99999),
    ]
    assert totals(job) == {
        "status": "DONE",
        "total": 4,
        "applied": 3,
        "skipped": 1,
        "cancelled": 0,
        "cents": 106911,
        "chunks": (1, 1),
        "finished": True,
        "error": None,
    }
    # and every balance is what it was before the job
    assert await line_balances(sessions, world) == before
    # and each reversal exactly negates its original, linked both ways, with paired audit rows
    originals = {i.entry_id: i for i in await items(sessions, original.id) if i.entry_id}
    reversals = [e for e in await entries(sessions, world.tenant_id) if e.reverses_entry_id]
    assert sorted(
        (world.line_name(e.line_id), e.kind, e.amount_cents, e.reason)
        for e in reversals
        if e.command_id != submitted.command.id
    ) == [
        ("A1/1/1", "WRITEOFF", 1234, "entered in error"),
        ("A1/1/2", "WRITEOFF", 5678, "entered in error"),
        ("A2/2/1", "WRITEOFF", 99999, "entered in error"),
    ]
    assert {e.reverses_entry_id for e in reversals} == set(originals)
    async with sessions() as session:
        paired = await session.scalar(
            select(func.count())
            .select_from(AuditRow)
            .where(
                AuditRow.tenant_id == world.tenant_id,
                AuditRow.action.in_(("WRITEOFF_REVERSAL", "WRITEOFF_REVERSED")),
                AuditRow.paired_audit_id.is_not(None),
            )
        )
    assert paired == 8
    assert await drift(sessions, world.tenant_id) == []
    # and the job cannot be reversed twice, nor the reversal itself
    twice = reversal_args(world.tenant_id, "r2", original.id)
    assert await bulk.refusal(submit_bulk_reversal, twice) == [("jobId", "JOB_ALREADY_REVERSED")]
    of_reversal = reversal_args(world.tenant_id, "r3", job.id)
    assert await bulk.refusal(submit_bulk_reversal, of_reversal) == [
        ("jobId", "JOB_NOT_REVERSIBLE")
    ]
    unknown = reversal_args(world.tenant_id, "r4", 999_999_999)
    assert await bulk.refusal(submit_bulk_reversal, unknown) == [("jobId", "JOB_NOT_FOUND")]
    no_reason = reversal_args(world.tenant_id, "r5", original.id, reason=" ")
    assert await bulk.refusal(submit_bulk_reversal, no_reason) == [("reason", "REASON_REQUIRED")]
    # and the same reversal request under its key is the same reversal job
    assert (
        await bulk.reverse(world.tenant_id, "r", original.id, reason=" entered in error ")
    ).id == job.id


async def test_concurrent_reversals_of_one_job_store_one(
    bulk: Bulk, sessions: SessionFactory
) -> None:
    # given a finished write-off job
    world = await build(sessions, {"A1": [visit(100, 200)]})
    job = await bulk.write_off(world.tenant_id, "k", line_ids=world.ids("A1/1/1", "A1/1/2"))
    original = await bulk.finished(job.id)
    # when five reversals of it are submitted at once under different keys
    outcomes = await asyncio.gather(
        *[bulk.reverse(world.tenant_id, f"r{n}", original.id) for n in range(5)],
        return_exceptions=True,
    )
    # then one is stored and the others are refused as already reversed
    stored_jobs = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, DomainError)]
    assert len(stored_jobs) == 1
    assert [e.code for e in refused] == ["JOB_ALREADY_REVERSED"] * 4
    reversal = await bulk.finished(stored_jobs[0].id)
    assert (reversal.applied_items, reversal.applied_cents) == (2, 300)
    assert await line_balances(sessions, world) == {"A1/1/1": 100, "A1/1/2": 200}
    assert await drift(sessions, world.tenant_id) == []


async def test_reversing_a_cancelled_job_reverses_only_what_it_applied(
    bulk: Bulk, sessions: SessionFactory
) -> None:
    # given a job cancelled after its first of two chunks
    world = await build(sessions, {"A1": [visit(100)], "A2": [visit(200)]})
    before = await line_balances(sessions, world)
    args = writeoff_args(world.tenant_id, "k", raw_filter=RawFilter())
    planned = await bulk.plan_here(submit_bulk_writeoff, args, chunk_size=1)
    bulk.send(planned.chunk_ids[:1])
    await bulk.wait(planned.job_id, lambda job: job.done_chunks == 1)
    await bulk.cancel(world.tenant_id, planned.job_id)
    bulk.send(planned.chunk_ids[1:])
    cancelled = await bulk.finished(planned.job_id)
    assert (cancelled.applied_items, cancelled.cancelled_items) == (1, 1)
    # when it is reversed
    job = await bulk.finished((await bulk.reverse(world.tenant_id, "r", cancelled.id)).id)
    # then its one applied row is reversed and the balances are as before
    assert await line_outcomes(sessions, world, job.id) == [("A1/1/1", "APPLIED", None, 100)]
    assert await line_balances(sessions, world) == before
    assert await drift(sessions, world.tenant_id) == []


# --- helpers ------------------------------------------------------------------------------------


async def wait_command_final(sessions: SessionFactory, command_id: int) -> Command:
    for _ in range(750):
        async with sessions() as session:
            command = await session.get(Command, command_id)
        assert command is not None
        if command.status != "PENDING":
            return command
        await asyncio.sleep(0.02)
    raise AssertionError(f"command {command_id} still PENDING")


async def audit_actions(sessions: SessionFactory, tenant_id: int) -> list[str]:
    async with sessions() as session:
        rows = await session.scalars(
            select(AuditRow.action)
            .where(AuditRow.tenant_id == tenant_id, AuditRow.actor != "seed")
            .order_by(AuditRow.id)
        )
        return list(rows.all())
