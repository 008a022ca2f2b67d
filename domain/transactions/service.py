"""Work-in-progress transactions: create one, add, change and remove its applications.

Nothing here changes a balance; posting (`domain.transactions.posting`) goes through the worker.
Every edit locks the transaction row and requires WORK_IN_PROGRESS.
"""

from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.errors import DomainError, Problem
from domain.locks import lock_transaction
from domain.models import (
    TRANSACTION_TYPES,
    Account,
    Payer,
    PayerDefaultCode,
    Tenant,
    Transaction,
    TransactionApplication,
    TransactionCode,
    Visit,
)
from domain.money import positive_cents
from domain.transactions.audit import audit_application, audit_transaction
from domain.transactions.rules import EFFECTS
from domain.uow import UnitOfWork


def require_type_scope(type_: str, scopes: frozenset[str]) -> None:
    """Refuse a caller without the scope this transaction type needs."""
    needed = EFFECTS[type_].scope
    if needed not in scopes:
        raise DomainError.of("type", "FORBIDDEN", f"{type_} transactions need scope {needed}.")


async def create_transaction(
    uow: UnitOfWork,
    *,
    tenant_id: int,
    actor: str,
    scopes: frozenset[str],
    payer_id: int | None,
    type_: str,
    code: str | None,
    transaction_date: date | None,
    amount: str,
) -> Transaction:
    """A new WORK_IN_PROGRESS transaction; the code defaults from the payer's configuration."""
    problems: list[Problem] = []
    if type_ not in TRANSACTION_TYPES:
        raise DomainError.of(
            "type", "UNKNOWN_TYPE", f"Type must be one of: {', '.join(TRANSACTION_TYPES)}."
        )
    require_type_scope(type_, scopes)
    session = uow.session
    payer = None if payer_id is None else await session.get(Payer, payer_id)
    if payer is None or payer.tenant_id != tenant_id:
        problems.append(Problem("payerId", "PAYER_NOT_FOUND", "No such payer."))
    cents = positive_cents("amount", amount, problems)
    code_id = None if payer is None else await resolve_code(session, tenant_id, payer, type_, code)
    if problems:
        raise DomainError(*problems)
    assert payer is not None and cents is not None and code_id is not None
    transaction = Transaction(
        tenant_id=tenant_id,
        payer_id=payer.id,
        type=type_,
        transaction_code_id=code_id,
        transaction_date=transaction_date or await tenant_today(session, tenant_id),
        amount_cents=cents,
        created_by=actor,
    )
    session.add(transaction)
    await session.flush()
    await session.refresh(transaction)
    audit_transaction(
        uow, transaction, actor, "TRANSACTION_CREATED", {"amount": cents, "payer": payer.id}
    )
    return transaction


async def resolve_code(
    session: AsyncSession, tenant_id: int, payer: Payer, type_: str, code: str | None
) -> int:
    """The code given (which must be of `type_`), else the payer's default for `type_`."""
    if code is None or not code.strip():
        default = await session.scalar(
            select(PayerDefaultCode.transaction_code_id).where(
                PayerDefaultCode.payer_id == payer.id, PayerDefaultCode.type == type_
            )
        )
        if default is None:
            raise DomainError.of(
                "code",
                "NO_DEFAULT_CODE",
                f"Payer {payer.code} has no default {type_} code; enter a code.",
            )
        return default
    row = await session.scalar(
        select(TransactionCode).where(
            TransactionCode.tenant_id == tenant_id, TransactionCode.code == code.strip()
        )
    )
    if row is None:
        raise DomainError.of("code", "CODE_NOT_FOUND", f"No transaction code {code!r}.")
    if row.type != type_:
        raise DomainError.of(
            "code", "CODE_TYPE_MISMATCH", f"Code {row.code} is a {row.type} code, not {type_}."
        )
    return row.id


async def tenant_today(session: AsyncSession, tenant_id: int) -> date:
    """Today in the tenant's time zone."""
    zone = await session.scalar(select(Tenant.time_zone).where(Tenant.id == tenant_id))
    return datetime.now(ZoneInfo(zone or "UTC")).date()


async def editable(uow: UnitOfWork, tenant_id: int, transaction_id: int | None) -> Transaction:
    """The transaction, locked, if it is still WORK_IN_PROGRESS."""
    transaction = await lock_transaction(uow.session, tenant_id, transaction_id)
    if transaction is None:
        raise DomainError.of("transactionId", "TRANSACTION_NOT_FOUND", "No such transaction.")
    if transaction.status != "WORK_IN_PROGRESS":
        raise DomainError.of(
            "transactionId",
            "TRANSACTION_NOT_EDITABLE",
            f"The transaction is {transaction.status}; only work in progress can change.",
        )
    return transaction


async def add_application(
    uow: UnitOfWork,
    *,
    tenant_id: int,
    actor: str,
    scopes: frozenset[str],
    transaction_id: int | None,
    account_number: str,
    visit_number: int | None,
    amount: str,
    contractual_amount: str | None,
) -> TransactionApplication:
    """Apply part of the transaction to a visit (the account's newest when none is named)."""
    transaction = await editable(uow, tenant_id, transaction_id)
    require_type_scope(transaction.type, scopes)
    visit = await find_visit(uow.session, tenant_id, account_number, visit_number)
    problems: list[Problem] = []
    cents = positive_cents("amount", amount, problems)
    contractual = _contractual(transaction, contractual_amount, problems)
    if problems:
        raise DomainError(*problems)
    taken = await uow.session.scalar(
        select(TransactionApplication.id).where(
            TransactionApplication.transaction_id == transaction.id,
            TransactionApplication.visit_id == visit.id,
        )
    )
    if taken is not None:
        raise DomainError.of(
            "visitNumber", "VISIT_ALREADY_APPLIED", "This visit already has an application."
        )
    application = TransactionApplication(
        tenant_id=tenant_id,
        transaction_id=transaction.id,
        account_id=visit.account_id,
        visit_id=visit.id,
        amount_cents=cents,
        contractual_cents=contractual,
    )
    uow.session.add(application)
    await uow.session.flush()
    audit_application(uow, transaction, application, actor, "APPLICATION_ADDED")
    return application


async def find_visit(
    session: AsyncSession, tenant_id: int, account_number: str, visit_number: int | None
) -> Visit:
    """The account's visit `visit_number`, or its newest visit."""
    account_id = await session.scalar(
        select(Account.id).where(
            Account.tenant_id == tenant_id, Account.account_number == account_number.strip()
        )
    )
    if account_id is None:
        raise DomainError.of("accountNumber", "ACCOUNT_NOT_FOUND", "No such account.")
    query = select(Visit).where(Visit.account_id == account_id)
    if visit_number is not None:
        query = query.where(Visit.visit_number == visit_number)
    visit = await session.scalar(
        query.order_by(Visit.date_of_service.desc(), Visit.visit_number.desc()).limit(1)
    )
    if visit is None:
        raise DomainError.of("visitNumber", "VISIT_NOT_FOUND", "The account has no such visit.")
    return visit


def _contractual(transaction: Transaction, text: str | None, problems: list[Problem]) -> int | None:
    """A payment's contractual write-off amount (0 or blank: none)."""
    if text is None or not text.strip():
        return None
    if transaction.type != "PY":
        problems.append(
            Problem(
                "contractualAmount",
                "CONTRACTUAL_ONLY_WITH_PAYMENT",
                "A contractual write-off line goes with a payment (PY) only.",
            )
        )
        return None
    inner: list[Problem] = []
    cents = positive_cents("contractualAmount", text, inner)
    if inner and text.strip() not in ("0", "0.0", "0.00"):
        problems.extend(inner)
    return cents


async def change_application(
    uow: UnitOfWork,
    *,
    tenant_id: int,
    actor: str,
    scopes: frozenset[str],
    application_id: int | None,
    amount: str,
    contractual_amount: str | None,
) -> TransactionApplication:
    """Change an application's amounts while its transaction is work in progress."""
    application = await _application(uow, tenant_id, application_id)
    transaction = await editable(uow, tenant_id, application.transaction_id)
    require_type_scope(transaction.type, scopes)
    problems: list[Problem] = []
    cents = positive_cents("amount", amount, problems)
    contractual = _contractual(transaction, contractual_amount, problems)
    if problems:
        raise DomainError(*problems)
    assert cents is not None
    before = {"amount": application.amount_cents, "contractual": application.contractual_cents}
    application.amount_cents, application.contractual_cents = cents, contractual
    await uow.session.flush()
    audit_application(uow, transaction, application, actor, "APPLICATION_CHANGED", before)
    return application


async def remove_application(
    uow: UnitOfWork,
    *,
    tenant_id: int,
    actor: str,
    scopes: frozenset[str],
    application_id: int | None,
) -> Transaction:
    """Remove an application while its transaction is work in progress."""
    application = await _application(uow, tenant_id, application_id)
    transaction = await editable(uow, tenant_id, application.transaction_id)
    require_type_scope(transaction.type, scopes)
    audit_application(uow, transaction, application, actor, "APPLICATION_REMOVED")
    await uow.session.delete(application)
    await uow.session.flush()
    return transaction


async def _application(
    uow: UnitOfWork, tenant_id: int, application_id: int | None
) -> TransactionApplication:
    application = None
    if application_id is not None:
        application = await uow.session.get(TransactionApplication, application_id)
    if application is None or application.tenant_id != tenant_id:
        raise DomainError.of("applicationId", "APPLICATION_NOT_FOUND", "No such application.")
    return application
