"""Publishes committed events to Redis pub/sub, one channel per account and per command."""

import json
from collections.abc import Sequence

from redis.asyncio import Redis

from domain.events import Event, to_message


class RedisPublisher:
    """`publish` is handed to a UnitOfWork and runs only after commit."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    async def publish(self, events: Sequence[Event]) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for event in events:
                pipe.publish(f"{self._prefix}:{event.channel}", json.dumps(to_message(event)))
            await pipe.execute()

    async def close(self) -> None:
        await self._redis.aclose()
