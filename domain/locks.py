"""Every row lock arledger takes, in one place.

Order, always: the command rows (SKIP LOCKED, so never a wait), then per tenant in tenant order
accounts, visits and charge lines, each in primary-key order; after them only transaction rows
(a posting's or void's status) and, last of all, a bulk job's row (its counters) and then the
remittance that job posts or reverses. A settings
change locks only its tenant row, which no balance path takes; the API locks a transaction or a
bulk job row on its own, never with balance rows. Every balance read that feeds a decision is
made here, under the lock.
"""

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, and_, case, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from domain.bulk.models import BulkJob
from domain.ledger.sql_rows import among
from domain.models import (
    Account,
    ChargeLine,
    Command,
    LedgerEntry,
    Tenant,
    Transaction,
    Visit,
)
from domain.remittances.models import Remittance


@dataclass
class LockedLine:
    """A charge line's state as read under its row lock."""

    id: int
    visit_id: int
    account_id: int
    balance_cents: int
    protected: bool


@dataclass
class LockedVisit:
    """A visit's state as read under its row lock."""

    id: int
    account_id: int
    state: str
    balance_cents: int


@dataclass
class LockedAccount:
    """An account's state as read under its row lock."""

    id: int
    balance_cents: int
    version: int
    ledger_chain_hash: bytes
    """The head of its hash chain (`domain.ledger.chain`); the batch moves it as it posts."""


@dataclass
class LockedEntry:
    """A ledger entry on a locked line, and the reversal it already has (if any).

    No reversal can be written while its line is locked, so `reversed_by` stays true for the
    transaction; the batch sets it to -1 when it reverses the entry itself.
    """

    id: int
    line_id: int
    kind: str
    amount_cents: int
    memo_amount_cents: int | None
    reason: str | None
    category: str | None
    carc_group: str | None
    carc_reason: str | None
    transaction_code_id: int | None
    reverses_entry_id: int | None
    reversed_by: int | None
    transaction_id: int | None = None


@dataclass
class LockedBalances:
    """The balance rows one command may change, all locked by this transaction."""

    accounts: dict[int, LockedAccount]
    visits: dict[int, LockedVisit]
    lines: dict[int, LockedLine]
    entries: dict[int, LockedEntry] = field(default_factory=dict)


BULK_COMMAND_KINDS = ("BULK_PLAN", "BULK_CHUNK")


@dataclass(frozen=True)
class ClaimedCommand:
    """A PENDING command this transaction holds (row-locked): what applying it needs."""

    id: int
    tenant_id: int
    kind: str
    payload: dict[str, Any]
    actor: str
    request_id: str | None
    scopes: list[str] | None


_PICK = """FROM commands
WHERE status = 'PENDING' AND (kind = ANY(CAST(:bulk_kinds AS TEXT[]))) = :bulk {only}
ORDER BY id LIMIT :limit FOR UPDATE SKIP LOCKED"""
_CLAIM = "SELECT id, tenant_id, kind, CAST(payload AS TEXT), actor, request_id, scopes " + _PICK
_CLAIM_AS_APPLIED = f"""WITH picked AS (SELECT id {_PICK})
UPDATE commands c
SET status = 'APPLIED', finished_at = clock_timestamp(), published_at = clock_timestamp()
FROM picked WHERE c.id = picked.id
RETURNING c.id, c.tenant_id, c.kind, CAST(c.payload AS TEXT), c.actor, c.request_id, c.scopes"""


async def claim_pending_commands(
    session: AsyncSession,
    *,
    limit: int,
    ids: list[int] | None = None,
    bulk: bool = False,
    as_applied: bool = False,
) -> list[ClaimedCommand]:
    """Lock up to `limit` PENDING commands, oldest first, skipping any another worker holds.

    Final commands and commands being applied elsewhere are never returned: this is what makes
    a redelivered task a no-op. A bulk job's planning and chunks are claimed only when `bulk`
    (each by its own task), never by the batched drain. Plain rows, not ORM objects (for a
    batch those cost more than the statement); usually the transaction's first statement.

    `as_applied` (the batched drain): the same statement also writes each command's outcome
    as APPLIED, with `finished_at` and `published_at`, so that the status UPDATE is not made
    under the balance locks taken next; the transaction rewrites the few it rejects before it
    commits, and nothing of it is visible to others before then.
    """
    params: dict[str, Any] = {"limit": limit, "bulk_kinds": list(BULK_COMMAND_KINDS), "bulk": bulk}
    only = ""
    if ids is not None:
        params["ids"], only = ids, "AND id = ANY(CAST(:ids AS BIGINT[]))"
    claim = _CLAIM_AS_APPLIED if as_applied else _CLAIM
    rows = await session.execute(text(claim.format(only=only)), params)
    return [ClaimedCommand(r[0], r[1], r[2], json.loads(r[3]), *r[4:]) for r in rows]


def stale_pending_commands(cutoff: datetime, limit: int) -> Select[int]:
    """Ids of PENDING commands last enqueued before `cutoff`, locked, skipping held ones."""
    return (
        select(Command.id)
        .where(Command.status == "PENDING", Command.enqueued_at < cutoff)
        .order_by(Command.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )


async def lock_lines(
    session: AsyncSession, tenant_id: int, line_ids: Iterable[int]
) -> LockedBalances:
    """Lock the given lines of `tenant_id` with their visits and accounts, in PK order.

    Lines of another tenant, or that do not exist, are simply absent from the result.
    """
    wanted = sorted(set(line_ids))

    def owning(column: Any) -> Any:
        return select(column).where(among(ChargeLine.id, wanted), ChargeLine.tenant_id == tenant_id)

    accounts = await session.execute(
        select(Account.id, Account.balance_cents, Account.version, Account.ledger_chain_hash)
        .where(Account.id.in_(owning(ChargeLine.account_id)))
        .order_by(Account.id)
        .with_for_update(of=Account)
    )
    visits = await session.execute(
        select(Visit.id, Visit.account_id, Visit.state, Visit.balance_cents)
        .where(Visit.id.in_(owning(ChargeLine.visit_id)))
        .order_by(Visit.id)
        .with_for_update(of=Visit)
    )
    lines = await session.execute(
        select(
            ChargeLine.id,
            ChargeLine.visit_id,
            ChargeLine.account_id,
            ChargeLine.balance_cents,
            ChargeLine.protected,
        )
        .where(among(ChargeLine.id, wanted), ChargeLine.tenant_id == tenant_id)
        .order_by(ChargeLine.id)
        .with_for_update()
    )
    return LockedBalances(
        accounts={r.id: LockedAccount(*r) for r in accounts},
        visits={r.id: LockedVisit(*r) for r in visits},
        lines={r.id: LockedLine(*r) for r in lines},
    )


async def read_entries_under_lock(
    session: AsyncSession, tenant_id: int, locked: LockedBalances, entry_ids: Iterable[int]
) -> None:
    """Fill `locked.entries` with the wanted entries that sit on lines this transaction holds.

    Call after `lock_lines`: with the line locked, whether an entry is reversed cannot change.
    """
    wanted = sorted(set(entry_ids))
    if not wanted:
        return
    reversal = aliased(LedgerEntry)
    rows = await session.execute(
        select(
            LedgerEntry.id,
            LedgerEntry.line_id,
            LedgerEntry.kind,
            LedgerEntry.amount_cents,
            LedgerEntry.memo_amount_cents,
            LedgerEntry.reason,
            LedgerEntry.category,
            LedgerEntry.carc_group,
            LedgerEntry.carc_reason,
            LedgerEntry.transaction_code_id,
            LedgerEntry.reverses_entry_id,
            reversal.id,
            LedgerEntry.transaction_id,
        )
        .outerjoin(reversal, reversal.reverses_entry_id == LedgerEntry.id)
        .where(
            among(LedgerEntry.id, wanted),
            LedgerEntry.tenant_id == tenant_id,
            among(LedgerEntry.line_id, locked.lines),
        )
    )
    for row in rows:
        locked.entries[row[0]] = LockedEntry(*cast(tuple[Any, ...], row))


async def lock_tenant(session: AsyncSession, tenant_id: int) -> None:
    """Lock the tenant row, serialising settings changes (balance paths never take it)."""
    await session.execute(select(Tenant.id).where(Tenant.id == tenant_id).with_for_update())


async def lock_transaction(
    session: AsyncSession, tenant_id: int, transaction_id: int | None
) -> Any:
    """Lock a transaction row of `tenant_id` (its status guards editing and posting), or None.

    Taken before any balance row; the worker never takes it (the status set here keeps a
    transaction's posting and voiding to one command at a time).
    """
    if transaction_id is None:
        return None
    return await session.scalar(
        select(Transaction)
        .where(Transaction.id == transaction_id, Transaction.tenant_id == tenant_id)
        .with_for_update()
    )


async def lock_bulk_job(session: AsyncSession, tenant_id: int, job_id: int | None) -> Any:
    """Lock a bulk job row of `tenant_id` (planning, cancelling, reversing), or None.

    Never taken while balance rows are held, except by `advance_bulk_job`, which is always the
    last lock of a chunk's transaction; nothing that holds a job row then locks balance rows.
    """
    if job_id is None:
        return None
    return await session.scalar(
        select(BulkJob)
        .where(BulkJob.id == job_id, BulkJob.tenant_id == tenant_id)
        .with_for_update()
    )


async def lock_remittance(session: AsyncSession, tenant_id: int, remittance_id: int | None) -> Any:
    """Lock a remittance row of `tenant_id` (starting, reviewing or reversing its posting).

    Taken on its own, never while balance rows are held; the worker's chunks only UPDATE it,
    after the job row, when the job that posts or reverses it closes.
    """
    if remittance_id is None:
        return None
    return await session.scalar(
        select(Remittance)
        .where(Remittance.id == remittance_id, Remittance.tenant_id == tenant_id)
        .with_for_update()
    )


async def advance_bulk_job(
    session: AsyncSession, job_id: int, applied: int, skipped: int, cancelled: int, cents: int
) -> Any:
    """Add a finished chunk's counts to its job (row-locked until commit); returns the job.

    The chunk that finishes last closes the job: RUNNING becomes DONE and `finished_at` is set
    (a cancelled or failed job keeps its status).
    """
    last = BulkJob.done_chunks + 1 >= BulkJob.total_chunks
    return await session.scalar(
        update(BulkJob)
        .where(BulkJob.id == job_id)
        .values(
            applied_items=BulkJob.applied_items + applied,
            skipped_items=BulkJob.skipped_items + skipped,
            cancelled_items=BulkJob.cancelled_items + cancelled,
            applied_cents=BulkJob.applied_cents + cents,
            done_chunks=BulkJob.done_chunks + 1,
            status=case((and_(last, BulkJob.status == "RUNNING"), "DONE"), else_=BulkJob.status),
            finished_at=case((last, func.now()), else_=BulkJob.finished_at),
        )
        .returning(BulkJob)
    )


async def void_posted_transactions(
    session: AsyncSession, tenant_id: int, transaction_ids: list[int], command_id: int, reason: str
) -> set[int]:
    """Move the POSTED ones of these transactions to VOIDED (row-locked); returns their ids.

    Taken after the balance rows, like a void command's status change; a transaction that is
    already VOIDING or VOIDED is left alone, so a bulk and a single void never both reverse it.
    """
    if not transaction_ids:
        return set()
    result = await session.scalars(
        update(Transaction)
        .where(
            among(Transaction.id, sorted(transaction_ids)),
            Transaction.tenant_id == tenant_id,
            Transaction.status == "POSTED",
        )
        .values(
            status="VOIDED", voided_at=func.now(), void_reason=reason, void_command_id=command_id
        )
        .returning(Transaction.id)
    )
    return set(result.all())
