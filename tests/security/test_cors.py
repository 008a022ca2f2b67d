"""Front ends on other origins (CORS_ORIGINS): preflights and cross-origin responses over HTTP,
the websocket upgrade checked against the same list, and the settings that stop a process (a
real browser: `test_cors_browser`)."""

import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Origin, Subprotocol

from arledger.config import Settings
from domain.db import SessionFactory
from tests.pages.browser import browser  # noqa: F401 (the session's chromium, a fixture)
from tests.support.client import gid
from tests.support.factories import World, make_world
from tests.support.prod_server import (
    SigningKey,
    acknowledged,
    api_server,
    receive,
    start_api,
    subscribe,
)

SPA = "http://spa.example.test:5173"
BILLING = "https://billing.example.org"
OTHER = "https://evil.example.net"
ACCOUNTS = "{ accounts { nodes { accountNumber } } }"
BALANCE = "subscription($id: ID!) { accountBalance(accountId: $id) { balance snapshot } }"
REQUESTED = "authorization,content-type,x-request-id"


@pytest.fixture(scope="module")
def cors_api(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An API allowing the SPA and (written unusually) the billing origin."""
    origins = f"{SPA}, HTTPS://Billing.Example.org:443"
    with api_server({"CORS_ORIGINS": origins}, tmp_path_factory.mktemp("cors") / "api.log") as base:
        yield base


@pytest.fixture(scope="module")
async def world(sessions: SessionFactory) -> World:
    return await make_world(sessions, [10000])


def cors_headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.startswith("access-control-")}


async def preflight(base: str, origin: str, path: str = "/graphql") -> httpx.Response:
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": REQUESTED,
    }
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        return await client.options(path, headers=headers)


async def post(base: str, origin: str, token: str, content: Any = None) -> httpx.Response:
    headers = {"Origin": origin, "Authorization": f"Bearer {token}", "X-Request-ID": "spa-1"}
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        if content is not None:
            return await client.post("/graphql", content=content, headers=headers)
        return await client.post("/graphql", json={"query": ACCOUNTS}, headers=headers)


ALLOWED_PREFLIGHT = {
    "access-control-allow-methods": "GET, POST, OPTIONS",
    "access-control-max-age": "600",
    "access-control-allow-headers": (
        "Accept, Accept-Language, Authorization, Content-Language, Content-Type, X-Request-ID"
    ),
}


@pytest.mark.parametrize("origin", [SPA, BILLING])
async def test_a_listed_origins_preflight_is_allowed(cors_api: str, origin: str) -> None:
    # when a listed origin's page asks to POST with a token and a request id
    response = await preflight(cors_api, origin)
    # then it may, with exactly these headers (no credentials: the token is a bearer header)
    assert (response.status_code, response.text) == (200, "OK")
    assert cors_headers(response) == {"access-control-allow-origin": origin, **ALLOWED_PREFLIGHT}
    assert "Origin" in response.headers["vary"]


async def test_fhir_routes_are_open_to_listed_origins_too(cors_api: str) -> None:
    response = await preflight(cors_api, SPA, "/fhir/Account/1")
    assert cors_headers(response) == {"access-control-allow-origin": SPA, **ALLOWED_PREFLIGHT}


@pytest.mark.parametrize(
    ("api", "origin"),
    [
        pytest.param("cors", OTHER, id="unlisted"),
        pytest.param("cors", "http://spa.example.test:5174", id="listed-host-other-port"),
        pytest.param("cors", "null", id="null"),
        pytest.param("default", SPA, id="nothing-listed"),
    ],
)
async def test_another_origins_preflight_gets_no_cors_header(
    cors_api: str, server: str, api: str, origin: str
) -> None:
    # when an origin that is not listed asks to POST
    response = await preflight(cors_api if api == "cors" else server, origin)
    # then it is refused and told nothing
    assert (response.status_code, response.text) == (400, "Disallowed CORS origin")
    assert cors_headers(response) == {}


async def test_a_cross_origin_post_is_readable_by_a_listed_origin_only(
    cors_api: str, world: World, settings: Settings
) -> None:
    token = world.token(settings, "billing.read")
    # when the listed SPA and another origin POST a query with a token
    listed = await post(cors_api, SPA, token)
    other = await post(cors_api, OTHER, token)
    # then both are answered, but only the SPA's answer is marked readable, X-Request-ID too
    assert (
        listed.json()
        == other.json()
        == {"data": {"accounts": {"nodes": [{"accountNumber": "A1"}]}}}
    )
    assert cors_headers(listed) == {
        "access-control-allow-origin": SPA,
        "access-control-expose-headers": "X-Request-ID",
    }
    assert listed.headers["x-request-id"] == "spa-1"
    assert cors_headers(other) == {}


async def test_a_refusal_before_the_app_is_readable_cross_origin(
    cors_api: str, world: World, settings: Settings
) -> None:
    # when the SPA sends a body over the size limit (refused before GraphQL sees it)
    response = await post(cors_api, SPA, world.token(settings), content=b"x" * 300_000)
    # then the SPA can read the 413 and its code
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "REQUEST_TOO_LARGE"
    assert response.headers["access-control-allow-origin"] == SPA


# ---------------------------------------------------------------------------------------------
# The websocket upgrade
# ---------------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def socket(base: str, origin: str | None) -> AsyncIterator[ClientConnection]:
    url = base.replace("http", "ws", 1) + "/graphql"
    protocols = [Subprotocol("graphql-transport-ws")]
    async with connect(
        url, subprotocols=protocols, origin=Origin(origin) if origin else None
    ) as ws:
        yield ws


@pytest.mark.parametrize(
    ("api", "origin"),
    [
        pytest.param("cors", SPA, id="listed"),
        pytest.param("cors", BILLING, id="listed-normalised"),
        pytest.param("cors", None, id="no-origin-not-a-browser"),
        pytest.param("cors", "own", id="the-apis-own-origin"),
        pytest.param("default", "own", id="own-origin-nothing-listed"),
    ],
)
async def test_an_allowed_websocket_connects_and_subscribes(
    cors_api: str, server: str, world: World, settings: Settings, api: str, origin: str | None
) -> None:
    base = cors_api if api == "cors" else server
    # when a websocket from this origin connects and subscribes to a balance
    async with socket(base, base if origin == "own" else origin) as ws:
        await acknowledged(ws, world.token(settings, "billing.read"))
        await subscribe(ws, "1", BALANCE, {"id": gid("Account", world.account_id)})
        first = await receive(ws)
    # then it gets the snapshot
    assert first["payload"] == {"data": {"accountBalance": {"balance": "100.00", "snapshot": True}}}


@pytest.mark.parametrize(
    ("api", "origin"),
    [
        pytest.param("cors", OTHER, id="unlisted"),
        pytest.param("cors", "null", id="null"),
        pytest.param("default", SPA, id="nothing-listed"),
    ],
)
async def test_a_websocket_from_another_origin_is_refused_on_the_upgrade(
    cors_api: str, server: str, api: str, origin: str
) -> None:
    # when a browser page on another origin opens the websocket
    with pytest.raises(InvalidStatus) as refused:
        async with socket(cors_api if api == "cors" else server, origin):
            pass
    # then the upgrade is refused with 403, before any websocket exists
    assert refused.value.response.status_code == 403


# ---------------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------------

STAR_IN_PRODUCTION = (
    "ARLEDGER_ENV=production refuses CORS_ORIGINS=* (every site's pages could call the API): "
    "list the front ends' exact origins, e.g. https://billing.example.org"
)


def production(**values: Any) -> Settings:
    key = SigningKey("k").public_pem.decode()
    return Settings(arledger_env="production", jwt_algorithms="RS256", jwt_public_key=key, **values)


def test_production_refuses_any_origin() -> None:
    # when production settings allow every origin
    with pytest.raises(ValidationError) as refused:
        production(cors_origins="*")
    # then they are refused, saying what to do instead
    [error] = refused.value.errors()
    assert error["msg"] == f"Value error, CORS settings:\n  - {STAR_IN_PRODUCTION}"
    # while listed origins are fine in production, and * in development
    assert production(cors_origins=f"{SPA},{BILLING}").cors_origin_list == (SPA, BILLING)
    assert Settings(cors_origins="*").cors_origin_list == ("*",)
    assert Settings().cors_origin_list == ()


def test_origins_are_kept_as_browsers_send_them() -> None:
    settings = Settings(
        cors_origins=" HTTPS://App.Example.org:443 ,, http://[::1]:3000,http://a.test:80"
    )
    assert settings.cors_origin_list == (
        "https://app.example.org",
        "http://[::1]:3000",
        "http://a.test",
    )


def test_entries_that_are_not_origins_are_refused_every_one_named() -> None:
    # when the list has a trailing slash, a path, a bare host, null, and * beside others
    with pytest.raises(ValidationError) as refused:
        Settings(
            cors_origins="https://a.example.org/, https://b.example.org/app, c.example.org, null, *"
        )
    # then each is named
    [error] = refused.value.errors()
    not_origin = "is not an origin: http(s)://host[:port], without a path or a trailing slash"
    assert error["msg"] == "Value error, CORS settings:" + "".join(
        f"\n  - {p}"
        for p in [
            "CORS_ORIGINS=* allows every origin: list nothing beside it",
            f"CORS_ORIGINS entry 'https://a.example.org/' {not_origin}",
            f"CORS_ORIGINS entry 'https://b.example.org/app' {not_origin}",
            f"CORS_ORIGINS entry 'c.example.org' {not_origin}",
            "CORS_ORIGINS must not list 'null' (sandboxed and file: pages all send it)",
        ]
    )


def test_the_production_server_refuses_to_start_with_any_origin(
    settings: Settings, tmp_path: Path
) -> None:
    # when the API is started in production allowing every origin
    log = tmp_path / "api.log"
    key = SigningKey("k").public_pem.decode()
    env = {"ARLEDGER_ENV": "production", "JWT_SECRET": None, "JWT_ALGORITHMS": "RS256"}
    process, _ = start_api({**env, "JWT_PUBLIC_KEY": key, "CORS_ORIGINS": "*"}, log)
    started = time.monotonic()
    code = process.wait(timeout=60)
    # then it exits at once, naming the problem
    assert code != 0
    assert time.monotonic() - started < 60
    assert f"  - {STAR_IN_PRODUCTION}" in log.read_text()
