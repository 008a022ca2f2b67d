"""Deterministic demo data: a tenant with payers, codes, accounts, visits and charge lines.

Balances are written the way the rest of the system writes them: every charge and payment is
a ledger entry (with its audit row), and line, visit and account balances are then projected
from `ledger_entries` in SQL, so the seed satisfies the same invariant the tests check.

The first account of every seeded tenant is deliberately plain (open visits, unpaid,
unprotected lines) so a test can act on `summary.line_ids[0]` without surprises; partly paid
visits, small residual balances (<= $5.00 per visit), closed / submitted / on-hold visits and
protected lines are spread over the other accounts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.ledger.chain import link
from domain.ledger.sql_rows import next_ids
from domain.models import (
    TRANSACTION_TYPES,
    Account,
    AuditRow,
    ChargeLine,
    LedgerEntry,
    Payer,
    PayerDefaultCode,
    Tenant,
    TransactionCode,
    Visit,
)
from domain.tenants.settings import add_default_categories

DEMO_SLUG = "demo"
DEMO_NAME = "Demo Practice"
DEMO_ACCOUNTS = 50
ACTOR = "seed"

# code, name, address_line1, zip
PAYERS = (
    ("1", "Self Pay", "", ""),
    ("AET", "Aetna", "151 Farmington Ave", "06156"),
    ("BCBS", "Blue Cross Blue Shield", "225 N Michigan Ave", "60601"),
    ("MCR", "Medicare", "7500 Security Blvd", "21244"),
    ("UHC", "UnitedHealthcare", "9900 Bren Rd E", "55343"),
)
# code, type, description: one per transaction type
TRANSACTION_CODES = (
    ("PY01", "PY", "Payment"),
    ("CW01", "CW", "Contractual"),
    ("BD01", "BD", "Bad debt"),
    ("FC01", "FC", "Finance charge"),
    ("AD01", "AD", "Adjustment"),
    ("AC01", "AC", "NSF fee"),
    ("RF01", "RF", "Refund"),
)
# CPT code, fee per unit in cents, max units
PROCEDURES = (
    ("99213", 12500, 1),
    ("99214", 18500, 1),
    ("99203", 16000, 1),
    ("99204", 24000, 1),
    ("36415", 2500, 1),
    ("80053", 4500, 1),
    ("85025", 3500, 1),
    ("93000", 6500, 1),
    ("71046", 9500, 1),
    ("97110", 7500, 3),
    ("90471", 3000, 2),
    ("81002", 1500, 1),
)
FIRST_NAMES = (
    "Olivia",
    "Liam",
    "Emma",
    "Noah",
    "Ava",
    "Elijah",
    "Sophia",
    "James",
    "Isabella",
    "Lucas",
    "Mia",
    "Mateo",
    "Amelia",
    "Ethan",
    "Harper",
    "Aiden",
    "Evelyn",
    "Mason",
    "Grace",
    "Samuel",
)
LAST_NAMES = (
    "Smith",
    "Johnson",
    "Garcia",
    "Williams",
    "Brown",
    "Jones",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Lee",
    "Nguyen",
    "Patel",
    "Kim",
    "Clark",
    "Lewis",
    "Walker",
)
FIRST_SERVICE_DATE = date(2026, 1, 5)


class TenantExists(ValueError):
    """A tenant with the requested slug is already there; nothing was written."""


@dataclass(frozen=True)
class SeedSummary:
    """What `seed_tenant` created (ids in insertion order)."""

    tenant_id: int
    slug: str
    account_ids: list[int]
    visit_ids: list[int]
    line_ids: list[int]


@dataclass
class _Line:
    procedure_code: str
    units: int
    billed_cents: int
    contract_fee_cents: int | None
    protected: bool = False
    payments: list[int] = field(default_factory=list)  # positive amounts paid


@dataclass
class _Visit:
    visit_number: int
    date_of_service: date
    payer: int  # index into PAYERS
    lines: list[_Line]
    state: str = "open"
    paid_on: date | None = None

    @property
    def contract_fee_cents(self) -> int | None:
        fees = [line.contract_fee_cents for line in self.lines]
        return None if None in fees else sum(f or 0 for f in fees)


@dataclass
class _Account:
    account_number: str
    name: str
    visits: list[_Visit]


def _plan_line(rng: random.Random, contracted: bool) -> _Line:
    code, fee, max_units = rng.choice(PROCEDURES)
    units = rng.randint(1, max_units)
    billed = fee * units
    contract = billed * rng.randint(55, 85) // 100 // 100 * 100 if contracted else None
    return _Line(code, units, billed, contract)


def _plan_visit(rng: random.Random, number: int) -> _Visit:
    payer = rng.randrange(len(PAYERS))
    contracted = PAYERS[payer][0] != "1" and rng.random() < 0.9
    dos = FIRST_SERVICE_DATE + timedelta(days=rng.randrange(280))
    lines = [_plan_line(rng, contracted) for _ in range(rng.randint(1, 4))]
    return _Visit(number, dos, payer, lines)


def _plan(accounts: int, rng: random.Random) -> list[_Account]:
    """Accounts with visits and lines; then special cases on every account but the first."""
    plan = [
        _Account(
            f"A{1001 + i}",
            f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
            [_plan_visit(rng, n) for n in range(1, rng.randint(1, 3) + 1)],
        )
        for i in range(accounts)
    ]
    for account in plan:  # visit numbers follow the dates of service
        dates = sorted(v.date_of_service for v in account.visits)
        for visit, dos in zip(account.visits, dates, strict=True):
            visit.date_of_service = dos
    candidates = [v for account in plan[1:] for v in account.visits]
    rng.shuffle(candidates)
    n = len(candidates)
    roles = (("residual", max(1, round(n * 0.05))), ("partial", max(1, round(n * 0.10))),
             ("closed", round(n * 0.03)), ("submitted", round(n * 0.05)),
             ("on_hold", round(n * 0.03)))  # fmt: skip
    for role, count in roles:
        for visit in candidates[:count]:
            _apply_role(rng, visit, role)
        candidates = candidates[count:]
    plain = [line for v in candidates if v.state == "open" for line in v.lines]
    for line in rng.sample(plain, min(len(plain), max(1, round(n * 0.02)))):
        line.protected = True
    return plan


def _apply_role(rng: random.Random, visit: _Visit, role: str) -> None:
    if role in ("submitted", "on_hold"):
        visit.state = role
        return
    visit.paid_on = visit.date_of_service + timedelta(days=rng.randint(14, 45))
    if role == "closed":  # paid in full
        visit.state = "closed"
        for line in visit.lines:
            line.payments.append(line.billed_cents)
    elif role == "partial":  # some lines partly paid
        paid = [line for line in visit.lines if rng.random() < 0.6] or visit.lines[:1]
        for line in paid:
            line.payments.append(line.billed_cents * rng.randint(30, 80) // 100)
    else:  # residual: everything paid but a visit balance of $0.25..$5.00
        residual = rng.randint(1, 20) * 25
        for line in visit.lines[:-1]:
            line.payments.append(line.billed_cents)
        visit.lines[-1].payments.append(visit.lines[-1].billed_cents - residual)


async def _insert_ids(session: AsyncSession, model: Any, rows: list[dict[str, Any]]) -> list[int]:
    """Bulk INSERT ... RETURNING id, ids in the order of `rows`."""
    if not rows:
        return []
    stmt = insert(model).returning(model.id, sort_by_parameter_order=True)
    return list((await session.scalars(stmt, rows)).all())


async def _insert_entries(session: AsyncSession, entries: list[dict[str, Any]]) -> list[int]:
    """Insert ledger entries hashed onto their accounts' chains, and set the chains' heads."""
    if not entries:
        return []
    entry_ids = await next_ids(session, "ledger_entries_id_seq", len(entries))
    for entry, entry_id in zip(entries, entry_ids, strict=True):
        entry["id"] = entry_id
    heads: dict[int, bytes] = {}
    link(entries, heads)
    await session.execute(insert(LedgerEntry), entries)
    await session.execute(
        update(Account), [{"id": a, "ledger_chain_hash": head} for a, head in heads.items()]
    )
    return entry_ids


async def seed_tenant(
    session_factory: async_sessionmaker[AsyncSession],
    slug: str,
    name: str,
    accounts: int = DEMO_ACCOUNTS,
    seed: int = 42,
) -> SeedSummary:
    """Create tenant `slug` with `accounts` deterministic accounts, in one transaction.

    Raises `TenantExists` (and writes nothing) when the slug is taken.
    """
    if accounts < 0:
        raise ValueError("accounts must be >= 0")
    plan = _plan(accounts, random.Random(seed))
    async with session_factory() as session, session.begin():
        tenant_id = await session.scalar(
            pg_insert(Tenant)
            .values(slug=slug, name=name)
            .on_conflict_do_nothing(index_elements=[Tenant.slug])
            .returning(Tenant.id)
        )
        if tenant_id is None:
            raise TenantExists(f"tenant {slug!r} already exists")
        await add_default_categories(session, tenant_id)
        payer_ids, code_ids = await _seed_configuration(session, tenant_id)
        summary = await _seed_accounts(session, tenant_id, slug, plan, payer_ids, code_ids)
        await _project_balances(session, tenant_id)
    return summary


async def seed_demo(session_factory: async_sessionmaker[AsyncSession]) -> bool:
    """Seed the `demo` tenant; False (and nothing written) if it already exists."""
    try:
        await seed_tenant(session_factory, DEMO_SLUG, DEMO_NAME, DEMO_ACCOUNTS)
    except TenantExists:
        return False
    return True


async def _seed_configuration(
    session: AsyncSession, tenant_id: int
) -> tuple[list[int], dict[str, int]]:
    """Payers, transaction codes and every payer's default code per type."""
    payer_ids = await _insert_ids(
        session,
        Payer,
        [
            {"tenant_id": tenant_id, "code": code, "name": name, "address_line1": addr, "zip": zip_}
            for code, name, addr, zip_ in PAYERS
        ],
    )
    ids = await _insert_ids(
        session,
        TransactionCode,
        [
            {"tenant_id": tenant_id, "code": code, "type": type_, "description": description}
            for code, type_, description in TRANSACTION_CODES
        ],
    )
    code_ids = {type_: id_ for (_, type_, _), id_ in zip(TRANSACTION_CODES, ids, strict=True)}
    await session.execute(
        insert(PayerDefaultCode),
        [
            {"payer_id": payer_id, "type": type_, "transaction_code_id": code_ids[type_]}
            for payer_id in payer_ids
            for type_ in TRANSACTION_TYPES
        ],
    )
    return payer_ids, code_ids


async def _seed_accounts(
    session: AsyncSession,
    tenant_id: int,
    slug: str,
    plan: list[_Account],
    payer_ids: list[int],
    code_ids: dict[str, int],
) -> SeedSummary:
    """Accounts, visits, lines, their ledger entries and audit rows (balances left at 0)."""
    account_ids = await _insert_ids(
        session,
        Account,
        [
            {"tenant_id": tenant_id, "account_number": a.account_number, "name": a.name}
            for a in plan
        ],
    )
    visits = [(account_id, a, v) for account_id, a in zip(account_ids, plan, strict=True)
              for v in a.visits]  # fmt: skip
    visit_ids = await _insert_ids(
        session,
        Visit,
        [
            {
                "tenant_id": tenant_id,
                "account_id": account_id,
                "visit_number": v.visit_number,
                "claim_number": f"{a.account_number}-{v.visit_number}",
                "date_of_service": v.date_of_service,
                "payer_id": payer_ids[v.payer],
                "state": v.state,
                "contract_fee_cents": v.contract_fee_cents,
            }
            for account_id, a, v in visits
        ],
    )
    lines = [(account_id, visit_id, v, number, line)
             for (account_id, _, v), visit_id in zip(visits, visit_ids, strict=True)
             for number, line in enumerate(v.lines, start=1)]  # fmt: skip
    line_ids = await _insert_ids(
        session,
        ChargeLine,
        [
            {
                "tenant_id": tenant_id,
                "account_id": account_id,
                "visit_id": visit_id,
                "line_number": number,
                "procedure_code": line.procedure_code,
                "units": line.units,
                "billed_cents": line.billed_cents,
                "contract_fee_cents": line.contract_fee_cents,
                "protected": line.protected,
            }
            for account_id, visit_id, v, number, line in lines
        ],
    )
    entries: list[dict[str, Any]] = []
    audits: list[dict[str, Any]] = []
    for (account_id, visit_id, v, _, line), line_id in zip(lines, line_ids, strict=True):
        postings: list[tuple[str, int, int | None, date | None]] = [
            ("CHARGE", line.billed_cents, None, v.date_of_service)
        ]
        postings += [("PAYMENT", -paid, code_ids["PY"], v.paid_on) for paid in line.payments]
        balance = 0
        for kind, amount, code_id, on in postings:
            entries.append(
                {
                    "tenant_id": tenant_id,
                    "account_id": account_id,
                    "visit_id": visit_id,
                    "line_id": line_id,
                    "command_id": None,
                    "kind": kind,
                    "amount_cents": amount,
                    "reason": None,
                    "transaction_code_id": code_id,
                    "transaction_date": on,
                    "actor": ACTOR,
                }
            )
            audits.append(
                {
                    "tenant_id": tenant_id,
                    "command_id": None,
                    "account_id": account_id,
                    "visit_id": visit_id,
                    "line_id": line_id,
                    "actor": ACTOR,
                    "action": f"{kind}_POSTED",
                    "reason": None,
                    "balance_before_cents": balance,
                    "balance_after_cents": balance + amount,
                }
            )
            balance += amount
    entry_ids = await _insert_entries(session, entries)
    for audit, entry_id in zip(audits, entry_ids, strict=True):
        audit["entry_id"] = entry_id
    if audits:
        await session.execute(insert(AuditRow), audits)
    return SeedSummary(tenant_id, slug, account_ids, visit_ids, line_ids)


async def _project_balances(session: AsyncSession, tenant_id: int) -> None:
    """Lines from their ledger entries, visits (balance and billed) from lines, accounts
    from visits: the projection derived from the ledger itself."""
    by_line = (
        select(LedgerEntry.line_id, func.sum(LedgerEntry.amount_cents).label("balance"))
        .where(LedgerEntry.tenant_id == tenant_id)
        .group_by(LedgerEntry.line_id)
        .subquery()
    )
    by_visit = (
        select(
            ChargeLine.visit_id,
            func.sum(ChargeLine.balance_cents).label("balance"),
            func.sum(ChargeLine.billed_cents).label("billed"),
        )
        .where(ChargeLine.tenant_id == tenant_id)
        .group_by(ChargeLine.visit_id)
        .subquery()
    )
    by_account = (
        select(Visit.account_id, func.sum(Visit.balance_cents).label("balance"))
        .where(Visit.tenant_id == tenant_id)
        .group_by(Visit.account_id)
        .subquery()
    )
    no_sync = {"synchronize_session": False}
    await session.execute(
        update(ChargeLine)
        .where(ChargeLine.id == by_line.c.line_id)
        .values(balance_cents=by_line.c.balance)
        .execution_options(**no_sync)
    )
    await session.execute(
        update(Visit)
        .where(Visit.id == by_visit.c.visit_id)
        .values(balance_cents=by_visit.c.balance, billed_cents=by_visit.c.billed)
        .execution_options(**no_sync)
    )
    await session.execute(
        update(Account)
        .where(Account.id == by_account.c.account_id)
        .values(balance_cents=by_account.c.balance)
        .execution_options(**no_sync)
    )
