"""Phase 2: the worker's apply throughput. N PENDING write-offs are stored directly, then the
worker is woken as the API wakes it (`api.enqueue.Enqueuer`: one message in flight at a time,
each covering every command committed before it, so a burst committed at once costs two
messages: the first command's and the last's), and the clock runs from the first send until no
command is PENDING. `wakeups="each"` sends one message per command instead (the API before
coalescing): that measures the worker's cost of redundant wake-ups too, and the sender's."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass

import asyncpg
from celery import Celery

from bench.data import Tenant, insert_pending, seed_tenant, wait_final
from bench.report import BenchError
from bench.stack import Stack

APPLY_TASK = "arledger.apply_command"
WARM_UP_ACCOUNTS, WARM_UP_COMMANDS = 200, 4_000


@dataclass
class ApplyRun:
    commands: int
    seconds: float
    applied: int
    rejected: int
    send_seconds: float
    wakeups: int

    @property
    def rate(self) -> float:
        return self.commands / self.seconds


def wakeup_ids(ids: list[int], wakeups: str) -> list[int]:
    """The commands a wake-up is sent for: every one (`each`), or as the API's coalescing
    enqueuer sends them for a burst committed at once (`coalesced`): the first, then the last."""
    if wakeups == "each" or len(ids) < 2:
        return list(ids)
    return [ids[0], ids[-1]]


def send_wakeups(app: Celery, queue: str, ids: list[int]) -> float:
    """Send one wake-up per id given, over one producer; returns how long sending took."""
    start = time.monotonic()
    with app.producer_or_acquire() as producer:
        for command_id in ids:
            app.send_task(APPLY_TASK, args=[command_id], queue=queue, producer=producer)
    return time.monotonic() - start


async def warm_up(stack: Stack, conn: asyncpg.Connection, app: Celery) -> None:
    """One command through the worker, so that it is up; then a burst over many accounts, so
    that each of its children has applied batches (its connection, statements and code
    paths warm) before anything is timed."""
    tenant = await seed_tenant(conn, 1, 1, 10_000)
    ids = await insert_pending(conn, tenant, [(tenant.lines[0][0], 1)])
    await asyncio.to_thread(send_wakeups, app, stack.queue, ids)
    outcome = await wait_final(conn, tenant.id, 1, 120, lambda: stack.check_alive("worker"))
    if outcome.applied != 1:
        raise BenchError("the warm-up write-off was not applied")
    burst = await seed_tenant(conn, WARM_UP_ACCOUNTS, 1, 10_000_000)
    run = await run_apply(stack, conn, app, burst, WARM_UP_COMMANDS)
    if run.applied != WARM_UP_COMMANDS:
        raise BenchError("the warm-up burst was not applied")


def picks_for(tenant: Tenant, count: int, seed: int) -> list[tuple[int, int]]:
    """`count` one-line write-offs of 1..99 cents on lines drawn at random."""
    rng = random.Random(seed)
    line_ids = [line for line, _ in tenant.lines]
    return [(rng.choice(line_ids), rng.randint(1, 99)) for _ in range(count)]


async def run_apply(
    stack: Stack,
    conn: asyncpg.Connection,
    app: Celery,
    tenant: Tenant,
    count: int,
    wakeups: str = "coalesced",
) -> ApplyRun:
    """Store `count` PENDING write-offs on `tenant`, wake the worker, time until all final."""
    ids = await insert_pending(conn, tenant, picks_for(tenant, count, seed=tenant.id))
    woken = wakeup_ids(ids, wakeups)
    start = time.time()
    sending = asyncio.create_task(asyncio.to_thread(send_wakeups, app, stack.queue, woken))
    outcome = await wait_final(
        conn, tenant.id, count, within=max(120.0, count / 10), alive=stack.check_alive
    )
    send_seconds = await sending
    return ApplyRun(
        count,
        outcome.seen_at - start,
        outcome.applied,
        outcome.rejected,
        send_seconds,
        len(woken),
    )
