"""Applying commands in batches: claim, lock once, judge each in arrival order, write once.

Each command is judged on its own against the balances its predecessors in the batch left, so
the outcome is exactly that of one-at-a-time application in id order; a rejected command
writes nothing but its status and an audit row, and does not disturb its neighbours.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain.adjustments.rules import AdjustmentRequest, decide_adjustment
from domain.errors import DomainError
from domain.events import CommandFinished
from domain.ledger.batch import LedgerBatch, Posting, Provenance
from domain.ledger.sql_rows import AUDIT_COLUMNS, PROVENANCE_COLUMNS, Writes
from domain.locked import ClaimedCommand, LockedBalances
from domain.locks import (
    claim_disjoint_batch,
    claim_pending_commands,
    lock_lines,
    more_pending_than,
    read_entries_under_lock,
)
from domain.reversals.rules import ReversalRequest, decide_reversal
from domain.tenants.policy import TenantPolicy, load_policy
from domain.transactions.rules import PostingRequest, VoidRequest, decide_posting, decide_void
from domain.transactions.status import settle_posting, settle_void
from domain.uow import UnitOfWork
from domain.writeoffs.rules import WriteOffRequest, decide_writeoff

Settle = Callable[[AsyncSession, ClaimedCommand, str, str | None, str | None], Awaitable[None]]


@dataclass(frozen=True)
class Handler:
    """How one kind of command reads its payload, names the rows it touches and decides its
    postings (the payload is parsed once, by `parse`)."""

    parse: Callable[[dict[str, Any]], Any]
    line_ids: Callable[[Any], list[int]]
    decide: Callable[[TenantPolicy, LockedBalances, Any], list[Posting]]
    entry_ids: Callable[[Any], list[int]] = lambda request: []
    settle: Settle | None = None
    """Called with each outcome, in the same transaction (e.g. a transaction's status)."""


HANDLERS: dict[str, Handler] = {
    "WRITEOFF": Handler(WriteOffRequest.from_payload, lambda r: r.line_ids, decide_writeoff),
    "ADJUSTMENT": Handler(
        AdjustmentRequest.from_payload, lambda r: list(r.line_ids), decide_adjustment
    ),
    "POST_TRANSACTION": Handler(
        PostingRequest.from_payload, lambda r: r.line_ids, decide_posting, settle=settle_posting
    ),
    "VOID_TRANSACTION": Handler(
        VoidRequest.from_payload,
        lambda r: list(r.line_ids),
        decide_void,
        entry_ids=lambda r: list(r.entry_ids),
        settle=settle_void,
    ),
    "REVERSAL": Handler(
        ReversalRequest.from_payload,
        lambda r: [r.line_id],
        decide_reversal,
        entry_ids=lambda r: [r.entry_id],
    ),
}


@dataclass(frozen=True)
class Outcome:
    command: ClaimedCommand
    status: str
    code: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class Drained:
    """What one batch of the drain claimed, and how the next one should claim."""

    claimed: int
    more: bool
    """Commands may be left that this batch did not take: drain on."""
    queue: bool = False
    """The next batch should claim the classic way and queue for balance rows rather than
    look for free ones: this one found none free, or queued for a single account (a hot one:
    nothing to share)."""


async def apply_next_batch(
    uow: UnitOfWork, limit: int, share: float = 1.0, queue: bool | None = False
) -> Drained:
    """Claim and apply up to `limit` PENDING commands.

    On accounts no other transaction holds (`domain.locks.claim_disjoint_batch`, with its
    `share`), unless `queue`: then the oldest commands no one has claimed, queueing for their
    balance rows (`lock_lines` waits) behind whoever holds them, as a hot account needs. A
    batch that finds nothing free claims nothing; the caller ends its transaction (releasing
    what it locked) and queues in the next. `queue=None` (a drain's first batch) queues
    unless more than one batch waits: a wake-up under light traffic is one classic claim,
    while a backlog is shared between workers from its first batch."""
    if queue is None:
        queue = not await more_pending_than(uow.session, limit)
    if queue:
        commands = await claim_pending_commands(uow.session, limit=limit, as_applied=True)
        accounts = {a for c in commands for a in c.account_ids}
        drained = Drained(len(commands), len(commands) == limit, queue=len(accounts) == 1)
    else:
        commands, complete = await claim_disjoint_batch(uow.session, limit=limit, share=share)
        if not commands:
            held = await more_pending_than(uow.session)
            return Drained(0, more=held, queue=held)
        drained = Drained(len(commands), more=not complete)
    await apply_claimed(uow, commands)
    return drained


async def apply(uow: UnitOfWork, command_id: int) -> str | None:
    """Apply one PENDING command; its final status, or None if there was nothing to do."""
    commands = await claim_pending_commands(uow.session, limit=1, ids=[command_id], as_applied=True)
    outcomes = await apply_claimed(uow, commands)
    return outcomes[0].status if outcomes else None


async def apply_claimed(uow: UnitOfWork, commands: list[ClaimedCommand]) -> list[Outcome]:
    """Apply commands claimed as applied (`claim_pending_commands(as_applied=True)` or
    `claim_disjoint_batch`, whose statement also listed them for publication), tenant by
    tenant (tenant id order, then command id order)."""
    outcomes: list[Outcome] = []
    ordered = sorted(commands, key=lambda c: (c.tenant_id, c.id))
    for tenant_id, group in groupby(ordered, key=lambda c: c.tenant_id):
        outcomes += await _apply_tenant(uow, tenant_id, list(group))
    await _finish(uow, outcomes)
    return outcomes


async def _apply_tenant(
    uow: UnitOfWork, tenant_id: int, commands: list[ClaimedCommand]
) -> list[Outcome]:
    policy = await load_policy(uow.session, tenant_id)
    handlers = [HANDLERS[c.kind] for c in commands]
    requests = [h.parse(c.payload) for h, c in zip(handlers, commands, strict=True)]
    pairs = list(zip(handlers, requests, strict=True))
    locked = await lock_lines(uow.session, tenant_id, {i for h, r in pairs for i in h.line_ids(r)})
    entry_ids = [i for h, r in pairs for i in h.entry_ids(r)]
    await read_entries_under_lock(uow.session, tenant_id, locked, entry_ids)
    batch = LedgerBatch(tenant_id, locked)
    outcomes = []
    for command, (handler, request) in zip(commands, pairs, strict=True):
        try:
            postings = handler.decide(policy, locked, request)
        except DomainError as error:
            outcomes.append(Outcome(command, "REJECTED", error.code, error.problems[0].message))
            continue
        batch.add(
            postings, command.actor, command.id, Provenance(command.request_id, command.scopes)
        )
        outcomes.append(Outcome(command, "APPLIED"))
    await batch.write(uow.session)
    uow.record_later(batch.events)
    return outcomes


async def _finish(uow: UnitOfWork, outcomes: list[Outcome]) -> None:
    """Settle each outcome (e.g. a posting's transaction status), write what a rejection
    changes (the claim wrote every command APPLIED) and record the commands' events."""
    for o in outcomes:
        if settle := HANDLERS[o.command.kind].settle:
            await settle(uow.session, o.command, o.status, o.code, o.message)
    await _write_rejections(uow, [o for o in outcomes if o.status == "REJECTED"])
    uow.record(
        *[
            CommandFinished(o.command.tenant_id, o.command.id, o.status, o.code, o.message)
            for o in outcomes
        ]
    )


async def _write_rejections(uow: UnitOfWork, rejected: list[Outcome]) -> None:
    """Each rejected command's status and error, and its audit row: one statement."""
    writes = Writes()
    writes.update(
        "commands",
        "id",
        {"status": "TEXT", "error_code": "TEXT", "error_message": "TEXT"},
        [
            {
                "id": o.command.id,
                "status": o.status,
                "error_code": o.code,
                "error_message": o.message,
            }
            for o in rejected
        ],
    )
    writes.insert(
        "audit_rows",
        AUDIT_COLUMNS | PROVENANCE_COLUMNS,
        [
            {
                "tenant_id": o.command.tenant_id,
                "command_id": o.command.id,
                "actor": o.command.actor,
                "action": f"{o.command.kind}_REJECTED",
                "reason": o.code,
                "note": o.message,
                "request_id": o.command.request_id,
                "scopes": o.command.scopes,
            }
            for o in rejected
        ],
    )
    await writes.send(uow.session)
