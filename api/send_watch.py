"""How long a websocket send may wait on a client that does not read: one watch per process.

A send waits only when the client has stopped reading (uvicorn holds it until the socket's
buffer drains); every other send completes without waiting. A timer armed and cancelled around
each send (`asyncio.timeout`) was about a twelfth of an API process's CPU while it fanned 2,000
messages a second out. Instead each connection notes when its sends started waiting, and one
task per process looks once a second for connections that have sent nothing for the limit.
"""

import asyncio
import contextlib
from typing import Protocol


class Watched(Protocol):
    """A connection whose sends the watch bounds."""

    send_deadline: float
    """Loop time by which a send in flight must complete, or the connection is dropped."""

    def drop(self) -> None:
        """Give up on the client (its sends have waited past the deadline)."""


class SendWatch:
    """`start()` in the app's lifespan; connections `waiting()` and `done()` around sends."""

    def __init__(self, check_every: float = 1.0) -> None:
        self._check_every = check_every
        self._waiting: set[Watched] = set()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._watch())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def waiting(self, connection: Watched) -> None:
        """`connection` has a send in flight (its `send_deadline` set)."""
        self._waiting.add(connection)

    def done(self, connection: Watched) -> None:
        """`connection` has no send in flight."""
        self._waiting.discard(connection)

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._check_every)
            now = loop.time()
            for connection in [c for c in self._waiting if c.send_deadline < now]:
                self._waiting.discard(connection)
                connection.drop()
