"""A minimal graphql-transport-ws client that timestamps every `next` it receives."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

OnData = Callable[[dict[str, Any], float], None]


class Subscriber:
    """One connection, one subscription; `on_data(data, epoch_seconds)` for each event."""

    def __init__(self, url: str, query: str, variables: dict[str, Any], on_data: OnData) -> None:
        self.url, self.query, self.variables, self.on_data = url, query, variables, on_data
        self.first: dict[str, Any] | None = None
        self.errors: list[str] = []
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, init_payload: dict[str, Any], within: float = 30) -> None:
        """Connect, init, subscribe and wait for the first `next` (snapshot / ready)."""
        async with asyncio.timeout(within):
            self._ws = await connect(
                self.url, subprotocols=[Subprotocol("graphql-transport-ws")], max_queue=None
            )
            await self._send({"type": "connection_init", "payload": init_payload})
            ack = await self._receive()
            if ack.get("type") != "connection_ack":
                raise RuntimeError(f"no connection_ack: {ack}")
            payload = {"query": self.query, "variables": self.variables}
            await self._send({"id": "1", "type": "subscribe", "payload": payload})
            first = await self._receive()
            if first.get("type") != "next" or first["payload"].get("errors"):
                raise RuntimeError(f"subscription failed: {first}")
            self.first = first["payload"]["data"]
        self._task = asyncio.create_task(self._listen())

    async def _send(self, message: dict[str, Any]) -> None:
        assert self._ws is not None
        await self._ws.send(json.dumps(message))

    async def _receive(self) -> dict[str, Any]:
        assert self._ws is not None
        while True:
            message: dict[str, Any] = json.loads(await self._ws.recv())
            if message.get("type") == "ping":
                await self._send({"type": "pong"})
                continue
            return message

    async def _listen(self) -> None:
        assert self._ws is not None
        try:
            async for raw in self._ws:
                received = time.time()
                message = json.loads(raw)
                kind = message.get("type")
                if kind == "next" and not message["payload"].get("errors"):
                    self.on_data(message["payload"]["data"], received)
                elif kind == "ping":
                    await self._send({"type": "pong"})
                elif kind != "pong":
                    self.errors.append(str(message)[:300])
        except Exception as exc:  # a closed or broken socket ends this subscriber
            self.errors.append(repr(exc)[:300])

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()


async def start_all(subscribers: list[Subscriber], init: dict[str, Any], parallel: int) -> None:
    """Start every subscriber, at most `parallel` handshakes at a time."""
    gate = asyncio.Semaphore(parallel)

    async def one(sub: Subscriber) -> None:
        async with gate:
            await sub.start(init)

    await asyncio.gather(*(one(s) for s in subscribers))


async def close_all(subscribers: list[Subscriber]) -> None:
    await asyncio.gather(*(s.close() for s in subscribers))
