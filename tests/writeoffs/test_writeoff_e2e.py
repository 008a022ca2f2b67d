"""The write-off path end to end: HTTP mutation → PostgreSQL → Redis → Celery worker."""

from sqlalchemy import func, select

from arledger.config import Settings
from domain.db import SessionFactory
from domain.models import AuditRow, ChargeLine, Command, LedgerEntry
from tests.support.client import WRITE_OFF, gql, wait_final, write_off_input
from tests.support.factories import ledger_drift, make_world


async def test_write_off_is_applied_by_the_worker(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given a line with a $100.00 balance
    world = await make_world(sessions, [10000])
    token = world.token(settings)
    # when a $30.25 write-off is submitted
    body = await gql(
        client, WRITE_OFF, write_off_input("k1", [(world.line_ids[0], "30.25")], "CHARITY"), token
    )
    payload = body["data"]["writeOff"]
    # then it is stored PENDING at once and applied by the worker
    assert payload["userErrors"] == []
    assert payload["command"]["status"] == "PENDING"
    final = await wait_final(client, payload["command"]["id"], token)
    assert final["status"] == "APPLIED"
    async with sessions() as session:
        balance = await session.scalar(
            select(ChargeLine.balance_cents).where(ChargeLine.id == world.line_ids[0])
        )
        entries = (
            await session.execute(
                select(LedgerEntry.kind, LedgerEntry.amount_cents, LedgerEntry.reason).where(
                    LedgerEntry.line_id == world.line_ids[0], LedgerEntry.kind == "WRITEOFF"
                )
            )
        ).all()
        audit = (
            await session.execute(
                select(
                    AuditRow.actor,
                    AuditRow.reason,
                    AuditRow.balance_before_cents,
                    AuditRow.balance_after_cents,
                ).where(
                    AuditRow.line_id == world.line_ids[0], AuditRow.action == "WRITEOFF_APPLIED"
                )
            )
        ).all()
    assert balance == 6975
    assert entries == [("WRITEOFF", -3025, "charity")]
    assert audit == [("tester", "charity", 10000, 6975)]
    assert await ledger_drift(sessions, world.tenant_id) == []


async def test_write_off_over_the_balance_is_rejected(client, sessions, settings) -> None:
    world = await make_world(sessions, [1000])
    token = world.token(settings)
    body = await gql(client, WRITE_OFF, write_off_input("k", [(world.line_ids[0], "10.01")]), token)
    final = await wait_final(client, body["data"]["writeOff"]["command"]["id"], token)
    assert (final["status"], final["errorCode"]) == ("REJECTED", "EXCEEDS_BALANCE")
    async with sessions() as session:
        assert (
            await session.scalar(
                select(ChargeLine.balance_cents).where(ChargeLine.id == world.line_ids[0])
            )
            == 1000
        )


async def test_same_idempotency_key_returns_the_same_command(client, sessions, settings) -> None:
    world = await make_world(sessions, [5000])
    token = world.token(settings)
    variables = write_off_input("same-key", [(world.line_ids[0], "5")])
    first = (await gql(client, WRITE_OFF, variables, token))["data"]["writeOff"]
    second = (await gql(client, WRITE_OFF, variables, token))["data"]["writeOff"]
    assert first["command"]["id"] == second["command"]["id"]
    await wait_final(client, first["command"]["id"], token)
    other = write_off_input("same-key", [(world.line_ids[0], "6")])
    reused = (await gql(client, WRITE_OFF, other, token))["data"]["writeOff"]
    assert reused["command"] is None
    assert [(e["field"], e["code"]) for e in reused["userErrors"]] == [
        ("idempotencyKey", "IDEMPOTENCY_KEY_REUSED")
    ]
    async with sessions() as session:
        assert (
            await session.scalar(
                select(func.count())
                .select_from(Command)
                .where(Command.tenant_id == world.tenant_id)
            )
            == 1
        )
        assert (
            await session.scalar(
                select(ChargeLine.balance_cents).where(ChargeLine.id == world.line_ids[0])
            )
            == 4500
        )
