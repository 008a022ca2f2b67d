"""Worker processes killed while they apply: nothing is lost, nothing is applied twice.

On the fault stack (its own PostgreSQL over TCP, Redis, prefork worker with two pool children and
beat, and API), write-offs flowing in over HTTP. Each test ends with every command final with
exactly one entry, the balances exact and the oracle clean. Random choices come from the `rng`
fixture (the run's seed is printed at the start and end of the run; `ARLEDGER_SEED` replays it).
"""

import asyncio
import os
import random
import signal
import time
from collections import Counter
from typing import Any

import httpx
import psutil
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.db import SessionFactory
from tests.faults.stack import FaultStack, findings, line_balances, outcomes, wait_settled
from tests.support.client import WRITE_OFF, gql, write_off_input
from tests.support.factories import World, make_world
from tests.support.seeds import SEED

LINE_CENTS = 100_000
APPLYING = (
    "SELECT client_port, backend_xid::text::bigint FROM pg_stat_activity "
    "WHERE datname = current_database() AND usename = 'arledger_worker' "
    "AND backend_xid IS NOT NULL AND state IN ('active', 'idle in transaction') "
    "AND query NOT LIKE 'UPDATE commands SET enqueued_at%' "
    "AND query NOT LIKE 'UPDATE commands SET published_at%'"
)
"""Worker connections inside a batch's transaction once it has claimed its commands (FOR UPDATE
gives the transaction an id), not the sweeper's: (client port, transaction id)."""
OUTCOME = text(
    "SELECT pg_xact_status(((pg_snapshot_xmax(pg_current_snapshot())::text::bigint >> 32 << 32)"
    " + :xid)::text::xid8)"
)
"""What became of a (recent) transaction: committed, aborted or in progress."""


class Producer:
    """Write-offs of 1 to 99 cents on random lines, sent over HTTP."""

    def __init__(self, client: httpx.AsyncClient, world: World, token: str, rng: random.Random):
        self.client, self.world, self.token, self.rng = client, world, token, rng
        self.expected = dict.fromkeys(world.line_ids, LINE_CENTS)
        self.sent = 0
        self.stopped = asyncio.Event()

    async def one(self) -> None:
        line, cents = self.rng.choice(self.world.line_ids), self.rng.randint(1, 99)
        self.sent += 1
        variables = write_off_input(f"w-{self.sent}", [(line, f"0.{cents:02d}")])
        body = await gql(self.client, WRITE_OFF, variables, self.token)
        assert body["data"]["writeOff"]["userErrors"] == [], body
        self.expected[line] -= cents

    async def burst(self, n: int) -> None:
        for _ in range(n):
            await self.one()

    async def run(self, lanes: int) -> None:
        """`lanes` concurrent senders, until `stopped` is set."""

        async def lane() -> None:
            while not self.stopped.is_set():
                await self.one()

        await asyncio.gather(*[lane() for _ in range(lanes)])


async def test_pool_children_killed_50_times_mid_batch_apply_every_command_once(
    fault_stack: FaultStack,
    fault_engine: AsyncEngine,
    fault_sessions: SessionFactory,
    rng: random.Random,
) -> None:
    # given ten $1,000.00 lines on one account and write-offs flowing in over HTTP
    world = await make_world(fault_sessions, [LINE_CENTS] * 10)
    killed: dict[int, int] = {}
    async with (
        httpx.AsyncClient(base_url=fault_stack.api_url, timeout=60) as client,
        fault_engine.connect() as watching,
    ):
        polling = (await watching.get_raw_connection()).driver_connection
        producer = Producer(client, world, world.token(fault_stack.settings), rng)
        flowing = asyncio.create_task(producer.run(lanes=3))
        try:
            # when, 50 times, the pool child applying a batch (of at most 20) is SIGKILLed a
            # random 0-1 ms after its batch was seen in progress
            ports: dict[int, int] = {}
            while len(killed) < 50:
                child, xid = await wait_applying(polling, fault_stack, set(killed), ports)
                await asyncio.sleep(rng.uniform(0, 0.001))
                os.kill(child, signal.SIGKILL)
                killed[child] = xid
        finally:
            producer.stopped.set()
            await flowing
    # then every command is applied, exactly once (one entry each), and the balances are exact
    await wait_settled(fault_sessions, world.tenant_id, within=60)
    aborted = await batches_aborted(fault_sessions, list(killed.values()))
    print(f"seed {SEED}: {producer.sent} write-offs; {aborted} of 50 kills aborted a batch")
    assert fault_stack.worker.running
    assert await outcomes(fault_sessions, world.tenant_id) == Counter(
        {("APPLIED", 1): producer.sent}
    )
    assert await line_balances(fault_sessions, world.line_ids) == producer.expected
    assert await findings(fault_sessions, world.tenant_id) == []
    # and many kills did interrupt a batch (its transaction aborted rather than committed): a
    # light batch holds its transaction for 2-3 ms, and about half of the kills land inside
    assert aborted >= 15, f"seed {SEED}: only {aborted} kills landed inside a batch"


async def wait_applying(
    polling: Any, stack: FaultStack, killed: set[int], ports: dict[int, int]
) -> tuple[int, int]:
    """Until a pool child (not one of `killed`, which may linger a moment) is inside a batch's
    transaction: its pid (matched by the connection's client port) and the transaction's id.

    A light batch takes a few milliseconds, so the look is quick: one statement on `polling`
    (an asyncpg connection outside any transaction, where `pg_stat_activity` is read afresh
    each time), and `ports` (client port → child pid) is kept between calls, since the
    children's connections are pooled and reading a process's sockets takes longer."""
    deadline = time.monotonic() + 30
    while True:
        xids = {port: xid for port, xid in await polling.fetch(APPLYING)}
        if any(port not in ports for port in xids):
            ports.update(children_ports(stack))
        for port, xid in xids.items():
            child = ports.get(port)
            if child is not None and child not in killed:
                return child, xid
        assert time.monotonic() < deadline, "no worker applied a batch in 30 s"
        await asyncio.sleep(0.001)


def children_ports(stack: FaultStack) -> dict[int, int]:
    """The client port of every TCP connection of the worker's pool children: their pid."""
    found: dict[int, int] = {}
    for child in psutil.Process(stack.worker.pid).children():
        try:
            found |= {c.laddr.port: child.pid for c in child.net_connections("tcp")}
        except psutil.NoSuchProcess:
            continue
    return found


async def batches_aborted(sessions: SessionFactory, xids: list[int]) -> int:
    """How many of these transactions aborted (the kill landed before their commit)."""
    async with sessions() as session:
        return [await session.scalar(OUTCOME, {"xid": xid}) for xid in xids].count("aborted")


async def test_whole_worker_killed_and_restarted_commands_come_back_within_seconds(
    fault_stack: FaultStack, fault_sessions: SessionFactory, rng: random.Random
) -> None:
    # given 150 write-offs accepted over HTTP while the worker was down
    world = await make_world(fault_sessions, [LINE_CENTS] * 5)
    worker = fault_stack.worker
    worker.kill()
    try:
        async with httpx.AsyncClient(base_url=fault_stack.api_url, timeout=60) as client:
            producer = Producer(client, world, world.token(fault_stack.settings), rng)
            await asyncio.gather(*[producer.burst(15) for _ in range(10)])
        # when a worker (applying batches of 20) starts, and once some are applied the whole
        # worker (main process, pool children, beat) is SIGKILLed
        worker.start()
        await wait_applied(fault_sessions, world.tenant_id, at_least=20)
        worker.kill()
        in_flight = (await outcomes(fault_sessions, world.tenant_id))[("PENDING", 0)]
    finally:
        fault_stack.restart_worker()
    # then, with a new worker, every command still PENDING comes back within seconds
    assert in_flight > 0, "the worker finished before it was killed"
    took = await wait_settled(fault_sessions, world.tenant_id, within=15)
    print(f"seed {SEED}: {in_flight} of 150 in flight came back in {took:.1f} s")
    # and each is applied exactly once
    assert await outcomes(fault_sessions, world.tenant_id) == Counter({("APPLIED", 1): 150})
    assert await line_balances(fault_sessions, world.line_ids) == producer.expected
    assert await findings(fault_sessions, world.tenant_id) == []


async def wait_applied(sessions: SessionFactory, tenant_id: int, at_least: int) -> None:
    deadline = time.monotonic() + 30
    while (await outcomes(sessions, tenant_id))[("APPLIED", 1)] < at_least:
        assert time.monotonic() < deadline, "nothing applied"
        await asyncio.sleep(0.005)
