"""Redis and PostgreSQL killed under load, on the fault stack: nothing accepted is lost, nothing
is applied twice, and the worker and the API recover without a restart."""

import asyncio
import random
import time
from collections import Counter

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.db import SessionFactory
from tests.faults.stack import FaultStack, findings, line_balances, outcomes, wait_settled
from tests.support.client import WRITE_OFF, gql, write_off_input
from tests.support.factories import World, make_world
from tests.support.seeds import SEED

LINE_CENTS = 100_000


class Client:
    """Sends write-offs the way a careful client does: a failed call (an error, a dropped
    connection) is retried with the same idempotency key until it is answered."""

    def __init__(self, http: httpx.AsyncClient, world: World, token: str, rng: random.Random):
        self.http, self.world, self.token, self.rng = http, world, token, rng
        self.expected = dict.fromkeys(world.line_ids, LINE_CENTS)
        self.keys = 0
        self.failures = 0
        self.slowest = 0.0
        self.stopped = asyncio.Event()

    async def write_off(self) -> None:
        line, cents = self.rng.choice(self.world.line_ids), self.rng.randint(1, 99)
        self.keys += 1
        variables = write_off_input(f"w-{self.keys}", [(line, f"0.{cents:02d}")])
        while True:
            started = time.monotonic()
            try:
                body = await gql(self.http, WRITE_OFF, variables, self.token)
            except (httpx.TransportError, AssertionError):
                body = {}
            self.slowest = max(self.slowest, time.monotonic() - started)
            if (body.get("data") or {}).get("writeOff"):
                assert body["data"]["writeOff"]["userErrors"] == [], body
                self.expected[line] -= cents
                return
            self.failures += 1
            await asyncio.sleep(0.1)

    async def run(self, lanes: int) -> None:
        async def lane() -> None:
            while not self.stopped.is_set():
                await self.write_off()

        await asyncio.gather(*[lane() for _ in range(lanes)])

    async def until(self, keys: int) -> None:
        while self.keys < keys:  # noqa: ASYNC110 (a counter, not an event)
            await asyncio.sleep(0.01)


async def test_redis_killed_with_commands_in_flight_loses_nothing_accepted(
    fault_stack: FaultStack, fault_sessions: SessionFactory, rng: random.Random
) -> None:
    # given write-offs flowing over HTTP to the fault stack
    world = await make_world(fault_sessions, [LINE_CENTS] * 5)
    worker_pid = fault_stack.worker.pid
    async with httpx.AsyncClient(base_url=fault_stack.api_url, timeout=30) as http:
        client = Client(http, world, world.token(fault_stack.settings), rng)
        flowing = asyncio.create_task(client.run(lanes=2))
        try:
            await client.until(40)
            # when Redis is SIGKILLed (every queued and unacknowledged message is gone) and
            # stays down for 3 seconds while mutations keep coming
            fault_stack.redis_kill()
            down_from = client.keys
            await asyncio.sleep(3)
            accepted_while_down = client.keys - down_from
            fault_stack.redis_start()
            await client.until(client.keys + 20)
        finally:
            client.stopped.set()
            await flowing
    # then the API answered every mutation while Redis was down, promptly and without error
    assert accepted_while_down >= 10
    assert client.failures == 0
    assert client.slowest < 2.0
    # and once Redis is back every accepted command is applied (the sweeper re-enqueues the
    # lost ones), exactly once, by the same worker process
    took = await wait_settled(fault_sessions, world.tenant_id, within=30)
    print(f"seed {SEED}: {client.keys} write-offs, {accepted_while_down} while Redis was down")
    print(f"all applied {took:.1f} s after the last one was accepted")
    assert fault_stack.worker.running and fault_stack.worker.pid == worker_pid
    assert not fault_stack.api_exited()
    assert await outcomes(fault_sessions, world.tenant_id) == Counter({("APPLIED", 1): client.keys})
    assert await line_balances(fault_sessions, world.line_ids) == client.expected
    assert await findings(fault_sessions, world.tenant_id) == []


async def test_postgres_stopped_immediately_mid_load_and_restarted_recovers_without_restarts(
    fault_stack: FaultStack,
    fault_engine: AsyncEngine,
    fault_sessions: SessionFactory,
    rng: random.Random,
) -> None:
    # given write-offs flowing over HTTP to the fault stack
    world = await make_world(fault_sessions, [LINE_CENTS] * 5)
    worker_pid = fault_stack.worker.pid
    async with httpx.AsyncClient(base_url=fault_stack.api_url, timeout=30) as http:
        client = Client(http, world, world.token(fault_stack.settings), rng)
        flowing = asyncio.create_task(client.run(lanes=2))
        try:
            await client.until(40)
            # when PostgreSQL is stopped with `-m immediate` (a crash) and, 2 s later,
            # started again (crash recovery)
            fault_stack.pg_crash()
            await asyncio.sleep(2)
            fault_stack.pg_start()
            await fault_engine.dispose()  # the test's own pooled connections died too
            await client.until(client.keys + 40)
        finally:
            client.stopped.set()
            await flowing
    # then the API refused calls during the outage (the client retried them under their keys)
    assert client.failures > 0
    # and the same worker and API processes went on: nothing stuck PENDING, each command
    # applied exactly once, balances exact
    took = await wait_settled(fault_sessions, world.tenant_id, within=30)
    print(f"seed {SEED}: {client.keys} write-offs, {client.failures} failed calls retried")
    print(f"all applied {took:.1f} s after the last one was accepted")
    assert fault_stack.worker.running and fault_stack.worker.pid == worker_pid
    assert not fault_stack.api_exited()
    assert await outcomes(fault_sessions, world.tenant_id) == Counter({("APPLIED", 1): client.keys})
    assert await line_balances(fault_sessions, world.line_ids) == client.expected
    assert await findings(fault_sessions, world.tenant_id) == []
