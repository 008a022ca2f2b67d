"""The framework's ceiling: a bare strawberry app served by uvicorn exactly like api.app.

`noop` takes an input shaped like `writeOff`'s and answers like it, without touching a token,
a database or a broker. `tick(channel)` relays Redis pub/sub messages published on
`<CHANNEL_PREFIX>:bare:<channel>` through one shared subscriber, as api.pubsub does; it sends
`ready` first, like the snapshot of `accountBalance`.

Run: `python -m uvicorn bench.bare_app:create_app --factory --port 8001`.
"""

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import strawberry
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from arledger.config import get_settings


class Relay:
    """One Redis pattern subscription fanned out to in-process queues."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis, self._prefix = redis, f"{prefix}:bare:"
        self._queues: dict[str, set[asyncio.Queue[str]]] = defaultdict(set)
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._ready.wait(), timeout=10)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._redis.aclose()

    @contextlib.asynccontextmanager
    async def listen(self, channel: str) -> AsyncIterator[asyncio.Queue[str]]:
        queue: asyncio.Queue[str] = asyncio.Queue(1000)
        self._queues[channel].add(queue)
        try:
            yield queue
        finally:
            self._queues[channel].discard(queue)

    async def _run(self) -> None:
        async with self._redis.pubsub(ignore_subscribe_messages=True) as pubsub:
            await pubsub.psubscribe(f"{self._prefix}*")
            self._ready.set()
            async for message in pubsub.listen():
                channel = message["channel"].decode().removeprefix(self._prefix)
                for queue in self._queues.get(channel, ()):
                    with contextlib.suppress(asyncio.QueueFull):
                        queue.put_nowait(message["data"].decode())


@strawberry.input
class NoopLineInput:
    line_id: strawberry.ID
    amount: str


@strawberry.input
class NoopInput:
    idempotency_key: str
    lines: list[NoopLineInput]
    reason: str
    note: str | None = None


@strawberry.type
class NoopCommand:
    id: strawberry.ID
    status: str


@strawberry.type
class NoopError:
    field: str | None
    code: str
    message: str


@strawberry.type
class NoopPayload:
    command: NoopCommand | None
    user_errors: list[NoopError]


@strawberry.type
class Tick:
    channel: str
    payload: str


@strawberry.type
class Query:
    @strawberry.field
    def ok(self) -> bool:
        return True


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def noop(self, input: NoopInput) -> NoopPayload:
        command = NoopCommand(id=strawberry.ID(input.idempotency_key), status="PENDING")
        return NoopPayload(command=command, user_errors=[])


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def tick(self, info: strawberry.Info, channel: str) -> AsyncGenerator[Tick, None]:
        relay: Relay = info.context["relay"]
        async with relay.listen(channel) as queue:
            yield Tick(channel=channel, payload="ready")
            while True:
                yield Tick(channel=channel, payload=await queue.get())


schema = strawberry.Schema(query=Query, mutation=Mutation, subscription=Subscription)


class BareGraphQL(GraphQL[dict[str, Any], None]):
    relay: Relay

    async def get_context(self, request: Request | WebSocket, response: Any) -> dict[str, Any]:
        return {"request": request, "response": response, "relay": self.relay}


def create_app() -> Starlette:
    settings = get_settings()
    graphql = BareGraphQL(
        schema,
        graphql_ide=None,
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        allow_queries_via_get=False,
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        graphql.relay = Relay(Redis.from_url(settings.redis_url), settings.channel_prefix)
        await graphql.relay.start()
        try:
            yield
        finally:
            await graphql.relay.stop()

    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/health", health),
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
        ],
        lifespan=lifespan,
    )
