"""Submitting a reversal: find the entry, check the scope its kind needs, store, enqueue.

The answer also lists what else changed the line since the original, so a user sees why the
balance after the reversal is not the one before the original.
"""

from dataclasses import dataclass

from sqlalchemy import select

from domain.commands import store as command_store
from domain.commands.store import Enqueue
from domain.errors import DomainError
from domain.models import Command, LedgerEntry
from domain.reversals.rules import SCOPE_TO_REVERSE, ReversalRequest, parse_reason, reversal_refusal
from domain.uow import UnitOfWork

MAX_CHANGES_LISTED = 100


@dataclass(frozen=True)
class ReversalSubmitted:
    command: Command
    original: LedgerEntry
    changes_since: list[LedgerEntry]


async def submit_reversal(
    uow: UnitOfWork,
    *,
    tenant_id: int,
    actor: str,
    scopes: frozenset[str],
    idempotency_key: str,
    entry_id: int | None,
    reason: str,
    enqueue: Enqueue,
) -> ReversalSubmitted:
    """Store a PENDING reversal of `entry_id`, or raise why it cannot be reversed."""
    text = parse_reason(reason)
    entry = await _entry(uow, tenant_id, entry_id)
    needed = SCOPE_TO_REVERSE.get(entry.kind)
    if needed is not None and needed not in scopes:
        raise DomainError.of(
            "entryId", "FORBIDDEN", f"Reversing a {entry.kind} entry needs scope {needed}."
        )
    payload = ReversalRequest(entry.id, entry.line_id, text).to_payload()
    command = await command_store.find_replay(
        uow, tenant_id=tenant_id, idempotency_key=idempotency_key, kind="REVERSAL", payload=payload
    )
    if command is None:
        await _refuse_if_not_reversible(uow, entry)
        command = await command_store.submit_and_enqueue(
            uow,
            tenant_id=tenant_id,
            actor=actor,
            kind="REVERSAL",
            idempotency_key=idempotency_key,
            payload=payload,
            account_ids=[entry.account_id],
            enqueue=enqueue,
        )
    return ReversalSubmitted(command, entry, await changes_since(uow, entry, command.id))


async def _entry(uow: UnitOfWork, tenant_id: int, entry_id: int | None) -> LedgerEntry:
    entry = None
    if entry_id is not None:
        entry = await uow.session.scalar(
            select(LedgerEntry).where(
                LedgerEntry.id == entry_id, LedgerEntry.tenant_id == tenant_id
            )
        )
    if entry is None:
        raise DomainError.of("entryId", "ENTRY_NOT_FOUND", "No such ledger entry.")
    return entry


async def _refuse_if_not_reversible(uow: UnitOfWork, entry: LedgerEntry) -> None:
    reversed_by = await uow.session.scalar(
        select(LedgerEntry.id).where(LedgerEntry.reverses_entry_id == entry.id)
    )
    refusal = reversal_refusal(
        entry.kind, entry.reverses_entry_id, reversed_by, entry.transaction_id
    )
    if refusal:
        raise refusal


async def changes_since(uow: UnitOfWork, entry: LedgerEntry, command_id: int) -> list[LedgerEntry]:
    """Entries posted on the same line after `entry` and before the reversal was asked for
    (command `command_id`), oldest first (at most 100): a replay answers as the request did."""
    asked_at = select(Command.created_at).where(Command.id == command_id).scalar_subquery()
    rows = await uow.session.scalars(
        select(LedgerEntry)
        .where(
            LedgerEntry.line_id == entry.line_id,
            LedgerEntry.id > entry.id,
            LedgerEntry.created_at < asked_at,
        )
        .order_by(LedgerEntry.id)
        .limit(MAX_CHANGES_LISTED)
    )
    return list(rows.all())
