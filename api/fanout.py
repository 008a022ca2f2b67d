"""Subscription fan-out that costs one execution per event and shape, not per subscriber.

Strawberry executes a subscription's selection set once per subscriber per event. An event
type that opts in (a `share_key` attribute: the same key means the same event, and its fields
read nothing but the event itself, never the viewer) is executed once per (share key, shape)
in this process, where the shape is the operation's text, name and variables; the result's
`data` is a `RenderedData`, which carries the `next` message's payload already encoded, and
`SharingTransportWSHandler` sends those bytes to every subscriber of that shape with only the
subscription id spliced in. Results with errors are never shared.

The handler also bounds how long a websocket send may block (`ws_send_timeout_seconds`, watched
by `api.send_watch`): a client that stops reading is dropped then, its operations cancelled and
its subscriptions released, instead of holding them for as long as the TCP connection stays up.
"""

import asyncio
import json
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Sequence
from typing import Any

import structlog
from graphql import ExecutionResult, GraphQLResolveInfoHelpers, OperationType
from graphql.pyutils import is_awaitable
from starlette.websockets import WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import Message

log = structlog.get_logger(__name__)
CACHE_SIZE = 256
"""Renders kept: enough for every event of the last second or so (its subscribers are served
within milliseconds of its arrival), few enough that full collections stay short."""


class RenderedData(dict[str, Any]):
    """An event's `data`, with `payload_json`: `{"data": …}` already encoded."""

    payload_json: str


class Renders:
    """The process's rendered events, least recently used dropped first; `executions` counts
    the executions the cache did not save (one per event and shape). A render still running
    (its fields awaited something) is shared too: subscribers woken together by one event
    await the one execution instead of each starting its own."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self._size = size
        self._results: OrderedDict[tuple[Any, ...], ExecutionResult] = OrderedDict()
        self._running: dict[tuple[Any, ...], asyncio.Task[ExecutionResult]] = {}
        self.executions = 0
        self.hits = 0

    def get(self, key: tuple[Any, ...]) -> ExecutionResult | Awaitable[ExecutionResult] | None:
        """The render of `key`: done, still running (an awaitable), or None."""
        result = self._results.get(key)
        if result is not None:
            self.hits += 1
            self._results.move_to_end(key)
            return result
        running = self._running.get(key)
        if running is not None:
            self.hits += 1
            return _shared(running)
        return None

    def running(self, key: tuple[Any, ...], result: Awaitable[Any]) -> Awaitable[ExecutionResult]:
        """Share the execution `result` of `key` while it runs, then keep it (`store`)."""
        task = asyncio.ensure_future(self._finish(key, result))
        self._running[key] = task
        return _shared(task)

    async def _finish(self, key: tuple[Any, ...], result: Awaitable[Any]) -> ExecutionResult:
        try:
            return self.store(key, await result)
        finally:
            self._running.pop(key, None)

    def store(self, key: tuple[Any, ...], result: ExecutionResult) -> ExecutionResult:
        """Keep `result` (if it has no errors) with its payload encoded once."""
        self.executions += 1
        if result.errors or not isinstance(result.data, dict):
            return result
        data = RenderedData(result.data)
        data.payload_json = json.dumps({"data": result.data}, separators=(",", ":"))
        shared = ExecutionResult(data=data, errors=None, extensions=result.extensions)
        self._results[key] = shared
        if len(self._results) > self._size:
            self._results.popitem(last=False)
        return shared


async def _shared(task: "asyncio.Task[ExecutionResult]") -> ExecutionResult:
    """Await a shared render; a subscriber that goes away does not cancel it for the rest."""
    return await asyncio.shield(task)


RENDERS = Renders()


class SharingExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Executes a subscription event with a `share_key` once per shape (see `RENDERS`); and
    holds itself only weakly (`weak_async_helpers`), so that an operation's objects are freed
    when it ends."""

    _shape: tuple[str, str | None, str] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.async_helpers = weak_async_helpers(self)

    def build_per_event_executor(self, payload: Any) -> Any:
        if self._shape is None:
            loc = self.operation.loc
            text = loc.source.body if loc is not None else repr(self.operation)
            name = self.operation.name.value if self.operation.name else None
            variables = json.dumps(self.variable_values, sort_keys=True, default=str)
            self._shape = (text, name, variables)
        return super().build_per_event_executor(payload)

    def execute_operation(self, serially: bool | None = None) -> Any:
        share_key = getattr(self.root_value, "share_key", None)
        if share_key is None or self.operation.operation != OperationType.SUBSCRIPTION:
            return super().execute_operation(serially)
        key = (share_key, self._shape)
        cached = RENDERS.get(key)
        if cached is not None:
            return cached
        result: Any = super().execute_operation(serially)
        if is_awaitable(result):
            return RENDERS.running(key, result)
        return RENDERS.store(key, result)


def weak_async_helpers(
    executor: StrawberryGraphQLCoreExecutionContext,
) -> GraphQLResolveInfoHelpers:
    """graphql-core's helpers for resolvers (`info.async_helpers`), holding the executor weakly.

    graphql-core keeps two of the executor's own bound methods on it, a reference cycle: each
    operation's executor and everything it reaches (the request, its context and principal,
    the collected fields: about 75 objects a `writeOff`) waited for the cyclic collector. At
    200 requests a second that filled a young generation of 50,000 (`GC_THRESHOLDS`) every
    few seconds, and each of those collections stopped the event loop for 25 to 75 ms. Without
    the cycle they are freed as the operation ends. The helpers are only called while the
    operation runs, when its coroutines hold the executor."""
    ref = weakref.ref(executor)

    def gather(values: Sequence[Awaitable[Any]]) -> Awaitable[list[Any]]:
        return _alive(ref).gather_async_work(values)

    def track(values: Sequence[Any]) -> None:
        _alive(ref).track_async_work(values)

    return GraphQLResolveInfoHelpers(gather=gather, track=track)


def _alive(
    ref: "weakref.ReferenceType[StrawberryGraphQLCoreExecutionContext]",
) -> StrawberryGraphQLCoreExecutionContext:
    executor = ref()
    if executor is None:
        raise RuntimeError("async helpers used after their operation ended")
    return executor


def prerendered(message: Message) -> str | None:
    """The wire text of a `next` message whose payload was rendered once, else None."""
    if message.get("type") != "next":
        return None
    payload: Any = message.get("payload")
    if not isinstance(payload, dict) or payload.keys() != {"data"}:
        return None
    data = payload["data"]
    if not isinstance(data, RenderedData):
        return None
    op_id = json.dumps(message["id"])  # type: ignore[typeddict-item]
    return f'{{"id":{op_id},"type":"next","payload":{data.payload_json}}}'


class SharingTransportWSHandler(BaseGraphQLTransportWSHandler[Any, Any]):
    """graphql-transport-ws with pre-rendered `next` payloads and a bounded send: a client
    that has let a send wait `ws_send_timeout` seconds, with none completing meanwhile, is
    dropped (`api.send_watch`)."""

    _main: asyncio.Task[Any] | None = None
    _stalled = False
    _sending = 0
    send_deadline = 0.0

    async def handle(self) -> None:
        self._main = asyncio.current_task()
        try:
            await super().handle()
        except asyncio.CancelledError:
            if not self._stalled or self._main is None:
                raise
            self._main.uncancel()  # our own drop (see `drop`): end normally

    async def send_message(self, message: Message) -> None:
        text = prerendered(message)
        self._send_starts()
        try:
            if text is None:
                await super().send_message(message)
            elif isinstance(self.websocket, ASGIWebSocketAdapter):
                await self.websocket.ws.send_text(text)
            else:  # pragma: no cover - only the ASGI adapter is served
                await super().send_message(message)
        except WebSocketDisconnect as error:
            raise WebSocketDisconnected from error
        finally:
            self._send_ends()

    def _send_starts(self) -> None:
        """The first send in flight sets the deadline and tells the process's watch."""
        self._sending += 1
        if self._sending == 1 and (watch := getattr(self.view, "send_watch", None)):
            self.send_deadline = asyncio.get_running_loop().time() + self._limit()
            watch.waiting(self)

    def _send_ends(self) -> None:
        """A send completed: the client reads, so one still in flight gets a fresh deadline;
        with none left, the watch lets go."""
        self._sending -= 1
        if watch := getattr(self.view, "send_watch", None):
            if self._sending:
                self.send_deadline = asyncio.get_running_loop().time() + self._limit()
            else:
                watch.done(self)

    def _limit(self) -> float:
        return float(getattr(self.view, "ws_send_timeout", 30.0))

    def drop(self) -> None:
        """Give up on a client that has not read for `ws_send_timeout` seconds: its operations
        and its connection's task are cancelled, and its subscriptions released."""
        if self._stalled:
            return
        self._stalled = True
        log.warning("ws_client_dropped", reason="send timeout")
        for operation in self.operations.values():
            if operation.task is not None:
                operation.task.cancel()
        if self._main is not None:
            self._main.cancel()
