"""Phase 5: bulk write-offs. A tenant of N lines with positive balances (5 lines per account,
one open visit each, seeded in bulk SQL) is written off as one job: `submit_bulk_writeoff` with
a filter selecting every line, the planning sent to the worker as the API sends it. The clock
runs from just before the submission to the job's `finished_at` (the last chunk's transaction
start); progress events are taken from the job's Redis channel, subscribed before submitting.

The seeded tables are ANALYZEd before the job, as autovacuum would have done long before a
real tenant's bulk job (and may not do at all here: a server with `autovacuum = off` keeps no
statistics). Without them the planner misjudges how many lines a tenant has and `lock_lines`
scans every line of the tenant once per chunk: a 100,000-line job then takes minutes.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from itertools import pairwise
from typing import Any

import asyncpg
from celery import Celery
from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from arledger.config import get_settings
from bench.data import Tenant
from bench.report import BenchError
from bench.stack import Stack
from domain.bulk.selection import RawFilter
from domain.bulk.service import submit_bulk_writeoff
from domain.db import make_engine, make_session_factory
from domain.ledger.verify import verify
from domain.uow import UnitOfWork

BULK_TASK = "arledger.apply_bulk"
LINES_PER_ACCOUNT = 5


@dataclass
class BulkRun:
    """One timed job: its size, its times and the progress events seen."""

    lines: int
    job_id: int = 0
    seconds: float = 0.0  # submission → finished_at
    submit_seconds: float = 0.0  # the submitting transaction, enqueue included
    plan_seconds: float = 0.0  # submission → the planning's commit event (RUNNING, total known)
    final_event_seconds: float = 0.0  # submission → the finished event's arrival
    event_times: list[float] = field(default_factory=list)  # arrival, seconds since submission
    status: str = ""
    applied: int = 0
    skipped: int = 0
    chunks: int = 0

    @property
    def rate(self) -> float:
        return self.lines / self.seconds if self.seconds else 0.0

    @property
    def max_gap(self) -> float:
        """The longest wait for news, from the submission: the planning counts too."""
        marks = [0.0, *sorted(self.event_times)]
        return max((b - a for a, b in pairwise(marks)), default=0.0)

    @property
    def max_running_gap(self) -> float:
        """The longest wait for news once the job was planned (between chunk events)."""
        return max((b - a for a, b in pairwise(sorted(self.event_times))), default=0.0)


async def listen_progress(
    pubsub: PubSub,
    times: list[float],
    start: float,
    done: asyncio.Event,
    on_event: Callable[[dict[str, Any], float], None] | None = None,
) -> None:
    """Record each progress event's arrival (seconds since `start`) until the one saying the
    job finished; `on_event` sees each event too."""
    async for message in pubsub.listen():
        if message.get("type") != "pmessage":
            continue
        seen = time.time() - start
        event = json.loads(message["data"])
        times.append(seen)
        if on_event is not None:
            on_event(event, seen)
        if event.get("finished"):
            done.set()
            return


def _note_milestones(run: BulkRun, event: dict[str, Any], seen: float) -> None:
    if event.get("total") is not None and not run.plan_seconds:
        run.plan_seconds = seen
    if event.get("finished"):
        run.final_event_seconds = seen


async def wait_finished(conn: asyncpg.Connection, job_id: int, within: float, stack: Stack) -> None:
    """Poll the job row until it is finished (the fallback should the last event be lost)."""
    deadline = time.monotonic() + within
    while await conn.fetchval("SELECT finished_at FROM bulk_jobs WHERE id = $1", job_id) is None:
        stack.check_alive("worker")
        if time.monotonic() > deadline:
            raise BenchError(f"bulk job {job_id} not finished after {within:.0f} s")
        await asyncio.sleep(0.2)


async def _queue_drained(redis: Redis, queue: str, within: float = 120) -> None:
    """Wait until the worker's queue is empty (earlier phases leave no-op wake-ups behind),
    so that the job's messages are not timed queueing behind them."""
    deadline = time.monotonic() + within
    while await redis.llen(queue):
        if time.monotonic() > deadline:
            raise BenchError(f"queue {queue} still not empty after {within:.0f} s")
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)  # what the worker had already prefetched


async def run_bulk(stack: Stack, conn: asyncpg.Connection, app: Celery, tenant: Tenant) -> BulkRun:
    """Write off every line of `tenant` as one bulk job; time it and its progress events."""
    settings = get_settings()
    run = BulkRun(len(tenant.lines))
    redis = Redis.from_url(settings.redis_url)
    engine = make_engine(settings.database_url, pool_size=1)
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    await pubsub.psubscribe(f"{settings.channel_prefix}:{tenant.id}:bulkjob:*")
    done = asyncio.Event()

    async def enqueue(command_id: int) -> None:
        send = partial(app.send_task, BULK_TASK, args=[command_id], queue=stack.bulk_queue)
        await asyncio.to_thread(send)

    try:
        await _queue_drained(redis, stack.queue)
        start = time.time()
        listener = asyncio.create_task(
            listen_progress(pubsub, run.event_times, start, done, partial(_note_milestones, run))
        )
        async with UnitOfWork(make_session_factory(engine)) as uow:
            job = await submit_bulk_writeoff(
                uow,
                tenant_id=tenant.id,
                actor="bench",
                idempotency_key=f"bench-bulk-{secrets.token_hex(4)}",
                line_ids=None,
                raw_filter=RawFilter(),
                reason="charity",
                note=None,
                enqueue=enqueue,
            )
            await uow.commit()
        run.submit_seconds, run.job_id = time.time() - start, job.id
        await wait_finished(conn, job.id, max(120.0, run.lines / 500), stack)
        await asyncio.wait_for(done.wait(), 5)  # the finished event follows its commit
        listener.cancel()
        row = await conn.fetchrow(
            """SELECT status, applied_items, skipped_items, total_chunks,
                      extract(epoch FROM finished_at)::float8 AS finished
               FROM bulk_jobs WHERE id = $1""",
            job.id,
        )
        run.seconds = row["finished"] - start
        run.status, run.applied = row["status"], row["applied_items"]
        run.skipped, run.chunks = row["skipped_items"], row["total_chunks"]
    except TimeoutError:
        raise BenchError(f"bulk job {run.job_id}: no finished event within 5 s") from None
    finally:
        await pubsub.aclose()
        await redis.aclose()
        await engine.dispose()
    return run


async def analyze(conn: asyncpg.Connection) -> None:
    """Fresh planner statistics for the tables the seed filled (see the module's docstring)."""
    await conn.execute("ANALYZE accounts, visits, charge_lines, ledger_entries, bulk_job_items")


async def problems(conn: asyncpg.Connection, run: BulkRun, tenant: Tenant) -> list[str]:
    """What the job should have done and did not, and every `domain.ledger.verify` finding."""
    found = []
    if (run.status, run.applied, run.skipped) != ("DONE", run.lines, 0):
        found.append(
            f"job {run.job_id}: {run.status}, {run.applied} applied, {run.skipped} skipped "
            f"(expected DONE, {run.lines} applied)"
        )
    left = await conn.fetchval(
        "SELECT count(*) FROM charge_lines WHERE tenant_id = $1 AND balance_cents <> 0", tenant.id
    )
    if left:
        found.append(f"tenant {tenant.id}: {left} lines still have a balance")
    unaudited = await conn.fetchval(
        """SELECT count(*) FROM ledger_entries e WHERE e.tenant_id = $1 AND e.kind <> 'CHARGE'
           AND NOT EXISTS (SELECT 1 FROM audit_rows r WHERE r.entry_id = e.id)""",
        tenant.id,
    )
    if unaudited:
        found.append(f"tenant {tenant.id}: {unaudited} entries without their audit row")
    engine = make_engine(get_settings().database_url, pool_size=1)
    try:
        async with make_session_factory(engine)() as session:
            findings = await verify(session, tenant.id)
    finally:
        await engine.dispose()
    # the bench seeds opening CHARGE entries in bulk SQL, without audit rows: checked above
    return found + [str(f) for f in findings if f.check != "entry_without_audit"]
