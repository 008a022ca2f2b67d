"""A "bank" for the isolation test: one tenant with several accounts, every line opened with the
same balance, and the totals a reader checks.

Totals are read in ONE statement (so at READ COMMITTED it sees one snapshot): the sum of account
balances, of visit balances, of line balances and of ledger amounts for the tenant. A writer that
commits a change to lines, visits and accounts together never makes them differ.
"""

import secrets
from dataclasses import dataclass
from datetime import date

from sqlalchemy import BigInteger, bindparam, text
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.db import SessionFactory
from domain.ledger.batch import Posting, post
from domain.locks import lock_lines
from domain.models import Account, ChargeLine, Payer, Tenant, Visit
from domain.tenants.settings import add_default_categories

TOTALS = text(
    "SELECT (SELECT COALESCE(SUM(balance_cents), 0) FROM accounts WHERE tenant_id = :t), "
    "(SELECT COALESCE(SUM(balance_cents), 0) FROM visits WHERE tenant_id = :t), "
    "(SELECT COALESCE(SUM(balance_cents), 0) FROM charge_lines WHERE tenant_id = :t), "
    "(SELECT COALESCE(SUM(amount_cents), 0) FROM ledger_entries WHERE tenant_id = :t)"
).bindparams(bindparam("t", type_=BigInteger))


@dataclass(frozen=True)
class Bank:
    tenant_id: int
    slug: str
    account_numbers: list[str]
    visit_ids: list[int]
    line_ids: list[int]
    total: int
    """The opening total (every balance and the ledger sum)."""


async def open_bank(
    sessions: SessionFactory, accounts: int, visits: int, lines: int, cents: int
) -> Bank:
    """A fresh tenant: `accounts` x `visits` x `lines` charge lines of `cents` each, opened
    through the ledger (CHARGE entries), so every projection equals its ledger sum."""
    slug = f"bank-{secrets.token_hex(6)}"
    async with sessions() as session, session.begin():
        tenant = Tenant(slug=slug, name=slug)
        session.add(tenant)
        await session.flush()
        await add_default_categories(session, tenant.id)
        payer = Payer(tenant_id=tenant.id, code="1", name="Self Pay")
        session.add(payer)
        rows = [
            Account(tenant_id=tenant.id, account_number=f"B{n + 1}", name=f"Holder {n + 1}")
            for n in range(accounts)
        ]
        session.add_all(rows)
        await session.flush()
        charge_lines, visit_ids = [], []
        for account in rows:
            for v in range(visits):
                visit = Visit(
                    tenant_id=tenant.id,
                    account_id=account.id,
                    visit_number=v + 1,
                    claim_number=f"{slug}-{account.id}-{v + 1}",
                    date_of_service=date(2026, 10, 1),
                    payer_id=payer.id,
                    state="open",
                    billed_cents=lines * cents,
                )
                session.add(visit)
                await session.flush()
                visit_ids.append(visit.id)
                charge_lines += [
                    ChargeLine(
                        tenant_id=tenant.id,
                        account_id=account.id,
                        visit_id=visit.id,
                        line_number=n + 1,
                        procedure_code="99213",
                        billed_cents=cents,
                    )
                    for n in range(lines)
                ]
        session.add_all(charge_lines)
        await session.flush()
        ids = [line.id for line in charge_lines]
        locked = await lock_lines(session, tenant.id, ids)
        postings = [Posting(i, cents, "CHARGE", "CHARGE_POSTED") for i in ids]
        await post(session, tenant.id, locked, postings, "seed", None)
    numbers = [a.account_number for a in rows]
    return Bank(tenant.id, slug, numbers, visit_ids, ids, len(ids) * cents)


async def totals(connection: AsyncConnection, tenant_id: int) -> tuple[int, int, int, int]:
    """(accounts, visits, lines, ledger) sums for the tenant, in one statement."""
    row = (await connection.execute(TOTALS, {"t": tenant_id})).one()
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])


async def write_off_directly(
    sessions: SessionFactory, tenant_id: int, amounts: dict[int, int], actor: str
) -> None:
    """One transaction writing off `amounts` (line → cents) through the domain's locks and
    ledger, committed on its own connection (as the worker would, without a command)."""
    async with sessions() as session, session.begin():
        locked = await lock_lines(session, tenant_id, sorted(amounts))
        postings = [
            Posting(line_id, -cents, "WRITEOFF", "WRITEOFF_APPLIED", reason="charity")
            for line_id, cents in sorted(amounts.items())
        ]
        await post(session, tenant_id, locked, postings, actor, None)
