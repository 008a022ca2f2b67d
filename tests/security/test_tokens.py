"""Every way a bearer token can be wrong, refused with its own code over HTTP (the GraphQL
error's `extensions.code`) and over graphql-transport-ws (close 4403 `Forbidden: <code>`), and
the token settings that must stop a process at startup."""

import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest
from pydantic import ValidationError

from api.auth import Authenticator, AuthError
from arledger.config import Settings
from arledger.tokens import DEV_SECRET, TokenError, TokenVerifier, issue_token
from domain.db import SessionFactory, make_engine, make_session_factory
from tests.support.factories import World, make_world
from tests.support.prod_server import (
    SigningKey,
    b64,
    claims,
    closed,
    connect_as,
    hmac_signed,
    unsigned,
    websocket,
)

ACCOUNTS = "{ accounts { nodes { accountNumber } } }"
OTHER_SECRET = "not-the-server-secret-0123456789abcdef"


def hs(payload: dict[str, Any], secret: str = DEV_SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(payload, secret, algorithm=algorithm)


def tampered(slug: str) -> str:
    """A valid token whose payload was swapped for one granting more, signature kept."""
    header, _, signature = hs(claims(slug)).split(".")
    return f"{header}.{b64(claims(slug, scope='billing.admin'))}.{signature}"


def no_alg(slug: str) -> str:
    return f"{b64({'typ': 'JWT'})}.{b64(claims(slug))}.c2ln"


Maker = Callable[[str], str | None]
IN_FUTURE = int(time.time()) + 3600
MISSING = "The token has no '{}' claim."
NOT_ALLOWED = "The token's algorithm is not accepted here (accepted: HS256)."
BAD_SIGNATURE = "The token's signature does not verify with this API's keys."
MALFORMED = "The token is not a well-formed JWT."

# (id, token for the tenant's slug, code, message)
REFUSED: list[tuple[str, Maker, str, str]] = [
    ("no-token", lambda s: None, "UNAUTHENTICATED", "A bearer token is required."),
    ("expired", lambda s: hs(claims(s, ttl=-10)), "TOKEN_EXPIRED", "The token has expired."),
    (
        "not-before-in-future",
        lambda s: hs(claims(s, nbf=IN_FUTURE)),
        "TOKEN_NOT_YET_VALID",
        "The token is not valid yet (its nbf or iat is in the future).",
    ),
    (
        "issued-in-future",
        lambda s: hs(claims(s, iat=IN_FUTURE)),
        "TOKEN_NOT_YET_VALID",
        "The token is not valid yet (its nbf or iat is in the future).",
    ),
    (
        "wrong-issuer",
        lambda s: hs(claims(s, iss="someone-else")),
        "TOKEN_WRONG_ISSUER",
        "The token's issuer (iss) is not accepted.",
    ),
    (
        "wrong-audience",
        lambda s: hs(claims(s, aud="someone-else")),
        "TOKEN_WRONG_AUDIENCE",
        "The token's audience (aud) is wrong.",
    ),
    (
        "alg-none",
        lambda s: unsigned(claims(s), "none"),
        "TOKEN_UNSIGNED",
        "The token is unsigned (alg 'none').",
    ),
    (
        "alg-NONE",
        lambda s: unsigned(claims(s), "NONE"),
        "TOKEN_UNSIGNED",
        "The token is unsigned (alg 'none').",
    ),
    ("wrong-key", lambda s: hs(claims(s), OTHER_SECRET), "TOKEN_BAD_SIGNATURE", BAD_SIGNATURE),
    ("tampered-payload", tampered, "TOKEN_BAD_SIGNATURE", BAD_SIGNATURE),
    (
        "rs256-not-configured",
        lambda s: SigningKey("k1").sign(claims(s)),
        "TOKEN_ALGORITHM_NOT_ALLOWED",
        NOT_ALLOWED,
    ),
    (
        "hs512-not-configured",
        lambda s: hs(claims(s), OTHER_SECRET * 2, algorithm="HS512"),
        "TOKEN_ALGORITHM_NOT_ALLOWED",
        NOT_ALLOWED,
    ),
    *[
        (
            f"missing-{claim}",
            (lambda c: lambda s: hs(claims(s, **{c: None})))(claim),
            f"TOKEN_MISSING_{claim.upper()}",
            MISSING.format(claim),
        )
        for claim in ("sub", "tenant", "scope", "exp", "iss", "aud")
    ],
    ("empty-sub", lambda s: hs(claims(s, sub="")), "TOKEN_MISSING_SUB", MISSING.format("sub")),
    (
        "empty-tenant",
        lambda s: hs(claims(s, tenant="")),
        "TOKEN_MISSING_TENANT",
        MISSING.format("tenant"),
    ),
    (
        "tenant-not-a-string",
        lambda s: hs(claims(s, tenant=42)),
        "TOKEN_INVALID_CLAIM",
        "The token's 'tenant' claim is not a string.",
    ),
    (
        "scope-a-list",
        lambda s: hs(claims(s, scope=["billing.read"])),
        "TOKEN_INVALID_CLAIM",
        "The token's 'scope' claim is not a string.",
    ),
    (
        "sub-not-a-string",
        lambda s: hs(claims(s, sub=42)),
        "TOKEN_INVALID_CLAIM",
        "A claim of the token has the wrong type.",
    ),
    (
        "unknown-tenant",
        lambda s: hs(claims("t-no-such-tenant")),
        "UNKNOWN_TENANT",
        "The token's tenant is unknown.",
    ),
    ("not-a-jwt", lambda s: "not-a-jwt", "TOKEN_MALFORMED", MALFORMED),
    ("garbage-segments", lambda s: "abc.def.ghi", "TOKEN_MALFORMED", MALFORMED),
    (
        "no-alg-header",
        no_alg,
        "TOKEN_MALFORMED",
        "The token's header names no algorithm.",
    ),
]
CASES = [pytest.param(maker, code, message, id=name) for name, maker, code, message in REFUSED]


@pytest.fixture(scope="module")
async def world(sessions: SessionFactory) -> World:
    return await make_world(sessions, [10000])


@pytest.mark.parametrize(("maker", "code", "message"), CASES)
async def test_refused_token_over_http_names_its_code_and_never_echoes_the_token(
    client: httpx.AsyncClient, world: World, maker: Maker, code: str, message: str
) -> None:
    # given a token that is wrong in exactly one way
    token = maker(world.slug)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    # when a query is sent with it
    response = await client.post("/graphql", json={"query": ACCOUNTS}, headers=headers)
    # then it is refused with the code and message, no data, and nothing of the token echoed
    body = response.json()
    assert response.status_code == 200
    assert body["data"] is None
    assert [(e["extensions"]["code"], e["message"]) for e in body["errors"]] == [(code, message)]
    for part in (token or "").split("."):
        assert len(part) < 8 or part not in response.text


@pytest.mark.parametrize(("maker", "code", "message"), CASES)
async def test_refused_token_over_websocket_closes_4403_with_its_code(
    server: str, world: World, maker: Maker, code: str, message: str
) -> None:
    async with websocket(server) as ws:
        # when connection_init carries the token
        await connect_as(ws, maker(world.slug))
        # then the socket is closed 4403 naming the code, with no ack
        assert await closed(ws) == (4403, f"Forbidden: {code}")


@pytest.mark.parametrize(
    "authorization",
    ["Bearer {}", "bearer {}", "BEARER   {}", "{}"],
    ids=["Bearer", "lower-case", "upper-case-spaced", "bare"],
)
async def test_valid_token_is_accepted_in_every_spelling_of_the_header(
    client: httpx.AsyncClient, world: World, authorization: str
) -> None:
    # given a valid token, written in the header as a client might
    header = authorization.format(hs(claims(world.slug)))
    # when a query is sent
    response = await client.post(
        "/graphql", json={"query": ACCOUNTS}, headers={"Authorization": header}
    )
    # then it is answered with the tenant's account
    assert response.json() == {"data": {"accounts": {"nodes": [{"accountNumber": "A1"}]}}}


async def test_empty_scope_is_a_valid_token_that_may_do_nothing(
    client: httpx.AsyncClient, world: World
) -> None:
    # given a token whose scope claim is present but empty
    token = hs(claims(world.slug, scope=""))
    # when a query is sent
    response = await client.post(
        "/graphql", json={"query": ACCOUNTS}, headers={"Authorization": f"Bearer {token}"}
    )
    # then the caller is known but forbidden (unlike a token with no scope claim at all)
    assert [(e["extensions"]["code"], e["message"]) for e in response.json()["errors"]] == [
        ("FORBIDDEN", "Scope 'billing.read' is required.")
    ]


# ---------------------------------------------------------------------------------------------
# The verifier in-process: public keys, key confusion, an unreachable JWKS
# ---------------------------------------------------------------------------------------------


async def refusal_of(verifier: TokenVerifier, token: str) -> tuple[str, str]:
    with pytest.raises(TokenError) as refused:
        await verifier.verify(token)
    return refused.value.code, refused.value.message


async def test_public_key_verifies_rs256_and_refuses_the_key_confusion_attack() -> None:
    # given a verifier for RS256 with one PEM public key (written with \n escapes, as .env has it)
    key = SigningKey("k1")
    pem = key.public_pem.decode().replace("\n", "\\n")
    verifier = TokenVerifier(Settings(jwt_algorithms="RS256", jwt_public_key=pem))
    # when it sees an RS256 token, and HS256 tokens keyed with the public key or the dev secret
    accepted = await verifier.verify(key.sign(claims("acme", scope="billing.read billing.admin")))
    confused = hmac_signed(claims("acme"), key.public_pem)
    # then the RS256 token is accepted, each HS256 one refused for its algorithm
    assert (accepted.subject, accepted.tenant) == ("tester", "acme")
    assert accepted.scopes == {"billing.read", "billing.admin"}
    not_allowed = ("TOKEN_ALGORITHM_NOT_ALLOWED", NOT_ALLOWED.replace("HS256", "RS256"))
    assert await refusal_of(verifier, confused) == not_allowed
    assert await refusal_of(verifier, hs(claims("acme"))) == not_allowed
    # and a token signed by another RSA key does not verify
    assert await refusal_of(verifier, SigningKey("k1").sign(claims("acme"))) == (
        "TOKEN_BAD_SIGNATURE",
        BAD_SIGNATURE,
    )


async def test_unreachable_jwks_is_an_outage_not_a_bad_token() -> None:
    # given a verifier whose JWKS URL has nothing listening
    verifier = TokenVerifier(
        Settings(jwt_algorithms="RS256", jwt_jwks_url="http://127.0.0.1:9/jwks.json")
    )
    # when an RS256 token arrives
    refused = await refusal_of(verifier, SigningKey("k1").sign(claims("acme")))
    # then it is refused as keys unavailable
    assert refused == (
        "AUTH_UNAVAILABLE",
        "The signing keys could not be fetched; try again later.",
    )


# ---------------------------------------------------------------------------------------------
# Settings that stop the process at startup
# ---------------------------------------------------------------------------------------------

RSA_PEM = SigningKey("pem").public_pem.decode()
PRODUCTION = {"arledger_env": "production"}
NEEDS_KEYS = (
    "ARLEDGER_ENV=production needs an asymmetric JWT_ALGORITHMS (e.g. RS256 or ES256) with "
    "JWT_JWKS_URL or JWT_PUBLIC_KEY"
)
NO_HS = (
    "ARLEDGER_ENV=production verifies only asymmetric algorithms, JWT_ALGORITHMS has HS256 "
    "(shared-secret tokens are for development)"
)
HTTPS = "JWT_JWKS_URL must be an https URL (plain http only to 127.0.0.1/localhost)"


@pytest.mark.parametrize(
    ("values", "problems"),
    [
        pytest.param(PRODUCTION, [NEEDS_KEYS, NO_HS], id="production-defaults"),
        pytest.param(
            PRODUCTION
            | {"jwt_secret": DEV_SECRET, "jwt_algorithms": "RS256", "jwt_public_key": RSA_PEM},
            ["ARLEDGER_ENV=production refuses the development JWT_SECRET"],
            id="production-dev-secret",
        ),
        pytest.param(
            PRODUCTION
            | {"jwt_secret": OTHER_SECRET, "jwt_algorithms": "RS256", "jwt_public_key": RSA_PEM},
            ["ARLEDGER_ENV=production does not use JWT_SECRET: unset it"],
            id="production-any-secret",
        ),
        pytest.param(
            PRODUCTION | {"jwt_algorithms": "RS256,HS256", "jwt_public_key": RSA_PEM},
            [
                "ARLEDGER_ENV=production verifies only asymmetric algorithms, JWT_ALGORITHMS has "
                "HS256 (shared-secret tokens are for development)"
            ],
            id="production-hs256-beside-rs256",
        ),
        pytest.param(
            PRODUCTION | {"jwt_algorithms": "RS256", "jwt_jwks_url": "http://idp.example/jwks"},
            [HTTPS],
            id="production-jwks-over-http",
        ),
        pytest.param(
            {"jwt_algorithms": "RS256"},
            ["JWT_ALGORITHMS has RS256: set JWT_JWKS_URL or JWT_PUBLIC_KEY"],
            id="rs256-without-keys",
        ),
        pytest.param(
            {"jwt_algorithms": "ES256", "jwt_public_key": RSA_PEM},
            ["JWT_PUBLIC_KEY cannot verify ES256 (JWT_ALGORITHMS)"],
            id="rsa-key-for-es256",
        ),
        pytest.param(
            {"jwt_algorithms": "RS256", "jwt_public_key": "-----BEGIN PUBLIC KEY-----\nnope"},
            ["JWT_PUBLIC_KEY is not a PEM public key"],
            id="not-a-pem",
        ),
        pytest.param(
            {"jwt_public_key": RSA_PEM},
            ["JWT_PUBLIC_KEY is set but JWT_ALGORITHMS allows no RS/PS/ES/EdDSA"],
            id="key-without-algorithm",
        ),
        pytest.param(
            {"jwt_algorithms": "RS256", "jwt_public_key": RSA_PEM, "jwt_jwks_url": "https://a/j"},
            ["set JWT_JWKS_URL or JWT_PUBLIC_KEY, not both"],
            id="two-key-sources",
        ),
        pytest.param(
            {"jwt_algorithms": "HS256,none"},
            [
                "JWT_ALGORITHMS names none; supported: HS256, HS384, HS512, RS256, RS384, RS512, "
                "PS256, PS384, PS512, ES256, ES384, ES512, EdDSA"
            ],
            id="alg-none-configured",
        ),
        pytest.param({"jwt_algorithms": " , "}, ["JWT_ALGORITHMS is empty"], id="no-algorithms"),
        pytest.param(
            {"jwt_algorithms": "HS256 HS512"},
            ["JWT_SECRET is too short for HS512: 64 bytes at least"],
            id="secret-too-short-for-hs512",
        ),
    ],
)
def test_misconfigured_token_settings_fail_with_every_problem_named(
    values: dict[str, str], problems: list[str]
) -> None:
    # when settings are read with these values
    with pytest.raises(ValidationError) as refused:
        Settings(**values)
    # then one readable error lists each problem, and no value is echoed
    [error] = refused.value.errors()
    assert error["msg"] == "Value error, token settings:" + "".join(f"\n  - {p}" for p in problems)
    assert "input_value" not in str(refused.value)
    assert values.get("jwt_secret", "@@") not in str(refused.value)


@pytest.mark.parametrize(
    "values",
    [
        pytest.param({"jwt_algorithms": "RS256", "jwt_public_key": RSA_PEM}, id="public-key"),
        pytest.param(
            {"jwt_algorithms": "RS256, ES256", "jwt_jwks_url": "https://idp.example/jwks.json"},
            id="jwks-over-https",
        ),
    ],
)
def test_production_settings_turn_introspection_and_graphiql_off_whatever_the_flags(
    values: dict[str, str],
) -> None:
    # given valid production settings that ask for introspection and GraphiQL
    settings = Settings(**PRODUCTION, **values, introspection=True, graphiql=True)
    # then both are off anyway; in development the same flags are honoured
    assert (settings.production, settings.introspection_enabled, settings.graphiql_enabled) == (
        True,
        False,
        False,
    )
    development = Settings(introspection=True, graphiql=True)
    assert (development.introspection_enabled, development.graphiql_enabled) == (True, True)


async def test_a_database_outage_during_the_tenant_lookup_is_auth_unavailable(
    settings: Settings,
) -> None:
    # given an authenticator whose database cannot be reached (nothing listens on port 1)
    engine = make_engine("postgresql+asyncpg://arledger_api@127.0.0.1:1/arledger", pool_size=1)
    authenticator = Authenticator(settings, make_session_factory(engine))
    token = issue_token(settings, tenant="any-tenant", scopes=["billing.read"])
    try:
        # when a valid token arrives
        with pytest.raises(AuthError) as refused:
            await authenticator.principal(f"Bearer {token}")
    finally:
        await engine.dispose()
    # then it is an outage the client may retry, not a bad token
    assert (refused.value.code, str(refused.value)) == (
        "AUTH_UNAVAILABLE",
        "The tenant directory is unavailable; try again.",
    )
