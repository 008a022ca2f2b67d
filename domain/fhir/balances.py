"""An account's balance split by who is expected to pay it and by its age, in one query.

A visit's balance is owed by the patient when its payer is Self Pay (payer code `1`), else by
insurance. Its age is today (in the tenant's time zone, from the database clock) minus its date
of service, in whole days; a future date of service ages 0 days. Ages fall in five fixed terms
named by their lower edge: 0-30 days → 0 (current), 31-60 → 30, 61-90 → 60, 91-120 → 90,
121 and more → 120. (The FHIR terms are fixed; a tenant's own aging buckets do not apply.)
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import BigInteger, Date, and_, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.models import Account, Payer, Tenant, Visit

SELF_PAY = "1"
"""The payer code of Self Pay: what its visits owe, the patient owes."""
TERMS = (0, 30, 60, 90, 120)
"""The aging terms, each named by the days it starts after (0: current)."""
Owner = Literal["patient", "insurance"]


def term_of(age_days: int) -> int:
    """The term an age falls in: 0-30 → 0, 31-60 → 30, 61-90 → 60, 91-120 → 90, 121+ → 120."""
    return max((t for t in TERMS if age_days > t), default=0)


@dataclass(frozen=True)
class AccountBalances:
    """One account, its tenant's slug, when it was read, and its balance in cents per
    (owner, term); a cell no visit falls in is absent (zero)."""

    account_id: int
    account_number: str
    name: str
    tenant_slug: str
    calculated_at: datetime
    cells: dict[tuple[Owner, int], int]

    def cents(self, owner: Owner | None, term: int) -> int:
        """The balance of `owner` (None: both) in `term`."""
        owners: tuple[Owner, ...] = (owner,) if owner else ("patient", "insurance")
        return sum(self.cells.get((o, term), 0) for o in owners)


async def account_balances(
    session: AsyncSession,
    tenant_id: int,
    *,
    account_id: int | None = None,
    account_number: str | None = None,
) -> AccountBalances | None:
    """The tenant's account with this id or this number (give one), or None when it has none.

    One statement: the account and its tenant, joined to its visits with a balance and their
    payers, summed per (self pay, age in days)."""
    today = cast(func.timezone(Tenant.time_zone, func.now()), Date)
    age = (today - Visit.date_of_service).label("age")
    self_pay = (Payer.code == SELF_PAY).label("self_pay")
    query = (
        select(
            Account.id,
            Account.account_number,
            Account.name,
            Tenant.slug,
            func.now().label("at"),
            self_pay,
            age,
            cast(func.coalesce(func.sum(Visit.balance_cents), 0), BigInteger).label("cents"),
        )
        .join(Tenant, Tenant.id == Account.tenant_id)
        .outerjoin(Visit, and_(Visit.account_id == Account.id, Visit.balance_cents != 0))
        .outerjoin(Payer, Payer.id == Visit.payer_id)
        .where(Account.tenant_id == tenant_id)
        .group_by(Account.id, Tenant.id, self_pay, age)
    )
    if account_id is not None:
        query = query.where(Account.id == account_id)
    else:
        query = query.where(Account.account_number == account_number)
    rows = (await session.execute(query)).all()
    if not rows:
        return None
    cells: dict[tuple[Owner, int], int] = defaultdict(int)
    for row in rows:
        if row.age is not None:  # None: the account has no visit with a balance
            owner: Owner = "patient" if row.self_pay else "insurance"
            cells[owner, term_of(row.age)] += row.cents
    first = rows[0]
    return AccountBalances(
        first.id, first.account_number, first.name, first.slug, first.at, dict(cells)
    )
