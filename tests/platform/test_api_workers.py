"""`arledger api --workers N`: N uvicorn processes share the socket, each with its own app (its
own engine pool, Celery producer and ONE Redis pub/sub connection, named `arledger-api-<pid>`);
every one of them serves, and a subscription gets its events whichever process holds it.
`--workers 1` is the single process it always was.

The servers are `arledger api` itself, spawned on a free port against the session's database,
Redis, queue and channel prefix (the `settings` fixture exported them); the session's worker
applies the write-offs. Which process serves a connection is read from the operating system
(psutil: the process holding the server end of the client's TCP connection), not from anything
added to the API's responses.
"""

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from api.pubsub import subscriber_name
from arledger.config import Settings
from domain.db import SessionFactory
from tests.conftest import ROOT, Worker, _free_port, _spawn, _stop
from tests.support.client import WRITE_OFF, gid, gql, wait_final, write_off_input
from tests.support.factories import World, ledger_drift, make_world
from tests.support.prod_server import wait_healthy

ACCOUNT = 'query { account(accountNumber: "A1") { balance version } }'
ACCOUNT_BALANCE = """
subscription($accountId: ID!) { accountBalance(accountId: $accountId) { balance version snapshot } }
"""


@dataclass
class Api:
    """A running `arledger api --workers N`."""

    process: subprocess.Popen[bytes]
    base: str
    port: int
    log: Path

    def workers(self) -> set[int]:
        """The pids of uvicorn's worker processes (multiprocessing `spawn` children of the
        supervisor; not multiprocessing's resource tracker); empty when it runs alone."""
        children = psutil.Process(self.process.pid).children()
        return {c.pid for c in children if "spawn_main" in " ".join(_cmdline(c))}

    def serving_pid(self, client_port: int) -> int | None:
        """The process holding the server end of the connection from 127.0.0.1:`client_port`."""
        for pid in self.workers() or {self.process.pid}:
            with contextlib.suppress(psutil.Error):
                for conn in psutil.Process(pid).net_connections("tcp"):
                    peer = conn.raddr.port if conn.raddr else None
                    if conn.laddr.port == self.port and peer == client_port:
                        return pid
        return None


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []


@contextlib.contextmanager
def arledger_api(workers: int, log: Path) -> Iterator[Api]:
    port = _free_port()
    args = ["-m", "arledger.cli", "api", "--port", str(port), "--workers", str(workers)]
    process = _spawn(args, log)
    base = f"http://127.0.0.1:{port}"
    wait_healthy(process, base, log, within=60)
    try:
        yield Api(process, base, port, log)
    finally:
        _stop(process)


async def subscribers(redis: Redis) -> dict[str, list[dict[str, Any]]]:
    """Redis's pub/sub clients by client name."""
    named: dict[str, list[dict[str, Any]]] = {}
    for client in await redis.client_list(_type="pubsub"):
        named.setdefault(client.get("name") or "", []).append(client)
    return named


async def wait_subscribed(api: Api, redis: Redis, count: int, within: float = 90) -> set[int]:
    """Wait until `count` worker processes (the server itself when `count` is 1) are up, each
    with its pub/sub connection; returns their pids. /health answers once the first is up."""
    deadline = time.monotonic() + within
    while True:
        pids = api.workers() if count > 1 else {api.process.pid}
        named = await subscribers(redis)
        if len(pids) == count and all(subscriber_name(pid) in named for pid in pids):
            return pids
        assert api.process.poll() is None, api.log.read_text()
        assert time.monotonic() < deadline, (pids, sorted(named), api.log.read_text()[-3000:])
        await asyncio.sleep(0.2)


@pytest.fixture(scope="module")
def two_processes(
    settings: Settings, worker: Worker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Api]:
    with arledger_api(2, tmp_path_factory.mktemp("api-workers") / "api.log") as api:
        yield api


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    client = Redis.from_url(settings.redis_url, decode_responses=True)
    yield client
    await client.aclose()


# --workers N


async def test_each_worker_process_holds_exactly_one_named_pubsub_connection(
    two_processes: Api, redis: Redis
) -> None:
    # given `arledger api --workers 2` once both processes are up
    pids = await wait_subscribed(two_processes, redis, 2)
    named = await subscribers(redis)
    # then each holds one pub/sub connection of its own, subscribed to one pattern ...
    for pid in pids:
        [client] = named[subscriber_name(pid)]
        assert (client["psub"], client["sub"]) == ("1", "0"), client
        # ... and it is that process's own TCP connection (not one shared with the other)
        client_port = int(client["addr"].rsplit(":", 1)[1])
        local_ports = {c.laddr.port for c in psutil.Process(pid).net_connections("tcp")}
        assert client_port in local_ports
    # and the supervisor serves nothing: it holds no subscription
    assert subscriber_name(two_processes.process.pid) not in named


async def test_each_worker_process_spaces_its_wake_ups_for_the_whole_api(
    two_processes: Api, redis: Redis
) -> None:
    # given `arledger api --workers 2` once both processes are up
    pids = await wait_subscribed(two_processes, redis, 2)
    # then each was told it is one of two, so each waits two intervals between wake-ups: the
    # API as a whole sends no more of them than one process did
    assert [psutil.Process(pid).environ().get("API_PROCESSES") for pid in pids] == ["2", "2"]
    spacing = Settings(api_processes=2, enqueue_interval_seconds=0.02).wake_up_spacing_seconds
    assert spacing == pytest.approx(0.04)


async def test_a_dropped_pubsub_connection_comes_back_under_the_same_name(
    two_processes: Api, redis: Redis
) -> None:
    # given both processes up
    pids = await wait_subscribed(two_processes, redis, 2)
    pid = min(pids)
    [before] = (await subscribers(redis))[subscriber_name(pid)]
    # when Redis drops that process's pub/sub connection
    assert await redis.client_kill_filter(_id=before["id"]) == 1
    # then the process reconnects, under its own name again (still one connection)
    deadline = time.monotonic() + 30
    while True:
        again = (await subscribers(redis)).get(subscriber_name(pid), [])
        if again and again[0]["id"] != before["id"]:
            break
        assert time.monotonic() < deadline, "no new pub/sub connection"
        await asyncio.sleep(0.1)
    assert len(again) == 1 and again[0]["psub"] == "1"


async def test_every_worker_process_serves_requests(
    two_processes: Api, redis: Redis, sessions: SessionFactory, settings: Settings
) -> None:
    # given both processes up and an account
    pids = await wait_subscribed(two_processes, redis, 2)
    world = await make_world(sessions, [10000])
    token = world.token(settings)
    # when new connections keep coming (each kept open, so the process holding it is known)
    served: dict[int, int] = {}
    clients: list[httpx.AsyncClient] = []
    try:
        while set(served) != pids:
            assert len(clients) < 200, f"only {sorted(served)} of {sorted(pids)} ever served"
            batch = [httpx.AsyncClient(base_url=two_processes.base, timeout=30) for _ in range(8)]
            clients += batch
            answers = await asyncio.gather(
                *(
                    c.post(
                        "/graphql",
                        json={"query": ACCOUNT},
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    for c in batch
                )
            )
            for answer in answers:
                # then every answer is right, whichever process gave it
                assert answer.status_code == 200, answer.text
                assert answer.json() == {"data": {"account": {"balance": "100.00", "version": 0}}}
                host_port = answer.extensions["network_stream"].get_extra_info("client_addr")
                pid = two_processes.serving_pid(host_port[1])
                assert pid in pids, (pid, pids)
                served[pid] = served.get(pid, 0) + 1
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
    # and both of them answered
    assert set(served) == pids and all(served.values())


async def test_a_subscription_gets_its_event_whichever_process_holds_it(
    two_processes: Api,
    redis: Redis,
    sessions: SessionFactory,
    settings: Settings,
) -> None:
    # given both processes up, an account, and websockets subscribed to it on both processes
    pids = await wait_subscribed(two_processes, redis, 2)
    world = await make_world(sessions, [10000])
    token = world.token(settings)
    async with contextlib.AsyncExitStack() as stack:
        sockets: dict[ClientConnection, int] = {}
        while len(sockets) < 4 or set(sockets.values()) != pids:
            assert len(sockets) < 40, f"websockets only ever reached {set(sockets.values())}"
            ws = await stack.enter_async_context(_websocket(two_processes.base, token))
            pid = two_processes.serving_pid(ws.local_address[1])
            assert pid in pids, (pid, pids)
            sockets[ws] = pid
        for ws in sockets:
            await _send(ws, _subscribe(world))
            assert await _next(ws) == {"balance": "100.00", "version": 0, "snapshot": True}
        # when a write-off is applied by the worker (submitted to whichever process)
        async with httpx.AsyncClient(base_url=two_processes.base, timeout=30) as client:
            body = await gql(
                client, WRITE_OFF, write_off_input("w1", [(world.line_ids[0], "12.50")]), token
            )
            command = body["data"]["writeOff"]["command"]
            assert (await wait_final(client, command["id"], token))["status"] == "APPLIED"
        # then every websocket, on either process, gets the event
        for ws in sockets:
            assert await _next(ws) == {"balance": "87.50", "version": 1, "snapshot": False}
    assert await ledger_drift(sessions, world.tenant_id) == []


async def test_a_worker_process_that_dies_is_replaced_with_a_subscriber_of_its_own(
    two_processes: Api, redis: Redis, sessions: SessionFactory, settings: Settings
) -> None:
    # given both processes up
    pids = await wait_subscribed(two_processes, redis, 2)
    dead = min(pids)
    # when one is killed
    os.kill(dead, signal.SIGKILL)
    # then uvicorn starts a replacement, which subscribes under its own name, and the dead
    # process's connection is gone
    deadline = time.monotonic() + 90
    while True:
        now = await wait_subscribed(two_processes, redis, 2)
        named = await subscribers(redis)
        if dead not in now and subscriber_name(dead) not in named:
            break
        assert time.monotonic() < deadline, (now, sorted(named))
        await asyncio.sleep(0.2)
    assert len(now & pids) == 1
    # and the API still serves
    world = await make_world(sessions, [500])
    async with httpx.AsyncClient(base_url=two_processes.base, timeout=30) as client:
        answer = await gql(client, ACCOUNT, token=world.token(settings))
    assert answer == {"data": {"account": {"balance": "5.00", "version": 0}}}


# --workers 1, and the default


async def test_one_worker_is_the_single_process_it_always_was(
    settings: Settings,
    worker: Worker,
    redis: Redis,
    sessions: SessionFactory,
    tmp_path: Path,
) -> None:
    with arledger_api(1, tmp_path / "api.log") as api:
        # then the server is one process, no supervisor and no children
        [pid] = await wait_subscribed(api, redis, 1)
        assert pid == api.process.pid
        assert psutil.Process(pid).children() == []
        # holding its one pub/sub connection
        assert len((await subscribers(redis))[subscriber_name(pid)]) == 1
        # and it serves
        world = await make_world(sessions, [10000])
        async with httpx.AsyncClient(base_url=api.base, timeout=30) as client:
            answer = await gql(client, ACCOUNT, token=world.token(settings))
        assert answer == {"data": {"account": {"balance": "100.00", "version": 0}}}


def test_worker_count_defaults_to_api_workers_else_one_per_cpu() -> None:
    assert Settings(api_workers=0).api_worker_count == (os.cpu_count() or 1)
    assert Settings(api_workers=3).api_worker_count == 3


def test_a_single_process_spaces_its_wake_ups_by_one_interval() -> None:
    assert Settings(enqueue_interval_seconds=0.02).wake_up_spacing_seconds == 0.02


@pytest.mark.parametrize("bad", ["0", "-1", "two"])
def test_a_worker_count_below_one_is_refused(bad: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "arledger.cli", "api", "--workers", bad],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "--workers" in done.stderr


# helpers


@contextlib.asynccontextmanager
async def _websocket(base: str, token: str) -> AsyncIterator[ClientConnection]:
    url = base.replace("http", "ws", 1) + "/graphql"
    async with connect(url, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
        await _send(
            ws, {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
        )
        assert (await _receive(ws))["type"] == "connection_ack"
        yield ws


def _subscribe(world: World) -> dict[str, Any]:
    variables = {"accountId": gid("Account", world.account_id)}
    payload = {"query": ACCOUNT_BALANCE, "variables": variables}
    return {"id": "s", "type": "subscribe", "payload": payload}


async def _send(ws: ClientConnection, message: dict[str, Any]) -> None:
    await ws.send(json.dumps(message))


async def _receive(ws: ClientConnection, within: float = 15) -> dict[str, Any]:
    async with asyncio.timeout(within):
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == "ping":
                await _send(ws, {"type": "pong"})
                continue
            return message


async def _next(ws: ClientConnection) -> dict[str, Any]:
    message = await _receive(ws)
    assert message["type"] == "next" and "errors" not in message["payload"], message
    return message["payload"]["data"]["accountBalance"]
