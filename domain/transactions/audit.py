"""Audit rows for work-in-progress transactions: created, applications added, changed, removed.

They move no money (posting does, through the ledger), but every mutation leaves its audit row
set: who changed what, in which request, with which scopes (recorded by the database)."""

from domain.models import AuditRow, Transaction, TransactionApplication
from domain.uow import UnitOfWork


def audit_application(
    uow: UnitOfWork,
    transaction: Transaction,
    application: TransactionApplication,
    actor: str,
    action: str,
    before: dict[str, int | None] | None = None,
) -> None:
    """One audit row for an application added, changed (with the amounts `before`) or removed."""
    details: dict[str, object] = {
        "application": application.id,
        "amount": application.amount_cents,
        "contractual": application.contractual_cents,
    }
    if before:
        details["before"] = before
    audit_transaction(
        uow, transaction, actor, action, details, application.account_id, application.visit_id
    )


def audit_transaction(
    uow: UnitOfWork,
    transaction: Transaction,
    actor: str,
    action: str,
    details: dict[str, object],
    account_id: int | None = None,
    visit_id: int | None = None,
) -> None:
    """One audit row for a change to a work-in-progress transaction (amounts in cents)."""
    uow.session.add(
        AuditRow(
            tenant_id=transaction.tenant_id,
            actor=actor,
            action=action,
            account_id=account_id,
            visit_id=visit_id,
            details={"transaction": transaction.id, "type": transaction.type, **details},
        )
    )
