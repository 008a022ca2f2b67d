"""Redis pub/sub dropped under 500 subscribers: the API's one pub/sub connection is killed again
and again while write-offs flow. The API resubscribes by itself; events published while it was
cut off are lost (pub/sub is at most once), so subscribers see version gaps and re-query the
account, as the README's "Subscriptions" recipe says; in the end every subscriber's balance and
version equal the database's, and the last change reached every one of them live."""

import asyncio
import contextlib
import json
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import psutil
from sqlalchemy import select
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from domain.db import SessionFactory
from domain.models import Account
from tests.faults.stack import FaultStack, findings, wait_settled
from tests.support.client import WRITE_OFF, gid, gql, write_off_input
from tests.support.factories import World, make_world
from tests.support.seeds import SEED

ACCOUNT_BALANCE = """
subscription($accountId: ID!) { accountBalance(accountId: $accountId) { balance version } }"""
ACCOUNT = '{ account(accountNumber: "A1") { balance version } }'
WORLDS, SOCKETS_PER_WORLD, SUBSCRIPTIONS_PER_SOCKET = 5, 5, 20  # 500 subscriptions


@dataclass
class Replica:
    """One subscription's copy of an account: the client-side recipe. Apply an event whose
    version is the next one; drop one at or below the version held (a duplicate); on a jump,
    the events between were lost: re-query the account and keep whichever is newer."""

    version: int = -1
    balance: str = ""
    live_version: int = -1
    """The version of the last event that arrived over the subscription."""
    gaps: int = 0
    refetching: set[asyncio.Task[None]] = field(default_factory=set)

    def on_event(self, event: dict[str, Any], refetch: Any) -> None:
        version = event["version"]
        self.live_version = max(self.live_version, version)
        if version <= self.version:
            return
        if self.version >= 0 and version > self.version + 1:
            self.gaps += 1
            task = asyncio.create_task(refetch(self))
            self.refetching.add(task)
            task.add_done_callback(self.refetching.discard)
        self.version, self.balance = version, event["balance"]

    def on_fetched(self, account: dict[str, Any]) -> None:
        if account["version"] > self.version:
            self.version, self.balance = account["version"], account["balance"]


class Socket:
    """One graphql-transport-ws connection carrying 20 subscriptions to one account."""

    def __init__(self, ws: ClientConnection, world: World, refetch: Any) -> None:
        self.ws, self.world, self.refetch = ws, world, refetch
        self.replicas = {f"s{n}": Replica() for n in range(SUBSCRIPTIONS_PER_SOCKET)}

    async def subscribe(self) -> None:
        variables = {"accountId": gid("Account", self.world.account_id)}
        for sub_id in self.replicas:
            payload = {"query": ACCOUNT_BALANCE, "variables": variables}
            await self.ws.send(json.dumps({"id": sub_id, "type": "subscribe", "payload": payload}))

    async def read(self) -> None:
        async for raw in self.ws:
            message = json.loads(raw)
            if message["type"] == "ping":
                await self.ws.send(json.dumps({"type": "pong"}))
            elif message["type"] == "next":
                event = message["payload"]["data"]["accountBalance"]
                self.replicas[message["id"]].on_event(event, self.refetch)
            else:
                raise AssertionError(f"unexpected message {message}")


@contextlib.asynccontextmanager
async def socket(url: str, world: World, token: str, refetch: Any) -> AsyncIterator[Socket]:
    async with connect(url, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
        init = {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
        await ws.send(json.dumps(init))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        yield Socket(ws, world, refetch)


async def test_pubsub_connection_dropped_under_500_subscribers_every_subscriber_converges(
    fault_stack: FaultStack, fault_sessions: SessionFactory, rng: random.Random
) -> None:
    # given 5 accounts, each watched by 5 websockets x 20 subscriptions (500 in all)
    worlds = [await make_world(fault_sessions, [100_000] * 4) for _ in range(WORLDS)]
    tokens = {w.tenant_id: w.token(fault_stack.settings) for w in worlds}
    url = fault_stack.api_url.replace("http", "ws") + "/graphql"
    limits = httpx.Limits(max_connections=20)
    async with (
        httpx.AsyncClient(base_url=fault_stack.api_url, timeout=30, limits=limits) as http,
        contextlib.AsyncExitStack() as stack,
    ):

        async def refetch(replica: Replica, world: World) -> None:
            body = await gql(http, ACCOUNT, {}, tokens[world.tenant_id])
            replica.on_fetched(body["data"]["account"])

        sockets = [
            await stack.enter_async_context(
                socket(url, w, tokens[w.tenant_id], lambda r, w=w: refetch(r, w))
            )
            for w in worlds
            for _ in range(SOCKETS_PER_WORLD)
        ]
        readers = [asyncio.create_task(s.read()) for s in sockets]
        for s in sockets:
            await s.subscribe()
        await until(lambda: all(r.version == 0 for s in sockets for r in s.replicas.values()))
        # when write-offs flow on every account while the API's pub/sub connection is
        # killed every 20 ms for a second, twice
        writer = Writer(http, worlds, tokens, rng)
        flowing = asyncio.create_task(writer.run(pause=0.3))
        try:
            for _ in range(2):
                await asyncio.sleep(1)
                killed = await drop_storm(fault_stack, seconds=1.0)
                assert killed > 0, "the API had no pub/sub connection to kill"
        finally:
            writer.stopped.set()
            await flowing
        # and once it has had a moment to resubscribe, each account changes once more
        await asyncio.sleep(1)
        for w in worlds:
            await writer.write_off(w)
        for w in worlds:
            await wait_settled(fault_sessions, w.tenant_id, within=15)
        # then every subscriber gets that last change live and holds the database's state
        latest = await account_states(fault_sessions, worlds)
        replicas = [(s.world, r) for s in sockets for r in s.replicas.values()]
        await until(lambda: all(r.live_version == latest[w.account_id][1] for w, r in replicas))
        await until(lambda: not any(r.refetching for _, r in replicas))
        for task in readers:
            task.cancel()
    gaps = sum(r.gaps for _, r in replicas)
    print(f"seed {SEED}: {writer.count} write-offs; {gaps} gaps seen and re-queried")
    assert {(r.balance, r.version) == latest[w.account_id] for w, r in replicas} == {True}
    assert gaps > 0, "no event was lost: the drops did not bite"
    assert not fault_stack.api_exited()
    for w in worlds:
        assert await findings(fault_sessions, w.tenant_id) == []


class Writer:
    """$0.01-$0.99 write-offs on random lines of every account in turn, waited for."""

    def __init__(
        self, http: httpx.AsyncClient, worlds: list[World], tokens: dict[int, str], rng: Any
    ) -> None:
        self.http, self.worlds, self.tokens, self.rng = http, worlds, tokens, rng
        self.count = 0
        self.stopped = asyncio.Event()

    async def write_off(self, world: World) -> None:
        self.count += 1
        line, cents = self.rng.choice(world.line_ids), self.rng.randint(1, 99)
        variables = write_off_input(f"w-{self.count}", [(line, f"0.{cents:02d}")])
        body = await gql(self.http, WRITE_OFF, variables, self.tokens[world.tenant_id])
        assert body["data"]["writeOff"]["userErrors"] == [], body

    async def run(self, pause: float) -> None:
        while not self.stopped.is_set():
            await asyncio.gather(*[self.write_off(w) for w in self.worlds])
            await asyncio.sleep(pause)


async def drop_storm(stack: FaultStack, seconds: float) -> int:
    """Kill the API's pub/sub connection(s) to Redis every 20 ms for `seconds`; how many."""
    killed, deadline = 0, time.monotonic() + seconds
    redis = stack.redis()
    try:
        while time.monotonic() < deadline:
            ports = {
                c.laddr.port
                for c in psutil.Process(stack.api_pid).net_connections("tcp")
                if c.raddr and c.raddr.port == stack.redis_port
            }
            for client in redis.client_list(_type="pubsub"):
                if int(client["addr"].rsplit(":", 1)[1]) in ports:
                    killed += int(redis.client_kill_filter(_id=client["id"]))
            await asyncio.sleep(0.02)
    finally:
        redis.close()
    return killed


async def account_states(
    sessions: SessionFactory, worlds: list[World]
) -> dict[int, tuple[str, int]]:
    """Each account's balance (as the API writes money) and version."""
    async with sessions() as session:
        rows = await session.execute(
            select(Account.id, Account.balance_cents, Account.version).where(
                Account.id.in_([w.account_id for w in worlds])
            )
        )
        return {pk: (f"{cents // 100}.{cents % 100:02d}", v) for pk, cents, v in rows}


async def until(condition: Any, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)
