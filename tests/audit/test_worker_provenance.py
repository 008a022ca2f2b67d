"""The worker writes each command's request id and scopes into its audit rows itself.

It has them from the claim; the `audit_rows_provenance` trigger, which copies them from the
command with one lookup per row, stays the fallback for writers that do not give them.
"""

from sqlalchemy import select, text

from domain.commands import apply as applying
from domain.db import SessionFactory
from domain.locks import claim_pending_commands
from domain.models import AuditRow, Command
from domain.uow import UnitOfWork
from tests.support.factories import make_world, store_pending

SCOPES = ["billing.payment.write", "billing.read"]


async def test_a_batch_writes_each_commands_provenance_without_the_trigger(
    rollback_sessions: SessionFactory,
) -> None:
    # given a $5.00 line, a write-off that fits and one that does not, stored by two requests
    world = await make_world(rollback_sessions, [500])
    fits = await store_pending(rollback_sessions, world, "1.00", "provenance-fits")
    too_big = await store_pending(rollback_sessions, world, "10.00", "provenance-too-big")
    async with rollback_sessions() as session:
        for command_id, request in ((fits, "req-fits"), (too_big, "req-too-big")):
            await session.execute(
                text("UPDATE commands SET request_id = :r, scopes = :s WHERE id = :id"),
                {"r": request, "s": SCOPES, "id": command_id},
            )
        # and the trigger that would copy them from the command switched off
        await session.execute(text("ALTER TABLE audit_rows DISABLE TRIGGER audit_rows_provenance"))
        await session.commit()
    # when both are applied in one batch
    async with UnitOfWork(rollback_sessions) as uow:
        claimed = await claim_pending_commands(
            uow.session, limit=10, ids=[fits, too_big], as_applied=True
        )
        outcomes = await applying.apply_claimed(uow, claimed)
        await uow.commit()
    # then each audit row carries its own command's request id and scopes
    assert [o.status for o in outcomes] == ["APPLIED", "REJECTED"]
    async with rollback_sessions() as session:
        rows = await session.execute(
            select(AuditRow.command_id, AuditRow.action, AuditRow.request_id, AuditRow.scopes)
            .where(AuditRow.command_id.in_([fits, too_big]))
            .order_by(AuditRow.command_id)
        )
        statuses = await session.execute(
            select(Command.id, Command.status, Command.error_code)
            .where(Command.id.in_([fits, too_big]))
            .order_by(Command.id)
        )
        assert [tuple(r) for r in rows] == [
            (fits, "WRITEOFF_APPLIED", "req-fits", SCOPES),
            (too_big, "WRITEOFF_REJECTED", "req-too-big", SCOPES),
        ]
        assert [tuple(r) for r in statuses] == [
            (fits, "APPLIED", None),
            (too_big, "REJECTED", "EXCEEDS_BALANCE"),
        ]
