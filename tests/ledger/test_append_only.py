"""The ledger and the audit trail refuse UPDATE, DELETE and TRUNCATE in the database itself."""

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from domain.db import SessionFactory
from domain.models import AuditRow, LedgerEntry
from tests.support.factories import make_world

EDITS = {
    "ledger_entries": [
        "UPDATE ledger_entries SET amount_cents = 1 WHERE tenant_id = :tenant",
        "DELETE FROM ledger_entries WHERE tenant_id = :tenant",
        "TRUNCATE ledger_entries CASCADE",
    ],
    "audit_rows": [
        "UPDATE audit_rows SET reason = 'edited' WHERE tenant_id = :tenant",
        "DELETE FROM audit_rows WHERE tenant_id = :tenant",
        "TRUNCATE audit_rows",
    ],
}


async def _snapshot(sessions: SessionFactory, tenant_id: int) -> tuple[object, ...]:
    async with sessions() as session:
        entries = await session.execute(
            select(func.count(), func.sum(LedgerEntry.amount_cents)).where(
                LedgerEntry.tenant_id == tenant_id
            )
        )
        audits = await session.execute(
            select(func.count(), func.string_agg(func.coalesce(AuditRow.reason, ""), ",")).where(
                AuditRow.tenant_id == tenant_id
            )
        )
        return (*entries.one(), *audits.one())


@pytest.mark.parametrize(
    "statement", [s for statements in EDITS.values() for s in statements], ids=str
)
async def test_an_edit_of_the_ledger_or_audit_trail_is_refused(
    rollback_sessions: SessionFactory, statement: str
) -> None:
    # given a tenant with two charge entries and their audit rows
    world = await make_world(rollback_sessions, [1200, 800])
    before = await _snapshot(rollback_sessions, world.tenant_id)
    assert before[:2] == (2, 2000)
    # when the statement runs
    async with rollback_sessions() as session:
        with pytest.raises(DBAPIError, match="append-only"):
            async with session.begin():
                await session.execute(text(statement), {"tenant": world.tenant_id})
    # then nothing changed
    assert await _snapshot(rollback_sessions, world.tenant_id) == before
