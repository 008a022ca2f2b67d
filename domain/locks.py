"""Every row lock arledger takes, in one place.

Order, always: the command rows (SKIP LOCKED, so never a wait), then per tenant in tenant order
accounts, visits and charge lines, each in primary-key order. Every balance read that feeds a
decision is made here, under the lock.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.models import Account, ChargeLine, Command, Visit


@dataclass
class LockedLine:
    """A charge line's state as read under its row lock."""

    id: int
    visit_id: int
    account_id: int
    balance_cents: int
    protected: bool


@dataclass
class LockedVisit:
    """A visit's state as read under its row lock."""

    id: int
    account_id: int
    state: str
    balance_cents: int


@dataclass
class LockedAccount:
    """An account's state as read under its row lock."""

    id: int
    balance_cents: int
    version: int


@dataclass
class LockedBalances:
    """The balance rows one command may change, all locked by this transaction."""

    accounts: dict[int, LockedAccount]
    visits: dict[int, LockedVisit]
    lines: dict[int, LockedLine]


async def claim_pending_commands(
    session: AsyncSession, *, limit: int, ids: list[int] | None = None
) -> list[Command]:
    """Lock up to `limit` PENDING commands, oldest first, skipping any another worker holds.

    Final commands and commands being applied elsewhere are never returned: this is what makes
    a redelivered task a no-op.
    """
    query = select(Command).where(Command.status == "PENDING")
    if ids is not None:
        query = query.where(Command.id.in_(ids))
    result = await session.scalars(
        query.order_by(Command.id).limit(limit).with_for_update(skip_locked=True)
    )
    return list(result.all())


def stale_pending_commands(cutoff: datetime, limit: int) -> Select[int]:
    """Ids of PENDING commands last enqueued before `cutoff`, locked, skipping held ones."""
    return (
        select(Command.id)
        .where(Command.status == "PENDING", Command.enqueued_at < cutoff)
        .order_by(Command.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )


async def lock_lines(
    session: AsyncSession, tenant_id: int, line_ids: Iterable[int]
) -> LockedBalances:
    """Lock the given lines of `tenant_id` with their visits and accounts, in PK order.

    Lines of another tenant, or that do not exist, are simply absent from the result.
    """
    wanted = sorted(set(line_ids))
    owners = await session.execute(
        select(ChargeLine.visit_id, ChargeLine.account_id).where(
            ChargeLine.id.in_(wanted), ChargeLine.tenant_id == tenant_id
        )
    )
    pairs = owners.all()
    account_ids = sorted({a for _, a in pairs})
    visit_ids = sorted({v for v, _ in pairs})
    accounts = await session.execute(
        select(Account.id, Account.balance_cents, Account.version)
        .where(Account.id.in_(account_ids))
        .order_by(Account.id)
        .with_for_update()
    )
    visits = await session.execute(
        select(Visit.id, Visit.account_id, Visit.state, Visit.balance_cents)
        .where(Visit.id.in_(visit_ids))
        .order_by(Visit.id)
        .with_for_update()
    )
    lines = await session.execute(
        select(
            ChargeLine.id,
            ChargeLine.visit_id,
            ChargeLine.account_id,
            ChargeLine.balance_cents,
            ChargeLine.protected,
        )
        .where(ChargeLine.id.in_(wanted), ChargeLine.tenant_id == tenant_id)
        .order_by(ChargeLine.id)
        .with_for_update()
    )
    return LockedBalances(
        accounts={r.id: LockedAccount(*r) for r in accounts},
        visits={r.id: LockedVisit(*r) for r in visits},
        lines={r.id: LockedLine(*r) for r in lines},
    )
