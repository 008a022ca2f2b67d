"""Subscriptions over a real graphql-transport-ws connection, fed by the worker through Redis;
and the unit of work's promise that only committed work is ever published."""

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from celery import Celery
from redis.asyncio import Redis
from sqlalchemy import func, select
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from api.ids import decode_id
from arledger.config import Settings
from domain.commands import store as command_store
from domain.commands.apply import apply
from domain.db import SessionFactory
from domain.models import ChargeLine, Command, LedgerEntry
from domain.uow import UnitOfWork
from domain.writeoffs.rules import WriteOffLine, WriteOffRequest
from domain.writeoffs.service import submit_writeoff
from tests.support.client import WRITE_OFF, gid, gql, wait_final, write_off_input
from tests.support.factories import World, ledger_drift, make_world
from workers.publisher import RedisPublisher

ACCOUNT_BALANCE = """
subscription($accountId: ID!) {
  accountBalance(accountId: $accountId) {
    accountId balance version snapshot commandId entryIds lines { lineId visitId balance }
  }
}"""
COMMAND_STATUS = """
subscription($id: ID!) { commandStatus(id: $id) { id status errorCode errorMessage } }"""


class Subscriber:
    """One graphql-transport-ws connection, spoken by hand."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def receive(self, within: float = 15) -> dict[str, Any]:
        async with asyncio.timeout(within):
            while True:
                message = json.loads(await self.ws.recv())
                if message["type"] == "ping":
                    await self.send({"type": "pong"})
                    continue
                return message

    async def subscribe(self, sub_id: str, query: str, variables: dict[str, Any]) -> None:
        await self.send(
            {"id": sub_id, "type": "subscribe", "payload": {"query": query, "variables": variables}}
        )

    async def next_data(self, sub_id: str, field: str) -> dict[str, Any]:
        """The next `next` message's `data.<field>`; fails on anything else."""
        message = await self.receive()
        assert message["type"] == "next" and message["id"] == sub_id, message
        assert "errors" not in message["payload"], message
        return message["payload"]["data"][field]

    async def completed(self, sub_id: str) -> None:
        message = await self.receive()
        assert (message["type"], message["id"]) == ("complete", sub_id), message

    async def assert_silent(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            message = await self.receive(within=seconds)
            raise AssertionError(f"unexpected message {message}")


@contextlib.asynccontextmanager
async def subscriber(server: str, token: str) -> AsyncIterator[Subscriber]:
    url = server.replace("http", "ws") + "/graphql"
    async with connect(url, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
        sub = Subscriber(ws)
        await sub.send({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
        assert (await sub.receive())["type"] == "connection_ack"
        yield sub


async def write_off(
    client: httpx.AsyncClient, token: str, key: str, line_id: int, amount: str
) -> dict[str, Any]:
    """Submit a write-off over HTTP and wait until it is final."""
    body = await gql(client, WRITE_OFF, write_off_input(key, [(line_id, amount)]), token)
    payload = body["data"]["writeOff"]
    assert payload["userErrors"] == [], payload
    return await wait_final(client, payload["command"]["id"], token)


async def entry_ids(sessions: SessionFactory, command_id: int) -> list[int]:
    async with sessions() as session:
        return list(
            (
                await session.scalars(
                    select(LedgerEntry.id)
                    .where(LedgerEntry.command_id == command_id)
                    .order_by(LedgerEntry.id)
                )
            ).all()
        )


async def line_balance(sessions: SessionFactory, line_id: int) -> int | None:
    async with sessions() as session:
        return await session.scalar(
            select(ChargeLine.balance_cents).where(ChargeLine.id == line_id)
        )


async def noop_enqueue(command_id: int) -> None:
    return None


def request(world: World, cents: int) -> WriteOffRequest:
    return WriteOffRequest((WriteOffLine(world.line_ids[0], cents),), "charity", None)


async def store_pending(sessions: SessionFactory, world: World, cents: int, key: str) -> int:
    """A committed PENDING write-off whose broker message is never sent."""
    async with UnitOfWork(sessions) as uow:
        command = await submit_writeoff(
            uow,
            tenant_id=world.tenant_id,
            actor="tester",
            idempotency_key=key,
            request=request(world, cents),
            enqueue=noop_enqueue,
        )
        await uow.commit()
    return command.id


def expected_event(
    world: World, version: int, cents: int, command_gid: str, entries: list[int]
) -> dict[str, Any]:
    money = f"{cents // 100}.{cents % 100:02d}"
    return {
        "accountId": gid("Account", world.account_id),
        "balance": money,
        "version": version,
        "snapshot": False,
        "commandId": command_gid,
        "entryIds": [gid("LedgerEntry", e) for e in entries],
        "lines": [
            {
                "lineId": gid("ChargeLine", world.line_ids[0]),
                "visitId": gid("Visit", world.visit_id),
                "balance": money,
            }
        ],
    }


# accountBalance


async def test_account_balance_streams_snapshot_then_every_change_in_order(
    client,
    server: str,
    sessions: SessionFactory,
    settings: Settings,
) -> None:
    # given a $100.00 account and a subscriber that has received its snapshot
    world = await make_world(sessions, [10000])
    token = world.token(settings)
    async with subscriber(server, token) as sub:
        await sub.subscribe("1", ACCOUNT_BALANCE, {"accountId": gid("Account", world.account_id)})
        snapshot = await sub.next_data("1", "accountBalance")
        assert snapshot == {
            "accountId": gid("Account", world.account_id),
            "balance": "100.00",
            "version": 0,
            "snapshot": True,
            "commandId": None,
            "entryIds": [],
            "lines": [],
        }
        # when five $1 write-offs are applied one after another
        commands = []
        for n in range(5):
            final = await write_off(client, token, f"k{n}", world.line_ids[0], "1")
            assert final["status"] == "APPLIED"
            commands.append(final["id"])
        # then exactly five events arrive, versions 1..5, each naming its command and entry
        events = [await sub.next_data("1", "accountBalance") for _ in range(5)]
        await sub.assert_silent(0.5)
        expected = [
            expected_event(
                world,
                n + 1,
                10000 - 100 * (n + 1),
                command,
                await entry_ids(sessions, decode_id(command, "Command") or 0),
            )
            for n, command in enumerate(commands)
        ]
        assert [len(e["entryIds"]) for e in expected] == [1] * 5
        assert events == expected
        # and the client may stop the subscription
        await sub.send({"id": "1", "type": "complete"})
        await sub.assert_silent(0.3)
    assert await ledger_drift(sessions, world.tenant_id) == []


async def test_account_balance_of_another_tenants_account_is_not_found(
    server: str,
    sessions: SessionFactory,
    settings: Settings,
) -> None:
    mine = await make_world(sessions, [10000])
    theirs = await make_world(sessions, [10000])
    async with subscriber(server, mine.token(settings)) as sub:
        await sub.subscribe("1", ACCOUNT_BALANCE, {"accountId": gid("Account", theirs.account_id)})
        message = await sub.receive()
    assert message["type"] == "next"
    assert message["payload"]["data"] is None
    assert [e["extensions"]["code"] for e in message["payload"]["errors"]] == ["NOT_FOUND"]


async def test_two_subscribers_in_one_process_each_get_every_event(
    client,
    server: str,
    sessions: SessionFactory,
    settings: Settings,
) -> None:
    # given two subscribers on the same account, each on its own websocket
    world = await make_world(sessions, [10000])
    token = world.token(settings)
    redis = Redis.from_url(settings.redis_url)
    try:
        psubscribers_before = await pattern_subscribers(redis)
        async with subscriber(server, token) as first, subscriber(server, token) as second:
            for sub in (first, second):
                await sub.subscribe(
                    "s", ACCOUNT_BALANCE, {"accountId": gid("Account", world.account_id)}
                )
                assert (await sub.next_data("s", "accountBalance"))["snapshot"] is True
            # (the API process did not open a Redis subscription per subscriber)
            assert await pattern_subscribers(redis) == psubscribers_before
            # when two write-offs are applied
            commands = [
                (await write_off(client, token, f"k{n}", world.line_ids[0], "2.50"))["id"]
                for n in range(2)
            ]
            # then both subscribers receive both events
            expected = [
                expected_event(
                    world,
                    n + 1,
                    10000 - 250 * (n + 1),
                    command,
                    await entry_ids(sessions, decode_id(command, "Command") or 0),
                )
                for n, command in enumerate(commands)
            ]
            for sub in (first, second):
                assert [await sub.next_data("s", "accountBalance") for _ in range(2)] == expected
                await sub.assert_silent(0.3)
    finally:
        await redis.aclose()


async def pattern_subscribers(redis: Redis) -> int:
    """How many Redis clients hold a pattern subscription."""
    return sum(1 for c in await redis.client_list() if int(c.get("psub", 0)) > 0)


# commandStatus


async def test_command_status_follows_a_pending_command_until_applied(
    server: str,
    sessions: SessionFactory,
    settings: Settings,
    celery_app: Celery,
) -> None:
    # given a stored PENDING write-off whose broker message was never sent
    world = await make_world(sessions, [10000])
    pk = await store_pending(sessions, world, 700, "k")
    command_gid = gid("Command", pk)
    async with subscriber(server, world.token(settings)) as sub:
        await sub.subscribe("c", COMMAND_STATUS, {"id": command_gid})
        # then the first message is its current status
        assert await sub.next_data("c", "commandStatus") == {
            "id": command_gid,
            "status": "PENDING",
            "errorCode": None,
            "errorMessage": None,
        }
        # when the worker applies it
        celery_app.send_task("arledger.apply_command", args=[pk], queue=settings.celery_queue)
        # then the final status follows and the subscription completes
        assert await sub.next_data("c", "commandStatus") == {
            "id": command_gid,
            "status": "APPLIED",
            "errorCode": None,
            "errorMessage": None,
        }
        await sub.completed("c")
    assert await line_balance(sessions, world.line_ids[0]) == 9300


async def test_command_status_of_a_rejected_command(
    client,
    server: str,
    sessions: SessionFactory,
    settings: Settings,
) -> None:
    # given a write-off over the line's balance, just submitted
    world = await make_world(sessions, [1000])
    token = world.token(settings)
    body = await gql(client, WRITE_OFF, write_off_input("k", [(world.line_ids[0], "10.01")]), token)
    command_gid = body["data"]["writeOff"]["command"]["id"]
    async with subscriber(server, token) as sub:
        await sub.subscribe("c", COMMAND_STATUS, {"id": command_gid})
        # then PENDING (unless the worker was faster), then REJECTED with its code, then complete
        statuses = [await sub.next_data("c", "commandStatus")]
        if statuses[0]["status"] == "PENDING":
            statuses.append(await sub.next_data("c", "commandStatus"))
        await sub.completed("c")
        # and a subscription to the now final command yields it once and completes
        await sub.subscribe("again", COMMAND_STATUS, {"id": command_gid})
        again = await sub.next_data("again", "commandStatus")
        await sub.completed("again")
    final = statuses[-1]
    assert [s["status"] for s in statuses] in (["PENDING", "REJECTED"], ["REJECTED"])
    assert (final["id"], final["errorCode"]) == (command_gid, "EXCEEDS_BALANCE")
    assert final["errorMessage"]
    assert again == final
    assert await line_balance(sessions, world.line_ids[0]) == 1000


# Publishing happens after commit, and only then


@pytest.fixture
async def channel(settings: Settings) -> AsyncIterator["Channel"]:
    redis = Redis.from_url(settings.redis_url)
    pubsub = redis.pubsub()
    try:
        await pubsub.psubscribe(f"{settings.channel_prefix}:*")
        async with asyncio.timeout(5):  # the subscription is live once confirmed
            while await pubsub.get_message(timeout=1) is None:
                pass
        yield Channel(pubsub, settings.channel_prefix)
    finally:
        await pubsub.aclose()
        await redis.aclose()


class Channel:
    """Raw pub/sub on every arledger channel of this test session."""

    def __init__(self, pubsub: Any, prefix: str) -> None:
        self.pubsub = pubsub
        self.prefix = prefix

    async def messages(self, tenant_id: int, seconds: float) -> list[tuple[str, dict[str, Any]]]:
        """Everything published for `tenant_id` within `seconds`, as (channel, message)."""
        found = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            message = await self.pubsub.get_message(ignore_subscribe_messages=True, timeout=left)
            if message is None:
                continue
            channel = message["channel"].decode().removeprefix(f"{self.prefix}:")
            if channel.startswith(f"{tenant_id}:"):  # other tests' stragglers are not ours
                found.append((channel, json.loads(message["data"])))
        return found


@pytest.fixture
async def publisher(settings: Settings) -> AsyncIterator[RedisPublisher]:
    publisher = RedisPublisher(Redis.from_url(settings.redis_url), settings.channel_prefix)
    yield publisher
    await publisher.close()


async def submit_and_apply(uow: UnitOfWork, world: World, key: str) -> int:
    command, created = await command_store.submit(
        uow,
        tenant_id=world.tenant_id,
        actor="tester",
        kind="WRITEOFF",
        idempotency_key=key,
        payload=request(world, 100).to_payload(),
        account_ids=[world.account_id],
    )
    assert created
    assert await apply(uow, command.id) == "APPLIED"
    return command.id


async def test_rolled_back_command_publishes_nothing(
    sessions: SessionFactory,
    publisher: RedisPublisher,
    channel: Channel,
) -> None:
    # given a $100.00 line
    world = await make_world(sessions, [10000])
    # when a write-off is stored and applied in one unit of work that is rolled back
    async with UnitOfWork(sessions, publisher.publish) as uow:
        await submit_and_apply(uow, world, "k")
        await uow.rollback()
    # then nothing is published and nothing changed
    assert await channel.messages(world.tenant_id, 1.0) == []
    assert await line_balance(sessions, world.line_ids[0]) == 10000
    async with sessions() as session:
        assert (
            await session.scalar(
                select(func.count())
                .select_from(Command)
                .where(Command.tenant_id == world.tenant_id)
            )
            == 0
        )


async def test_committed_command_publishes_one_change_and_one_finish(
    sessions: SessionFactory,
    publisher: RedisPublisher,
    channel: Channel,
) -> None:
    # given a $100.00 line
    world = await make_world(sessions, [10000])
    # when a write-off is stored and applied in one unit of work that commits
    async with UnitOfWork(sessions, publisher.publish) as uow:
        pk = await submit_and_apply(uow, world, "k")
        await uow.commit()
    # then exactly one AccountChanged and one CommandFinished are published, in that order
    entries = await entry_ids(sessions, pk)
    assert len(entries) == 1
    line = world.line_ids[0]
    assert await channel.messages(world.tenant_id, 1.0) == [
        (
            f"{world.tenant_id}:account:{world.account_id}",
            {
                "type": "AccountChanged",
                "tenant_id": world.tenant_id,
                "account_id": world.account_id,
                "version": 1,
                "balance_cents": 9900,
                "command_id": pk,
                "entry_ids": entries,
                "lines": [{"line_id": line, "visit_id": world.visit_id, "balance_cents": 9900}],
                "entries": [
                    {
                        "entry_id": entries[0],
                        "line_id": line,
                        "kind": "WRITEOFF",
                        "amount_cents": -100,
                        "memo_amount_cents": None,
                        "reverses_entry_id": None,
                    }
                ],
            },
        ),
        (
            f"{world.tenant_id}:command:{pk}",
            {
                "type": "CommandFinished",
                "tenant_id": world.tenant_id,
                "command_id": pk,
                "status": "APPLIED",
                "error_code": None,
                "error_message": None,
            },
        ),
    ]
    assert await line_balance(sessions, line) == 9900
