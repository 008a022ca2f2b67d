"""Size limits in front of the application: HTTP bodies and websocket messages.

An HTTP body larger than the limit is refused with 413 before the application sees it: at once
when `Content-Length` says so, else as soon as the streamed chunks add up to more than the
limit (so a chunked body is never read whole into memory). A `multipart/form-data` body (a
file upload, the GraphQL multipart request spec) has its own, larger limit (`max_upload_bytes`:
an 835 of 10,000 claims is about 4 MB); every other body keeps `max_bytes`. A websocket message
larger than the limit closes the socket with 1009 (message too big). uvicorn's own
`--ws-max-size` (16 MiB by default) still bounds what it buffers before this check sees one.
"""

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TOO_BIG = 1009
MAX_CLOSE_REASON = 123
"""Bytes a websocket close reason may hold (RFC 6455); a longer one breaks the close frame."""


class BodyTooLarge(Exception):
    """The streamed request body went over the limit."""


def too_large(limit: int) -> JSONResponse:
    message = f"The request body is larger than {limit} bytes."
    body = {"errors": [{"message": message, "extensions": {"code": "REQUEST_TOO_LARGE"}}]}
    return JSONResponse(body, status_code=413)


def declared_length(scope: Scope) -> int | None:
    """The request's `Content-Length`, when it sends a valid one."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def is_upload(scope: Scope) -> bool:
    """Whether the request's `Content-Type` is `multipart/form-data`."""
    for name, value in scope["headers"]:
        if name == b"content-type":
            return value.split(b";", 1)[0].strip().lower() == b"multipart/form-data"
    return False


def message_size(message: Message) -> int:
    """Bytes of a `websocket.receive` message's payload."""
    if message.get("bytes") is not None:
        return len(message["bytes"])
    text = message.get("text") or ""
    return len(text.encode())


def short_reason(reason: str) -> str:
    """`reason` cut to what a close frame may carry, on a character boundary."""
    return reason.encode()[:MAX_CLOSE_REASON].decode(errors="ignore")


class RequestLimits:
    """Pure ASGI middleware enforcing `max_bytes` on HTTP bodies and websocket messages, and
    `max_upload_bytes` (default: `max_bytes`) on multipart uploads."""

    def __init__(self, app: ASGIApp, max_bytes: int, max_upload_bytes: int | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_upload_bytes = max_bytes if max_upload_bytes is None else max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.max_upload_bytes if is_upload(scope) else self.max_bytes
        length = declared_length(scope)
        if length is not None and length > limit:
            await too_large(limit)(scope, receive, send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except BodyTooLarge:
            if started:
                raise
            await too_large(limit)(scope, receive, send)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        closed = False

        async def checked_receive() -> Message:
            nonlocal closed
            message = await receive()
            if message["type"] == "websocket.receive" and message_size(message) > self.max_bytes:
                closed = True
                reason = f"Message larger than {self.max_bytes} bytes"
                await send({"type": "websocket.close", "code": TOO_BIG, "reason": reason})
                return {"type": "websocket.disconnect", "code": TOO_BIG}
            return message

        async def guarded_send(message: Message) -> None:
            if closed:
                return  # the socket is closed: the application's late frames go nowhere
            if message["type"] == "websocket.close":
                message = {**message, "reason": short_reason(message.get("reason") or "")}
            await send(message)

        await self.app(scope, checked_receive, guarded_send)
