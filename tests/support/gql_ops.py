"""Helpers for the adjustment and tenant-settings tests: the operations they send over HTTP and
what the database holds afterwards."""

from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import func, select

from domain.db import SessionFactory
from domain.models import Account, AuditRow, ChargeLine, Command, LedgerEntry
from domain.tenants.policy import load_policy
from domain.tenants.settings import DEFAULT_CATEGORIES, snapshot
from tests.support.client import WRITE_OFF, gid, gql, wait_final, write_off_input
from tests.support.factories import World

READ = "billing.read"
PAYMENT = "billing.payment.write"
ADJUST = "billing.adjustment.write"
ADMIN = "billing.admin"
EVERY_SCOPE = f"{READ} {PAYMENT} {ADJUST} {ADMIN}"

APPLY_ADJUSTMENT = """
mutation($input: ApplyAdjustmentInput!) {
  applyAdjustment(input: $input) {
    command { id kind status } reducesBalance carc userErrors { field code message }
  }
}"""
UPDATE_SETTINGS = """
mutation($input: TenantSettingsInput!) {
  updateTenantSettings(input: $input) {
    settings { smallBalanceThreshold writeOffReasons blockingVisitStates adjustmentReasons
      syntheticCarcGroup adjustmentCategories { code carc active } }
    userErrors { field code message }
  }
}"""
TENANT_SETTINGS = """
{
  tenantSettings {
    smallBalanceThreshold writeOffReasons blockingVisitStates adjustmentReasons syntheticCarcGroup
    adjustmentCategories { code name reducesBalance carcGroup carcReason carc active }
    history { nodes { action actor reason details } }
  }
}"""
ENTRY_FIELDS = "kind amount memoAmount affectsBalance reason category carcGroup carcReason"
VISIT = f"""
{{
  account(accountNumber: "A1") {{
    balance version writeOffTotal adjustmentTotal
    visits {{
      balance writeOffTotal adjustmentTotal
      adjustments {{ {ENTRY_FIELDS} }}
      writeOffs {{ {ENTRY_FIELDS} }}
      writeOffBlockedReason {{ code message }}
      adjustmentBlockedReason {{ code message }}
      chargeLines {{
        balance
        writeOffBlockedReason {{ code message }}
        adjustmentBlockedReason {{ code message }}
      }}
    }}
  }}
}}"""


def adjustment_input(
    key: str,
    target: str,
    amount: Any,
    category: str = "contract-correction",
    reason: str = "contracted-rate-correction",
    note: str | None = None,
) -> dict[str, Any]:
    """Variables for applyAdjustment; `target` is a global id."""
    return {
        "input": {
            "idempotencyKey": key,
            "target": target,
            "category": category,
            "reason": reason,
            "amount": amount,
            "note": note,
        }
    }


def line_gid(world: World, n: int = 0) -> str:
    return gid("ChargeLine", world.line_ids[n])


def visit_gid(world: World) -> str:
    return gid("Visit", world.visit_id)


async def adjust(
    client: httpx.AsyncClient, variables: dict[str, Any], token: str | None
) -> dict[str, Any]:
    """The applyAdjustment payload (asserting there are no top-level errors)."""
    body = await gql(client, APPLY_ADJUSTMENT, variables, token)
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"]["applyAdjustment"]
    return payload


async def adjust_and_wait(
    client: httpx.AsyncClient, variables: dict[str, Any], token: str
) -> dict[str, Any]:
    """Submit an adjustment that must be stored, and return its final command."""
    payload = await adjust(client, variables, token)
    assert payload["userErrors"] == [], payload
    return await wait_final(client, payload["command"]["id"], token)


async def update_settings(
    client: httpx.AsyncClient, change: dict[str, Any], token: str | None
) -> dict[str, Any]:
    """The updateTenantSettings payload (asserting there are no top-level errors)."""
    body = await gql(client, UPDATE_SETTINGS, {"input": change}, token)
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"]["updateTenantSettings"]
    return payload


async def must_update_settings(
    client: httpx.AsyncClient, change: dict[str, Any], token: str
) -> dict[str, Any]:
    payload = await update_settings(client, change, token)
    assert payload["userErrors"] == [], payload
    settings: dict[str, Any] = payload["settings"]
    return settings


async def read(client: httpx.AsyncClient, query: str, token: str) -> dict[str, Any]:
    body = await gql(client, query, None, token)
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


def errors(payload: dict[str, Any]) -> list[tuple[str | None, str]]:
    """(field, code) of a payload's userErrors, checking each has a message."""
    assert all(e["message"] for e in payload["userErrors"]), payload
    return [(e["field"], e["code"]) for e in payload["userErrors"]]


@dataclass(frozen=True)
class Stored:
    """What a tenant holds: commands, line balances, account balance/version, entries."""

    commands: int
    balances: list[int]
    account: tuple[int, int]
    entries: list[tuple[Any, ...]]


async def stored(sessions: SessionFactory, world: World) -> Stored:
    async with sessions() as session:
        commands = await session.scalar(
            select(func.count()).select_from(Command).where(Command.tenant_id == world.tenant_id)
        )
        balances = await session.scalars(
            select(ChargeLine.balance_cents)
            .where(ChargeLine.tenant_id == world.tenant_id)
            .order_by(ChargeLine.line_number)
        )
        account = (
            await session.execute(
                select(Account.balance_cents, Account.version).where(Account.id == world.account_id)
            )
        ).one()
        entries = await session.execute(
            select(
                LedgerEntry.line_id,
                LedgerEntry.kind,
                LedgerEntry.amount_cents,
                LedgerEntry.memo_amount_cents,
            )
            .where(LedgerEntry.tenant_id == world.tenant_id)
            .order_by(LedgerEntry.id)
        )
    assert commands is not None
    return Stored(commands, list(balances), (account[0], account[1]), [tuple(e) for e in entries])


def untouched(world: World, balances: list[int]) -> Stored:
    """What `make_world(sessions, balances)` holds before anything is done to it."""
    charges = [(i, "CHARGE", c, None) for i, c in zip(world.line_ids, balances, strict=True)]
    return Stored(0, balances, (sum(balances), 0), charges)


async def settings_of(sessions: SessionFactory, tenant_id: int) -> dict[str, Any]:
    """The tenant's settings as plain JSON (the shape of an audit row's details)."""
    async with sessions() as session:
        return snapshot(await load_policy(session, tenant_id))


async def audit_rows(
    sessions: SessionFactory, tenant_id: int, action: str
) -> list[tuple[Any, ...]]:
    """(actor, reason, before, after, details, line, entry, command) of the tenant's rows."""
    async with sessions() as session:
        rows = await session.execute(
            select(
                AuditRow.actor,
                AuditRow.reason,
                AuditRow.balance_before_cents,
                AuditRow.balance_after_cents,
                AuditRow.details,
                AuditRow.line_id,
                AuditRow.entry_id,
                AuditRow.command_id,
            )
            .where(AuditRow.tenant_id == tenant_id, AuditRow.action == action)
            .order_by(AuditRow.id)
        )
    return [tuple(r) for r in rows]


async def adjustment_entries(sessions: SessionFactory, world: World) -> list[tuple[Any, ...]]:
    async with sessions() as session:
        rows = await session.execute(
            select(
                LedgerEntry.id,
                LedgerEntry.line_id,
                LedgerEntry.amount_cents,
                LedgerEntry.memo_amount_cents,
                LedgerEntry.category,
                LedgerEntry.carc_group,
                LedgerEntry.carc_reason,
                LedgerEntry.reason,
                LedgerEntry.note,
                LedgerEntry.actor,
                LedgerEntry.command_id,
            )
            .where(LedgerEntry.tenant_id == world.tenant_id, LedgerEntry.kind == "ADJUSTMENT")
            .order_by(LedgerEntry.id)
        )
    return [tuple(r) for r in rows]


def entry_fields(
    kind: str,
    amount: str,
    reason: str,
    category: str | None = None,
    carc: str = "OA-45",
    memo: str | None = None,
) -> dict[str, Any]:
    """A ledger entry as VISIT reads it (an adjustment when a category is given)."""
    group, code = carc.split("-") if category else (None, None)
    return {
        "kind": kind,
        "amount": amount,
        "memoAmount": memo,
        "affectsBalance": amount != "0.00",
        "reason": reason,
        "category": category,
        "carcGroup": group,
        "carcReason": code,
    }


def deactivated(*codes: str) -> list[dict[str, Any]]:
    """AdjustmentCategoryInput for default categories (all when none named), set inactive."""
    return [
        {
            "code": c.code,
            "name": c.name,
            "reducesBalance": c.reduces_balance,
            "carcReason": c.carc_reason,
            "active": False,
        }
        for c in DEFAULT_CATEGORIES
        if not codes or c.code in codes
    ]


async def write_off(
    client: httpx.AsyncClient, world: World, token: str, amount: str, **kw: Any
) -> dict[str, Any]:
    """Submit a write-off of the first line; its payload."""
    variables = write_off_input("wo", [(world.line_ids[0], amount)], **kw)
    body = await gql(client, WRITE_OFF, variables, token)
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"]["writeOff"]
    return payload


async def final_write_off(
    client: httpx.AsyncClient, world: World, token: str, amount: str, **kw: Any
) -> Any:
    payload = await write_off(client, world, token, amount, **kw)
    assert payload["userErrors"] == [], payload
    final = await wait_final(client, payload["command"]["id"], token)
    return (final["status"], final["errorCode"])


async def blocked(client: httpx.AsyncClient, world: World, token: str) -> dict[str, Any]:
    """Codes of the visit's and its lines' blocked reasons (None when available)."""
    [visit] = (await read(client, VISIT, token))["account"]["visits"]

    def code(reason: dict[str, str] | None) -> str | None:
        return None if reason is None else reason["code"]

    return {
        "visit": (code(visit["writeOffBlockedReason"]), code(visit["adjustmentBlockedReason"])),
        "lines": [
            (code(x["writeOffBlockedReason"]), code(x["adjustmentBlockedReason"]))
            for x in visit["chargeLines"]
        ],
    }
