"""Publication that survives a crash: nothing committed goes unannounced, at least once.

A batch that applies commands sets their `published_at` with their status and writes, in the
same statement (its claim: `domain.locks.claim_pending_commands`), one `publication_outbox` row
per tenant listing them. The worker publishes the batch's events after the commit and then
deletes those rows (`mark_published_alone`, one statement). Commands finished another way (a
bulk job's planning or chunk, say) are marked published the same way after their events go out,
with `published_at` NULL until then. A process that dies between the commit and that statement
leaves an outbox row, or unmarked commands, and the sweeper rebuilds their events from the
database (`unpublished`), publishes them and marks them (`mark_published`, which also stamps
`published_at` afresh).

Rebuilt events describe the present, not the moment the command was applied: an
`AccountChanged` carries the account's current version and balance, the current balances of the
lines the command posted to and the command's own entries; a `CommandFinished` the command's
final status; a bulk command its job's current `BulkJobProgress`. Delivery is therefore at least
once: a subscriber may get an event twice, or a version it has already passed, and drops it
(the `accountBalance` subscription does so itself: it never sends a version at or below one it
sent). A version that jumps tells it that it missed something: it re-reads the account.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import BigInteger, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.bulk.models import BulkJob
from domain.bulk.service import progress
from domain.events import AccountChanged, CommandFinished, EntryPosted, Event, LineBalance
from domain.locks import BULK_COMMAND_KINDS
from domain.models import Account, ChargeLine, Command, LedgerEntry, PublicationOutbox
from domain.uow import UnitOfWork


def _ids(ids: Iterable[int]) -> Any:
    """`ids` bound as one array parameter (`= ANY(:ids)`), however many there are."""
    return any_(bindparam("ids", sorted(set(ids)), type_=ARRAY(BigInteger)))


def command_ids_of(events: Sequence[Event]) -> set[int]:
    """The commands whose outcome `events` announce."""
    return {
        e.command_id
        for e in events
        if isinstance(e, AccountChanged | CommandFinished) and e.command_id is not None
    }


SENT = "WITH sent AS (DELETE FROM publication_outbox WHERE command_ids <@ $1::bigint[]) "
MARK_PUBLISHED = (
    SENT + "UPDATE commands SET published_at = now() "
    "WHERE id = ANY($1::bigint[]) AND published_at IS NULL"
)
MARK_REPUBLISHED = SENT + "UPDATE commands SET published_at = now() WHERE id = ANY($1::bigint[])"
OUTBOX_ROWS = 8
"""Outbox rows the sweeper takes at a time: whole rows, so that every command of one is
republished before the row goes."""


async def mark_published(uow: UnitOfWork, command_ids: Iterable[int]) -> None:
    """After republishing, in `uow`'s transaction: these commands' events went out now (their
    outbox rows, once wholly covered, are deleted)."""
    if ids := sorted(set(command_ids)):
        await (await uow.driver()).execute(MARK_REPUBLISHED, ids)


async def mark_published_alone(engine: AsyncEngine, command_ids: Iterable[int]) -> None:
    """After publishing: delete the outbox rows these commands cover and stamp any not yet
    marked, as one statement that is its own transaction (the server's implicit one): a round
    trip, where a unit of work takes three (BEGIN, the statement, COMMIT)."""
    if ids := sorted(set(command_ids)):
        async with engine.connect() as connection:
            raw = await connection.get_raw_connection()
            await cast(Any, raw.driver_connection).execute(MARK_PUBLISHED, ids)


async def unpublished(
    uow: UnitOfWork, older_than: timedelta, limit: int = 500
) -> tuple[list[int], list[Event]]:
    """Commands whose publication may have been lost `older_than` ago, and their events rebuilt
    from the database (see the module docstring): those of the oldest outbox rows (whole rows)
    and up to `limit` final commands never marked published; in command id order."""
    cutoff = datetime.now().astimezone() - older_than
    outboxed = await uow.session.scalars(
        select(PublicationOutbox.command_ids)
        .where(PublicationOutbox.created_at < cutoff)
        .order_by(PublicationOutbox.created_at, PublicationOutbox.id)
        .limit(OUTBOX_ROWS)
    )
    unmarked = await uow.session.scalars(
        select(Command.id)
        .where(
            Command.status != "PENDING",
            Command.published_at.is_(None),
            Command.finished_at < cutoff,
        )
        .order_by(Command.finished_at, Command.id)
        .limit(limit)
    )
    wanted = {i for ids in outboxed for i in ids}.union(unmarked)
    commands = list(await uow.session.scalars(select(Command).where(Command.id == _ids(wanted))))
    if not commands:
        return [], []
    changes = await _account_changes(uow, [c.id for c in commands])
    jobs = await _job_progress(uow, commands)
    events: list[Event] = []
    for c in sorted(commands, key=lambda c: c.id):
        events += changes.get(c.id, [])
        events.append(CommandFinished(c.tenant_id, c.id, c.status, c.error_code, c.error_message))
        if c.kind in BULK_COMMAND_KINDS and c.payload["job"] in jobs:
            events.append(jobs[c.payload["job"]])
    return [c.id for c in commands], events


async def _account_changes(uow: UnitOfWork, command_ids: list[int]) -> dict[int, list[Event]]:
    """Per command, one `AccountChanged` per account it posted to, as the account is now."""
    e = LedgerEntry
    entries = (
        await uow.session.execute(
            select(
                e.id,
                e.command_id,
                e.tenant_id,
                e.account_id,
                e.line_id,
                e.kind,
                e.amount_cents,
                e.memo_amount_cents,
                e.reverses_entry_id,
            )
            .where(e.command_id == _ids(command_ids))
            .order_by(e.id)
        )
    ).all()
    if not entries:
        return {}
    accounts = {
        row.id: row
        for row in await uow.session.execute(
            select(Account.id, Account.version, Account.balance_cents).where(
                Account.id == _ids(x.account_id for x in entries)
            )
        )
    }
    lines = {
        row.id: LineBalance(row.id, row.visit_id, row.balance_cents)
        for row in await uow.session.execute(
            select(ChargeLine.id, ChargeLine.visit_id, ChargeLine.balance_cents).where(
                ChargeLine.id == _ids(x.line_id for x in entries)
            )
        )
    }
    grouped: dict[tuple[int, int], list[Any]] = defaultdict(list)
    for x in entries:
        grouped[(x.command_id, x.account_id)].append(x)
    changes: dict[int, list[Event]] = defaultdict(list)
    for (command_id, account_id), posted in sorted(grouped.items()):
        account = accounts[account_id]
        changes[command_id].append(
            AccountChanged(
                tenant_id=posted[0].tenant_id,
                account_id=account_id,
                version=account.version,
                balance_cents=account.balance_cents,
                command_id=command_id,
                entry_ids=[x.id for x in posted],
                lines=[lines[i] for i in dict.fromkeys(x.line_id for x in posted)],
                entries=[
                    EntryPosted(
                        x.id,
                        x.line_id,
                        x.kind,
                        x.amount_cents,
                        x.memo_amount_cents,
                        x.reverses_entry_id,
                    )
                    for x in posted
                ],
            )
        )
    return changes


async def _job_progress(uow: UnitOfWork, commands: list[Command]) -> dict[int, Event]:
    """The current progress of the jobs the bulk commands among `commands` belong to."""
    job_ids = {c.payload["job"] for c in commands if c.kind in BULK_COMMAND_KINDS}
    if not job_ids:
        return {}
    jobs = await uow.session.scalars(select(BulkJob).where(BulkJob.id == _ids(job_ids)))
    return {job.id: progress(job) for job in jobs}
