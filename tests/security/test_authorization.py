"""The authorisation matrix: every query, the writeOff mutation and both subscriptions, called
with no token, bad tokens, an expired token, another tenant's token, a token missing the scope
and a token holding exactly the scope needed."""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import func, select
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from arledger.config import Settings
from arledger.tokens import issue_token
from domain.db import SessionFactory
from domain.models import Account, ChargeLine, Command, LedgerEntry, Payer
from tests.support.client import WRITE_OFF, gid, gql, wait_final, write_off_input
from tests.support.factories import World, ledger_drift, make_world

READ = "billing.read"
WRITE = "billing.payment.write"
OTHER_SECRET = "not-the-server-secret-0123456789abcdef"

# Credentials that fail authentication or authorisation, and the code each must produce.
# `missing_scope` means a valid token of the right tenant lacking the operation's scope.
DENIED = [
    pytest.param("none", "UNAUTHENTICATED", id="no-token"),
    pytest.param("garbage", "TOKEN_MALFORMED", id="not-a-jwt"),
    pytest.param("bad_signature", "TOKEN_BAD_SIGNATURE", id="bad-signature"),
    pytest.param("unsigned", "TOKEN_UNSIGNED", id="alg-none"),
    pytest.param("wrong_audience", "TOKEN_WRONG_AUDIENCE", id="wrong-audience"),
    pytest.param("unknown_tenant", "UNKNOWN_TENANT", id="unknown-tenant"),
    pytest.param("expired", "TOKEN_EXPIRED", id="expired"),
    pytest.param("missing_scope", "FORBIDDEN", id="missing-scope"),
]


@dataclass
class Seeded:
    """Tenant A (one line of $100.00 with $30.00 written off, plus a second account) and
    tenant B (its own account A1, one line of $50.00)."""

    a: World
    b: World
    a_payer_id: int
    b_payer_id: int
    a_only_account_id: int
    a_command_id: int
    a_entry_ids: list[int]


@pytest.fixture(scope="module")
async def seeded(server: str, sessions: SessionFactory, settings: Settings) -> Seeded:
    a = await make_world(sessions, [10000])
    b = await make_world(sessions, [5000])
    async with sessions() as session, session.begin():
        only_a = Account(tenant_id=a.tenant_id, account_number="ONLY-A", name="Only In A")
        session.add(only_a)
    async with httpx.AsyncClient(base_url=server, timeout=30) as c:
        token = a.token(settings)
        body = await gql(c, WRITE_OFF, write_off_input("seed", [(a.line_ids[0], "30")]), token)
        command_id = body["data"]["writeOff"]["command"]["id"]
        assert (await wait_final(c, command_id, token))["status"] == "APPLIED"
    async with sessions() as session:
        rows = await session.execute(
            select(Payer.tenant_id, Payer.id).where(Payer.tenant_id.in_([a.tenant_id, b.tenant_id]))
        )
        payers = {tenant_id: payer_id for tenant_id, payer_id in rows}
        command_pk = await session.scalar(
            select(Command.id).where(Command.tenant_id == a.tenant_id)
        )
        entries = list(
            await session.scalars(
                select(LedgerEntry.id)
                .where(LedgerEntry.tenant_id == a.tenant_id)
                .order_by(LedgerEntry.id)
            )
        )
    assert command_pk is not None
    return Seeded(a, b, payers[a.tenant_id], payers[b.tenant_id], only_a.id, command_pk, entries)


def _resign(token: str, secret: str | None, algorithm: str, **changes: Any) -> str:
    claims = jwt.decode(token, options={"verify_signature": False}) | changes
    return jwt.encode(claims, secret, algorithm=algorithm)


def credential(kind: str, settings: Settings, world: World, scopes: str) -> str | None:
    """A bearer token of the given kind for `world` (scopes: what a valid one would hold)."""
    valid = world.token(settings, scopes)
    if kind == "none":
        return None
    if kind == "garbage":
        return "not-a-jwt"
    if kind == "bad_signature":
        return _resign(valid, OTHER_SECRET, "HS256")
    if kind == "unsigned":
        return _resign(valid, None, "none")
    if kind == "wrong_audience":
        return _resign(valid, settings.jwt_secret, "HS256", aud="someone-else")
    if kind == "unknown_tenant":
        return issue_token(
            settings, tenant="t-no-such-tenant", scopes=scopes.split(), subject="tester"
        )
    if kind == "expired":
        return world.token(settings, scopes, ttl=-10)
    if kind == "right_scope":
        return valid
    raise AssertionError(kind)


# ---------------------------------------------------------------------------------------------
# Queries
# ---------------------------------------------------------------------------------------------

QUERIES: dict[str, str] = {
    "node": "query($id: ID!) { node(id: $id) { id ... on Account { accountNumber balance } } }",
    "account": "query($n: String!) { account(accountNumber: $n) { id balance } }",
    "accounts": "{ accounts { nodes { id accountNumber } } }",
    "payers": "{ payers { nodes { id code } } }",
    "ledgerEntries": "query($id: ID!) { ledgerEntries(accountId: $id) { nodes { kind amount } } }",
    "command": "query($id: ID!) { command(id: $id) { id status } }",
}
NULLABLE = {"node", "account", "command"}


def query_variables(name: str, s: Seeded) -> dict[str, Any]:
    return {
        "node": {"id": gid("Account", s.a.account_id)},
        "account": {"n": "ONLY-A"},
        "accounts": {},
        "payers": {},
        "ledgerEntries": {"id": gid("Account", s.a.account_id)},
        "command": {"id": gid("Command", s.a_command_id)},
    }[name]


@pytest.mark.parametrize("name", list(QUERIES))
@pytest.mark.parametrize(("kind", "code"), DENIED)
async def test_query_without_valid_credentials_is_a_top_level_error(
    client,
    seeded: Seeded,
    settings: Settings,
    name: str,
    kind: str,
    code: str,
) -> None:
    # given a token that fails authentication, or lacks billing.read
    if kind == "missing_scope":
        token: str | None = seeded.a.token(settings, WRITE)
    else:
        token = credential(kind, settings, seeded.a, READ)
    # when the query is sent
    body = await gql(client, QUERIES[name], query_variables(name, seeded), token)
    # then one error with the code, at the field, and no data at all
    assert [(e["path"], e["extensions"]["code"]) for e in body["errors"]] == [([name], code)]
    assert body["data"] == ({name: None} if name in NULLABLE else None)


async def test_query_right_scope_sees_its_own_tenant(
    client,
    seeded: Seeded,
    settings: Settings,
) -> None:
    # given a token of tenant A holding only billing.read
    token = credential("right_scope", settings, seeded.a, READ)
    results = {}
    # when every query is sent
    for name, query in QUERIES.items():
        body = await gql(client, query, query_variables(name, seeded), token)
        assert "errors" not in body, body
        results[name] = body["data"][name]
    # then each answers with tenant A's data
    account = gid("Account", seeded.a.account_id)
    assert results == {
        "node": {"id": account, "accountNumber": "A1", "balance": "70.00"},
        "account": {"id": gid("Account", seeded.a_only_account_id), "balance": "0.00"},
        "accounts": {
            "nodes": [
                {"id": account, "accountNumber": "A1"},
                {"id": gid("Account", seeded.a_only_account_id), "accountNumber": "ONLY-A"},
            ]
        },
        "payers": {"nodes": [{"id": gid("Payer", seeded.a_payer_id), "code": "1"}]},
        "ledgerEntries": {
            "nodes": [
                {"kind": "CHARGE", "amount": "100.00"},
                {"kind": "WRITEOFF", "amount": "-30.00"},
            ]
        },
        "command": {"id": gid("Command", seeded.a_command_id), "status": "APPLIED"},
    }


async def test_query_other_tenant_sees_only_its_own_data(
    client,
    seeded: Seeded,
    settings: Settings,
) -> None:
    # given tenant B's token with every scope
    token = credential("right_scope", settings, seeded.b, f"{READ} {WRITE}")
    results = {}
    # when every query is sent with tenant A's ids and account number
    for name, query in QUERIES.items():
        body = await gql(client, query, query_variables(name, seeded), token)
        assert "errors" not in body, body
        results[name] = body["data"][name]
    # then A's objects are null or absent; lists hold only B's own rows
    assert results == {
        "node": None,
        "account": None,
        "accounts": {"nodes": [{"id": gid("Account", seeded.b.account_id), "accountNumber": "A1"}]},
        "payers": {"nodes": [{"id": gid("Payer", seeded.b_payer_id), "code": "1"}]},
        "ledgerEntries": {"nodes": []},
        "command": None,
    }


@pytest.mark.parametrize(
    ("name", "variables"),
    [
        ("node", lambda s: {"id": gid("Account", s.a.account_id)}),
        ("account", lambda s: {"n": "ONLY-A"}),
        ("command", lambda s: {"id": gid("Command", s.a_command_id)}),
    ],
)
async def test_other_tenants_object_answers_exactly_like_a_missing_one(
    client,
    seeded: Seeded,
    settings: Settings,
    name: str,
    variables: Any,
) -> None:
    # given tenant B's token, one of A's ids, and an id that exists nowhere
    token = seeded.b.token(settings)
    missing = {
        "node": {"id": gid("Account", 2**62)},
        "account": {"n": "NO-SUCH-ACCOUNT"},
        "command": {"id": gid("Command", 2**62)},
    }[name]
    # when both are asked for
    foreign = await gql(client, QUERIES[name], variables(seeded), token)
    absent = await gql(client, QUERIES[name], missing, token)
    # then the two responses cannot be told apart
    assert foreign == absent == {"data": {name: None}}


@pytest.mark.parametrize(
    "type_name", ["Account", "Visit", "ChargeLine", "Payer", "LedgerEntry", "Command"]
)
async def test_node_of_every_type_is_confined_to_the_tenant(
    client,
    seeded: Seeded,
    settings: Settings,
    type_name: str,
) -> None:
    # given one of tenant A's objects of each node type
    pk = {
        "Account": seeded.a.account_id,
        "Visit": seeded.a.visit_id,
        "ChargeLine": seeded.a.line_ids[0],
        "Payer": seeded.a_payer_id,
        "LedgerEntry": seeded.a_entry_ids[0],
        "Command": seeded.a_command_id,
    }[type_name]
    query = "query($id: ID!) { node(id: $id) { __typename id } }"
    variables = {"id": gid(type_name, pk)}
    # when tenant A and tenant B ask for it by id
    own = await gql(client, query, variables, seeded.a.token(settings, READ))
    other = await gql(client, query, variables, seeded.b.token(settings))
    # then A gets it and B gets null
    assert own == {"data": {"node": {"__typename": type_name, "id": gid(type_name, pk)}}}
    assert other == {"data": {"node": None}}


# ---------------------------------------------------------------------------------------------
# writeOff
# ---------------------------------------------------------------------------------------------


async def snapshot(sessions: SessionFactory, world: World) -> tuple[int, int, list[Any]]:
    """The line's balance, the tenant's command count and its ledger entries."""
    async with sessions() as session:
        balance = await session.scalar(
            select(ChargeLine.balance_cents).where(ChargeLine.id == world.line_ids[0])
        )
        commands = await session.scalar(
            select(func.count()).select_from(Command).where(Command.tenant_id == world.tenant_id)
        )
        entries = (
            await session.execute(
                select(LedgerEntry.kind, LedgerEntry.amount_cents)
                .where(LedgerEntry.tenant_id == world.tenant_id)
                .order_by(LedgerEntry.id)
            )
        ).all()
    assert balance is not None and commands is not None
    return balance, commands, [tuple(e) for e in entries]


UNTOUCHED = (10000, 0, [("CHARGE", 10000)])


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        *DENIED,
        pytest.param("read_only", "FORBIDDEN", id="read-scope-only"),
        pytest.param("adjustment_only", "FORBIDDEN", id="adjustment-scope-only"),
    ],
)
async def test_write_off_without_valid_credentials_is_a_user_error_and_changes_nothing(
    client,
    sessions: SessionFactory,
    settings: Settings,
    kind: str,
    code: str,
) -> None:
    # given a $100.00 line and a token that fails authentication or lacks the write scope
    world = await make_world(sessions, [10000])
    token: str | None
    if kind in ("missing_scope", "read_only"):
        token = world.token(settings, READ)
    elif kind == "adjustment_only":
        token = world.token(settings, "billing.read billing.adjustment.write")
    else:
        token = credential(kind, settings, world, f"{READ} {WRITE}")
    # when a $10.00 write-off is submitted
    body = await gql(
        client, WRITE_OFF, write_off_input("denied", [(world.line_ids[0], "10")]), token
    )
    # then it is refused as a user error and nothing is stored or posted
    assert "errors" not in body
    payload = body["data"]["writeOff"]
    assert payload["command"] is None
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [(None, code)]
    await asyncio.sleep(0.3)  # anything wrongly enqueued would have been applied by now
    assert await snapshot(sessions, world) == UNTOUCHED


async def test_write_off_scope_is_checked_before_the_input(
    client,
    sessions: SessionFactory,
    settings: Settings,
) -> None:
    # given a read-only token and an input wrong in every way its types allow (an empty key,
    # bad amounts, a line twice, OTHER without a note)
    world = await make_world(sessions, [10000])
    variables = write_off_input(
        "", [(world.line_ids[0], "-1"), (world.line_ids[0], "x")], reason="OTHER"
    )
    # when it is submitted
    body = await gql(client, WRITE_OFF, variables, world.token(settings, READ))
    # then only the missing scope is reported
    payload = body["data"]["writeOff"]
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [(None, "FORBIDDEN")]
    assert await snapshot(sessions, world) == UNTOUCHED


async def test_write_off_with_other_tenants_token_finds_no_line(
    client,
    sessions: SessionFactory,
    settings: Settings,
) -> None:
    # given tenant A's $100.00 line and tenant B's token with every scope
    a = await make_world(sessions, [10000])
    b = await make_world(sessions, [10000])
    # when B writes off A's line
    body = await gql(
        client, WRITE_OFF, write_off_input("x", [(a.line_ids[0], "10")]), b.token(settings)
    )
    # then the line does not exist for B, and neither tenant has anything new
    payload = body["data"]["writeOff"]
    assert payload["command"] is None
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
        ("lines.0.lineId", "LINE_NOT_FOUND")
    ]
    await asyncio.sleep(0.3)
    assert await snapshot(sessions, a) == UNTOUCHED
    assert await snapshot(sessions, b) == UNTOUCHED


async def test_write_off_with_only_the_write_scope_is_applied(
    client,
    sessions: SessionFactory,
    settings: Settings,
) -> None:
    # given a $100.00 line and a token holding billing.payment.write only
    world = await make_world(sessions, [10000])
    token = world.token(settings, WRITE)
    # when a $10.00 write-off is submitted
    body = await gql(client, WRITE_OFF, write_off_input("ok", [(world.line_ids[0], "10")]), token)
    # then it is stored PENDING and the worker applies it
    payload = body["data"]["writeOff"]
    assert payload["userErrors"] == []
    assert payload["command"]["status"] == "PENDING"
    final = await wait_final(client, payload["command"]["id"], world.token(settings, READ))
    assert final["status"] == "APPLIED"
    assert await snapshot(sessions, world) == (9000, 1, [("CHARGE", 10000), ("WRITEOFF", -1000)])
    assert await ledger_drift(sessions, world.tenant_id) == []


# ---------------------------------------------------------------------------------------------
# Subscriptions (graphql-transport-ws)
# ---------------------------------------------------------------------------------------------

SUBSCRIPTIONS: dict[str, str] = {
    "accountBalance": "subscription($id: ID!) { accountBalance(accountId: $id) "
    "{ accountId balance version snapshot } }",
    "commandStatus": "subscription($id: ID!) { commandStatus(id: $id) { id status } }",
}


def subscription_id(name: str, s: Seeded) -> str:
    return {
        "accountBalance": gid("Account", s.a.account_id),
        "commandStatus": gid("Command", s.a_command_id),
    }[name]


@contextlib.asynccontextmanager
async def websocket(server: str) -> AsyncIterator[ClientConnection]:
    url = server.replace("http", "ws", 1) + "/graphql"
    async with asyncio.timeout(10), connect(url, subprotocols=["graphql-transport-ws"]) as ws:
        assert ws.subprotocol == "graphql-transport-ws"
        yield ws


async def receive(ws: ClientConnection) -> dict[str, Any]:
    async with asyncio.timeout(5):
        return json.loads(await ws.recv())


async def init(ws: ClientConnection, token: str | None) -> None:
    payload = {"authorization": f"Bearer {token}"} if token else {}
    await ws.send(json.dumps({"type": "connection_init", "payload": payload}))


async def subscribe(ws: ClientConnection, name: str, ident: str, op: str = "1") -> None:
    await ws.send(
        json.dumps(
            {
                "id": op,
                "type": "subscribe",
                "payload": {"query": SUBSCRIPTIONS[name], "variables": {"id": ident}},
            }
        )
    )


async def closed(ws: ClientConnection) -> tuple[int | None, str | None]:
    """Wait for the server to close the socket (failing if it sends anything first)."""
    async with asyncio.timeout(5):
        with pytest.raises(ConnectionClosed):
            await ws.recv()
    return ws.close_code, ws.close_reason


async def authorised(ws: ClientConnection, token: str) -> None:
    await init(ws, token)
    assert (await receive(ws))["type"] == "connection_ack"


@pytest.mark.parametrize("name", list(SUBSCRIPTIONS))
@pytest.mark.parametrize(("kind", "code"), [p for p in DENIED if p.values[0] != "missing_scope"])
async def test_subscription_with_bad_token_is_closed_4403(
    server: str,
    seeded: Seeded,
    settings: Settings,
    name: str,
    kind: str,
    code: str,
) -> None:
    # given a connection_init whose token fails authentication
    token = credential(kind, settings, seeded.a, READ)
    async with websocket(server) as ws:
        # when the connection is initialised and a subscription attempted
        await init(ws, token)
        with contextlib.suppress(ConnectionClosed):
            await subscribe(ws, name, subscription_id(name, seeded))
        # then the socket is closed 4403, naming the refusal, without an ack or any data
        assert await closed(ws) == (4403, f"Forbidden: {code}")


@pytest.mark.parametrize("name", list(SUBSCRIPTIONS))
async def test_subscription_without_connection_init_is_closed_4401(
    server: str,
    seeded: Seeded,
    name: str,
) -> None:
    async with websocket(server) as ws:
        # when a subscribe comes before any connection_init
        await subscribe(ws, name, subscription_id(name, seeded))
        # then the socket is closed 4401
        assert await closed(ws) == (4401, "Unauthorized")


def _errors(message: dict[str, Any]) -> list[tuple[str, str | None]]:
    """(message, code) of the errors in an `error` message or a `next` carrying errors."""
    if message["type"] == "error":
        errors = message["payload"]
    else:
        assert message["type"] == "next", message
        assert message["payload"].get("data") is None, message
        errors = message["payload"]["errors"]
    return [(e["message"], (e.get("extensions") or {}).get("code")) for e in errors]


async def subscription_errors(ws: ClientConnection, op: str) -> list[tuple[str, str | None]]:
    """The errors the subscription `op` ended with; it then sends nothing more."""
    message = await receive(ws)
    assert message["id"] == op
    errors = _errors(message)
    if message["type"] == "next":
        assert await receive(ws) == {"id": op, "type": "complete"}
    return errors


@pytest.mark.parametrize("name", list(SUBSCRIPTIONS))
async def test_subscription_missing_scope_is_an_error_for_that_subscription(
    server: str,
    seeded: Seeded,
    settings: Settings,
    name: str,
) -> None:
    # given a connection authenticated with a token that lacks billing.read
    async with websocket(server) as ws:
        await authorised(ws, seeded.a.token(settings, WRITE))
        # when subscribing
        await subscribe(ws, name, subscription_id(name, seeded))
        # then that subscription gets a FORBIDDEN error and the socket stays usable
        assert await subscription_errors(ws, "1") == [
            ("Scope 'billing.read' is required.", "FORBIDDEN")
        ]
        await ws.send(json.dumps({"type": "ping"}))
        assert await receive(ws) == {"type": "pong"}


@pytest.mark.parametrize("name", list(SUBSCRIPTIONS))
async def test_subscription_to_other_tenants_object_is_not_found(
    server: str,
    seeded: Seeded,
    settings: Settings,
    name: str,
) -> None:
    # given a connection of tenant B, with every scope
    async with websocket(server) as ws:
        await authorised(ws, seeded.b.token(settings))
        # when subscribing to tenant A's object, and to one that exists nowhere
        await subscribe(ws, name, subscription_id(name, seeded), op="foreign")
        foreign = await subscription_errors(ws, "foreign")
        type_name = "Account" if name == "accountBalance" else "Command"
        await subscribe(ws, name, gid(type_name, 2**62), op="absent")
        absent = await subscription_errors(ws, "absent")
    # then both fail the same way: not found
    what = "account" if name == "accountBalance" else "command"
    assert foreign == absent == [(f"No such {what}.", "NOT_FOUND")]


async def test_subscription_right_scope_gets_its_data(
    server: str,
    seeded: Seeded,
    settings: Settings,
) -> None:
    # given a connection of tenant A with billing.read only
    async with websocket(server) as ws:
        await authorised(ws, seeded.a.token(settings, READ))
        # when subscribing to its account and to its (applied) command
        await subscribe(ws, "accountBalance", subscription_id("accountBalance", seeded), "bal")
        balance = await receive(ws)
        await subscribe(ws, "commandStatus", subscription_id("commandStatus", seeded), "cmd")
        status = await receive(ws)
        done = await receive(ws)
    # then the account's snapshot arrives, and the final command status then completion
    assert balance == {
        "id": "bal",
        "type": "next",
        "payload": {
            "data": {
                "accountBalance": {
                    "accountId": gid("Account", seeded.a.account_id),
                    "balance": "70.00",
                    "version": 1,
                    "snapshot": True,
                }
            }
        },
    }
    assert status == {
        "id": "cmd",
        "type": "next",
        "payload": {
            "data": {
                "commandStatus": {"id": gid("Command", seeded.a_command_id), "status": "APPLIED"}
            }
        },
    }
    assert done == {"id": "cmd", "type": "complete"}
