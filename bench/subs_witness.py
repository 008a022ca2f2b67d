"""What happened to an event a subscriber did not receive: a raw Redis pattern subscriber
(the witness) records every `AccountChanged` published for the bench tenant, in arrival order,
so a missing command can be told apart as never published, published out of version order
(another worker process published the account's next version first), or published in order and
still not delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from redis.asyncio import Redis


@dataclass
class Published:
    account_id: int
    version: int
    command_id: int | None


@dataclass
class Witness:
    """Every account event of one tenant as Redis delivered it, in order."""

    seen: list[Published] = field(default_factory=list)

    def explain(self, missing: list[int]) -> list[str]:
        """One line per missing command: account, version and why it went missing."""
        by_command = {p.command_id: (i, p) for i, p in enumerate(self.seen)}
        lines = []
        for command_id in sorted(missing):
            if command_id not in by_command:
                lines.append(f"command {command_id}: never published (witness saw no event)")
                continue
            at, event = by_command[command_id]
            later_first = [
                p.version
                for p in self.seen[:at]
                if p.account_id == event.account_id and p.version > event.version
            ]
            why = (
                f"published after version(s) {later_first} of its account (out of order)"
                if later_first
                else "published in order, not delivered"
            )
            lines.append(
                f"command {command_id}: account {event.account_id} version {event.version}: {why}"
            )
        return lines

    def out_of_order(self) -> int:
        """How many events arrived after a later version of their account."""
        high: dict[int, int] = {}
        late = 0
        for p in self.seen:
            if p.version < high.get(p.account_id, 0):
                late += 1
            high[p.account_id] = max(high.get(p.account_id, 0), p.version)
        return late


@contextlib.asynccontextmanager
async def witness(redis_url: str, prefix: str, tenant_id: int) -> AsyncIterator[Witness]:
    """Record the tenant's account events while the block runs."""
    seen = Witness()
    redis = Redis.from_url(redis_url)
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    await pubsub.psubscribe(f"{prefix}:{tenant_id}:account:*")

    async def record() -> None:
        async for message in pubsub.listen():
            if message["type"] != "pmessage":
                continue
            data = json.loads(message["data"])
            seen.seen.append(Published(data["account_id"], data["version"], data["command_id"]))

    task = asyncio.create_task(record())
    try:
        yield seen
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await pubsub.aclose()
        await redis.aclose()
