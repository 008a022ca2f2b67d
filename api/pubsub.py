"""One Redis pub/sub connection per API process, fanned out to in-process subscribers.

Each process (`arledger api --workers N` runs N) builds its own `Broadcaster` in the app's
lifespan, so N processes hold N pub/sub connections, each named `arledger-api-<pid>` in Redis
`CLIENT LIST` (see `subscriber_name`), whichever process serves a websocket.

Redis pub/sub is at-most-once; subscribers use the per-account version to notice gaps. A lost
connection is re-established (and every channel pattern subscribed again) by redis-py itself
when it can, else by `_run`, every half second while Redis is down; what was published in the
meantime is lost to this process's subscribers (they re-query on a gap).
"""

import asyncio
import contextlib
import json
import os
from collections import defaultdict
from collections.abc import AsyncIterator

import structlog
from redis.asyncio import Redis

from domain.events import Event, from_message

log = structlog.get_logger(__name__)
QUEUE_SIZE = 1000


class LatestQueue(asyncio.Queue[Event]):
    """A bounded queue that never refuses: when full, the oldest event makes room for the
    newest (a subscriber that falls behind skips to the latest; versions show the gap)."""

    dropped = 0

    def put_nowait(self, item: Event) -> None:
        if self.full():
            self.get_nowait()
            self.dropped += 1
            if self.dropped == 1:
                log.warning("subscriber_too_slow", maxsize=self.maxsize)
        super().put_nowait(item)


def subscriber_name(pid: int | None = None) -> str:
    """The Redis client name of the pub/sub connection of the API process `pid` (this one)."""
    return f"arledger-api-{os.getpid() if pid is None else pid}"


class Broadcaster:
    """`async with broadcaster.listen(channel) as queue:` receives events for `channel`."""

    @classmethod
    def for_this_process(cls, redis_url: str, prefix: str) -> "Broadcaster":
        """A broadcaster whose connection is named after this process (`subscriber_name`);
        redis-py names every connection it (re)opens, so the name survives a reconnect."""
        return cls(Redis.from_url(redis_url, client_name=subscriber_name()), prefix)

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._queues: dict[str, set[asyncio.Queue[Event]]] = defaultdict(set)
        self._tenant_queues: dict[str, set[asyncio.Queue[Event]]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        """Subscribe to every arledger channel and start dispatching."""
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._ready.wait(), timeout=10)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._redis.aclose()

    @contextlib.asynccontextmanager
    async def listen(
        self, channel: str, maxsize: int = QUEUE_SIZE
    ) -> AsyncIterator[asyncio.Queue[Event]]:
        """A queue of the events published on `channel` while the block runs, at most
        `maxsize` of them waiting (then the oldest waiting one is dropped: `LatestQueue`)."""
        async with _registered(self._queues, channel, maxsize) as queue:
            yield queue

    def backlog(self, channel: str) -> list[int]:
        """How many events wait in each queue listening to `channel` (for tests, metrics)."""
        return sorted(q.qsize() for q in self._queues.get(channel, ()))

    @contextlib.asynccontextmanager
    async def listen_tenant(self, tenant_id: int) -> AsyncIterator[asyncio.Queue[Event]]:
        """A queue of every event published on any of `tenant_id`'s channels while the block
        runs (e.g. every committed account change of the tenant: the live dashboard)."""
        async with _registered(self._tenant_queues, str(tenant_id), QUEUE_SIZE) as queue:
            yield queue

    async def _run(self) -> None:
        while True:
            try:
                await self._consume()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # one line: a rendered traceback would stall the loop
                log.warning("pubsub_reconnect", error=f"{type(error).__name__}: {error}")
                await asyncio.sleep(0.5)

    async def _consume(self) -> None:
        async with self._redis.pubsub(ignore_subscribe_messages=True) as pubsub:
            await pubsub.psubscribe(f"{self._prefix}:*")
            self._ready.set()
            async for message in pubsub.listen():
                channel = message["channel"].decode().removeprefix(f"{self._prefix}:")
                tenant = channel.partition(":")[0]
                if channel in self._queues or tenant in self._tenant_queues:
                    event = from_message(json.loads(message["data"]))
                    self._dispatch(channel, event)
                    self._dispatch_tenant(tenant, event)

    def _dispatch(self, channel: str, event: Event) -> None:
        for queue in self._queues.get(channel, ()):
            queue.put_nowait(event)  # a LatestQueue: never full, drops its oldest instead

    def _dispatch_tenant(self, tenant: str, event: Event) -> None:
        for queue in self._tenant_queues.get(tenant, ()):
            queue.put_nowait(event)


@contextlib.asynccontextmanager
async def _registered(
    registry: dict[str, set[asyncio.Queue[Event]]], key: str, maxsize: int
) -> AsyncIterator[asyncio.Queue[Event]]:
    """A `LatestQueue` in `registry[key]` while the block runs."""
    queue = LatestQueue(maxsize)
    registry[key].add(queue)
    try:
        yield queue
    finally:
        registry[key].discard(queue)
        if not registry[key]:
            del registry[key]
