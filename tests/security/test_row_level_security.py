"""Tenant isolation in the database itself: the API's role, row-level security on every tenant
table, the tenant set per transaction (never per pooled connection), and provenance (request
id, scopes) on what a request writes."""

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from arledger.config import Settings
from domain.db import Scope, SessionFactory, make_engine, make_session_factory, scoped
from domain.migrations.run import set_role_passwords
from tests.support.client import WRITE_OFF, gql, wait_final, write_off_input
from tests.support.factories import World, make_world

ROLES = ("arledger_api", "arledger_worker")
NOT_TENANT_DATA = {"alembic_version"}
BY_RELATION = {"tenants", "payer_default_codes"}
"""Tables isolated through another column: the tenant's own id, or the payer they belong to."""


@pytest.fixture
async def api_engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """The API's own connection (role arledger_api), one pooled connection only, so every
    transaction below reuses the same server session."""
    engine = make_engine(settings.api_database_url, pool_size=1)
    yield engine
    await engine.dispose()


@pytest.fixture
def api_sessions(api_engine: AsyncEngine) -> SessionFactory:
    return make_session_factory(api_engine)


@pytest.fixture
async def two_tenants(sessions: SessionFactory) -> tuple[World, World]:
    return await make_world(sessions, [1000, 2000]), await make_world(sessions, [3000])


async def _public_tables(sessions: SessionFactory) -> dict[str, tuple[bool, bool, str]]:
    async with sessions() as session:
        rows = await session.execute(
            text(
                "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, "
                "pg_get_userbyid(c.relowner) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relkind = 'r'"
            )
        )
        return {name: (rls, forced, owner) for name, rls, forced, owner in rows}


async def _tenant_tables(sessions: SessionFactory) -> set[str]:
    async with sessions() as session:
        rows = await session.scalars(
            text(
                "SELECT table_name FROM information_schema.columns "
                "WHERE table_schema = 'public' AND column_name = 'tenant_id'"
            )
        )
        return set(rows.all())


async def test_every_table_but_alembics_has_row_level_security_enabled_and_forced(
    sessions: SessionFactory,
) -> None:
    tables = await _public_tables(sessions)
    tenant_tables = await _tenant_tables(sessions)
    assert tenant_tables | BY_RELATION | NOT_TENANT_DATA == set(tables)
    for name in set(tables) - NOT_TENANT_DATA:
        assert tables[name][:2] == (True, True), f"{name} lacks forced row-level security"


async def test_every_secured_table_has_a_policy_for_each_service_role(
    sessions: SessionFactory,
) -> None:
    async with sessions() as session:
        rows = await session.execute(
            text("SELECT tablename, unnest(roles) FROM pg_policies WHERE schemaname = 'public'")
        )
        pairs = {(table, role) for table, role in rows}
    tables = set(await _public_tables(sessions)) - NOT_TENANT_DATA
    assert {(t, r) for t in tables for r in ROLES} <= pairs


async def test_the_service_roles_own_nothing_and_cannot_bypass_security(
    sessions: SessionFactory,
) -> None:
    tables = await _public_tables(sessions)
    assert not {owner for *_, owner in tables.values()} & set(ROLES)
    async with sessions() as session:
        rows = await session.execute(
            text(
                "SELECT rolname, rolsuper, rolbypassrls, rolcreaterole FROM pg_roles "
                "WHERE rolname = ANY(CAST(:roles AS TEXT[])) ORDER BY rolname"
            ),
            {"roles": list(ROLES)},
        )
        assert [tuple(r) for r in rows] == [(role, False, False, False) for role in ROLES]


async def test_the_api_connects_as_its_own_role(settings: Settings, api_sessions: SessionFactory):
    assert settings.api_database_url.split("://", 1)[1].startswith("arledger_api@")
    async with api_sessions() as session:
        assert await session.scalar(text("SELECT current_user")) == "arledger_api"


async def _visible(sessions: SessionFactory, table: str, tenant_id: int) -> int:
    async with sessions() as session:
        return int(
            await session.scalar(
                text(f"SELECT count(*) FROM {table} WHERE tenant_id = CAST(:t AS BIGINT)"),
                {"t": tenant_id},
            )
            or 0
        )


async def test_scoped_to_tenant_a_the_api_sees_none_of_tenant_b(
    sessions: SessionFactory, api_sessions: SessionFactory, two_tenants: tuple[World, World]
) -> None:
    a, b = two_tenants
    as_a = scoped(api_sessions, Scope(a.tenant_id))
    for table in sorted(await _tenant_tables(sessions)):
        assert await _visible(as_a, table, b.tenant_id) == 0, table
        assert await _visible(as_a, table, a.tenant_id) == await _visible(
            sessions, table, a.tenant_id
        ), table
    async with as_a() as session:
        slugs = (await session.scalars(text("SELECT slug FROM tenants"))).all()
        codes = await session.scalar(
            text(
                "SELECT count(*) FROM payer_default_codes d JOIN payers p ON p.id = d.payer_id "
                "WHERE p.tenant_id = CAST(:b AS BIGINT)"
            ),
            {"b": b.tenant_id},
        )
    assert (slugs, codes) == ([a.slug], 0)


async def test_unscoped_the_api_sees_no_tenant_at_all(
    api_sessions: SessionFactory, two_tenants: tuple[World, World]
) -> None:
    async with api_sessions() as session:
        counts = [
            await session.scalar(text(f"SELECT count(*) FROM {table}"))
            for table in ("tenants", "accounts", "charge_lines", "ledger_entries", "audit_rows")
        ]
    assert counts == [0, 0, 0, 0, 0]


async def test_the_api_cannot_write_into_another_tenant(
    sessions: SessionFactory, api_sessions: SessionFactory, two_tenants: tuple[World, World]
) -> None:
    a, b = two_tenants
    as_a = scoped(api_sessions, Scope(a.tenant_id))
    with pytest.raises(DBAPIError, match="row-level security"):
        async with as_a() as session, session.begin():
            await session.execute(
                text(
                    "INSERT INTO accounts (tenant_id, account_number, name) "
                    "VALUES (CAST(:b AS BIGINT), 'X9', 'Intruder')"
                ),
                {"b": b.tenant_id},
            )
    async with as_a() as session, session.begin():
        moved = await session.execute(
            text("UPDATE accounts SET name = 'Hijacked' WHERE id = CAST(:id AS BIGINT)"),
            {"id": b.account_id},
        )
        assert moved.rowcount == 0  # type: ignore[attr-defined]
    async with sessions() as session:
        name = await session.scalar(
            text("SELECT name FROM accounts WHERE id = CAST(:id AS BIGINT)"), {"id": b.account_id}
        )
    assert name == "Pat Doe"


async def test_a_reused_pooled_connection_never_carries_a_tenant_into_the_next_transaction(
    api_sessions: SessionFactory, two_tenants: tuple[World, World]
) -> None:
    a, b = two_tenants
    seen = []
    for scope in (Scope(a.tenant_id), None, Scope(b.tenant_id), None, Scope(a.tenant_id)):
        factory = api_sessions if scope is None else scoped(api_sessions, scope)
        async with factory() as session:
            pid = await session.scalar(text("SELECT pg_backend_pid()"))
            tenants = (await session.scalars(text("SELECT id FROM tenants ORDER BY id"))).all()
            seen.append((pid, list(tenants)))
    assert len({pid for pid, _ in seen}) == 1  # one server session throughout
    assert [tenants for _, tenants in seen] == [
        [a.tenant_id],
        [],
        [b.tenant_id],
        [],
        [a.tenant_id],
    ]


async def test_every_transaction_of_a_scoped_session_is_scoped(
    api_sessions: SessionFactory, two_tenants: tuple[World, World]
) -> None:
    a, _ = two_tenants
    async with scoped(api_sessions, Scope(a.tenant_id))() as session:
        first = await session.scalar(text("SELECT count(*) FROM accounts"))
        await session.commit()
        second = await session.scalar(text("SELECT count(*) FROM accounts"))
    assert (first, second) == (1, 1)


async def test_a_request_id_is_echoed_and_recorded_with_the_scopes_on_every_audit_row(
    client: httpx.AsyncClient, settings: Settings, sessions: SessionFactory, engine: AsyncEngine
) -> None:
    world = await make_world(sessions, [5000])
    token = world.token(settings)
    request_id = f"req-{uuid.uuid4().hex}"
    response = await client.post(
        "/graphql",
        json={
            "query": WRITE_OFF,
            "variables": write_off_input("rls-1", [(world.line_ids[0], "12.00")]),
        },
        headers={"Authorization": f"Bearer {token}", "X-Request-ID": request_id},
    )
    assert response.headers["x-request-id"] == request_id
    command = response.json()["data"]["writeOff"]["command"]
    assert (await wait_final(client, command["id"], token))["status"] == "APPLIED"
    async with sessions() as session:
        rows = (
            await session.execute(
                text(
                    "SELECT r.actor, r.tenant_id, r.request_id, r.scopes FROM audit_rows r "
                    "JOIN commands c ON c.id = r.command_id WHERE c.request_id = :rid"
                ),
                {"rid": request_id},
            )
        ).all()
    scopes = ["billing.payment.write", "billing.read"]
    assert [tuple(r) for r in rows] == [("tester", world.tenant_id, request_id, scopes)]


async def test_a_nonsensical_request_id_is_replaced_by_a_fresh_one(
    client: httpx.AsyncClient, settings: Settings, sessions: SessionFactory
) -> None:
    world = await make_world(sessions, [100])
    body = {"query": "{ __typename }"}
    given = await client.post("/graphql", json=body, headers={"X-Request-ID": "a b\tc" * 40})
    fresh = await client.post("/graphql", json=body)
    assert len(given.headers["x-request-id"]) == 32 != len("a b\tc" * 40)
    assert given.headers["x-request-id"] != fresh.headers["x-request-id"]
    assert (await gql(client, "{ __typename }", token=world.token(settings)))["data"]


async def test_migrate_sets_the_configured_role_passwords(
    settings: Settings, sessions: SessionFactory
) -> None:
    changed = await set_role_passwords(settings.database_url, {"arledger_worker": "it's-secret"})
    try:
        async with sessions() as session:
            stored = await session.scalar(
                text("SELECT rolpassword FROM pg_authid WHERE rolname = 'arledger_worker'")
            )
        assert changed == ["arledger_worker"]
        assert stored is not None and stored.startswith(("SCRAM-SHA-256$", "md5"))
    finally:
        async with sessions() as session, session.begin():
            await session.execute(text("ALTER ROLE arledger_worker PASSWORD NULL"))
