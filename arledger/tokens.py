"""Bearer tokens: HS256 JWTs carrying the tenant slug and OAuth-style scopes.

Claims: `sub`, `tenant` (slug), `scope` (space-separated), `iss`, `aud`, `iat`, `exp`.
"""

import time
from typing import Any

import jwt

from arledger.config import Settings

ALGORITHM = "HS256"
SCOPES = ("billing.read", "billing.payment.write", "billing.adjustment.write", "billing.admin")


def issue_token(
    settings: Settings,
    *,
    tenant: str,
    scopes: list[str],
    subject: str = "dev",
    ttl_seconds: int = 86400,
) -> str:
    """Sign a token for `tenant` granting `scopes`, valid for `ttl_seconds` from now."""
    now = int(time.time())
    claims = {
        "sub": subject,
        "tenant": tenant,
        "scope": " ".join(scopes),
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + ttl_seconds,
    }
    return jwt.encode(claims, settings.jwt_secret, algorithm=ALGORITHM)


def decode_token(settings: Settings, token: str) -> dict[str, Any]:
    """Verify signature, expiry, issuer and audience; return the claims.

    Raises the `jwt.InvalidTokenError` subclass PyJWT raised (e.g. `ExpiredSignatureError`).
    """
    return jwt.decode(
        token,
        settings.jwt_secret,
        algorithms=[ALGORITHM],
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
        options={"require": ["exp", "iss", "aud"]},
    )
