"""Production mode on a second real server: RS256 tokens whose keys come from a JWKS endpoint
(served from a thread here), shared-secret tokens refused, no introspection, no GraphiQL, no
schema hints in errors, and settings that stop the process at startup."""

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import strawberry
from strawberry.types import ExecutionResult

from api.schema import build_schema
from arledger.config import Settings
from arledger.tokens import DEV_SECRET
from domain.db import SessionFactory
from tests.support.client import gid
from tests.support.factories import World, make_world
from tests.support.prod_server import (
    JwksServer,
    SigningKey,
    acknowledged,
    api_server,
    claims,
    closed,
    connect_as,
    hmac_signed,
    receive,
    start_api,
    subscribe,
    unsigned,
    websocket,
)

ACCOUNTS = "{ accounts { nodes { accountNumber } } }"
READ = "billing.read"


@dataclass
class Production:
    base: str
    key: SigningKey
    jwks: JwksServer

    def token(self, world: World, **changes: Any) -> str:
        return self.key.sign(claims(world.slug, **changes))


@pytest.fixture(scope="module")
def production(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Production]:
    """An API in production mode, asking for introspection and GraphiQL (which it ignores)."""
    key = SigningKey("key-1")
    log = tmp_path_factory.mktemp("production") / "api.log"
    with JwksServer([key]) as jwks:
        env = {
            "ARLEDGER_ENV": "production",
            "JWT_ALGORITHMS": "RS256",
            "JWT_JWKS_URL": jwks.url,
            "JWT_SECRET": None,
            "INTROSPECTION": "true",
            "GRAPHIQL": "true",
        }
        with api_server(env, log) as base:
            yield Production(base, key, jwks)


@pytest.fixture(scope="module")
async def world(sessions: SessionFactory) -> World:
    return await make_world(sessions, [10000])


async def post(base: str, query: str, token: str | None, variables: Any = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        response = await client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
    assert response.status_code == 200, response.text
    return response.json()


def refusals(body: dict[str, Any]) -> list[tuple[str, str]]:
    assert body["data"] is None
    return [(e["extensions"]["code"], e["message"]) for e in body["errors"]]


# ---------------------------------------------------------------------------------------------
# Tokens
# ---------------------------------------------------------------------------------------------


async def test_rs256_token_from_the_jwks_is_accepted_over_http_and_websocket(
    production: Production, world: World
) -> None:
    token = production.token(world)
    # when the tenant's RS256 token queries over HTTP and subscribes over the websocket
    body = await post(production.base, ACCOUNTS, token)
    async with websocket(production.base) as ws:
        await acknowledged(ws, token)
        query = "subscription($id: ID!) { accountBalance(accountId: $id) { balance snapshot } }"
        await subscribe(ws, "1", query, {"id": gid("Account", world.account_id)})
        first = await receive(ws)
    # then both are served
    assert body == {"data": {"accounts": {"nodes": [{"accountNumber": "A1"}]}}}
    assert first["payload"] == {"data": {"accountBalance": {"balance": "100.00", "snapshot": True}}}


async def test_jwks_is_fetched_once_and_cached(production: Production, world: World) -> None:
    # given the keys already fetched once
    await post(production.base, ACCOUNTS, production.token(world))
    fetched = production.jwks.fetches
    # when 20 more tokens are verified
    for n in range(20):
        await post(production.base, ACCOUNTS, production.token(world, sub=f"user-{n}"))
    # then the JWKS endpoint was not asked again
    assert (fetched, production.jwks.fetches) == (1, 1)


NOT_RS256 = (
    "TOKEN_ALGORITHM_NOT_ALLOWED",
    "The token's algorithm is not accepted here (accepted: RS256).",
)
UNKNOWN_KEY = ("TOKEN_UNKNOWN_KEY", "The token's signing key (kid) is not one this API knows.")


def refused_tokens() -> list[Any]:
    """(id, token maker taking the production server and the world, expected refusal)."""
    return [
        pytest.param(
            lambda p, w: jwt.encode(claims(w.slug), DEV_SECRET), NOT_RS256, id="hs256-dev-secret"
        ),
        pytest.param(
            lambda p, w: hmac_signed(claims(w.slug), p.key.public_pem),
            NOT_RS256,
            id="hs256-keyed-with-the-public-key",
        ),
        pytest.param(
            lambda p, w: unsigned(claims(w.slug), "none"),
            ("TOKEN_UNSIGNED", "The token is unsigned (alg 'none')."),
            id="alg-none",
        ),
        pytest.param(
            lambda p, w: SigningKey("key-1").sign(claims(w.slug)),
            ("TOKEN_BAD_SIGNATURE", "The token's signature does not verify with this API's keys."),
            id="other-key-same-kid",
        ),
        pytest.param(
            lambda p, w: p.key.sign(claims(w.slug), kid="key-2"), UNKNOWN_KEY, id="unknown-kid"
        ),
        pytest.param(
            lambda p, w: jwt.encode(claims(w.slug), p.key.private, algorithm="RS256"),
            UNKNOWN_KEY,
            id="no-kid",
        ),
        pytest.param(
            lambda p, w: p.key.sign(claims(w.slug, ttl=-10)),
            ("TOKEN_EXPIRED", "The token has expired."),
            id="expired",
        ),
        pytest.param(
            lambda p, w: p.key.sign(claims(w.slug, iss="someone-else")),
            ("TOKEN_WRONG_ISSUER", "The token's issuer (iss) is not accepted."),
            id="wrong-issuer",
        ),
    ]


@pytest.mark.parametrize(("make", "refusal"), refused_tokens())
async def test_production_refuses_tokens_over_http_and_websocket(
    production: Production, world: World, make: Any, refusal: tuple[str, str]
) -> None:
    # given a token the production server must refuse
    token = make(production, world)
    # when it is used over HTTP and in a websocket's connection_init
    body = await post(production.base, ACCOUNTS, token)
    async with websocket(production.base) as ws:
        await connect_as(ws, token)
        close = await closed(ws)
    # then both refuse it with the same code
    assert refusals(body) == [refusal]
    assert close == (4403, f"Forbidden: {refusal[0]}")


# ---------------------------------------------------------------------------------------------
# Introspection, GraphiQL, schema hints
# ---------------------------------------------------------------------------------------------


def disabled(field: str) -> str:
    return (
        "GraphQL introspection has been disabled, but the requested query contained "
        f"the field '{field}'."
    )


async def test_introspection_is_refused_though_introspection_is_true(
    production: Production, client: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    token = production.token(world)
    # when the schema is asked for, in production and (for contrast) in development
    schema = await post(production.base, "{ __schema { queryType { name } } }", token)
    one_type = await post(production.base, '{ __type(name: "Account") { name } }', token)
    typename = await post(production.base, "{ __typename }", token)
    development = (
        await client.post(
            "/graphql",
            json={"query": '{ __type(name: "Account") { name } }'},
            headers={"Authorization": f"Bearer {world.token(settings, READ)}"},
        )
    ).json()
    # then production refuses both introspection fields; __typename still answers
    assert [e["message"] for e in schema["errors"]] == [disabled("__schema"), disabled("queryType")]
    assert [e["message"] for e in one_type["errors"]] == [disabled("__type")]
    assert typename == {"data": {"__typename": "Query"}}
    assert development == {"data": {"__type": {"name": "Account"}}}


async def test_graphiql_is_not_served_though_graphiql_is_true(
    production: Production, client: httpx.AsyncClient
) -> None:
    # when a browser opens /graphql in production and in development
    async with httpx.AsyncClient(base_url=production.base) as browser:
        response = await browser.get("/graphql", headers={"Accept": "text/html"})
    development = await client.get("/graphql", headers={"Accept": "text/html"})
    # then production has no IDE to show
    assert (response.status_code, response.text) == (404, "Not Found")
    assert development.status_code == 200
    assert "<title>arledger GraphiQL</title>" in development.text


HINTS = [
    pytest.param(
        "{ acounts { nodes { id } } }",
        None,
        ["Cannot query field 'acounts' on type 'Query'."],
        " Did you mean 'accounts' or 'account'?",
        id="field",
    ),
    pytest.param(
        '{ account(acountNumber: "A1") { id } }',
        None,
        [
            "Unknown argument 'acountNumber' on field 'Query.account'.",
            "Argument 'Query.account(accountNumber:)' of type 'String!' is required, "
            "but it was not provided.",
        ],
        " Did you mean 'accountNumber'?",
        id="argument",
    ),
    pytest.param(
        "query($a: Acount) { __typename }",
        None,
        ["Variable '$a' is never used.", "Unknown type 'Acount'."],
        " Did you mean 'Account'?",
        id="type",
    ),
]


@pytest.mark.parametrize(("query", "variables", "messages", "hint"), HINTS)
async def test_production_errors_carry_no_did_you_mean_hints(
    production: Production,
    client: httpx.AsyncClient,
    world: World,
    settings: Settings,
    query: str,
    variables: Any,
    messages: list[str],
    hint: str,
) -> None:
    # when a document with a near-miss name is sent to production and to development
    body = await post(production.base, query, production.token(world), variables)
    development = (
        await client.post(
            "/graphql",
            json={"query": query},
            headers={"Authorization": f"Bearer {world.token(settings, READ)}"},
        )
    ).json()
    # then production names the mistake only; development also suggests the right name
    assert [e["message"] for e in body["errors"]] == messages
    suggested = [e["message"] for e in development["errors"]]
    assert [m.replace(hint, "") for m in suggested] == messages
    assert [hint in m for m in suggested] == [m.startswith(("Cannot", "Unknown")) for m in messages]


async def test_input_field_hint_is_stripped_too(production: Production, world: World) -> None:
    # given a write-off input with a misspelt field
    mutation = "mutation($input: WriteOffInput!) { writeOff(input: $input) { command { id } } }"
    variables = {"input": {"idempotencyKey": "k", "reason": "CHARITY", "lines": [], "lnes": []}}
    # when it is sent to production
    body = await post(production.base, mutation, production.token(world, scope=""), variables)
    # then the variable error names the unknown field but suggests nothing
    [message] = [e["message"] for e in body["errors"]]
    assert message.startswith(
        "Variable '$input' has invalid value: "
        "Expected value of type 'WriteOffInput' not to include unknown field 'lnes'. Found: "
    )
    assert "Did you mean" not in message


async def test_subscription_errors_carry_no_hints_over_the_websocket(
    production: Production, world: World
) -> None:
    async with websocket(production.base) as ws:
        await acknowledged(ws, production.token(world))
        # when a subscription names a near-miss field
        await subscribe(ws, "1", 'subscription { comandStatus(id: "x") { id } }')
        # then its error names the mistake only
        reply = await receive(ws)
    assert reply == {
        "id": "1",
        "type": "error",
        "payload": [
            {
                "message": "Cannot query field 'comandStatus' on type 'Subscription'.",
                "locations": [{"line": 1, "column": 16}],
            }
        ],
    }


def production_schema() -> strawberry.Schema:
    """The schema as `ARLEDGER_ENV=production` builds it."""
    return build_schema(
        Settings(
            arledger_env="production",
            jwt_algorithms="RS256",
            jwt_public_key=SigningKey("k").public_pem.decode(),
        )
    )


async def test_unexpected_errors_are_masked_in_the_production_schema() -> None:
    # given the production schema and a resolver that fails unexpectedly (no context at all)
    schema = production_schema()
    # when it runs
    result = await schema.execute(ACCOUNTS, context_value=None)
    # then the caller sees only that something failed, not what
    assert [e.message for e in result.errors or []] == ["Internal error."]


async def test_unexpected_errors_are_masked_in_a_subscriptions_stream() -> None:
    # given the production schema and a subscription that fails unexpectedly (no context)
    schema = production_schema()
    # when it is subscribed to (each streamed result passes the masking extension)
    stream = await schema.subscribe('subscription { accountBalance(accountId: "x") { version } }')
    assert not isinstance(stream, ExecutionResult)
    results = [result async for result in stream]
    # then its one result says only that something failed
    assert [[e.message for e in r.errors or []] for r in results] == [["Internal error."]]


# ---------------------------------------------------------------------------------------------
# Settings that stop the process
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        pytest.param(
            {
                "JWT_SECRET": DEV_SECRET,
                "JWT_ALGORITHMS": "RS256",
                "JWT_JWKS_URL": "https://idp.example/jwks",
            },
            "ARLEDGER_ENV=production refuses the development JWT_SECRET",
            id="dev-secret",
        ),
        pytest.param(
            {"JWT_SECRET": None},
            "ARLEDGER_ENV=production needs an asymmetric JWT_ALGORITHMS (e.g. RS256 or ES256) "
            "with JWT_JWKS_URL or JWT_PUBLIC_KEY",
            id="no-keys",
        ),
    ],
)
def test_production_server_refuses_to_start_misconfigured(
    settings: Settings, tmp_path: Path, env: dict[str, str | None], problem: str
) -> None:
    # when the API is started in production mode with these settings
    log = tmp_path / "api.log"
    process, _ = start_api({"ARLEDGER_ENV": "production", **env}, log)
    started = time.monotonic()
    code = process.wait(timeout=60)
    # then it exits at once, with the problem in its output and the secret nowhere
    output = log.read_text()
    assert code != 0
    assert time.monotonic() - started < 60
    assert f"  - {problem}" in output
    assert DEV_SECRET not in output
