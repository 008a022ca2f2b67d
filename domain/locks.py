"""Every row lock arledger takes, in one place.

Order, always: the command rows (SKIP LOCKED, so never a wait), then per tenant in tenant order
accounts, visits and charge lines, each in primary-key order; after them only transaction rows
(a posting's or void's status) and, last of all, a bulk job's row (its counters) and then the
remittance that job posts or reverses. A settings
change locks only its tenant row, which no balance path takes; the API locks a transaction or a
bulk job row on its own, never with balance rows. Every balance read that feeds a decision is
made here, under the lock.

The batched drain's claim (`claim_disjoint_batch`) takes accounts first, and command rows after
them, both with SKIP LOCKED: it never waits, so no order is needed, and the accounts it holds
are already its own when `lock_lines` comes to them; no other path holds a visit or a line
without its account. A batch that finds nothing free queues the classic way instead.
"""

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, and_, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from domain.bulk.models import BulkJob
from domain.db import driver_connection
from domain.ledger.sql_rows import among
from domain.locked import (
    ClaimedCommand,
    LockedAccount,
    LockedBalances,
    LockedEntry,
    LockedLine,
    LockedVisit,
)
from domain.models import (
    Command,
    LedgerEntry,
    Tenant,
    Transaction,
)
from domain.remittances.models import Remittance

BULK_COMMAND_KINDS = ("BULK_PLAN", "BULK_CHUNK")


_PICK = """FROM commands c
WHERE status = 'PENDING' AND (kind = ANY($1::text[])) = $2 {only}
ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED"""
_CLAIMED = (
    "c.id, c.tenant_id, c.kind, CAST(c.payload AS TEXT), c.actor, c.request_id, c.scopes, "
    "c.account_ids"
)
"""What a `ClaimedCommand` is made of (`_claimed`), in its order."""
_CLAIM = f"SELECT {_CLAIMED} {_PICK}"


def _applied(picked: str, *more: str) -> str:
    """Write the commands the CTE `picked` names APPLIED, finished and published now, and list
    them for publication (see `claim_pending_commands`); return what a `ClaimedCommand` needs,
    then `more`. It continues a `WITH` list."""
    returned = ", ".join([_CLAIMED, *more])
    return f""", applied AS (
    UPDATE commands c
    SET status = 'APPLIED', finished_at = clock_timestamp(), published_at = clock_timestamp()
    FROM {picked} WHERE c.id = {picked}.id
    RETURNING {returned}
), listed AS (
    INSERT INTO publication_outbox (tenant_id, command_ids, created_at)
    SELECT tenant_id, array_agg(id ORDER BY id), clock_timestamp() FROM applied
    GROUP BY tenant_id ORDER BY tenant_id
)
SELECT * FROM applied"""


def _claimed(row: Any) -> ClaimedCommand:
    """A row that begins with `_CLAIMED`'s columns, as a claimed command."""
    return ClaimedCommand(row[0], row[1], row[2], json.loads(row[3]), *row[4:8])


_CLAIM_AS_APPLIED = f"WITH picked AS (SELECT id {_PICK})" + _applied("picked")


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
    commits, and nothing of it is visible to others before then. It also lists them for
    publication: one `publication_outbox` row per tenant (`domain.commands.republish`), whose
    `created_at` is the clock, so the sweeper's wait counts from no earlier than `finished_at`.
    """
    params: list[Any] = [list(BULK_COMMAND_KINDS), bulk, limit]
    only = ""
    if ids is not None:
        params.append(ids)
        only = "AND id = ANY($4::bigint[])"
    claim = _CLAIM_AS_APPLIED if as_applied else _CLAIM
    rows = await (await driver_connection(session)).fetch(claim.format(only=only), *params)
    return [_claimed(row) for row in rows]


_DRAIN_PENDING = "status = 'PENDING' AND NOT (kind = ANY($1::text[]))"
"""The commands the batched drain applies; `$1` is `BULK_COMMAND_KINDS`."""
_CLAIM_DISJOINT = f"""WITH oldest AS MATERIALIZED (
    SELECT id, account_ids FROM commands WHERE {_DRAIN_PENDING} ORDER BY id LIMIT $3
), wanted AS (
    SELECT account_id, min(id) AS first_id FROM oldest, unnest(account_ids) AS account_id
    GROUP BY account_id
), held AS (
    SELECT a.id FROM accounts a JOIN wanted w ON a.id = w.account_id ORDER BY w.first_id, a.id
    LIMIT (SELECT CASE WHEN (SELECT count(*) FROM oldest) <= $2 THEN count(*) ELSE
        GREATEST(CEIL(count(*) * $4::double precision),
        (SELECT cardinality(account_ids) FROM oldest ORDER BY id LIMIT 1)) END FROM wanted)
    FOR UPDATE OF a SKIP LOCKED
), mine AS MATERIALIZED (
    SELECT ARRAY(SELECT id FROM held) || ARRAY(
        SELECT account_id FROM wanted w WHERE NOT EXISTS (SELECT FROM accounts a
        WHERE a.id = w.account_id)) AS ids
), judged AS MATERIALIZED (
    SELECT o.id, o.account_ids, o.account_ids <@ mine.ids AS own,
        o.account_ids && mine.ids AS touches
    FROM oldest o, mine
), blocked AS MATERIALIZED (
    SELECT id, account_ids FROM judged WHERE touches AND NOT own
), eligible AS MATERIALIZED (
    SELECT j.id, j.account_ids FROM judged j WHERE j.own AND NOT EXISTS (
        SELECT FROM blocked b WHERE b.id < j.id AND b.account_ids && j.account_ids)
    ORDER BY j.id LIMIT $2
), locked AS MATERIALIZED (
    SELECT c.id, c.status, e.account_ids FROM commands c JOIN eligible e ON e.id = c.id
    ORDER BY c.id FOR UPDATE OF c SKIP LOCKED
), skipped AS MATERIALIZED (
    SELECT e.id, e.account_ids FROM eligible e WHERE e.id NOT IN (SELECT id FROM locked)
), claimable AS (
    SELECT l.id FROM locked l WHERE l.status = 'PENDING' AND NOT EXISTS (
        SELECT FROM skipped s WHERE s.id < l.id AND s.account_ids && l.account_ids)
)
""" + _applied("claimable", "(SELECT count(*) FROM oldest) AS seen")


async def claim_disjoint_batch(
    session: AsyncSession, *, limit: int, share: float
) -> tuple[list[ClaimedCommand], bool]:
    """The batched drain's claim: up to `limit` PENDING commands, claimed as APPLIED (see
    `claim_pending_commands`), on accounts no other transaction holds, which it locks first;
    and whether they are every PENDING command it saw.

    It looks at the oldest `2 * limit` PENDING commands and the accounts they wait on, in the
    order their first command arrived. When they are more than one batch, it locks at most
    `share` of those accounts (and all of the oldest command's, if free), so that a second
    worker finds the rest free and drains them beside it instead of queueing behind the same
    balance rows; otherwise all it can. It skips accounts another transaction holds (SKIP
    LOCKED never waits, so this needs no order). It claims the commands whose accounts are all
    its own, in id order; on each of its accounts it stops before the first command that also
    needs an account held elsewhere, or that another transaction has claimed
    (`claim_pending_commands`, then `lock_lines` waits), so an account's commands are applied
    in id order. An account id that names no account holds nobody up (the command is claimed
    and judged: there is nothing to post on).

    Empty when every PENDING command is on accounts or command rows held elsewhere (or there
    is none: `more_pending_than` tells which); the caller then claims with `claim_pending_commands`
    in a fresh transaction and queues.
    """
    raw = await driver_connection(session)
    rows = await raw.fetch(_CLAIM_DISJOINT, list(BULK_COMMAND_KINDS), limit, 2 * limit, share)
    return [_claimed(row) for row in rows], bool(rows) and len(rows) == rows[0][8]


_MORE_PENDING = (
    "SELECT count(*) > $2 FROM"
    f" (SELECT FROM commands WHERE {_DRAIN_PENDING} LIMIT $2 + 1) AS waiting"
)


async def more_pending_than(session: AsyncSession, count: int = 0) -> bool:
    """Whether more than `count` commands wait for the batched drain (held elsewhere or not);
    it reads at most `count + 1` entries of the pending index."""
    found = await (await driver_connection(session)).fetchval(
        _MORE_PENDING, list(BULK_COMMAND_KINDS), count
    )
    return bool(found)


def stale_pending_commands(cutoff: datetime, limit: int) -> Select[int]:
    """Ids of PENDING commands last enqueued before `cutoff`, locked, skipping held ones."""
    return (
        select(Command.id)
        .where(Command.status == "PENDING", Command.enqueued_at < cutoff)
        .order_by(Command.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )


_OWNED = "SELECT {column} FROM charge_lines WHERE id = ANY($1::bigint[]) AND tenant_id = $2"
_LOCK_ACCOUNTS = f"""SELECT id, balance_cents, version, ledger_chain_hash FROM accounts
WHERE id IN ({_OWNED.format(column="account_id")}) ORDER BY id FOR UPDATE OF accounts"""
_LOCK_VISITS = f"""SELECT id, account_id, state, balance_cents FROM visits
WHERE id IN ({_OWNED.format(column="visit_id")}) ORDER BY id FOR UPDATE OF visits"""
_LOCK_LINES = """SELECT id, visit_id, account_id, balance_cents, protected FROM charge_lines
WHERE id = ANY($1::bigint[]) AND tenant_id = $2 ORDER BY id FOR UPDATE OF charge_lines"""


async def lock_lines(
    session: AsyncSession, tenant_id: int, line_ids: Iterable[int]
) -> LockedBalances:
    """Lock the given lines of `tenant_id` with their visits and accounts, in PK order.

    Lines of another tenant, or that do not exist, are simply absent from the result. Three
    fixed statements on the driver (prepared once per connection): every batch runs them."""
    wanted = sorted(set(line_ids))
    raw = await driver_connection(session)
    accounts = await raw.fetch(_LOCK_ACCOUNTS, wanted, tenant_id)
    visits = await raw.fetch(_LOCK_VISITS, wanted, tenant_id)
    lines = await raw.fetch(_LOCK_LINES, wanted, tenant_id)
    return LockedBalances(
        accounts={r[0]: LockedAccount(*r) for r in accounts},
        visits={r[0]: LockedVisit(*r) for r in visits},
        lines={r[0]: LockedLine(*r) for r in lines},
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
