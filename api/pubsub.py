"""One Redis pub/sub connection per API process, fanned out to in-process subscribers.

Redis pub/sub is at-most-once; subscribers use the per-account version to notice gaps. A lost
connection is re-established (and every channel pattern subscribed again) by redis-py itself
when it can, else by `_run`, every half second while Redis is down; what was published in the
meantime is lost to this process's subscribers (they re-query on a gap).
"""

import asyncio
import contextlib
import json
from collections import defaultdict
from collections.abc import AsyncIterator

import structlog
from redis.asyncio import Redis

from domain.events import Event, from_message

log = structlog.get_logger(__name__)
QUEUE_SIZE = 1000


class Broadcaster:
    """`async with broadcaster.listen(channel) as queue:` receives events for `channel`."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._queues: dict[str, set[asyncio.Queue[Event]]] = defaultdict(set)
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
    async def listen(self, channel: str) -> AsyncIterator[asyncio.Queue[Event]]:
        """A queue of the events published on `channel` while the block runs."""
        queue: asyncio.Queue[Event] = asyncio.Queue(QUEUE_SIZE)
        self._queues[channel].add(queue)
        try:
            yield queue
        finally:
            self._queues[channel].discard(queue)
            if not self._queues[channel]:
                del self._queues[channel]

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
                if channel in self._queues:
                    self._dispatch(channel, from_message(json.loads(message["data"])))

    def _dispatch(self, channel: str, event: Event) -> None:
        for queue in self._queues.get(channel, ()):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                log.warning("subscriber_too_slow", channel=channel)
