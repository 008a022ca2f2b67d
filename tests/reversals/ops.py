"""Helpers for the reversal and audit-trail tests: the mutations and queries they send, applied
write-offs, adjustments and reversals over HTTP, and what the database holds afterwards."""

from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
from sqlalchemy import func, select

from api.ids import decode_id
from domain.db import SessionFactory
from domain.ledger.batch import Posting, post
from domain.locks import lock_lines
from domain.models import Account, AuditRow, ChargeLine, Command, LedgerEntry, Payer, Visit
from tests.support.client import WRITE_OFF, gid, gql, wait_final, write_off_input
from tests.support.factories import World

READ = "billing.read"
PAYMENT = "billing.payment.write"
ADJUST = "billing.adjustment.write"
ALL_WRITES = f"{READ} {PAYMENT} {ADJUST}"

REVERSE_ENTRY = """
mutation($input: ReverseEntryInput!) {
  reverseEntry(input: $input) {
    command { id kind status }
    original { id kind amount }
    changesSince { id kind amount reason }
    userErrors { field code message }
  }
}"""
APPLY_ADJUSTMENT = """
mutation($input: ApplyAdjustmentInput!) {
  applyAdjustment(input: $input) {
    command { id status } reducesBalance carc userErrors { field code message }
  }
}"""
ENTRY = """
query($id: ID!) {
  node(id: $id) {
    ... on LedgerEntry {
      id kind amount memoAmount affectsBalance reason category carcGroup carcReason actor
      commandId reversesEntryId reverses { id } reversedBy { id } changesSince { id kind amount }
    }
  }
}"""
AUDIT_TRAIL = """
query($subject: ID!, $first: Int! = 50, $after: String) {
  auditTrail(subject: $subject, first: $first, after: $after) {
    nodes {
      id actor action reason note balanceBefore balanceAfter commandId entryId accountId visitId
      lineId pairedAuditId
    }
    pageInfo { hasNextPage endCursor }
  }
}"""


def reverse_input(key: str, entry_id: int | str, reason: str = "posted in error") -> dict[str, Any]:
    """Variables for reverseEntry; an int is a LedgerEntry pk, a str is sent as it is."""
    entry = gid("LedgerEntry", entry_id) if isinstance(entry_id, int) else entry_id
    return {"input": {"idempotencyKey": key, "entryId": entry, "reason": reason}}


def adjustment_input(
    key: str,
    line_id: int,
    amount: str,
    category: str = "contract-correction",
    reason: str = "contracted-rate-correction",
) -> dict[str, Any]:
    return {
        "input": {
            "idempotencyKey": key,
            "target": gid("ChargeLine", line_id),
            "category": category,
            "reason": reason,
            "amount": amount,
        }
    }


@dataclass(frozen=True)
class Applied:
    """A command applied by the worker, and the ledger entries it wrote."""

    command_id: str
    command_pk: int
    entry_ids: list[int]

    @property
    def entry_id(self) -> int:
        assert len(self.entry_ids) == 1, self.entry_ids
        return self.entry_ids[0]


async def entries_of(sessions: SessionFactory, command_pk: int) -> list[int]:
    """Ids of the ledger entries a command wrote, in order."""
    async with sessions() as session:
        rows = await session.scalars(
            select(LedgerEntry.id)
            .where(LedgerEntry.command_id == command_pk)
            .order_by(LedgerEntry.id)
        )
        return list(rows.all())


async def _applied(
    client: httpx.AsyncClient,
    sessions: SessionFactory,
    token: str,
    payload: dict[str, Any],
) -> Applied:
    assert payload["userErrors"] == [], payload
    command_id = payload["command"]["id"]
    final = await wait_final(client, command_id, token)
    assert (final["status"], final["errorCode"]) == ("APPLIED", None), final
    pk = decode_id(command_id, "Command")
    assert pk is not None
    return Applied(command_id, pk, await entries_of(sessions, pk))


async def write_off(
    client: httpx.AsyncClient,
    sessions: SessionFactory,
    token: str,
    key: str,
    line_id: int,
    amount: str,
) -> Applied:
    """A charity write-off, submitted over HTTP and applied by the worker."""
    body = await gql(client, WRITE_OFF, write_off_input(key, [(line_id, amount)]), token)
    return await _applied(client, sessions, token, body["data"]["writeOff"])


async def adjust(
    client: httpx.AsyncClient,
    sessions: SessionFactory,
    token: str,
    key: str,
    line_id: int,
    amount: str,
    category: str = "contract-correction",
) -> Applied:
    """A manual adjustment of one line, submitted over HTTP and applied by the worker."""
    variables = adjustment_input(key, line_id, amount, category)
    body = await gql(client, APPLY_ADJUSTMENT, variables, token)
    return await _applied(client, sessions, token, body["data"]["applyAdjustment"])


async def reverse(
    client: httpx.AsyncClient,
    sessions: SessionFactory,
    token: str,
    key: str,
    entry_id: int,
    reason: str = "posted in error",
) -> Applied:
    """A reversal, submitted over HTTP and applied by the worker."""
    body = await gql(client, REVERSE_ENTRY, reverse_input(key, entry_id, reason), token)
    return await _applied(client, sessions, token, body["data"]["reverseEntry"])


async def entry_node(client: httpx.AsyncClient, token: str, entry_id: int) -> dict[str, Any]:
    body = await gql(client, ENTRY, {"id": gid("LedgerEntry", entry_id)}, token)
    assert "errors" not in body, body
    node: dict[str, Any] = body["data"]["node"]
    return node


async def line_balance(sessions: SessionFactory, line_id: int) -> int | None:
    async with sessions() as session:
        return await session.scalar(
            select(ChargeLine.balance_cents).where(ChargeLine.id == line_id)
        )


@dataclass(frozen=True)
class Stored:
    """How many commands, ledger entries and audit rows a tenant has."""

    commands: int
    entries: int
    audit_rows: int


async def stored(sessions: SessionFactory, tenant_id: int) -> Stored:
    async with sessions() as session:
        counts = [
            await session.scalar(
                select(func.count()).select_from(model).where(model.tenant_id == tenant_id)
            )
            for model in (Command, LedgerEntry, AuditRow)
        ]
    return Stored(*(int(c or 0) for c in counts))


@dataclass(frozen=True)
class Place:
    """A visit (on an existing or a new account) with charge lines, added to a world."""

    account_id: int
    visit_id: int
    line_ids: list[int]


async def add_visit(
    sessions: SessionFactory, world: World, balances: list[int], *, new_account: bool = False
) -> Place:
    """Another visit of the world's tenant, on its account or on a new one, with lines whose
    opening balances are CHARGE entries posted through the ledger (as `make_world` does)."""
    async with sessions() as session, session.begin():
        account_id = world.account_id
        if new_account:
            account = Account(tenant_id=world.tenant_id, account_number="A2", name="Sam Roe")
            session.add(account)
            await session.flush()
            account_id = account.id
        payer_id = await session.scalar(select(Payer.id).where(Payer.tenant_id == world.tenant_id))
        visits = await session.scalar(
            select(func.count()).select_from(Visit).where(Visit.account_id == account_id)
        )
        visit = Visit(
            tenant_id=world.tenant_id,
            account_id=account_id,
            visit_number=int(visits or 0) + 1,
            claim_number=f"{world.slug}-{account_id}-{int(visits or 0) + 1}",
            date_of_service=date(2026, 10, 2),
            payer_id=payer_id,
            state="open",
            billed_cents=sum(balances),
        )
        session.add(visit)
        await session.flush()
        lines = [
            ChargeLine(
                tenant_id=world.tenant_id,
                account_id=account_id,
                visit_id=visit.id,
                line_number=n + 1,
                procedure_code="99214",
                billed_cents=cents,
            )
            for n, cents in enumerate(balances)
        ]
        session.add_all(lines)
        await session.flush()
        locked = await lock_lines(session, world.tenant_id, [line.id for line in lines])
        await post(
            session,
            world.tenant_id,
            locked,
            [Posting(line.id, line.billed_cents, "CHARGE", "CHARGE_POSTED") for line in lines],
            "seed",
            None,
        )
    return Place(account_id, visit.id, [line.id for line in lines])


async def reversal_audit(sessions: SessionFactory, command_pk: int) -> list[tuple[object, ...]]:
    """The audit rows a reversal command wrote, oldest first, with their pairing."""
    async with sessions() as session:
        rows = await session.execute(
            select(
                AuditRow.id,
                AuditRow.action,
                AuditRow.entry_id,
                AuditRow.actor,
                AuditRow.reason,
                AuditRow.balance_before_cents,
                AuditRow.balance_after_cents,
                AuditRow.paired_audit_id,
            )
            .where(AuditRow.command_id == command_pk)
            .order_by(AuditRow.id)
        )
        return [tuple(row) for row in rows]


async def entry_row(sessions: SessionFactory, entry_id: int) -> tuple[object, ...]:
    """kind, amount, memo, reverses, reason, category, CARC group and reason, actor, line."""
    async with sessions() as session:
        row = (
            await session.execute(
                select(
                    LedgerEntry.kind,
                    LedgerEntry.amount_cents,
                    LedgerEntry.memo_amount_cents,
                    LedgerEntry.reverses_entry_id,
                    LedgerEntry.reason,
                    LedgerEntry.category,
                    LedgerEntry.carc_group,
                    LedgerEntry.carc_reason,
                    LedgerEntry.actor,
                    LedgerEntry.line_id,
                ).where(LedgerEntry.id == entry_id)
            )
        ).one()
        return tuple(row)


def codes(payload: dict[str, object]) -> list[tuple[object, object]]:
    """A payload's userErrors as (field, code)."""
    errors = payload["userErrors"]
    assert isinstance(errors, list)
    return [(e["field"], e["code"]) for e in errors]


async def noop_enqueue(command_id: int) -> None:
    """An enqueue that sends nothing: the command stays PENDING until a task is sent."""
    return None
