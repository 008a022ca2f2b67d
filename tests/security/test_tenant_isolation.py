"""Tenant isolation over every operation of the schema: tenant A, holding every scope, sends each
query, mutation and subscription with tenant B's ids (and B's account numbers, payer codes,
transaction codes and idempotency keys) and gets exactly what a tenant that never heard of them
gets; B's holdings are unchanged to the last byte, and no row anywhere names another tenant's.

`test_authorization` covers part of this for a few queries, `writeOff` and two subscriptions
(together with the token and scope matrix, which is not repeated here); this module covers
every field, every node type and the bulk-job subscription, and interleaves both tenants over
the API's pooled database connections.
"""

import asyncio
import json
import random
from typing import Any

import httpx
import pytest
from graphql import build_schema
from sqlalchemy import func, select

from api.nodes import NODE_TYPES
from api.schema import schema
from arledger.config import Settings
from domain.db import SessionFactory
from domain.models import AuditRow, ChargeLine, Command
from tests.bulk.gql import Subscriber, subscriber
from tests.security.cases import (
    MUTATIONS,
    NODE_IDS,
    QUERIES,
    SUBSCRIPTIONS,
    TENANT_WIDE_SUBSCRIPTIONS,
    Case,
)
from tests.security.world import (
    Attacker,
    Victim,
    build_attacker,
    build_victim,
    cross_tenant_references,
    holdings,
    settled,
    token_for,
)
from tests.support.client import WRITE_OFF, gid, gql, wait_final, write_off_input
from tests.support.factories import World, make_world


@pytest.fixture(scope="module")
async def victim(server: str, sessions: SessionFactory, settings: Settings) -> Victim:
    async with httpx.AsyncClient(base_url=server, timeout=60) as client:
        victim = await build_victim(client, sessions, settings)
    await settled(sessions, victim.world.tenant_id)
    return victim


@pytest.fixture(scope="module")
async def reader(server: str, sessions: SessionFactory, settings: Settings) -> Attacker:
    """Tenant A for the read-only tests: its state never changes once built."""
    async with httpx.AsyncClient(base_url=server, timeout=60) as client:
        return await build_attacker(client, sessions, settings, job=True)


def test_every_operation_and_node_type_has_a_case() -> None:
    # given the schema as served, read from its SDL
    served = build_schema(schema.as_str())
    assert served.query_type and served.mutation_type and served.subscription_type
    # then the case tables name exactly its root fields, and `node` is tried with every type
    assert sorted(served.query_type.fields) == sorted(QUERIES)
    assert sorted(served.mutation_type.fields) == sorted(MUTATIONS)
    assert sorted(served.subscription_type.fields) == sorted(
        [*SUBSCRIPTIONS, *TENANT_WIDE_SUBSCRIPTIONS]
    )
    assert sorted(NODE_TYPES) == sorted(NODE_IDS)
    assert all(QUERIES.values()) and all(MUTATIONS.values()) and all(SUBSCRIPTIONS.values())


async def test_the_victims_ids_name_real_objects_of_b(client, victim: Victim) -> None:
    # given every id the cases use
    query = "query($id: ID!) { node(id: $id) { __typename id } }"
    found = {}
    # when B asks for each by id
    for name, ident in victim.ids.items():
        if name != "application":
            found[name] = (await gql(client, query, {"id": ident}, victim.token))["data"]["node"]
    wip = "query($id: ID!) { node(id: $id) { ... on Transaction { applications { id } } } }"
    body = await gql(client, wip, {"id": victim.ids["wip"]}, victim.token)
    # then B sees every one of them (so A's nulls below are isolation, not typos)
    assert {name: node["id"] for name, node in found.items()} == {
        n: i for n, i in victim.ids.items() if n != "application"
    }
    assert body["data"]["node"]["applications"] == [{"id": victim.ids["application"]}]


def _cases(table: dict[str, list[Case]]) -> list[Any]:
    return [pytest.param(f, c, id=f"{f}: {c.label}") for f, cases in table.items() for c in cases]


@pytest.mark.parametrize(("field", "case"), _cases(QUERIES))
async def test_query_with_b_ids_answers_a_only_with_its_own(
    client, victim: Victim, reader: Attacker, field: str, case: Case
) -> None:
    # given A's token with every scope and a request naming B's objects
    variables = case.variables(victim, reader)
    # when A and B each send it
    mine = await gql(client, case.document, variables, reader.token)
    theirs = await gql(client, case.document, variables, victim.token)
    # then A gets exactly its own answer, nothing of B's, while B gets something else
    assert mine == {"data": {field: case.expect(victim, reader)}}
    assert victim.leaked(mine, variables) == set()
    assert "errors" not in theirs and theirs["data"][field] != mine["data"][field], theirs


@pytest.mark.parametrize("field", sorted(MUTATIONS))
async def test_mutation_with_b_ids_changes_nothing_of_b(
    client, sessions: SessionFactory, settings: Settings, victim: Victim, field: str
) -> None:
    # given a fresh tenant A with every scope, and everything B holds
    attacker = await build_attacker(client, sessions, settings)
    before = await holdings(sessions, victim.world.tenant_id)
    answers, expected = {}, {}
    # when A sends each of the field's requests naming B's objects, keys or codes
    for case in MUTATIONS[field]:
        variables = case.variables(victim, attacker)
        body = await gql(client, case.document, variables, attacker.token)
        assert victim.leaked(body, variables) == set(), (case.label, body)
        answers[case.label] = body.get("data", body)
        expected[case.label] = {field: case.expect(victim, attacker)}
    await settled(sessions, attacker.world.tenant_id, victim.world.tenant_id)
    # then A is answered as if B's objects did not exist; B holds exactly what it held
    assert answers == expected
    assert await holdings(sessions, victim.world.tenant_id) == before
    assert await cross_tenant_references(sessions) == {}


async def _errors_of(sub: Subscriber, case: Case, victim: Victim, attacker: Attacker) -> Any:
    variables = case.variables(victim, attacker)
    await sub.send(
        {
            "id": case.label,
            "type": "subscribe",
            "payload": {"query": case.document, "variables": variables},
        }
    )
    return await sub.errors(case.label)


NODE = "query($id: ID!) { node(id: $id) { id } }"
ACCOUNT_BALANCE = """subscription($id: ID!) {
  accountBalance(accountId: $id) { accountId balance snapshot commandId } }"""


async def test_subscriptions_to_b_are_refused_and_b_changes_never_reach_a(
    server: str, client, sessions: SessionFactory, victim: Victim, reader: Attacker
) -> None:
    own = gid("Account", reader.world.account_id)
    async with subscriber(server, reader.token) as a, subscriber(server, victim.token) as b:
        # given A's socket, on which every subscription to B's objects was refused
        refused = {
            (field, case.label): await _errors_of(a, case, victim, reader)
            for field, cases in SUBSCRIPTIONS.items()
            for case in cases
        }
        # and which follows A's own account, and B's socket following B's account
        await a.send(_subscribe("mine", ACCOUNT_BALANCE, {"id": own}))
        await b.send(_subscribe("theirs", ACCOUNT_BALANCE, {"id": victim.ids["account"]}))
        mine = await a.receive()
        theirs = await b.receive()
        # and A's socket also watches each tenant-wide subscription (A's dashboard)
        tenant_wide = {}
        for field, document in TENANT_WIDE_SUBSCRIPTIONS.items():
            await a.send(_subscribe(field, document, {}))
            tenant_wide[field] = (await a.receive())["payload"]["data"][field]
        # when A asks over the socket for B's account, and B's account then changes
        await a.send(_subscribe("query", NODE, {"id": victim.ids["account"]}))
        answer = await a.receive()
        assert await a.receive() == {"id": "query", "type": "complete"}
        variables = write_off_input("b-while-watched", [(victim.world.line_ids[1], "0.01")])
        body = await gql(client, WRITE_OFF, variables, victim.token)
        command_id = body["data"]["writeOff"]["command"]["id"]
        assert (await wait_final(client, command_id, victim.token))["status"] == "APPLIED"
        change = await b.receive()
        # then B's change reaches B, and nothing at all reaches A
        await a.assert_silent(2)
    assert refused == {
        (field, case.label): case.expect(victim, reader)
        for field, cases in SUBSCRIPTIONS.items()
        for case in cases
    }
    assert answer == {"id": "query", "type": "next", "payload": {"data": {"node": None}}}
    assert tenant_wide == {
        "arDashboard": {"seq": 1, "snapshot": True, "aging": {"total": {"net": "900.00"}}}
    }
    assert mine["payload"]["data"]["accountBalance"] == {
        "accountId": own,
        "balance": "900.00",
        "snapshot": True,
        "commandId": None,
    }
    assert theirs["payload"]["data"]["accountBalance"]["snapshot"] is True
    event = change["payload"]["data"]["accountBalance"]
    assert (event["snapshot"], event["commandId"]) == (False, command_id)


def _subscribe(op: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    return {"id": op, "type": "subscribe", "payload": {"query": query, "variables": variables}}


POOLED_READ = """query($own: ID!, $other: ID!) {
  accounts { nodes { id accountNumber } }
  payers { nodes { id } }
  own: node(id: $own) { id }
  other: node(id: $other) { id }
  ledgerEntries(accountId: $other) { nodes { id } }
}"""
REQUESTS_PER_TENANT = 60
WRITES_PER_TENANT = 20


async def _pooled_read(client: httpx.AsyncClient, world: World, other: World, token: str) -> None:
    own, foreign = gid("Account", world.account_id), gid("Account", other.account_id)
    body = await gql(client, POOLED_READ, {"own": own, "other": foreign}, token)
    data = body["data"]
    assert data["accounts"]["nodes"] == [{"id": own, "accountNumber": "A1"}], body
    assert (data["own"], data["other"], data["ledgerEntries"]) == (
        {"id": own},
        None,
        {"nodes": []},
    ), body
    assert foreign not in json.dumps(data["payers"]), body


async def _pooled_write(client: httpx.AsyncClient, world: World, token: str, n: int) -> None:
    variables = write_off_input(f"pooled-{n}", [(world.line_ids[0], "0.01")])
    payload = (await gql(client, WRITE_OFF, variables, token))["data"]["writeOff"]
    assert (payload["userErrors"], payload["command"]["status"]) == ([], "PENDING"), payload


async def test_interleaved_tenants_over_pooled_connections_each_see_only_their_own(
    client, sessions: SessionFactory, settings: Settings, rng: random.Random
) -> None:
    # given two tenants, each with one $1,000.00 line
    p = await make_world(sessions, [100000])
    q = await make_world(sessions, [100000])
    tokens = {p.slug: token_for(settings, p, "p-actor"), q.slug: token_for(settings, q, "q-actor")}
    calls = [
        (world, other, n) for world, other in ((p, q), (q, p)) for n in range(REQUESTS_PER_TENANT)
    ]
    rng.shuffle(calls)
    gate = asyncio.Semaphore(24)

    async def call(world: World, other: World, n: int) -> None:
        async with gate:
            if n < WRITES_PER_TENANT:
                await _pooled_write(client, world, tokens[world.slug], n)
            else:
                await _pooled_read(client, world, other, tokens[world.slug])

    # when both send reads and write-offs, shuffled, many at once (more than the API's pool)
    await asyncio.gather(*(call(*c) for c in calls))
    await settled(sessions, p.tenant_id, q.tenant_id)
    # then every read saw only its own tenant, and every write landed on its own line only
    for world, actor in ((p, "p-actor"), (q, "q-actor")):
        assert await _writes_landed(sessions, world) == (
            100000 - WRITES_PER_TENANT,
            [("APPLIED", actor)] * WRITES_PER_TENANT,
            WRITES_PER_TENANT,
        )
    assert await cross_tenant_references(sessions) == {}


async def _writes_landed(sessions: SessionFactory, world: World) -> tuple[Any, ...]:
    """The line's balance, (status, actor) of each command, and the audit rows of commands."""
    async with sessions() as session:
        balance = await session.scalar(
            select(ChargeLine.balance_cents).where(ChargeLine.id == world.line_ids[0])
        )
        commands = (
            await session.execute(
                select(Command.status, Command.actor)
                .where(Command.tenant_id == world.tenant_id)
                .order_by(Command.id)
            )
        ).all()
        audited = await session.scalar(
            select(func.count())
            .select_from(AuditRow)
            .where(AuditRow.tenant_id == world.tenant_id, AuditRow.command_id.is_not(None))
        )
    return balance, [tuple(c) for c in commands], audited
