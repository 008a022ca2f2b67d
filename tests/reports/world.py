"""Hand-built worlds for the report tests: a tenant whose ledger entries are posted at chosen
instants (reports place entries by when they were posted, which the worker always stamps
`now()`).

Entries are written as `LedgerBatch` would write them — chained onto their account's hash
chain, each with its audit row, line, visit and account balances moved with them — so the
oracle (`domain.ledger.verify`) holds for every world built here.
"""

import secrets
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from arledger.config import Settings
from arledger.tokens import issue_token
from domain.db import SessionFactory
from domain.ledger.chain import link
from domain.ledger.verify import verify
from domain.models import Account, AuditRow, ChargeLine, LedgerEntry, Payer, Tenant, Visit
from domain.tenants.settings import add_default_categories

READ = "billing.read"


@dataclass(frozen=True)
class Entry:
    """One entry to post: `amount` is the signed effect in cents (0 with `memo` for an
    informational entry)."""

    line: int
    kind: str
    amount: int
    at: datetime
    memo: int | None = None
    reason: str | None = None
    category: str | None = None
    carc_group: str | None = None
    carc_reason: str | None = None
    actor: str = "clerk"
    reverses: int | None = None


@dataclass
class World:
    tenant_id: int
    slug: str
    zone: ZoneInfo
    payers: dict[str, int]
    accounts: dict[str, int] = field(default_factory=dict)
    visits: dict[str, int] = field(default_factory=dict)
    lines: dict[str, list[int]] = field(default_factory=dict)
    entries: dict[str, int] = field(default_factory=dict)
    """Ids of the entries posted with a name."""

    def token(self, settings: Settings, scopes: str = READ, subject: str = "reader") -> str:
        return issue_token(settings, tenant=self.slug, scopes=scopes.split(), subject=subject)

    def at(self, day: date, hour: int = 12, minute: int = 0) -> datetime:
        """An instant on `day` at local `hour:minute` in the tenant's time zone."""
        return datetime.combine(day, time(hour, minute), self.zone)

    def today(self) -> date:
        return datetime.now(UTC).astimezone(self.zone).date()


async def new_world(
    sessions: SessionFactory,
    *,
    time_zone: str = "UTC",
    payers: dict[str, str] | None = None,
    edges: list[int] | None = None,
) -> World:
    """A fresh tenant with the default categories and payers (code: name; `1` Self Pay)."""
    slug = f"r-{secrets.token_hex(6)}"
    payers = payers or {"1": "Self Pay", "BC": "Blue Cross", "AE": "Aetna"}
    async with sessions() as session, session.begin():
        tenant = Tenant(slug=slug, name=slug, time_zone=time_zone)
        if edges is not None:
            tenant.aging_bucket_edges = edges
        session.add(tenant)
        await session.flush()
        await add_default_categories(session, tenant.id)
        rows = [Payer(tenant_id=tenant.id, code=c, name=n) for c, n in payers.items()]
        session.add_all(rows)
        await session.flush()
    return World(tenant.id, slug, ZoneInfo(time_zone), {p.code: p.id for p in rows})


async def add_visit(
    sessions: SessionFactory,
    world: World,
    name: str,
    *,
    account: str,
    payer: str,
    dos: date,
    lines: list[int],
    charged_at: datetime,
    patient: str | None = None,
    first_billed_on: date | None = None,
    state: str = "open",
) -> list[int]:
    """A visit `name` on account `account` (created when new, named `patient`) whose lines are
    billed `lines` cents, charged (CHARGE entries) at `charged_at`; its line ids."""
    async with sessions() as session, session.begin():
        account_id = world.accounts.get(account)
        if account_id is None:
            row = Account(
                tenant_id=world.tenant_id, account_number=account, name=patient or f"Pat {account}"
            )
            session.add(row)
            await session.flush()
            account_id = world.accounts[account] = row.id
        number = 1 + len([v for v in world.visits if v.startswith(f"{account}/")])
        visit = Visit(
            tenant_id=world.tenant_id,
            account_id=account_id,
            visit_number=number,
            claim_number=f"{world.slug}-{name}",
            date_of_service=dos,
            payer_id=world.payers[payer],
            state=state,
            billed_cents=sum(lines),
            first_billed_on=first_billed_on,
        )
        session.add(visit)
        await session.flush()
        charge_lines = [
            ChargeLine(
                tenant_id=world.tenant_id,
                account_id=account_id,
                visit_id=visit.id,
                line_number=n + 1,
                procedure_code="99213",
                billed_cents=cents,
            )
            for n, cents in enumerate(lines)
        ]
        session.add_all(charge_lines)
        await session.flush()
    world.visits[f"{account}/{name}"] = world.visits[name] = visit.id
    ids = world.lines[name] = [line.id for line in charge_lines]
    await post(
        sessions,
        world,
        [Entry(i, "CHARGE", c, charged_at) for i, c in zip(ids, lines, strict=True)],
    )
    return ids


async def post(
    sessions: SessionFactory, world: World, entries: list[Entry], names: list[str] | None = None
) -> list[int]:
    """Post `entries` at their instants, as the ledger batch would; their ids in order."""
    async with sessions() as session, session.begin():
        ids = await write_entries(session, world, entries)
    for name, entry_id in zip(names or [], ids, strict=False):
        world.entries[name] = entry_id
    return ids


async def write_entries(session: AsyncSession, world: World, entries: list[Entry]) -> list[int]:
    """Write `entries` in the caller's transaction (uncommitted until it commits); their ids."""
    lines = {
        row.id: row
        for row in await session.scalars(
            select(ChargeLine).where(ChargeLine.id.in_({e.line for e in entries})).with_for_update()
        )
    }
    heads = {
        row.id: row.ledger_chain_hash
        for row in await session.scalars(
            select(Account).where(Account.id.in_({line.account_id for line in lines.values()}))
        )
    }
    ids = list(
        await session.scalars(
            text("SELECT nextval('ledger_entries_id_seq') FROM generate_series(1, :n)"),
            {"n": len(entries)},
        )
    )
    rows: list[dict[str, Any]] = []
    for entry, entry_id in zip(entries, sorted(ids), strict=True):
        line = lines[entry.line]
        rows.append(
            {
                "id": entry_id,
                "tenant_id": world.tenant_id,
                "account_id": line.account_id,
                "visit_id": line.visit_id,
                "line_id": line.id,
                "command_id": None,
                "kind": entry.kind,
                "amount_cents": entry.amount,
                "memo_amount_cents": entry.memo,
                "reason": entry.reason,
                "note": None,
                "category": entry.category,
                "carc_group": entry.carc_group,
                "carc_reason": entry.carc_reason,
                "transaction_code_id": None,
                "transaction_date": entry.at.astimezone(world.zone).date(),
                "actor": entry.actor,
                "reverses_entry_id": entry.reverses,
                "transaction_id": None,
            }
        )
    link(rows, heads)
    balances = {i: line.balance_cents for i, line in lines.items()}
    for row, entry in zip(rows, entries, strict=True):
        before = balances[entry.line]
        balances[entry.line] += entry.amount
        session.add(LedgerEntry(**row, created_at=entry.at))
        session.add(
            AuditRow(
                tenant_id=world.tenant_id,
                entry_id=row["id"],
                account_id=row["account_id"],
                visit_id=row["visit_id"],
                line_id=row["line_id"],
                actor=entry.actor,
                action=f"{entry.kind}_POSTED",
                reason=entry.reason,
                balance_before_cents=before,
                balance_after_cents=balances[entry.line],
                created_at=entry.at,
            )
        )
    await session.flush()
    for line_id, cents in balances.items():
        await session.execute(
            update(ChargeLine).where(ChargeLine.id == line_id).values(balance_cents=cents)
        )
    visit_ids = {line.visit_id for line in lines.values()}
    await session.execute(
        text(
            "UPDATE visits v SET balance_cents = (SELECT coalesce(sum(balance_cents), 0) "
            "FROM charge_lines l WHERE l.visit_id = v.id) WHERE v.id = ANY(:ids)"
        ),
        {"ids": list(visit_ids)},
    )
    for account_id, head in heads.items():
        await session.execute(
            text(
                "UPDATE accounts a SET ledger_chain_hash = :head, version = version + 1, "
                "balance_cents = (SELECT coalesce(sum(balance_cents), 0) FROM visits v "
                "WHERE v.account_id = a.id) WHERE a.id = :id"
            ),
            {"head": head, "id": account_id},
        )
    return [row["id"] for row in rows]


async def oracle(sessions: SessionFactory, world: World) -> list[str]:
    """Every invariant the world breaks (empty when none)."""
    async with sessions() as session:
        return [str(f) for f in await verify(session, world.tenant_id)]


def days_ago(world: World, days: int) -> date:
    return world.today() - timedelta(days=days)
