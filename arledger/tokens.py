"""Bearer tokens: JWTs carrying the tenant slug and OAuth-style scopes.

Claims: `sub` (the actor), `tenant` (slug), `scope` (space-separated), `iss`, `aud`, `exp`,
optionally `iat` and `nbf`. Development signs and verifies HS256 with `JWT_SECRET`; production
verifies only asymmetric algorithms (`JWT_ALGORITHMS`, e.g. RS256 or ES256) with keys from a JWKS
URL or one PEM public key. Every refusal is a `TokenError` with its own stable code; no message
ever repeats any part of the token.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from jwt import exceptions as errors


class TokenSettings(Protocol):
    """The token settings this module reads (`arledger.config.Settings` has them). A protocol,
    so that configuration may depend on tokens and never the other way round."""

    jwt_secret: str
    jwt_issuer: str
    jwt_audience: str
    jwt_algorithms: str
    jwt_jwks_url: str
    jwt_public_key: str
    jwt_jwks_cache_seconds: float
    jwt_leeway_seconds: int

    @property
    def model_fields_set(self) -> set[str]: ...

    @property
    def production(self) -> bool: ...


DEV_SECRET = "dev-only-secret-change-me-0123456789abcdef"
"""The development HMAC key (the `JWT_SECRET` default); refused in production."""
ALGORITHM = "HS256"
"""What `issue_token` signs with (development tokens)."""
HMAC = {"HS256": 32, "HS384": 48, "HS512": 64}
"""Shared-secret algorithms and the shortest secret (bytes) each is safe with."""
KEY_TYPES: dict[str, type] = {
    **dict.fromkeys(("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"), rsa.RSAPublicKey),
    **dict.fromkeys(("ES256", "ES384", "ES512"), ec.EllipticCurvePublicKey),
    "EdDSA": ed25519.Ed25519PublicKey,
}
"""Asymmetric algorithms and the public key type each verifies with."""
SCOPES = ("billing.read", "billing.payment.write", "billing.adjustment.write", "billing.admin")
REQUIRED = ["exp", "iss", "aud", "sub"]
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class TokenError(Exception):
    """A refused token: `code` is stable (e.g. TOKEN_EXPIRED), `message` is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Claims:
    """What a verified token says: who, for which tenant, with which scopes."""

    subject: str
    tenant: str
    scopes: frozenset[str]
    expires_at: float | None = None
    """`exp` (epoch seconds), when the token has one: the last moment it may be trusted."""


# PyJWT's refusals, most specific first (InvalidSignatureError is a DecodeError).
REFUSALS: tuple[tuple[type[Exception] | tuple[type[Exception], ...], str, str], ...] = (
    (errors.ExpiredSignatureError, "TOKEN_EXPIRED", "The token has expired."),
    (
        errors.ImmatureSignatureError,
        "TOKEN_NOT_YET_VALID",
        "The token is not valid yet (its nbf or iat is in the future).",
    ),
    (errors.InvalidIssuerError, "TOKEN_WRONG_ISSUER", "The token's issuer (iss) is not accepted."),
    (errors.InvalidAudienceError, "TOKEN_WRONG_AUDIENCE", "The token's audience (aud) is wrong."),
    (
        errors.InvalidSignatureError,
        "TOKEN_BAD_SIGNATURE",
        "The token's signature does not verify with this API's keys.",
    ),
    (
        errors.InvalidKeyError,
        "TOKEN_BAD_SIGNATURE",
        "The token's signature does not verify with this API's keys.",
    ),
    (
        errors.InvalidAlgorithmError,
        "TOKEN_ALGORITHM_NOT_ALLOWED",
        "The token's algorithm does not match its key.",
    ),
    (
        (errors.InvalidSubjectError, errors.InvalidIssuedAtError, errors.InvalidJTIError),
        "TOKEN_INVALID_CLAIM",
        "A claim of the token has the wrong type.",
    ),
    (errors.DecodeError, "TOKEN_MALFORMED", "The token is not a well-formed JWT."),
    (errors.PyJWTError, "TOKEN_INVALID", "The token is not valid."),
)


def refusal(error: Exception) -> TokenError:
    """The `TokenError` for one of PyJWT's exceptions."""
    if isinstance(error, errors.MissingRequiredClaimError):
        return missing(error.claim)
    for kinds, code, message in REFUSALS:
        if isinstance(error, kinds):
            return TokenError(code, message)
    raise error


def missing(claim: str) -> TokenError:
    return TokenError(f"TOKEN_MISSING_{claim.upper()}", f"The token has no '{claim}' claim.")


def algorithms(settings: TokenSettings) -> list[str]:
    """`JWT_ALGORITHMS` as a list (comma- or space-separated)."""
    return [a for a in re.split(r"[\s,]+", settings.jwt_algorithms) if a]


def public_key(pem: str) -> Any:
    """The PEM public key (literal `\\n` sequences, as env files carry them, are newlines)."""
    return load_pem_public_key(pem.replace("\\n", "\n").encode())


class TokenVerifier:
    """Verifies tokens against the configured algorithms and keys (JWKS fetched and cached)."""

    def __init__(self, settings: TokenSettings) -> None:
        self._settings = settings
        self._algorithms = algorithms(settings)
        self._public_key = public_key(settings.jwt_public_key) if settings.jwt_public_key else None
        self._jwks = None
        if settings.jwt_jwks_url:
            self._jwks = jwt.PyJWKClient(
                settings.jwt_jwks_url, lifespan=settings.jwt_jwks_cache_seconds, timeout=5
            )

    async def verify(self, token: str) -> Claims:
        """The token's claims, or a `TokenError` saying exactly why it is refused."""
        algorithm = self._algorithm(token)
        key = await self._key(algorithm, token)
        try:
            payload = jwt.decode(
                token,
                key,
                algorithms=self._algorithms,
                audience=self._settings.jwt_audience,
                issuer=self._settings.jwt_issuer,
                leeway=self._settings.jwt_leeway_seconds,
                options={"require": REQUIRED},
            )
        except errors.PyJWTError as error:
            raise refusal(error) from error
        return claims_of(payload)

    def _algorithm(self, token: str) -> str:
        try:
            header = jwt.get_unverified_header(token)
        except errors.PyJWTError as error:
            raise refusal(error) from error
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or not algorithm:
            raise TokenError("TOKEN_MALFORMED", "The token's header names no algorithm.")
        if algorithm.lower() == "none":
            raise TokenError("TOKEN_UNSIGNED", "The token is unsigned (alg 'none').")
        if algorithm not in self._algorithms:
            allowed = ", ".join(self._algorithms)
            raise TokenError(
                "TOKEN_ALGORITHM_NOT_ALLOWED",
                f"The token's algorithm is not accepted here (accepted: {allowed}).",
            )
        return algorithm

    async def _key(self, algorithm: str, token: str) -> Any:
        if algorithm in HMAC:
            return self._settings.jwt_secret
        if self._jwks is None:
            return self._public_key
        try:
            return await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
        except errors.PyJWKClientConnectionError as error:
            raise TokenError(
                "AUTH_UNAVAILABLE", "The signing keys could not be fetched; try again later."
            ) from error
        except errors.PyJWTError as error:
            raise TokenError(
                "TOKEN_UNKNOWN_KEY", "The token's signing key (kid) is not one this API knows."
            ) from error


def claims_of(payload: dict[str, Any]) -> Claims:
    """Check the claims arledger needs beyond the registered ones."""
    for claim in ("sub", "tenant", "scope"):
        value = payload.get(claim)
        if value is None or (claim != "scope" and value == ""):
            raise missing(claim)
        if not isinstance(value, str):
            raise TokenError("TOKEN_INVALID_CLAIM", f"The token's '{claim}' claim is not a string.")
    exp = payload.get("exp")
    expires_at = float(exp) if isinstance(exp, int | float) else None
    scopes = frozenset(payload["scope"].split())
    return Claims(payload["sub"], payload["tenant"], scopes, expires_at)


def issue_token(
    settings: TokenSettings,
    *,
    tenant: str,
    scopes: list[str],
    subject: str = "dev",
    ttl_seconds: int = 86400,
) -> str:
    """Sign a development token (HS256, `JWT_SECRET`) for `tenant` granting `scopes`."""
    if settings.production:
        raise ValueError("production verifies tokens from the identity provider; none are issued")
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


def setting_problems(settings: TokenSettings) -> list[str]:
    """Everything wrong with the token settings, each as a sentence naming the variable."""
    allowed = algorithms(settings)
    sources = [n for n in ("jwt_jwks_url", "jwt_public_key") if getattr(settings, n)]
    asymmetric = [a for a in allowed if a in KEY_TYPES]
    problems = []
    if unknown := [a for a in allowed if a not in HMAC and a not in KEY_TYPES]:
        known = ", ".join([*HMAC, *KEY_TYPES])
        problems.append(f"JWT_ALGORITHMS names {', '.join(unknown)}; supported: {known}")
    if not allowed:
        problems.append("JWT_ALGORITHMS is empty")
    if asymmetric and not sources:
        problems.append(f"JWT_ALGORITHMS has {asymmetric[0]}: set JWT_JWKS_URL or JWT_PUBLIC_KEY")
    if sources and not asymmetric:
        problems.append(f"{sources[0].upper()} is set but JWT_ALGORITHMS allows no RS/PS/ES/EdDSA")
    if len(sources) > 1:
        problems.append("set JWT_JWKS_URL or JWT_PUBLIC_KEY, not both")
    secret_bytes = len(settings.jwt_secret.encode())
    if short := [a for a in allowed if a in HMAC and secret_bytes < HMAC[a]]:
        problems.append(
            f"JWT_SECRET is too short for {short[-1]}: {HMAC[short[-1]]} bytes at least"
        )
    if settings.jwt_public_key:
        problems += _public_key_problems(settings.jwt_public_key, asymmetric)
    if settings.jwt_jwks_url:
        problems += _jwks_url_problems(settings.jwt_jwks_url)
    if settings.production:
        problems += _production_problems(settings, allowed)
    return problems


def _public_key_problems(pem: str, asymmetric: list[str]) -> list[str]:
    try:
        key = public_key(pem)
    except ValueError:
        return ["JWT_PUBLIC_KEY is not a PEM public key"]
    if wrong := [a for a in asymmetric if not isinstance(key, KEY_TYPES[a])]:
        return [f"JWT_PUBLIC_KEY cannot verify {', '.join(wrong)} (JWT_ALGORITHMS)"]
    return []


def _jwks_url_problems(url: str) -> list[str]:
    parts = urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK):
        return []
    return ["JWT_JWKS_URL must be an https URL (plain http only to 127.0.0.1/localhost)"]


def _production_problems(settings: TokenSettings, allowed: list[str]) -> list[str]:
    problems = []
    if not any(a in KEY_TYPES for a in allowed):
        problems.append(
            "ARLEDGER_ENV=production needs an asymmetric JWT_ALGORITHMS (e.g. RS256 or ES256) "
            "with JWT_JWKS_URL or JWT_PUBLIC_KEY"
        )
    if shared := [a for a in allowed if a in HMAC]:
        problems.append(
            f"ARLEDGER_ENV=production verifies only asymmetric algorithms, JWT_ALGORITHMS has "
            f"{', '.join(shared)} (shared-secret tokens are for development)"
        )
    if "jwt_secret" in settings.model_fields_set:
        if settings.jwt_secret == DEV_SECRET:
            problems.append("ARLEDGER_ENV=production refuses the development JWT_SECRET")
        else:
            problems.append("ARLEDGER_ENV=production does not use JWT_SECRET: unset it")
    return problems
