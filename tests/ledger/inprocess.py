"""The API served by uvicorn inside the test's own event loop, so a test can look at what the
process holds (the Broadcaster's queues, the fan-out's render counter) while real websocket
clients talk to it; and helpers that publish account events straight to Redis."""

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import uvicorn
from redis.asyncio import Redis
from starlette.routing import WebSocketRoute
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from api.app import ArledgerGraphQL, create_app
from api.pubsub import Broadcaster
from arledger.config import Settings
from domain.events import AccountChanged, LineBalance
from tests.support.factories import World
from workers.publisher import RedisPublisher


@dataclass
class InProcessApi:
    base: str
    graphql: ArledgerGraphQL

    @property
    def broadcaster(self) -> Broadcaster:
        return self.graphql.services.broadcaster

    @property
    def ws_url(self) -> str:
        return self.base.replace("http", "ws") + "/graphql"


async def until(condition: Callable[[], bool], within: float) -> None:
    """Poll `condition` until it holds; TimeoutError after `within` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {within} s")
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def in_process_api(
    settings: Settings, *, sndbuf: int | None = None
) -> AsyncIterator[InProcessApi]:
    """Serve `create_app(settings)` on a free port until the block ends. `sndbuf` pins the
    server sockets' send buffer (the kernel otherwise grows it to megabytes on loopback, which
    would hide a client that stops reading from the process behind it)."""
    app = create_app(settings)
    graphql = next(r.endpoint for r in app.routes if isinstance(r, WebSocketRoute))
    assert isinstance(graphql, ArledgerGraphQL)
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if sndbuf is not None:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)  # accepted ones inherit
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(app, ws="websockets-sansio", log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        await until(lambda: server.started, within=30)
        yield InProcessApi(f"http://127.0.0.1:{port}", graphql)
    finally:
        server.should_exit = True
        await task


async def open_subscription(
    url: str,
    token: str,
    sub_id: str,
    query: str,
    variables: dict[str, Any],
    *,
    rcvbuf: int | None = None,
) -> tuple[ClientConnection, dict[str, Any]]:
    """A graphql-transport-ws connection subscribed once; returns it and the first `next`.
    `rcvbuf` shrinks the client's socket receive buffer (a client that stops reading then
    pushes back on the server after a few kilobytes)."""
    sock = None
    if rcvbuf is not None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        host, port = url.removeprefix("ws://").split("/")[0].split(":")
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    ws = await connect(
        url, subprotocols=[Subprotocol("graphql-transport-ws")], sock=sock, max_queue=1
    )
    await ws.send(json.dumps({"type": "connection_init", "payload": {"token": token}}))
    assert json.loads(await ws.recv())["type"] == "connection_ack"
    payload = {"query": query, "variables": variables}
    await ws.send(json.dumps({"id": sub_id, "type": "subscribe", "payload": payload}))
    first = json.loads(await ws.recv())
    assert first["type"] == "next", first
    return ws, first


def account_event(world: World, version: int, lines: int = 1) -> AccountChanged:
    """A made-up change of the world's account at `version` naming `lines` line balances."""
    return AccountChanged(
        tenant_id=world.tenant_id,
        account_id=world.account_id,
        version=version,
        balance_cents=1_000_000 - version,
        command_id=version,
        entry_ids=[version],
        lines=[LineBalance(world.line_ids[0] + n, world.visit_id, version) for n in range(lines)],
    )


@contextlib.asynccontextmanager
async def publisher(settings: Settings) -> AsyncIterator[RedisPublisher]:
    publishing = RedisPublisher(Redis.from_url(settings.redis_url), settings.channel_prefix)
    try:
        yield publishing
    finally:
        await publishing.close()
