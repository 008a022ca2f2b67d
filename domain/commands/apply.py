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
from domain.ledger.batch import LedgerBatch, Posting
from domain.ledger.sql_rows import AUDIT_COLUMNS, insert_rows, update_rows
from domain.locks import (
    LockedBalances,
    claim_pending_commands,
    lock_lines,
    read_entries_under_lock,
)
from domain.models import Command
from domain.reversals.rules import ReversalRequest, decide_reversal
from domain.tenants.policy import TenantPolicy, load_policy
from domain.transactions.rules import PostingRequest, VoidRequest, decide_posting, decide_void
from domain.transactions.status import settle_posting, settle_void
from domain.uow import UnitOfWork
from domain.writeoffs.rules import WriteOffRequest, decide_writeoff

Settle = Callable[[AsyncSession, Command, str, str | None, str | None], Awaitable[None]]


@dataclass(frozen=True)
class Handler:
    """How one kind of command names the rows it touches and decides its postings."""

    line_ids: Callable[[dict[str, Any]], list[int]]
    decide: Callable[[TenantPolicy, LockedBalances, dict[str, Any]], list[Posting]]
    entry_ids: Callable[[dict[str, Any]], list[int]] = lambda payload: []
    settle: (
        Callable[[AsyncSession, Command, str, str | None, str | None], Awaitable[None]] | None
    ) = None
    """Called with each outcome, in the same transaction (e.g. a transaction's status)."""


HANDLERS: dict[str, Handler] = {
    "WRITEOFF": Handler(
        line_ids=lambda payload: WriteOffRequest.from_payload(payload).line_ids,
        decide=lambda policy, locked, payload: decide_writeoff(
            policy, locked, WriteOffRequest.from_payload(payload)
        ),
    ),
    "ADJUSTMENT": Handler(
        line_ids=lambda payload: list(AdjustmentRequest.from_payload(payload).line_ids),
        decide=lambda policy, locked, payload: decide_adjustment(
            policy, locked, AdjustmentRequest.from_payload(payload)
        ),
    ),
    "POST_TRANSACTION": Handler(
        line_ids=lambda payload: PostingRequest.from_payload(payload).line_ids,
        decide=lambda policy, locked, payload: decide_posting(
            policy, locked, PostingRequest.from_payload(payload)
        ),
        settle=settle_posting,
    ),
    "VOID_TRANSACTION": Handler(
        line_ids=lambda payload: list(VoidRequest.from_payload(payload).line_ids),
        decide=lambda policy, locked, payload: decide_void(
            policy, locked, VoidRequest.from_payload(payload)
        ),
        entry_ids=lambda payload: list(VoidRequest.from_payload(payload).entry_ids),
        settle=settle_void,
    ),
    "REVERSAL": Handler(
        line_ids=lambda payload: [ReversalRequest.from_payload(payload).line_id],
        decide=lambda policy, locked, payload: decide_reversal(
            policy, locked, ReversalRequest.from_payload(payload)
        ),
        entry_ids=lambda payload: [ReversalRequest.from_payload(payload).entry_id],
    ),
}


@dataclass(frozen=True)
class Outcome:
    command: Command
    status: str
    code: str | None = None
    message: str | None = None


async def apply_next_batch(uow: UnitOfWork, limit: int) -> int:
    """Claim and apply up to `limit` PENDING commands; returns how many were claimed."""
    commands = await claim_pending_commands(uow.session, limit=limit)
    await apply_claimed(uow, commands)
    return len(commands)


async def apply(uow: UnitOfWork, command_id: int) -> str | None:
    """Apply one PENDING command; its final status, or None if there was nothing to do."""
    commands = await claim_pending_commands(uow.session, limit=1, ids=[command_id])
    outcomes = await apply_claimed(uow, commands)
    return outcomes[0].status if outcomes else None


async def apply_claimed(uow: UnitOfWork, commands: list[Command]) -> list[Outcome]:
    """Apply claimed commands, tenant by tenant (tenant id order, then command id order)."""
    outcomes: list[Outcome] = []
    ordered = sorted(commands, key=lambda c: (c.tenant_id, c.id))
    for tenant_id, group in groupby(ordered, key=lambda c: c.tenant_id):
        outcomes += await _apply_tenant(uow, tenant_id, list(group))
    await _finish(uow, outcomes)
    return outcomes


async def _apply_tenant(uow: UnitOfWork, tenant_id: int, commands: list[Command]) -> list[Outcome]:
    policy = await load_policy(uow.session, tenant_id)
    line_ids = {i for c in commands for i in HANDLERS[c.kind].line_ids(c.payload)}
    locked = await lock_lines(uow.session, tenant_id, line_ids)
    entry_ids = [i for c in commands for i in HANDLERS[c.kind].entry_ids(c.payload)]
    await read_entries_under_lock(uow.session, tenant_id, locked, entry_ids)
    batch = LedgerBatch(tenant_id, locked)
    outcomes = []
    for command in commands:
        try:
            postings = HANDLERS[command.kind].decide(policy, locked, command.payload)
        except DomainError as error:
            outcomes.append(Outcome(command, "REJECTED", error.code, error.problems[0].message))
            continue
        batch.add(postings, command.actor, command.id)
        outcomes.append(Outcome(command, "APPLIED"))
    uow.record(*await batch.flush(uow.session))
    return outcomes


async def _finish(uow: UnitOfWork, outcomes: list[Outcome]) -> None:
    """Write every final status (and an audit row per rejection) in two statements."""
    if not outcomes:
        return
    await update_rows(
        uow.session,
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
            for o in outcomes
        ],
        extra="finished_at = clock_timestamp()",
    )
    for o in outcomes:
        if settle := HANDLERS[o.command.kind].settle:
            await settle(uow.session, o.command, o.status, o.code, o.message)
    rejected = [o for o in outcomes if o.status == "REJECTED"]
    if rejected:
        await insert_rows(
            uow.session,
            "audit_rows",
            AUDIT_COLUMNS,
            [
                {
                    "tenant_id": o.command.tenant_id,
                    "command_id": o.command.id,
                    "actor": o.command.actor,
                    "action": f"{o.command.kind}_REJECTED",
                    "reason": o.code,
                    "note": o.message,
                }
                for o in rejected
            ],
        )
    uow.record(
        *[
            CommandFinished(o.command.tenant_id, o.command.id, o.status, o.code, o.message)
            for o in outcomes
        ]
    )
