"""At-least-once delivery, applied exactly once: redelivered tasks are no-ops, and commands
whose broker message never went out are swept back onto the queue by the worker's beat."""

import asyncio
import time
from datetime import timedelta
from typing import Any

from celery import Celery
from sqlalchemy import func, select, update

from api.ids import decode_id
from arledger.config import Settings
from domain.commands import store as command_store
from domain.db import SessionFactory
from domain.models import AuditRow, ChargeLine, Command, LedgerEntry
from domain.uow import UnitOfWork
from domain.writeoffs.rules import WriteOffLine, WriteOffRequest
from domain.writeoffs.service import submit_writeoff
from tests.support.client import WRITE_OFF, gql, wait_final, write_off_input
from tests.support.factories import World, ledger_drift, make_world

APPLY = "arledger.apply_command"


async def noop_enqueue(command_id: int) -> None:
    return None


async def store_pending(sessions: SessionFactory, world: World, cents: int, key: str = "k") -> int:
    """A committed PENDING write-off of the first line whose broker message is never sent."""
    async with UnitOfWork(sessions) as uow:
        command = await submit_writeoff(
            uow,
            tenant_id=world.tenant_id,
            actor="tester",
            idempotency_key=key,
            request=WriteOffRequest((WriteOffLine(world.line_ids[0], cents),), "charity", None),
            enqueue=noop_enqueue,
        )
        await uow.commit()
    return command.id


def send(celery_app: Celery, settings: Settings, command_id: int, times: int) -> None:
    for _ in range(times):
        celery_app.send_task(APPLY, args=[command_id], queue=settings.celery_queue)


async def command_row(sessions: SessionFactory, command_id: int) -> Command:
    async with sessions() as session:
        row = await session.get(Command, command_id)
    assert row is not None
    return row


async def wait_final_row(sessions: SessionFactory, command_id: int, within: float = 15) -> Command:
    deadline = time.monotonic() + within
    while (row := await command_row(sessions, command_id)).status == "PENDING":
        assert time.monotonic() < deadline, f"command {command_id} still PENDING"
        await asyncio.sleep(0.05)
    return row


async def drain(sessions: SessionFactory, celery_app: Celery, settings: Settings) -> None:
    """Wait until the worker has taken everything sent so far (the queue is FIFO): send one
    more command, wait until it is applied, then give in-flight tasks a moment."""
    world = await make_world(sessions, [100])
    pk = await store_pending(sessions, world, 100, "barrier")
    send(celery_app, settings, pk, 1)
    assert (await wait_final_row(sessions, pk)).status == "APPLIED"
    await asyncio.sleep(1)


async def effects(sessions: SessionFactory, world: World) -> dict[str, Any]:
    """What write-offs did to the first line: its balance, entries and audit actions."""
    line = world.line_ids[0]
    async with sessions() as session:
        balance = await session.scalar(
            select(ChargeLine.balance_cents).where(ChargeLine.id == line)
        )
        entries = (
            await session.execute(
                select(LedgerEntry.amount_cents, LedgerEntry.command_id).where(
                    LedgerEntry.line_id == line, LedgerEntry.kind == "WRITEOFF"
                )
            )
        ).all()
        actions = (
            await session.scalars(
                select(AuditRow.action)
                .where(AuditRow.tenant_id == world.tenant_id, AuditRow.action != "CHARGE_POSTED")
                .order_by(AuditRow.id)
            )
        ).all()
    return {"balance": balance, "entries": [tuple(e) for e in entries], "audit": list(actions)}


def final_state(row: Command) -> tuple[Any, ...]:
    return row.status, row.error_code, row.error_message, row.finished_at


async def test_redelivered_task_for_an_applied_command_is_a_no_op(
    client,
    sessions: SessionFactory,
    settings: Settings,
    celery_app: Celery,
) -> None:
    # given a $10.00 write-off of a $100.00 line, applied
    world = await make_world(sessions, [10000])
    token = world.token(settings)
    body = await gql(client, WRITE_OFF, write_off_input("k", [(world.line_ids[0], "10")]), token)
    final = await wait_final(client, body["data"]["writeOff"]["command"]["id"], token)
    assert final["status"] == "APPLIED"
    pk = decode_id(final["id"], "Command")
    assert pk is not None
    before = final_state(await command_row(sessions, pk))
    # when its task is delivered twice more
    send(celery_app, settings, pk, 2)
    await drain(sessions, celery_app, settings)
    # then the balance moved once, with one entry, and the command is untouched
    assert await effects(sessions, world) == {
        "balance": 9000,
        "entries": [(-1000, pk)],
        "audit": ["WRITEOFF_APPLIED"],
    }
    assert final_state(await command_row(sessions, pk)) == before
    assert await ledger_drift(sessions, world.tenant_id) == []


async def test_task_sent_three_times_for_a_pending_command_applies_it_once(
    sessions: SessionFactory,
    settings: Settings,
    celery_app: Celery,
) -> None:
    # given a stored PENDING $10.00 write-off of a $100.00 line, never enqueued
    world = await make_world(sessions, [10000])
    pk = await store_pending(sessions, world, 1000)
    # when its task is sent three times at once
    send(celery_app, settings, pk, 3)
    # then it is applied, exactly once
    assert (await wait_final_row(sessions, pk)).status == "APPLIED"
    await drain(sessions, celery_app, settings)
    assert await effects(sessions, world) == {
        "balance": 9000,
        "entries": [(-1000, pk)],
        "audit": ["WRITEOFF_APPLIED"],
    }
    assert await ledger_drift(sessions, world.tenant_id) == []


async def test_redelivered_task_for_a_rejected_command_is_a_no_op(
    client,
    sessions: SessionFactory,
    settings: Settings,
    celery_app: Celery,
) -> None:
    # given a write-off over the balance, rejected
    world = await make_world(sessions, [1000])
    token = world.token(settings)
    body = await gql(client, WRITE_OFF, write_off_input("k", [(world.line_ids[0], "10.01")]), token)
    final = await wait_final(client, body["data"]["writeOff"]["command"]["id"], token)
    assert (final["status"], final["errorCode"]) == ("REJECTED", "EXCEEDS_BALANCE")
    pk = decode_id(final["id"], "Command")
    assert pk is not None
    before = final_state(await command_row(sessions, pk))
    # when its task is delivered twice more
    send(celery_app, settings, pk, 2)
    await drain(sessions, celery_app, settings)
    # then it is still rejected, once, and nothing moved
    assert final_state(await command_row(sessions, pk)) == before
    assert await effects(sessions, world) == {
        "balance": 1000,
        "entries": [],
        "audit": ["WRITEOFF_REJECTED"],
    }


async def test_sweeper_applies_a_command_whose_message_was_never_sent(
    sessions: SessionFactory,
    settings: Settings,
) -> None:
    # given a stored PENDING $12.34 write-off whose broker message was never sent
    world = await make_world(sessions, [10000])
    pk = await store_pending(sessions, world, 1234)
    # when the worker's beat sweeper runs (after SWEEP_AFTER_SECONDS=3, every second)
    row = await wait_final_row(sessions, pk, within=15)
    # then the command was swept (only the sweeper bumps enqueued_at) once stale, and applied
    assert row.status == "APPLIED"
    assert row.enqueued_at - row.created_at >= timedelta(seconds=settings.sweep_after_seconds)
    assert row.finished_at is not None
    assert row.finished_at >= row.enqueued_at
    assert await effects(sessions, world) == {
        "balance": 8766,
        "entries": [(-1234, pk)],
        "audit": ["WRITEOFF_APPLIED"],
    }
    assert await ledger_drift(sessions, world.tenant_id) == []


async def test_stale_pending_returns_old_pending_commands_and_bumps_them(
    rollback_sessions: SessionFactory,
) -> None:
    # given three write-off commands: PENDING for an hour, just stored, and final for an hour
    world = await make_world(rollback_sessions, [10000])
    old, fresh, final = [
        await store_pending(rollback_sessions, world, 100, key) for key in ("old", "fresh", "final")
    ]
    async with rollback_sessions() as session, session.begin():
        hour_ago = func.now() - timedelta(hours=1)
        await session.execute(
            update(Command).where(Command.id.in_([old, final])).values(enqueued_at=hour_ago)
        )
        await session.execute(
            update(Command)
            .where(Command.id == final)
            .values(status="APPLIED", finished_at=hour_ago)
        )
    # when the stale ones (older than 30 minutes) are taken
    async with UnitOfWork(rollback_sessions) as uow:
        stale = await command_store.stale_pending(uow, timedelta(minutes=30))
        await uow.commit()
    # then only the old PENDING one is returned, and it is marked enqueued now
    assert stale == [(old, "WRITEOFF")]
    async with rollback_sessions() as session:
        now = await session.scalar(select(func.now()))
        enqueued = {
            pk: at
            for pk, at in await session.execute(
                select(Command.id, Command.enqueued_at).where(Command.id.in_([old, fresh, final]))
            )
        }
    assert enqueued[old] == now
    assert enqueued[fresh] == now
    assert enqueued[final] == now - timedelta(hours=1)
    # and taking them again returns nothing
    async with UnitOfWork(rollback_sessions) as uow:
        assert await command_store.stale_pending(uow, timedelta(minutes=30)) == []
