"""Phase 4: subscription latency. One websocket per account, each subscribed to its account's
balance, then a steady rate of one-line write-offs spread evenly over the accounts: through the
API's `writeOff` mutation, and (to separate the pipeline from the API's CPU) stored directly
and enqueued with the API's Enqueuer.

Latency = websocket receipt - the command's `finished_at` (`clock_timestamp()` at the claim of
the batch that applies it, before that batch's balance work and commit: so "commit→ws" is an
upper bound, over by the batch's own time), and receipt - the time the
write-off was due to be sent. The ceiling is the bare app's `tick` relay at the same rate and
fan-out: Redis publish → one pattern subscriber → websocket.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from redis.asyncio import Redis

from api.enqueue import Enqueuer
from api.ids import decode_id, encode_id
from arledger.config import get_settings
from bench.data import Tenant, finished_at, insert_pending, wait_final
from bench.heap import frozen_heap
from bench.http_bench import WRITE_OFF, command_pk, writeoff_input
from bench.raw_http import RawClient, RawHttpError
from bench.subs_witness import witness
from bench.ws import OnData, Subscriber, close_all, start_all
from workers.app import make_celery

ACCOUNT_BALANCE = """subscription($id: ID!) {
  accountBalance(accountId: $id) { version balance commandId snapshot } }"""
TICK = "subscription($channel: String!) { tick(channel: $channel) { channel payload } }"
PARALLEL_HANDSHAKES = 20
HTTP_CONNECTIONS = 64
SUBMIT_ERRORS = (OSError, EOFError, RawHttpError, asyncpg.PostgresError, RuntimeError, KeyError)
GRACE_SECONDS = 5.0
DELIVERY_DEADLINE = 30.0
"""How long after the last command is final every expected event may still arrive."""


@dataclass
class LatencyRun:
    expected: int
    """Events due: (commands accepted) times (sockets per account); the offered count until
    the submissions are answered."""
    submit_seconds: float = 0.0
    commit_to_ws: list[float] = field(default_factory=list)
    send_to_ws: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    out_of_order: int = 0
    unanswered: int = 0
    """Commands stored whose submission got no answer (their events cannot be attributed)."""

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

        with frozen_heap():
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
    """Write-offs through the API's `writeOff` mutation (what a client does), over up to
    `HTTP_CONNECTIONS` keep-alive connections handed out by a queue.

    The clients are `bench.raw_http`'s, not httpx: they share the two cores with the API, and
    httpx's cost there was the bench's, not the system's. (One httpx client with a pool of 64
    was worse still: the due requests queued inside httpcore, whose pool scans every waiting
    request each time a connection frees, and that scan took the bench's whole core and
    capped the sending at ~35/s.)
    """
    headers = {"Authorization": f"Bearer {tenant.token()}"}
    key = secrets.token_hex(4)
    free: asyncio.Queue[RawClient] = asyncio.Queue()
    clients = [RawClient(base, headers) for _ in range(HTTP_CONNECTIONS)]
    for client in clients:
        free.put_nowait(client)

    async def submit(n: int, line_id: int) -> int | None:
        body = {"query": WRITE_OFF, "variables": writeoff_input(f"sub-{key}-{n}", line_id, 1)}
        client = await free.get()
        try:
            answer = await client.post_json("/graphql", body)
        except BaseException:
            await client.close()  # a half-read answer must not be read as the next one's
            raise
        finally:
            free.put_nowait(client)
        return command_pk(answer, "writeOff")

    try:
        yield submit
    finally:
        await asyncio.gather(*(c.close() for c in clients))


@contextlib.asynccontextmanager
async def direct_submitter(dsn: str, tenant: Tenant, queue: str) -> AsyncIterator[Submit]:
    """Write-offs stored straight into `commands` and enqueued with the API's own Enqueuer (and
    its `ENQUEUE_INTERVAL_SECONDS`), so the API process only relays events (its CPU is not
    shared with mutations)."""
    conn = await asyncpg.connect(dsn)
    lock = asyncio.Lock()
    interval = get_settings().enqueue_interval_seconds  # coalesced as the API's own
    enqueuer = Enqueuer(make_celery(), queue, f"{queue}-bulk", interval)
    await enqueuer.start()  # connected before the first send, as the API's

    async def submit(n: int, line_id: int) -> int | None:
        async with lock:
            (command_id,) = await insert_pending(conn, tenant, [(line_id, 1)])
        await enqueuer.apply_command(command_id)
        return command_id

    try:
        yield submit
    finally:
        await enqueuer.close()
        await conn.close()


async def subscription_latency(
    base: str,
    conn: asyncpg.Connection,
    tenant: Tenant,
    rate: float,
    seconds: float,
    submit: Submit,
    alive: Callable[[], None],
    *,
    redis: tuple[str, str] | None = None,
    fanout: int = 1,
) -> LatencyRun:
    """Write-offs at `rate`/s for `seconds` over every account of `tenant`, `fanout` sockets
    per account. Waits (up to `DELIVERY_DEADLINE` after the last command is final) for every
    expected event on every socket; `redis=(url, prefix)` explains each one still missing."""
    accounts = tenant.account_ids
    commands = round(rate * seconds)
    run = LatencyRun(expected=commands * fanout)
    receipts: dict[tuple[int, int], float] = {}
    due: dict[int, float] = {}
    account_of: dict[int, int] = {}

    def on_data_of(socket: int) -> OnData:
        def on_data(data: dict[str, Any], received: float) -> None:
            event = data["accountBalance"]
            if not event["snapshot"] and event["commandId"]:
                pk = decode_id(event["commandId"], "Command")
                if pk is not None:
                    receipts.setdefault((socket, pk), received)

        return on_data

    subs = [
        Subscriber(ws_url(base), ACCOUNT_BALANCE, {"id": encode_id("Account", a)}, on_data_of(i))
        for i, a in enumerate(a for a in accounts for _ in range(fanout))
    ]
    first_line = {a: tenant.line_ids_of(a)[0] for a in accounts}
    init = {"authorization": f"Bearer {tenant.token()}"}

    async def fire(n: int, due_at: float) -> None:
        account = accounts[n % len(accounts)]
        try:
            pk = await submit(n, first_line[account])
            if pk is not None:
                due[pk], account_of[pk] = due_at, account
        except (
            OSError,
            EOFError,
            RawHttpError,
            asyncpg.PostgresError,
            RuntimeError,
            KeyError,
        ) as exc:
            run.errors.append(f"write-off {n}: {exc!r}"[:300])

    async with contextlib.AsyncExitStack() as stack:
        seen = await stack.enter_async_context(witness(*redis, tenant.id)) if redis else None
        try:
            await start_all(subs, init, PARALLEL_HANDSHAKES)
            with frozen_heap():
                run.submit_seconds = await paced(rate, commands, fire)
                final = await wait_final(conn, tenant.id, len(due), max(60.0, commands / 10), alive)
                run.unanswered = final.applied + final.rejected - len(due)
                run.expected = len(due) * fanout
                await _wait_for(lambda: len(receipts), len(due) * fanout, DELIVERY_DEADLINE)
        finally:
            await close_all(subs)
        lost = set(_expected(due, account_of, accounts, fanout)) - receipts.keys()
        missing = sorted({pk for _, pk in lost})
        if lost:
            run.missing.append(f"{len(lost)} (socket, event) pairs of {len(missing)} commands")
        if missing and seen is not None:
            run.missing += seen.explain(missing)
        if seen is not None:
            run.out_of_order = seen.out_of_order()
    run.errors += [e for s in subs for e in s.errors]
    committed = await finished_at(conn, list(due))
    for (_, pk), received in receipts.items():
        if pk in due:
            run.send_to_ws.append(received - due[pk])
            if pk in committed:
                run.commit_to_ws.append(received - committed[pk])
    return run


def _expected(
    due: dict[int, float], account_of: dict[int, int], accounts: list[int], fanout: int
) -> list[tuple[int, int]]:
    """Every (socket, command) pair that should be delivered."""
    socket_base = {a: i * fanout for i, a in enumerate(accounts)}
    return [(socket_base[account_of[pk]] + k, pk) for pk in due for k in range(fanout)]
