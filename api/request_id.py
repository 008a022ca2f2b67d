"""Every HTTP request and websocket connection gets a request id, recorded on what it writes.

A caller's `X-Request-ID` is kept when it is a sensible token (at most 100 characters of
letters, digits and `._:-`), else a fresh UUID is used. The id is echoed in the response's
`X-Request-ID` header and stored in the ASGI scope's state for the GraphQL context.
"""

import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = b"x-request-id"
_SENSIBLE = re.compile(rb"[A-Za-z0-9._:-]{1,100}")


def request_id_of(scope: Scope) -> str:
    """The request id the middleware gave this request or connection."""
    return str(scope.get("state", {}).get("request_id") or "")


class RequestIdMiddleware:
    """Pure ASGI middleware (no body buffering; works for websockets too)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(HEADER, b"")
        request_id = given.decode() if _SENSIBLE.fullmatch(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (HEADER, request_id.encode())]
            await send(message)

        await self.app(scope, receive, send_with_id)
