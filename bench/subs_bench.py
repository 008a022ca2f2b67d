"""Phase 4: subscription latency. One websocket per account, each subscribed to its account's
balance, then a steady rate of one-line write-offs spread evenly over the accounts: through the
API's `writeOff` mutation, and (to separate the pipeline from the API's CPU) stored directly
and enqueued with the API's Enqueuer.

Latency = websocket receipt - the command's `finished_at` (the applying transaction's
`now()`, i.e. its start: a touch earlier than its commit), and receipt - the time the
write-off was due to be sent. The ceiling is the bare app's `tick` relay at the same rate and
fan-out: Redis publish → one pattern subscriber → websocket.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import secrets
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
from redis.asyncio import Redis

from api.enqueue import Enqueuer
from api.ids import decode_id, encode_id
from bench.data import Tenant, finished_at, insert_pending, wait_final
from bench.http_bench import WRITE_OFF, command_pk, writeoff_input
from bench.ws import Subscriber, close_all, start_all
from workers.app import make_celery

ACCOUNT_BALANCE = """subscription($id: ID!) {
  accountBalance(accountId: $id) { version balance commandId snapshot } }"""
TICK = "subscription($channel: String!) { tick(channel: $channel) { channel payload } }"
PARALLEL_HANDSHAKES = 20
GRACE_SECONDS = 5.0


@dataclass
class LatencyRun:
    expected: int
    submit_seconds: float = 0.0
    commit_to_ws: list[float] = field(default_factory=list)
    send_to_ws: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def delivered(self) -> int:
        return len(self.send_to_ws)


def ws_url(base: str) -> str:
    return base.replace("http://", "ws://", 1) + "/graphql"


async def paced(
    rate: float, total: int, fire: Callable[[int, float], Coroutine[Any, Any, None]]
) -> float:
    """Start `fire(n, due_epoch)` `rate` times a second, `total` times; wait for all of them."""
    start, epoch = time.monotonic(), time.time()
    tasks: list[asyncio.Task[None]] = []
    for n in range(total):
        delay = start + n / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(fire(n, epoch + n / rate)))
    await asyncio.gather(*tasks)
    return time.monotonic() - start


async def _wait_for(count: Callable[[], int], total: int, within: float) -> None:
    deadline = time.monotonic() + within
    while True:
        if count() >= total or time.monotonic() > deadline:
            return
        await asyncio.sleep(0.05)


async def relay_ceiling(
    base: str, redis_url: str, prefix: str, clients: int, rate: float, seconds: float
) -> LatencyRun:
    """The bare app: publish `{t: now}` round-robin to `clients` channels; receipt - t."""
    run = LatencyRun(expected=round(rate * seconds))

    def on_data(data: dict[str, Any], received: float) -> None:
        run.send_to_ws.append(received - json.loads(data["tick"]["payload"])["t"])

    tag = secrets.token_hex(3)
    subs = [
        Subscriber(ws_url(base), TICK, {"channel": f"{tag}-{i}"}, on_data) for i in range(clients)
    ]
    redis = Redis.from_url(redis_url)
    try:
        await start_all(subs, {}, PARALLEL_HANDSHAKES)

        async def fire(n: int, due: float) -> None:
            message = json.dumps({"t": time.time(), "n": n})
            await redis.publish(f"{prefix}:bare:{tag}-{n % clients}", message)

        run.submit_seconds = await paced(rate, run.expected, fire)
        await _wait_for(lambda: run.delivered, run.expected, GRACE_SECONDS)
    finally:
        await redis.aclose()
        await close_all(subs)
    run.errors += [e for s in subs for e in s.errors]
    return run


Submit = Callable[[int, int], Coroutine[Any, Any, int | None]]  # (n, line id) -> command id


@contextlib.asynccontextmanager
async def http_submitter(base: str, tenant: Tenant) -> AsyncIterator[Submit]:
    """Write-offs through the API's `writeOff` mutation (what a client does)."""
    headers = {"Authorization": f"Bearer {tenant.token()}"}
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    key = secrets.token_hex(4)
    async with httpx.AsyncClient(base_url=base, timeout=60, trust_env=False, limits=limits) as c:

        async def submit(n: int, line_id: int) -> int | None:
            body = {"query": WRITE_OFF, "variables": writeoff_input(f"sub-{key}-{n}", line_id, 1)}
            response = await c.post("/graphql", json=body, headers=headers)
            response.raise_for_status()
            return command_pk(response.json(), "writeOff")

        yield submit


@contextlib.asynccontextmanager
async def direct_submitter(dsn: str, tenant: Tenant, queue: str) -> AsyncIterator[Submit]:
    """Write-offs stored straight into `commands` and enqueued with the API's own Enqueuer,
    so the API process only relays events (its CPU is not shared with mutations)."""
    conn = await asyncpg.connect(dsn)
    lock = asyncio.Lock()
    enqueuer = Enqueuer(make_celery(), queue, f"{queue}-bulk")

    async def submit(n: int, line_id: int) -> int | None:
        async with lock:
            (command_id,) = await insert_pending(conn, tenant, [(line_id, 1)])
        await enqueuer.apply_command(command_id)
        return command_id

    try:
        yield submit
    finally:
        closing = enqueuer.close()  # sync in older trees, a coroutine in newer ones
        if inspect.isawaitable(closing):
            await closing
        await conn.close()


async def subscription_latency(
    base: str,
    conn: asyncpg.Connection,
    tenant: Tenant,
    rate: float,
    seconds: float,
    submit: Submit,
    alive: Callable[[], None],
) -> LatencyRun:
    """Write-offs at `rate`/s for `seconds` over every account of `tenant`, one socket each."""
    accounts = tenant.account_ids
    run = LatencyRun(expected=round(rate * seconds))
    receipts: dict[int, float] = {}
    due: dict[int, float] = {}

    def on_data(data: dict[str, Any], received: float) -> None:
        event = data["accountBalance"]
        if not event["snapshot"] and event["commandId"]:
            pk = decode_id(event["commandId"], "Command")
            if pk is not None:
                receipts.setdefault(pk, received)

    subs = [
        Subscriber(ws_url(base), ACCOUNT_BALANCE, {"id": encode_id("Account", a)}, on_data)
        for a in accounts
    ]
    first_line = {a: tenant.line_ids_of(a)[0] for a in accounts}
    init = {"authorization": f"Bearer {tenant.token()}"}

    async def fire(n: int, due_at: float) -> None:
        try:
            pk = await submit(n, first_line[accounts[n % len(accounts)]])
            if pk is not None:
                due[pk] = due_at
        except (httpx.HTTPError, asyncpg.PostgresError, RuntimeError, KeyError) as exc:
            run.errors.append(f"write-off {n}: {exc!r}"[:300])

    try:
        await start_all(subs, init, PARALLEL_HANDSHAKES)
        run.submit_seconds = await paced(rate, run.expected, fire)
        await wait_final(conn, tenant.id, len(due), max(60.0, run.expected / 10), alive)
        await _wait_for(lambda: len(receipts), len(due), GRACE_SECONDS)
    finally:
        await close_all(subs)
    run.errors += [e for s in subs for e in s.errors]
    committed = await finished_at(conn, list(due))
    for pk, sent in due.items():
        if pk in receipts:
            run.send_to_ws.append(receipts[pk] - sent)
            if pk in committed:
                run.commit_to_ws.append(receipts[pk] - committed[pk])
    return run
