"""Per-request (or per-websocket-connection) context and the services it reaches."""

from dataclasses import dataclass, field
from typing import Any

from graphql import GraphQLError
from starlette.requests import Request
from starlette.websockets import WebSocket
from strawberry.types import Info as StrawberryInfo

from api.auth import Authenticator, AuthError, Principal
from api.enqueue import Enqueuer
from api.loaders import Loaders
from api.pubsub import Broadcaster
from api.read_snapshot import snapshot_sessions
from arledger.config import Settings
from domain.db import Scope, SessionFactory, scoped
from domain.direct_uow import DirectUnitOfWork
from domain.uow import Publish, UnitOfWork, publish_nowhere


@dataclass
class Services:
    """Process-wide services, built once in the app's lifespan."""

    settings: Settings
    session_factory: SessionFactory
    """Unscoped: under row-level security it sees no tenant's rows. Resolvers use
    `Context.sessions`."""
    authenticator: Authenticator
    enqueuer: Enqueuer
    broadcaster: Broadcaster
    publish: Publish = field(default=publish_nowhere)
    """Publishes events an API unit of work recorded (after its commit)."""


@dataclass
class Context:
    """What resolvers see. Holds a session factory, never an open session."""

    request: Request | WebSocket
    response: Any
    services: Services
    principal: Principal | None = None
    auth_error: AuthError | None = None
    connection_params: dict[str, Any] | None = None
    request_id: str | None = None
    _sessions: SessionFactory | None = field(default=None, init=False, repr=False)
    _loaders: Loaders | None = field(default=None, init=False, repr=False)

    @property
    def loaders(self) -> Loaders:
        """This request's data loaders, made on first use (a mutation seldom needs them, and
        making them all costs a measurable share of a small request)."""
        if self._loaders is None:
            self._loaders = Loaders(lambda: self.sessions(), lambda: self.tenant_id)
        return self._loaders

    @property
    def sessions(self) -> SessionFactory:
        """Sessions confined to the caller's tenant (row-level security), with this request's
        id and the caller's scopes recorded on what they write. Only after authentication."""
        if self._sessions is None:
            assert self.principal is not None, "sessions before authentication"
            self._sessions = scoped(self.services.session_factory, self._scope())
        return snapshot_sessions(self._sessions)  # a query reads one snapshot throughout

    def direct_uow(self) -> DirectUnitOfWork:
        """A unit of work on the driver's connection (see `domain.direct_uow`), in the
        caller's tenant, for a service written against `Transactional`."""
        return DirectUnitOfWork(self.services.session_factory.kw["bind"], self._scope())

    def _scope(self) -> Scope:
        assert self.principal is not None, "a tenant's work before authentication"
        return Scope(self.principal.tenant_id, self.request_id, self.principal.scopes)

    def uow(self) -> UnitOfWork:
        """A unit of work in the caller's tenant that publishes what it recorded on commit."""
        return UnitOfWork(self.sessions, self.services.publish)

    @property
    def tenant_id(self) -> int:
        assert self.principal is not None
        return self.principal.tenant_id

    @property
    def scopes(self) -> frozenset[str]:
        return frozenset() if self.principal is None else self.principal.scopes

    def require(self, scope: str) -> Principal:
        """The caller, or a GraphQL error when unauthenticated or lacking `scope`."""
        return self.require_any(scope)

    def require_any(self, *scopes: str) -> Principal:
        """The caller, or a GraphQL error when unauthenticated or holding none of `scopes`."""
        if self.principal is None:
            error = self.auth_error or AuthError("UNAUTHENTICATED", "A bearer token is required.")
            raise GraphQLError(str(error), extensions={"code": error.code})
        if self.principal.scopes.isdisjoint(scopes):
            wanted = " or ".join(f"'{s}'" for s in scopes)
            raise GraphQLError(f"Scope {wanted} is required.", extensions={"code": "FORBIDDEN"})
        return self.principal


Info = StrawberryInfo[Context, None]
