"""Bulk jobs under faults: a worker killed mid-job, a single write-off racing a job on the same
lines, redelivered messages, a planning message never sent, a chunk that raises."""

import asyncio
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest
from celery import Celery
from sqlalchemy import func, select, text, update

from arledger.config import Settings
from domain.bulk.models import BulkJob, BulkJobItem
from domain.bulk.selection import RawFilter
from domain.bulk.service import submit_bulk_writeoff
from domain.db import SessionFactory
from domain.models import ChargeLine, Command, LedgerEntry
from domain.uow import UnitOfWork
from domain.writeoffs.rules import parse_writeoff
from domain.writeoffs.service import submit_writeoff
from tests.bulk.ops import (
    Bulk,
    BulkWorld,
    build,
    drift,
    entries,
    items,
    line_balances,
    line_outcomes,
    no_enqueue,
    totals,
    visit,
    writeoff_args,
)

if TYPE_CHECKING:
    from tests.conftest import Worker

APPLY = "arledger.apply_command"


@pytest.fixture
def bulk(
    sessions: SessionFactory, celery_app: Celery, settings: Settings, worker: "Worker"
) -> Bulk:
    return Bulk(sessions, celery_app, settings)


def balance_of(n: int, k: int) -> int:
    """Line k of account n: 1.00 to 9.96, all different enough to make sums meaningful."""
    return 100 + (n * 37 + k * 11) % 897


async def test_a_worker_killed_mid_job_is_restarted_and_every_row_is_applied_once(
    bulk: Bulk, sessions: SessionFactory, worker: "Worker"
) -> None:
    # given 3000 lines over 300 accounts (two visits of five lines each), written off by one
    # job planned in 30 chunks of 100 rows whose messages are all sent to the worker
    accounts = {
        f"A{n:03d}": [
            visit(*[balance_of(n, k) for k in range(5)]),
            visit(*[balance_of(n, k) for k in range(5, 10)]),
        ]
        for n in range(300)
    }
    world = await build(sessions, accounts)
    total_cents = sum(balance_of(n, k) for n in range(300) for k in range(10))
    args = writeoff_args(world.tenant_id, "k", raw_filter=RawFilter())
    planned = await bulk.plan_here(submit_bulk_writeoff, args, chunk_size=100, hold=False)
    assert len(planned.chunk_ids) == 30
    bulk.send(planned.chunk_ids)
    # when the whole worker (main process, pool children, beat) is killed with SIGKILL once at
    # least one chunk committed, while a worker process is inside a chunk's transaction
    try:
        await wait_mid_chunk(bulk, sessions, planned.job_id)
        worker.kill()
        at_kill = await bulk.job(planned.job_id)
        pending = [c for c in await bulk.commands(planned.job_id) if c.status == "PENDING"]
        written = len(await entries(sessions, world.tenant_id))
    finally:
        if not worker.running:
            worker.start()
    # then it was mid-job: whole chunks of 100 rows committed, the others (including the one
    # being applied, rolled back) still PENDING with nothing written
    assert 1 <= at_kill.done_chunks < 30, totals(at_kill)
    assert len(pending) == 30 - at_kill.done_chunks
    assert at_kill.applied_items == written == 100 * at_kill.done_chunks
    assert await count_items(sessions, planned.job_id, "APPLIED") == written
    # when a new worker runs (the sweeper re-enqueues the chunks whose messages were lost)
    job = await bulk.finished(planned.job_id, within=90)
    # then the job is DONE with every row applied exactly once
    assert totals(job) == {
        "status": "DONE",
        "total": 3000,
        "applied": 3000,
        "skipped": 0,
        "cancelled": 0,
        "cents": total_cents,
        "chunks": (30, 30),
        "finished": True,
        "error": None,
    }
    assert {c.status for c in await bulk.commands(planned.job_id)} == {"APPLIED"}
    writeoffs = await entries(sessions, world.tenant_id)
    assert len(writeoffs) == 3000
    assert {e.kind for e in writeoffs} == {"WRITEOFF"}
    assert len({e.line_id for e in writeoffs}) == 3000
    assert sum(e.amount_cents for e in writeoffs) == -total_cents
    rows = await items(sessions, planned.job_id)
    assert {r.status for r in rows} == {"APPLIED"}
    assert sorted(r.entry_id or 0 for r in rows) == sorted(e.id for e in writeoffs)
    assert set((await line_balances(sessions, world)).values()) == {0}
    assert await drift(sessions, world.tenant_id) == []


async def wait_mid_chunk(bulk: Bulk, sessions: SessionFactory, job_id: int) -> None:
    """Until the job has a chunk done and a worker process has a transaction open."""
    deadline = time.monotonic() + 60
    while True:
        job = await bulk.job(job_id)
        if job.done_chunks >= 1:
            async with sessions() as session:
                busy = await session.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                        "AND xact_start IS NOT NULL"
                    )
                )
            if busy:
                return
        assert job.finished_at is None and time.monotonic() < deadline, totals(job)
        await asyncio.sleep(0.005)


async def count_items(sessions: SessionFactory, job_id: int, status: str) -> int:
    async with sessions() as session:
        n = await session.scalar(
            select(func.count())
            .select_from(BulkJobItem)
            .where(BulkJobItem.job_id == job_id, BulkJobItem.status == status)
        )
    return int(n or 0)


async def test_single_write_offs_racing_a_job_on_the_same_lines_never_apply_twice(
    bulk: Bulk, sessions: SessionFactory, celery_app: Celery, settings: Settings
) -> None:
    # given 400 lines of 10.00 over 40 accounts, written off by a job planned in 20 chunks
    world = await build(sessions, {f"A{n:02d}": [visit(*[1000] * 10)] for n in range(40)})
    args = writeoff_args(world.tenant_id, "k", raw_filter=RawFilter())
    planned = await bulk.plan_here(submit_bulk_writeoff, args, chunk_size=20)
    # and a single write-off of one line per account: the whole 10.00 or 4.00 of it
    raced = {f"A{n:02d}/1/{n % 10 + 1}": "10.00" if n % 2 else "4.00" for n in range(40)}

    async def enqueue_single(command_id: int) -> None:
        celery_app.send_task(APPLY, args=[command_id], queue=settings.celery_queue)

    # when the job's 20 chunks (two accounts each, in account order) are sent one by one, and
    # after each, two single write-offs are stored and sent, from the last accounts back: the
    # messages meet in the middle of the FIFO queue, taken by two worker processes
    singles: dict[str, int] = {}
    backwards = list(reversed(raced.items()))
    for i, chunk_id in enumerate(planned.chunk_ids):
        bulk.send([chunk_id])
        for line, amount in backwards[2 * i : 2 * i + 2]:
            async with UnitOfWork(sessions) as uow:
                command = await submit_writeoff(
                    uow,
                    tenant_id=world.tenant_id,
                    actor="clerk",
                    idempotency_key=f"single-{line}",
                    request=parse_writeoff([(world.lines[line], amount)], "charity", None),
                    enqueue=enqueue_single,
                )
                await uow.commit()
            singles[line] = command.id
    job = await bulk.finished(planned.job_id)
    outcomes = await wait_commands_final(sessions, list(singles.values()))
    # then each raced line was written off once: by the job (the single one then rejected),
    # or by the single one (the job's row then skipped: no balance, or changed since selection)
    by_line = {
        line: (status, code, amount)
        for line, status, code, amount in await line_outcomes(sessions, world, job.id)
    }
    balances = await line_balances(sessions, world)
    seen: Counter[str] = Counter()
    for line, amount in raced.items():
        bulk_row, single = by_line[line], outcomes[singles[line]]
        full = amount == "10.00"
        if bulk_row == ("APPLIED", None, 1000):
            assert single == ("REJECTED", "EXCEEDS_BALANCE"), line
            assert balances[line] == 0, line
            seen["job first"] += 1
        else:
            expected_skip = "NO_BALANCE" if full else "CHANGED_SINCE_SELECTION"
            assert bulk_row == ("SKIPPED", expected_skip, None), (line, bulk_row)
            assert single == ("APPLIED", None), line
            assert balances[line] == (0 if full else 600), line
            seen["single first"] += 1
    # and the last accounts' single write-offs, sent long before their chunk, went first
    assert by_line["A38/1/9"] == ("SKIPPED", "CHANGED_SINCE_SELECTION", None)
    assert by_line["A39/1/10"] == ("SKIPPED", "NO_BALANCE", None)
    # and every other line was written off by the job
    others = {line: row for line, row in by_line.items() if line not in raced}
    assert set(others.values()) == {("APPLIED", None, 1000)}
    assert len(others) == 360
    # and no line has more than one write-off, and nothing drifted
    async with sessions() as session:
        per_line = await session.execute(
            select(LedgerEntry.line_id, func.count())
            .where(LedgerEntry.tenant_id == world.tenant_id, LedgerEntry.kind == "WRITEOFF")
            .group_by(LedgerEntry.line_id)
        )
        assert {count for _, count in per_line} == {1}
        below_zero = await session.scalar(
            select(func.count())
            .select_from(ChargeLine)
            .where(ChargeLine.tenant_id == world.tenant_id, ChargeLine.balance_cents < 0)
        )
    assert below_zero == 0
    assert job.applied_items == 360 + seen["job first"]
    assert await drift(sessions, world.tenant_id) == []


async def test_two_jobs_over_the_same_lines_write_each_off_once(
    bulk: Bulk, sessions: SessionFactory
) -> None:
    # given 100 lines of 10.00 over 20 accounts, and two write-off jobs selecting all of them,
    # both planned (in chunks of two accounts) before either runs
    world = await build(sessions, {f"A{n:02d}": [visit(*[1000] * 5)] for n in range(20)})
    args = writeoff_args(world.tenant_id, "x", raw_filter=RawFilter())
    x = await bulk.plan_here(submit_bulk_writeoff, args, chunk_size=10)
    args = writeoff_args(world.tenant_id, "y", raw_filter=RawFilter(), reason="bad-debt")
    y = await bulk.plan_here(submit_bulk_writeoff, args, chunk_size=10)
    # when their chunks are sent interleaved, the first job from the first accounts, the
    # second from the last
    for mine, theirs in zip(x.chunk_ids, reversed(y.chunk_ids), strict=True):
        bulk.send([mine, theirs])
    first, second = await bulk.finished(x.job_id), await bulk.finished(y.job_id)
    # then every line was written off by exactly one of them, the other skipping it
    rows_x = await line_outcomes(sessions, world, x.job_id)
    rows_y = await line_outcomes(sessions, world, y.job_id)
    assert len(rows_x) == len(rows_y) == 100
    for (line, *in_x), (same, *in_y) in zip(rows_x, rows_y, strict=True):
        assert line == same
        assert sorted([tuple(in_x), tuple(in_y)]) == [
            ("APPLIED", None, 1000),
            ("SKIPPED", "NO_BALANCE", None),
        ], line
    assert first.applied_items + second.applied_items == 100
    assert first.applied_items + first.skipped_items == 100
    assert set((await line_balances(sessions, world)).values()) == {0}
    assert len(await entries(sessions, world.tenant_id)) == 100
    assert await drift(sessions, world.tenant_id) == []


async def wait_commands_final(
    sessions: SessionFactory, command_ids: list[int], within: float = 30
) -> dict[int, tuple[str, str | None]]:
    deadline = time.monotonic() + within
    while True:
        async with sessions() as session:
            rows = await session.execute(
                select(Command.id, Command.status, Command.error_code).where(
                    Command.id.in_(command_ids)
                )
            )
            final = {pk: (status, code) for pk, status, code in rows}
        if all(status != "PENDING" for status, _ in final.values()):
            return final
        assert time.monotonic() < deadline, f"commands still PENDING: {final}"
        await asyncio.sleep(0.05)


async def test_redelivered_planning_and_chunk_messages_change_nothing(
    bulk: Bulk, sessions: SessionFactory
) -> None:
    # given a finished write-off job of three accounts in two chunks
    world = await build(sessions, {"A1": [visit(100, 200)], "A2": [visit(300)], "A3": [visit(0)]})
    args = writeoff_args(world.tenant_id, "k", raw_filter=RawFilter(balance_max="100.00"))
    planned = await bulk.plan_here(submit_bulk_writeoff, args, chunk_size=2, hold=False)
    bulk.send(planned.chunk_ids)
    job = await bulk.finished(planned.job_id)
    before = await snapshot(bulk, sessions, world, job.id)
    assert (
        before["job"]
        == totals(job)
        == {
            "status": "DONE",
            "total": 4,
            "applied": 3,
            "skipped": 1,
            "cancelled": 0,
            "cents": 600,
            "chunks": (2, 2),
            "finished": True,
            "error": None,
        }
    )
    # when every one of its messages (planning and chunks) is delivered twice more
    bulk.send([c.id for c in await bulk.commands(job.id)], times=2)
    await bulk.drain()
    # then nothing changed: the job, its rows, the commands, the ledger
    assert await snapshot(bulk, sessions, world, job.id) == before
    assert await drift(sessions, world.tenant_id) == []


async def snapshot(bulk: Bulk, sessions: SessionFactory, world: BulkWorld, job_id: int) -> Any:
    job = await bulk.job(job_id)
    return {
        "job": totals(job),
        "finished_at": job.finished_at,
        "rows": await line_outcomes(sessions, world, job_id),
        "commands": [(c.id, c.status, c.finished_at) for c in await bulk.commands(job_id)],
        "entries": [
            (e.id, e.line_id, e.amount_cents) for e in await entries(sessions, world.tenant_id)
        ],
        "balances": await line_balances(sessions, world),
    }


async def test_a_job_whose_planning_message_was_never_sent_is_swept_and_runs(
    bulk: Bulk, sessions: SessionFactory, settings: Settings
) -> None:
    # given a job stored QUEUED whose planning message was lost
    world = await build(sessions, {"A1": [visit(100, 200)]})
    queued = await bulk.submit(
        submit_bulk_writeoff,
        writeoff_args(world.tenant_id, "k", raw_filter=RawFilter()),
        no_enqueue,
    )
    # when the worker's beat sweeper runs (after SWEEP_AFTER_SECONDS=3, every second)
    job = await bulk.finished(queued.id, within=20)
    # then the planning was re-enqueued once stale, and the job ran to the end
    assert (job.status, job.applied_items, job.applied_cents) == ("DONE", 2, 300)
    [plan, chunk] = await bulk.commands(job.id)
    assert (plan.kind, plan.status, chunk.kind, chunk.status) == (
        "BULK_PLAN",
        "APPLIED",
        "BULK_CHUNK",
        "APPLIED",
    )
    assert (plan.enqueued_at - plan.created_at).total_seconds() >= settings.sweep_after_seconds
    assert await line_balances(sessions, world) == {"A1/1/1": 0, "A1/1/2": 0}


async def test_a_chunk_that_raises_fails_the_job_and_writes_nothing_of_that_chunk(
    bulk: Bulk, sessions: SessionFactory
) -> None:
    # given a write-off of three accounts planned in three chunks, whose second chunk holds a
    # row naming a line that does not exist (so applying it raises)
    world = await build(
        sessions, {"A1": [visit(100, 200)], "A2": [visit(300, 400)], "A3": [visit(500)]}
    )

    async def corrupt(uow: UnitOfWork) -> None:
        await uow.session.execute(
            update(BulkJobItem)
            .where(BulkJobItem.line_id == world.lines["A2/1/1"])
            .values(line_id=-1)
        )

    args = writeoff_args(world.tenant_id, "k", raw_filter=RawFilter())
    planned = await bulk.plan_here(submit_bulk_writeoff, args, chunk_size=2, meanwhile=corrupt)
    assert len(planned.chunk_ids) == 3
    # when the chunks run one after the other
    bulk.send(planned.chunk_ids[:1])
    await bulk.wait(planned.job_id, lambda job: job.done_chunks == 1)
    bulk.send(planned.chunk_ids[1:2])
    failed = await bulk.wait(planned.job_id, lambda job: job.done_chunks == 2)
    assert (failed.status, failed.error_code, failed.finished_at) == (
        "FAILED",
        "INTERNAL_ERROR",
        None,
    )
    bulk.send(planned.chunk_ids[2:])
    job = await bulk.finished(planned.job_id)
    # then the job FAILED: the first chunk applied, the failing chunk wrote nothing, the rest
    # was not attempted
    assert totals(job) == {
        "status": "FAILED",
        "total": 5,
        "applied": 2,
        "skipped": 0,
        "cancelled": 3,
        "cents": 300,
        "chunks": (3, 3),
        "finished": True,
        "error": "INTERNAL_ERROR",
    }
    assert job.error_message == "KeyError: -1"
    assert [(i.seq, i.status, i.code) for i in await items(sessions, job.id)] == [
        (1, "APPLIED", None),
        (2, "APPLIED", None),
        (3, "CANCELLED", "JOB_FAILED"),
        (4, "CANCELLED", "JOB_FAILED"),
        (5, "CANCELLED", "JOB_FAILED"),
    ]
    commands = {c.id: (c.status, c.error_code) for c in await bulk.commands(job.id)}
    assert [commands[c] for c in planned.chunk_ids] == [
        ("APPLIED", None),
        ("REJECTED", "INTERNAL_ERROR"),
        ("APPLIED", None),
    ]
    assert await line_balances(sessions, world) == {
        "A1/1/1": 0,
        "A1/1/2": 0,
        "A2/1/1": 300,
        "A2/1/2": 400,
        "A3/1/1": 500,
    }
    assert await drift(sessions, world.tenant_id) == []


async def test_a_planning_that_raises_fails_the_job_with_nothing_selected(
    bulk: Bulk, sessions: SessionFactory
) -> None:
    # given a stored job whose parameters cannot be planned (its filter is missing)
    world = await build(sessions, {"A1": [visit(100)]})
    args = writeoff_args(world.tenant_id, "k", raw_filter=RawFilter())
    queued = await bulk.submit(submit_bulk_writeoff, args, no_enqueue)
    [plan_id] = await bulk.hold(queued.id)
    async with sessions() as session, session.begin():
        await session.execute(
            update(BulkJob)
            .where(BulkJob.id == queued.id)
            .values(params=BulkJob.params.op("-")("filter"))
        )
    # when the worker plans it
    bulk.send([plan_id])
    job = await bulk.finished(queued.id)
    # then the job FAILED at once with nothing selected, and its planning command is rejected
    assert totals(job) == {
        "status": "FAILED",
        "total": 0,
        "applied": 0,
        "skipped": 0,
        "cancelled": 0,
        "cents": 0,
        "chunks": (0, 0),
        "finished": True,
        "error": "INTERNAL_ERROR",
    }
    assert job.error_message == "KeyError: 'filter'"
    assert [(c.kind, c.status, c.error_code) for c in await bulk.commands(job.id)] == [
        ("BULK_PLAN", "REJECTED", "INTERNAL_ERROR")
    ]
    assert await items(sessions, job.id) == []
    assert await line_balances(sessions, world) == {"A1/1/1": 100}
    # and a failed job is finished: it cannot be cancelled
    assert await bulk.cancel_refusal(world.tenant_id, job.id) == [("jobId", "JOB_FINISHED")]
