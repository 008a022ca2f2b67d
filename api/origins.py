"""Browser front ends on other origins: CORS for HTTP, and the same list for the websocket.

`CORS_ORIGINS` names the origins whose pages may call the API. Over HTTP, Starlette's
`CORSMiddleware` answers their preflights and marks their responses readable (methods GET, POST
and OPTIONS; request headers Authorization, Content-Type and X-Request-ID; X-Request-ID
exposed; never credentials: the token is a bearer header, not a cookie). Any other origin gets
no CORS header at all, so its page cannot read a response.

A browser lets any page open a websocket to any host, sending its `Origin`; CORS does not apply.
So the graphql-transport-ws upgrade is checked against the same list, by strawberry's own
check (`allowed_origins`, given `Settings.cors_origin_list` in `api.app`): an upgrade whose
`Origin` is neither listed nor the API's own (host and port of the request's `Host`, whatever
the scheme, so TLS ended at a proxy still counts) is refused with HTTP 403 before the handshake
completes (RFC 6455 §10.2) and logged. An upgrade without an `Origin` comes from no browser
(gql, websockets, the tests) and is let through: the token in `connection_init` still decides
what it may do.
"""

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import PlainTextResponse, Response
from starlette.types import Message, Send

from arledger.config import Settings

METHODS = ("GET", "POST", "OPTIONS")
REQUEST_HEADERS = ("Authorization", "Content-Type", "X-Request-ID")
EXPOSED_HEADERS = ("X-Request-ID",)


class QuietCORSMiddleware(CORSMiddleware):
    """Starlette's CORS, saying nothing to an origin it does not allow: its preflight is
    refused without any `Access-Control-*` header, and its responses carry none either."""

    def preflight_response(self, request_headers: Headers) -> Response:
        if self.is_allowed_origin(request_headers["origin"]):
            return super().preflight_response(request_headers)
        return PlainTextResponse(
            "Disallowed CORS origin", status_code=400, headers={"Vary": "Origin"}
        )

    async def send(self, message: Message, send: Send, request_headers: Headers) -> None:
        origin = request_headers.get("origin")
        if (
            message["type"] == "http.response.start"
            and origin
            and not self.is_allowed_origin(origin)
        ):
            headers = MutableHeaders(scope=message)
            headers["Vary"] = ", ".join([*headers.getlist("Vary"), "Origin"])
            await send(message)
        else:
            await super().send(message, send, request_headers)


def origin_middleware(settings: Settings) -> list[Middleware]:
    """The CORS middleware for `settings.cors_origins`."""
    return [
        Middleware(
            QuietCORSMiddleware,
            allow_origins=settings.cors_origin_list,
            allow_methods=METHODS,
            allow_headers=REQUEST_HEADERS,
            expose_headers=EXPOSED_HEADERS,
            allow_credentials=False,
        ),
    ]
