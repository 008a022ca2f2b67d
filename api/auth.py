"""Bearer JWT authentication: a token names a tenant, an actor and OAuth-style scopes."""

from dataclasses import dataclass

import jwt
from sqlalchemy import select, text

from arledger.config import Settings
from arledger.tokens import decode_token
from domain.db import SessionFactory
from domain.models import Tenant

_NAME_TENANT = text("SELECT set_config('arledger.tenant_slug', :slug, true)")


@dataclass(frozen=True)
class Principal:
    """Who is calling, for which tenant, allowed to do what."""

    tenant_id: int
    actor: str
    scopes: frozenset[str]


class AuthError(Exception):
    """Authentication failed; `code` is UNAUTHENTICATED or TOKEN_EXPIRED."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Authenticator:
    """Turns a bearer token into a `Principal`; remembers tenant slugs it has resolved."""

    def __init__(self, settings: Settings, session_factory: SessionFactory) -> None:
        self._settings = settings
        self._sessions = session_factory
        self._tenants: dict[str, int] = {}

    async def principal(self, authorization: str | None) -> Principal:
        """Validate `Bearer <jwt>` (or a bare token) and resolve its tenant."""
        if not authorization:
            raise AuthError("UNAUTHENTICATED", "A bearer token is required.")
        token = authorization.removeprefix("Bearer ").strip()
        try:
            claims = decode_token(self._settings, token)
        except jwt.ExpiredSignatureError as error:
            raise AuthError("TOKEN_EXPIRED", "The token has expired.") from error
        except jwt.InvalidTokenError as error:
            raise AuthError("UNAUTHENTICATED", "The token is not valid.") from error
        if not claims.get("sub") or not claims.get("tenant"):
            raise AuthError("UNAUTHENTICATED", "The token names no subject or tenant.")
        tenant_id = await self._tenant_id(str(claims["tenant"]))
        scopes = frozenset(str(claims.get("scope", "")).split())
        return Principal(tenant_id, str(claims["sub"]), scopes)

    async def _tenant_id(self, slug: str) -> int:
        if slug not in self._tenants:
            async with self._sessions() as session, session.begin():
                # Row-level security shows the API only the tenant row it names by slug.
                await session.execute(_NAME_TENANT, {"slug": slug})
                found = await session.scalar(select(Tenant.id).where(Tenant.slug == slug))
            if found is None:
                raise AuthError("UNAUTHENTICATED", "The token's tenant is unknown.")
            self._tenants[slug] = found
        return self._tenants[slug]
