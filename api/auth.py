"""Bearer JWT authentication: a token names a tenant, an actor and OAuth-style scopes."""

from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from starlette.requests import HTTPConnection
from strawberry.asgi import ASGIWebSocketAdapter

from arledger.config import Settings
from arledger.tokens import TokenError, TokenVerifier
from domain.db import SessionFactory
from domain.models import Tenant

_NAME_TENANT = text("SELECT set_config('arledger.tenant_slug', :slug, true)")


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


class Authenticator:
    """Turns a bearer token into a `Principal`; remembers tenant slugs it has resolved."""

    def __init__(self, settings: Settings, session_factory: SessionFactory) -> None:
        self._verifier = TokenVerifier(settings)
        self._sessions = session_factory
        self._tenants: dict[str, int] = {}

    async def principal(self, authorization: str | None) -> Principal:
        """Validate `Bearer <jwt>` (or a bare token) and resolve its tenant."""
        token = _bearer(authorization or "")
        if not token:
            raise AuthError("UNAUTHENTICATED", "A bearer token is required.")
        try:
            claims = await self._verifier.verify(token)
        except TokenError as error:
            raise AuthError(error.code, error.message) from error
        tenant_id = await self._tenant_id(claims.tenant)
        return Principal(tenant_id, claims.subject, claims.scopes)

    async def _tenant_id(self, slug: str) -> int:
        if slug not in self._tenants:
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
            self._tenants[slug] = found
        return self._tenants[slug]


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
