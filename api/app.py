"""The ASGI application: /graphql (HTTP and graphql-transport-ws), /fhir and /health."""

import contextlib
import gc
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from api.auth import Authenticator, AuthError, RefusingWebSocketAdapter, refuse
from api.context import Context, Services
from api.enqueue import Enqueuer
from api.fanout import SharingTransportWSHandler
from api.fhir.routes import fhir_routes
from api.limits import RequestLimits
from api.origins import origin_middleware
from api.pages.routes import page_routes
from api.pubsub import Broadcaster
from api.request_id import RequestIdMiddleware, request_id_of
from api.schema import build_schema
from api.send_watch import SendWatch
from arledger.config import Settings, get_settings
from arledger.logs import configure_logging
from domain.db import make_engine, make_session_factory
from workers.app import make_celery
from workers.publisher import RedisPublisher

GC_THRESHOLDS = (50_000, 20, 100)
"""The API process's garbage-collection thresholds (CPython's are 700, 10, 10). A server with
thousands of websockets holds most of a million tracked objects, and a full collection walks
every one of them (about a second here, stalling every socket); with these, young objects die
before their first collection far more often, fewer are promoted, and a full collection comes
after about a hundred million allocations instead of every few seconds under load."""


class ArledgerGraphQL(GraphQL[Context, None]):
    """Builds the context; websockets authenticate in `connection_init`."""

    services: Services
    websocket_adapter_class = RefusingWebSocketAdapter
    graphql_transport_ws_handler_class = SharingTransportWSHandler
    ws_send_timeout: float = 30.0
    """Seconds one websocket send may wait on a client that does not read, then it is dropped."""
    send_watch: SendWatch
    """Drops those clients (started and stopped with the app)."""

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        context = Context(
            request=request,
            response=response,
            services=self.services,
            request_id=request_id_of(request.scope),
        )
        if isinstance(request, Request):
            try:
                context.principal = await self.services.authenticator.principal(
                    request.headers.get("authorization")
                )
            except AuthError as error:
                context.auth_error = error
        return context

    async def on_ws_connect(self, context: Context) -> None:
        params = context.connection_params or {}
        token = params.get("authorization") or params.get("Authorization") or params.get("token")
        try:
            context.principal = await self.services.authenticator.principal(
                str(token) if token else None
            )
        except AuthError as error:
            refuse(context.request, error)
            raise ConnectionRejectionError({"code": error.code}) from error


def create_app(settings: Settings | None = None) -> Starlette:
    """The app; services are built in the lifespan, one engine and one subscriber per process."""
    settings = settings or get_settings()
    configure_logging(settings)
    graphql = ArledgerGraphQL(
        build_schema(settings),
        graphql_ide=None,  # GraphiQL is served offline by api.pages (page_routes)
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        connection_init_wait_timeout=timedelta(seconds=settings.ws_init_timeout_seconds),
        max_subscriptions_per_connection=settings.max_subscriptions_per_connection,
        allow_queries_via_get=False,
        # Browser websockets from these origins (and the API's own) only: HTTP 403 otherwise.
        allowed_origins=settings.cors_origin_list,
        # File uploads (the GraphQL multipart request spec SPAs use: importRemittance's file).
        # Strawberry makes this opt-in because a browser sends multipart/form-data cross-site
        # without a CORS preflight, which is a CSRF hole when cookies authenticate. Here only
        # an `Authorization: Bearer` header does, which a cross-site form cannot carry.
        multipart_uploads_enabled=True,
    )
    graphql.ws_send_timeout = settings.ws_send_timeout_seconds
    graphql.send_watch = SendWatch()

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        engine = make_engine(
            settings.api_database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
        )
        sessions = make_session_factory(engine)
        broadcaster = Broadcaster.for_this_process(settings.redis_url, settings.channel_prefix)
        await broadcaster.start()
        enqueuer = Enqueuer(
            make_celery(),
            settings.celery_queue,
            settings.bulk_queue_name,
            settings.wake_up_spacing_seconds,
        )
        enqueuer.start()
        publisher = RedisPublisher(Redis.from_url(settings.redis_url), settings.channel_prefix)
        graphql.services = Services(
            settings,
            sessions,
            Authenticator(settings, sessions),
            enqueuer,
            broadcaster,
            publisher.publish,
        )
        # What startup built (modules, the schema, pools) lives as long as the process: keep
        # it out of every full collection, which walks each tracked object (with thousands of
        # websockets those walks were the subscription latency's p99).
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
        graphql.send_watch.start()
        try:
            yield
        finally:
            await graphql.send_watch.stop()
            await broadcaster.stop()
            await publisher.close()
            await enqueuer.close()
            await engine.dispose()

    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/health", health),
            *page_routes(settings),
            *fhir_routes(settings, lambda: graphql.services),
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
        ],
        lifespan=lifespan,
        middleware=[
            *origin_middleware(settings),  # outermost: refusals and 413s are readable cross-origin
            Middleware(
                RequestLimits,
                max_bytes=settings.max_request_bytes,
                max_upload_bytes=settings.max_upload_bytes,
            ),
            Middleware(RequestIdMiddleware),
        ],
    )
