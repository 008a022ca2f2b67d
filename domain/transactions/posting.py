"""Posting and voiding a transaction: checked and snapshotted here, applied by the worker.

Posting is refused until the applications sum exactly to the transaction amount. The
transaction moves to POSTING (or VOIDING) in the same database transaction that stores the
command, so it cannot be edited, posted or voided twice meanwhile.
"""

from collections import defaultdict

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.commands import store as command_store
from domain.commands.store import Enqueue
from domain.errors import DomainError
from domain.locks import lock_transaction
from domain.models import (
    ChargeLine,
    Command,
    LedgerEntry,
    Payer,
    Transaction,
    TransactionApplication,
)
from domain.money import format_cents
from domain.reversals.rules import parse_reason
from domain.transactions.rules import Application, PostingRequest, VoidRequest
from domain.transactions.service import editable, require_type_scope, resolve_code
from domain.uow import UnitOfWork


async def submit_post(
    uow: UnitOfWork,
    *,
    tenant_id: int,
    actor: str,
    scopes: frozenset[str],
    idempotency_key: str,
    transaction_id: int | None,
    enqueue: Enqueue,
) -> Command:
    """Store the posting command for a balanced work-in-progress transaction."""
    asked = {"txn": transaction_id}
    if replay := await command_store.find_replay(
        uow,
        tenant_id=tenant_id,
        idempotency_key=idempotency_key,
        kind="POST_TRANSACTION",
        payload=asked,
    ):
        return replay
    transaction = await editable(uow, tenant_id, transaction_id)
    require_type_scope(transaction.type, scopes)
    applications = await _applications(uow.session, transaction.id)
    _require_balanced(transaction, applications)
    request = PostingRequest(
        transaction.id,
        transaction.type,
        transaction.transaction_code_id,
        await _contractual_code(uow.session, tenant_id, transaction, applications),
        transaction.transaction_date,
        await _snapshot(uow.session, applications),
    )
    command = await command_store.submit_and_enqueue(
        uow,
        tenant_id=tenant_id,
        actor=actor,
        kind="POST_TRANSACTION",
        idempotency_key=idempotency_key,
        payload=request.to_payload(),
        account_ids=[a.account_id for a in applications],
        enqueue=enqueue,
        asked=asked,
    )
    transaction.status, transaction.post_command_id = "POSTING", command.id
    await uow.session.flush()
    return command


async def _applications(session: AsyncSession, transaction_id: int) -> list[TransactionApplication]:
    rows = await session.scalars(
        select(TransactionApplication)
        .where(TransactionApplication.transaction_id == transaction_id)
        .order_by(TransactionApplication.id)
    )
    return list(rows.all())


def _require_balanced(transaction: Transaction, applications: list[TransactionApplication]) -> None:
    if not applications:
        raise DomainError.of(
            "transactionId", "NO_APPLICATIONS", "Apply the transaction to at least one visit."
        )
    applied = sum(a.amount_cents for a in applications)
    difference = transaction.amount_cents - applied
    if difference:
        side = "left to apply" if difference > 0 else "applied too much"
        raise DomainError.of(
            "transactionId",
            "TRANSACTION_UNBALANCED",
            f"Applied {format_cents(applied)} of {format_cents(transaction.amount_cents)}: "
            f"{format_cents(abs(difference))} {side}.",
        )


async def _contractual_code(
    session: AsyncSession,
    tenant_id: int,
    transaction: Transaction,
    applications: list[TransactionApplication],
) -> int | None:
    """The payer's contractual write-off code, when a payment carries contractual lines."""
    if not any(a.contractual_cents for a in applications):
        return None
    payer = await session.get(Payer, transaction.payer_id)
    assert payer is not None
    return await resolve_code(session, tenant_id, payer, "CW", None)


async def _snapshot(
    session: AsyncSession, applications: list[TransactionApplication]
) -> tuple[Application, ...]:
    """Each application with its visit's lines (in line order), as the worker will lock them."""
    rows = await session.execute(
        select(ChargeLine.visit_id, ChargeLine.id)
        .where(ChargeLine.visit_id.in_([a.visit_id for a in applications]))
        .order_by(ChargeLine.line_number, ChargeLine.id)
    )
    lines: dict[int, list[int]] = defaultdict(list)
    for visit_id, line_id in rows:
        lines[visit_id].append(line_id)
    return tuple(
        Application(a.visit_id, tuple(lines[a.visit_id]), a.amount_cents, a.contractual_cents or 0)
        for a in applications
    )


async def submit_void(
    uow: UnitOfWork,
    *,
    tenant_id: int,
    actor: str,
    scopes: frozenset[str],
    idempotency_key: str,
    transaction_id: int | None,
    reason: str,
    enqueue: Enqueue,
) -> Command:
    """Store the command that reverses every entry a posted transaction wrote."""
    text = parse_reason(reason)
    asked = {"txn": transaction_id, "reason": text}
    if replay := await command_store.find_replay(
        uow,
        tenant_id=tenant_id,
        idempotency_key=idempotency_key,
        kind="VOID_TRANSACTION",
        payload=asked,
    ):
        return replay
    transaction = await lock_transaction(uow.session, tenant_id, transaction_id)
    if transaction is None:
        raise DomainError.of("transactionId", "TRANSACTION_NOT_FOUND", "No such transaction.")
    require_type_scope(transaction.type, scopes)
    if transaction.status != "POSTED":
        raise DomainError.of(
            "transactionId",
            "TRANSACTION_NOT_POSTED",
            f"The transaction is {transaction.status}; only a posted one can be voided.",
        )
    entries = (
        await uow.session.execute(
            select(LedgerEntry.id, LedgerEntry.line_id, LedgerEntry.account_id)
            .where(
                LedgerEntry.transaction_id == transaction.id,
                LedgerEntry.reverses_entry_id.is_(None),
            )
            .order_by(LedgerEntry.id)
        )
    ).all()
    request = VoidRequest(
        transaction.id,
        tuple(e.id for e in entries),
        tuple(dict.fromkeys(e.line_id for e in entries)),
        text,
    )
    command = await command_store.submit_and_enqueue(
        uow,
        tenant_id=tenant_id,
        actor=actor,
        kind="VOID_TRANSACTION",
        idempotency_key=idempotency_key,
        payload=request.to_payload(),
        account_ids=[e.account_id for e in entries],
        enqueue=enqueue,
        asked=asked,
    )
    transaction.status, transaction.void_command_id = "VOIDING", command.id
    transaction.void_reason = text
    await uow.session.flush()
    return command


async def contractual_applied(session: AsyncSession, visit_id: int) -> int:
    """Contractual write-offs already applied on a visit, net of their reversals."""
    total = await session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount_cents), 0)).where(
            LedgerEntry.visit_id == visit_id,
            LedgerEntry.kind == "ADJUSTMENT",
            LedgerEntry.category == "contractual",
        )
    )
    return -int(total or 0)
