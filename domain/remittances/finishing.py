"""Closing a remittance when the job that posts or reverses it closes (in that chunk's
transaction, after the job row: the last lock).

Posting: the one payment transaction (PY, the payer's default code) is booked with one
application per visit paid, its entries already carry its id; the provider-level adjustments
(PLB) are marked posted against the remittance; the remittance is POSTED with what was applied
and what stayed unapplied. Reversing: the transaction is VOIDED (every entry of it negated) and
the remittance REVERSED.
"""

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, select, text, update

from domain.bulk.models import BulkJob
from domain.ledger.sql_rows import insert_rows
from domain.models import AuditRow, LedgerEntry, Transaction
from domain.remittances.models import Remittance, RemittanceClaim, RemittanceProviderAdjustment
from domain.uow import UnitOfWork

APPLICATION_COLUMNS = {
    "tenant_id": "BIGINT",
    "transaction_id": "BIGINT",
    "account_id": "BIGINT",
    "visit_id": "BIGINT",
    "amount_cents": "BIGINT",
}


async def finish_posting(uow: UnitOfWork, job: BulkJob, command_id: int) -> None:
    """Book the payment transaction and close the remittance."""
    p, session = job.params, uow.session
    paid = (
        await session.execute(
            select(
                LedgerEntry.account_id, LedgerEntry.visit_id, -func.sum(LedgerEntry.amount_cents)
            )
            .where(
                LedgerEntry.tenant_id == job.tenant_id,
                LedgerEntry.transaction_id == p["transaction"],
                LedgerEntry.kind == "PAYMENT",
            )
            .group_by(LedgerEntry.account_id, LedgerEntry.visit_id)
        )
    ).all()
    total = int(sum(cents for _, _, cents in paid))
    if total > 0:
        await _book(uow, job, [(a, v, int(c)) for a, v, c in paid if c > 0], total)
    if job.status != "DONE":  # cancelled or failed: what was not attempted stays unapplied
        await session.execute(
            update(RemittanceClaim)
            .where(
                RemittanceClaim.remittance_id == p["remittance"],
                RemittanceClaim.outcome == "PENDING",
            )
            .values(
                outcome="SKIPPED",
                code=f"JOB_{job.status}",
                message=f"Not attempted: the posting job was {job.status}.",
                unapplied_cents=RemittanceClaim.paid_cents,
            )
        )
    unapplied = await session.scalar(
        select(func.coalesce(func.sum(RemittanceClaim.unapplied_cents), 0)).where(
            RemittanceClaim.remittance_id == p["remittance"]
        )
    )
    await session.execute(
        update(RemittanceProviderAdjustment)
        .where(RemittanceProviderAdjustment.remittance_id == p["remittance"])
        .values(posted_at=func.now())
    )
    await session.execute(
        update(Remittance)
        .where(Remittance.id == p["remittance"])
        .values(
            status="POSTED",
            posted_cents=max(total, 0),
            unapplied_cents=int(unapplied or 0),
            transaction_id=p["transaction"] if total > 0 else None,
        )
    )
    details = {"posted": total, "unapplied": int(unapplied or 0)}
    _audit(uow, job, command_id, "REMITTANCE_POSTED", details)


async def _book(uow: UnitOfWork, job: BulkJob, paid: list[tuple[Any, ...]], total: int) -> None:
    p = job.params
    uow.session.add(
        Transaction(
            id=p["transaction"],
            tenant_id=job.tenant_id,
            payer_id=p["payer"],
            type="PY",
            transaction_code_id=p["code"],
            transaction_date=date.fromisoformat(p["date"]),
            amount_cents=total,
            status="POSTED",
            created_by=job.actor,
            posted_at=datetime.now(UTC),
        )
    )
    await uow.session.flush()
    await insert_rows(
        uow.session,
        "transaction_applications",
        APPLICATION_COLUMNS,
        [
            {
                "tenant_id": job.tenant_id,
                "transaction_id": p["transaction"],
                "account_id": account_id,
                "visit_id": visit_id,
                "amount_cents": cents,
            }
            for account_id, visit_id, cents in paid
        ],
    )


async def finish_reversal(uow: UnitOfWork, job: BulkJob, command_id: int) -> None:
    """Void the remittance's transaction and mark the remittance REVERSED."""
    remittance = await uow.session.scalar(
        select(Remittance).where(Remittance.reversal_job_id == job.id)
    )
    if remittance is None:
        return
    if remittance.transaction_id is not None:
        await uow.session.execute(
            text(
                "UPDATE transactions SET status = 'VOIDED', void_reason = :reason, "
                "voided_at = now() WHERE id = :id AND status = 'POSTED' AND NOT EXISTS ("
                " SELECT 1 FROM ledger_entries e WHERE e.transaction_id = :id"
                " GROUP BY e.transaction_id HAVING SUM(e.amount_cents) <> 0)"
            ),
            {"id": remittance.transaction_id, "reason": job.params["reason"]},
        )
    remittance.status = "REVERSED" if job.status == "DONE" else "POSTED"
    await uow.session.flush()
    _audit(uow, job, command_id, "REMITTANCE_REVERSED", {"remittance": remittance.id})


def _audit(
    uow: UnitOfWork, job: BulkJob, command_id: int, action: str, details: dict[str, Any]
) -> None:
    """An audit row naming the closing command, so it carries the request's id and scopes."""
    uow.session.add(
        AuditRow(
            tenant_id=job.tenant_id,
            command_id=command_id,
            actor=job.actor,
            action=action,
            details={"job": job.id, **job.params, **details},
        )
    )
