"""Bearer JWT authentication: a token names a tenant, an actor and OAuth-style scopes."""

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from starlette.requests import HTTPConnection
from strawberry.asgi import ASGIWebSocketAdapter

from arledger.config import Settings
from arledger.tokens import Claims, TokenError, TokenVerifier
from domain.db import SessionFactory
from domain.models import Tenant

_NAME_TENANT = text("SELECT set_config('arledger.tenant_slug', :slug, true)")
CACHE_ENTRIES = 4096
"""Most verified tokens (and, apart, tenant slugs) one process remembers."""
NS = 1_000_000_000
"""Nanoseconds in a second: the caches keep whole nanoseconds."""
K = TypeVar("K")
V = TypeVar("V")


READ = "billing.read"
"""The scope every read needs."""


@dataclass(frozen=True)
class Principal:
    """Who is calling, for which tenant, allowed to do what."""

    tenant_id: int
    actor: str
    scopes: frozenset[str]


class AuthError(Exception):
    """Authentication failed: `code` is UNAUTHENTICATED (no token), UNKNOWN_TENANT, or the
    token's own refusal (TOKEN_EXPIRED, TOKEN_BAD_SIGNATURE, … see `arledger.tokens`)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Expiring(Generic[K, V]):
    """A bounded map whose entries expire at their own time (the oldest goes when full).

    Times are whole nanoseconds of `clock` (by default `time.time_ns`), compared exactly."""

    def __init__(self, clock: Callable[[], int], max_entries: int = CACHE_ENTRIES) -> None:
        self._clock = clock
        self._max = max_entries
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self._clock() >= entry[1]:
            del self._entries[key]
            return None
        return entry[0]

    def put(self, key: K, value: V, until_ns: int) -> None:
        """Remember `value` until the clock reads `until_ns`."""
        self._entries[key] = (value, until_ns)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)


class Authenticator:
    """Turns a bearer token into a `Principal`.

    A process remembers what it verified for `auth_cache_seconds`: a token's claims (never past
    the token's `exp` plus the leeway, so an expired token is refused as before) and a tenant
    slug's id (a deleted or renamed tenant is forgotten within that time). Refusals are never
    remembered.
    """

    def __init__(
        self,
        settings: Settings,
        session_factory: SessionFactory,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self._verifier = TokenVerifier(settings)
        self._sessions = session_factory
        self._clock = clock
        self._ttl_ns = round(settings.auth_cache_seconds * NS)
        self._leeway_ns = round(settings.jwt_leeway_seconds * NS)
        self._claims: Expiring[bytes, Claims] = Expiring(clock)
        self._tenants: Expiring[str, int] = Expiring(clock)

    async def principal(self, authorization: str | None) -> Principal:
        """Validate `Bearer <jwt>` (or a bare token) and resolve its tenant."""
        token = _bearer(authorization or "")
        if not token:
            raise AuthError("UNAUTHENTICATED", "A bearer token is required.")
        claims = await self._verified(token)
        tenant_id = await self._tenant_id(claims.tenant)
        return Principal(tenant_id, claims.subject, claims.scopes)

    async def _verified(self, token: str) -> Claims:
        key = hashlib.sha256(token.encode(errors="surrogatepass")).digest()
        if (claims := self._claims.get(key)) is not None:
            return claims
        try:
            claims = await self._verifier.verify(token)
        except TokenError as error:
            raise AuthError(error.code, error.message) from error
        if self._ttl_ns > 0:
            until = self._clock() + self._ttl_ns
            if claims.expires_at is not None:
                until = min(until, round(claims.expires_at * NS) + self._leeway_ns)
            self._claims.put(key, claims, until)
        return claims

    async def _tenant_id(self, slug: str) -> int:
        if (known := self._tenants.get(slug)) is not None:
            return known
        try:
            async with self._sessions() as session, session.begin():
                # Row-level security shows the API only the tenant row it names by slug.
                await session.execute(_NAME_TENANT, {"slug": slug})
                found = await session.scalar(select(Tenant.id).where(Tenant.slug == slug))
        except (DBAPIError, OSError) as error:  # an outage, not a bad token
            raise AuthError(
                "AUTH_UNAVAILABLE", "The tenant directory is unavailable; try again."
            ) from error
        if found is None:
            raise AuthError("UNKNOWN_TENANT", "The token's tenant is unknown.")
        if self._ttl_ns > 0:
            self._tenants.put(slug, found, self._clock() + self._ttl_ns)
        return found


def _bearer(authorization: str) -> str:
    """The token of `Bearer <token>` (scheme in any case), or the whole value when bare."""
    scheme, _, rest = authorization.strip().partition(" ")
    return rest.strip() if scheme.lower() == "bearer" else scheme


class RefusingWebSocketAdapter(ASGIWebSocketAdapter):
    """Closes a connection whose `connection_init` was refused with 4403 and a reason naming
    the refusal's code (`Forbidden: TOKEN_EXPIRED`), as set by `refuse`."""

    async def close(self, code: int, reason: str) -> None:
        refused = getattr(self.ws.state, "auth_refusal", None)
        await super().close(code, f"Forbidden: {refused}" if code == 4403 and refused else reason)


def refuse(websocket: HTTPConnection, error: AuthError) -> None:
    """Remember why this websocket's connection_init is refused, for its close reason."""
    websocket.state.auth_refusal = error.code
