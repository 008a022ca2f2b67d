"""A write-off is submitted through `DirectUnitOfWork`: BEGIN with the tenant scope, one
statement, COMMIT; the unit of work always ends its transaction, and a refused request stores
nothing."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asyncpg import DivisionByZeroError
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from arledger.config import Settings
from domain.db import Scope, SessionFactory
from domain.direct_uow import DirectUnitOfWork, literal
from domain.errors import DomainError
from domain.models import Command, Tenant
from domain.writeoffs.rules import parse_writeoff
from domain.writeoffs.service import submit_writeoff
from tests.support.client import WRITE_OFF, gql, write_off_input
from tests.support.factories import World, make_world
from tests.support.gql_ops import EVERY_SCOPE, must_update_settings

ODD = "it's a \\ back'slash\\' and \"quotes\" $$ ; --"


@pytest.fixture
async def api_engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """The API's role (row-level security) with ONE pooled connection, so reuse is visible."""
    engine = create_async_engine(settings.api_database_url, pool_size=1, max_overflow=0)
    yield engine
    await engine.dispose()


async def _submit(uow: Any, world: World, key: str, reason: str = "charity") -> Any:
    async def enqueue(command_id: int) -> None:
        enqueued.append(command_id)

    enqueued: list[int] = []
    command = await submit_writeoff(
        uow,
        tenant_id=world.tenant_id,
        actor="tester",
        idempotency_key=key,
        request=parse_writeoff([(world.line_ids[0], "1.00")], reason, None),
        enqueue=enqueue,
    )
    return command, enqueued


async def _enable(sessions: SessionFactory, world: World, reasons: list[str]) -> None:
    async with sessions() as session, session.begin():
        await session.execute(
            update(Tenant).where(Tenant.id == world.tenant_id).values(writeoff_reasons=reasons)
        )


async def _commands(sessions: SessionFactory, world: World) -> int:
    async with sessions() as session:
        count = await session.scalar(
            select(func.count()).select_from(Command).where(Command.tenant_id == world.tenant_id)
        )
    return int(count or 0)


@pytest.mark.parametrize("conforming", ["on", "off"])
async def test_the_scope_reaches_the_transaction_exactly(settings: Settings, conforming) -> None:
    # given a connection with standard_conforming_strings on (literals) or off (bound values)
    engine = create_async_engine(
        settings.api_database_url,
        connect_args={"server_settings": {"standard_conforming_strings": conforming}},
    )
    scope = Scope(7, ODD, frozenset({"billing.read", ODD}))
    try:
        # when a unit of work begins in a scope full of quotes and backslashes
        async with DirectUnitOfWork(engine, scope) as uow:
            driver = await uow.driver()
            seen = await driver.fetchrow(
                "SELECT current_setting('arledger.tenant_id') AS t, "
                "current_setting('arledger.request_id') AS r, "
                "current_setting('arledger.scopes') AS s"
            )
    finally:
        await engine.dispose()
    # then the transaction carries exactly those settings
    assert dict(seen) == {"t": "7", "r": ODD, "s": " ".join(sorted(scope.scopes))}


def test_a_nul_character_is_never_sent() -> None:
    with pytest.raises(ValueError):
        literal("a\x00b")


async def test_a_write_off_is_three_messages(api_engine, sessions, settings) -> None:
    # given a line, a connection that has sent a write-off once (asyncpg learns the types of
    # a statement's columns on the first), and a logger of what the connection sends
    world = await make_world(sessions, [1000])
    async with DirectUnitOfWork(api_engine, Scope(world.tenant_id, "r-0")) as uow:
        await _submit(uow, world, "first")
        await uow.commit()
    sent: list[str] = []
    async with api_engine.connect() as connection:
        driver = (await connection.get_raw_connection()).driver_connection
        driver.add_query_logger(lambda record: sent.append(record.query))
    # when a write-off is submitted and committed
    async with DirectUnitOfWork(api_engine, Scope(world.tenant_id, "r-1")) as uow:
        command, enqueued = await _submit(uow, world, "three")
        assert enqueued == []  # nothing before the commit
        await uow.commit()
    # then BEGIN with the scope, the one statement and COMMIT went, and then the enqueue
    await asyncio.sleep(0)  # asyncpg calls query loggers soon, not at once
    assert [q.split()[0] for q in sent] == ["BEGIN;", "WITH", "COMMIT"], sent
    assert enqueued == [command.id]
    assert (command.kind, command.status, await _commands(sessions, world)) == (
        "WRITEOFF",
        "PENDING",
        2,
    )


async def test_a_refusal_rolls_back_and_the_connection_is_reused(api_engine, sessions) -> None:
    # given a tenant whose line exists, with only bad debt enabled
    world = await make_world(sessions, [1000])
    await _enable(sessions, world, ["small-balance"])
    # when a charity write-off is submitted (its insert ran, then the reason is refused)
    with pytest.raises(DomainError) as refused:
        async with DirectUnitOfWork(api_engine, Scope(world.tenant_id)) as uow:
            first = await uow.driver()
            await _submit(uow, world, "refused")
    # then it is REASON_DISABLED, nothing is stored, and the same connection comes back idle
    assert refused.value.code == "REASON_DISABLED"
    assert not first.is_in_transaction()
    assert await _commands(sessions, world) == 0
    await _enable(sessions, world, ["charity"])
    async with DirectUnitOfWork(api_engine, Scope(world.tenant_id)) as uow:
        again = await uow.driver()
        assert again is first
        command, _ = await _submit(uow, world, "accepted")
        await uow.commit()
    assert (command.status, await _commands(sessions, world)) == ("PENDING", 1)
    assert not again.is_in_transaction()


async def test_an_error_the_server_reports_rolls_back_and_keeps_the_connection(
    api_engine, sessions
) -> None:
    # given a write-off stored but not committed
    world = await make_world(sessions, [1000])
    with pytest.raises(DivisionByZeroError):
        async with DirectUnitOfWork(api_engine, Scope(world.tenant_id)) as uow:
            first = await uow.driver()
            await _submit(uow, world, "failed")
            # when a later statement fails on the server
            await first.fetchval("SELECT 1 / 0")
    # then the transaction is rolled back, and the connection comes back to the pool idle
    assert not first.is_in_transaction()
    assert await _commands(sessions, world) == 0
    async with DirectUnitOfWork(api_engine, Scope(world.tenant_id)) as uow:
        assert await uow.driver() is first


async def test_an_unexpected_error_discards_the_connection(api_engine, sessions) -> None:
    # given a unit of work mid-transaction with a write-off stored but not committed
    world = await make_world(sessions, [1000])
    with pytest.raises(RuntimeError):
        async with DirectUnitOfWork(api_engine, Scope(world.tenant_id)) as uow:
            first = await uow.driver()
            await _submit(uow, world, "interrupted")
            # when something unexpected interrupts it
            raise RuntimeError("boom")
    # then the connection is closed for good, nothing is stored, and the pool makes a new one
    assert first.is_closed()
    assert await _commands(sessions, world) == 0
    async with DirectUnitOfWork(api_engine, Scope(world.tenant_id)) as uow:
        assert await uow.driver() is not first


async def test_a_retry_after_the_reason_is_disabled_answers_with_the_first_command(
    client, sessions, settings
) -> None:
    # given a charity write-off stored under key k, then charity disabled for the tenant
    world = await make_world(sessions, [1000])
    token = world.token(settings, EVERY_SCOPE)
    body = write_off_input("k", [(world.line_ids[0], "1")])
    first = (await gql(client, WRITE_OFF, body, token))["data"]["writeOff"]
    await must_update_settings(client, {"writeOffReasons": ["BAD_DEBT"]}, token)
    # when the same request is retried under k, and sent again under a new key
    retried = (await gql(client, WRITE_OFF, body, token))["data"]["writeOff"]
    fresh = await gql(client, WRITE_OFF, write_off_input("k2", [(world.line_ids[0], "1")]), token)
    # then the retry answers with the first command, the new key is refused, one command stored
    assert retried["command"]["id"] == first["command"]["id"]
    assert retried["userErrors"] == []
    assert fresh["data"]["writeOff"]["userErrors"][0]["code"] == "REASON_DISABLED"
    assert await _commands(sessions, world) == 1


async def test_the_same_key_committed_while_waiting_answers_with_that_command(
    settings: Settings, sessions
) -> None:
    # given two API connections, and a write-off stored under key k on the first, not committed
    world = await make_world(sessions, [1000])
    engine = create_async_engine(settings.api_database_url, pool_size=2, max_overflow=0)
    try:
        async with DirectUnitOfWork(engine, Scope(world.tenant_id)) as first:
            stored, _ = await _submit(first, world, "k")
            # when the second submits the same request under k (its insert waits for the first)
            second = asyncio.create_task(_submit_and_commit(engine, world, "k"))
            await _until_waiting_for_a_transaction(sessions)
            await first.commit()
        answer, enqueued = await asyncio.wait_for(second, 10)
    finally:
        await engine.dispose()
    # then the second answers with the first's command (read after its statement saw none), sends
    # no wake-up of its own, and one command is stored
    assert (answer.id, answer.status, enqueued) == (stored.id, "PENDING", [])
    assert await _commands(sessions, world) == 1


async def _submit_and_commit(engine: AsyncEngine, world: World, key: str) -> Any:
    async with DirectUnitOfWork(engine, Scope(world.tenant_id)) as uow:
        answer = await _submit(uow, world, key)
        await uow.commit()
    return answer


async def _until_waiting_for_a_transaction(sessions: SessionFactory) -> None:
    for _ in range(500):
        async with sessions() as session:
            waiting = await session.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND wait_event = 'transactionid'"
                )
            )
        if waiting:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the second submission never waited for the first")
