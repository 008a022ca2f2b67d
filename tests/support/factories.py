"""Small deterministic fixtures: a tenant with one account, one visit and charge lines whose
opening balances are CHARGE entries posted through the ledger, so projection == ledger sum."""

import secrets
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select

from arledger.config import Settings
from arledger.tokens import issue_token
from domain.db import SessionFactory
from domain.ledger.batch import Posting, post
from domain.locks import lock_lines
from domain.models import Account, ChargeLine, LedgerEntry, Payer, Tenant, Visit
from domain.tenants.settings import add_default_categories
from domain.uow import UnitOfWork
from domain.writeoffs.rules import parse_writeoff
from domain.writeoffs.service import submit_writeoff


@dataclass
class World:
    tenant_id: int
    slug: str
    account_id: int
    account_number: str
    visit_id: int
    line_ids: list[int]

    def token(
        self, settings: Settings, scopes: str = "billing.read billing.payment.write", ttl: int = 600
    ) -> str:
        return issue_token(
            settings, tenant=self.slug, scopes=scopes.split(), subject="tester", ttl_seconds=ttl
        )


async def make_world(
    sessions: SessionFactory,
    balances: list[int],
    *,
    state: str = "open",
    protected: bool = False,
    threshold: int = 500,
) -> World:
    """A fresh tenant whose single visit has one line per entry of `balances` (cents)."""
    slug = f"t-{secrets.token_hex(6)}"
    async with sessions() as session, session.begin():
        tenant = Tenant(slug=slug, name=slug, small_balance_threshold_cents=threshold)
        session.add(tenant)
        await session.flush()
        await add_default_categories(session, tenant.id)
        payer = Payer(tenant_id=tenant.id, code="1", name="Self Pay")
        account = Account(tenant_id=tenant.id, account_number="A1", name="Pat Doe")
        session.add_all([payer, account])
        await session.flush()
        visit = Visit(
            tenant_id=tenant.id,
            account_id=account.id,
            visit_number=1,
            claim_number=f"{slug}-1",
            date_of_service=date(2026, 10, 1),
            payer_id=payer.id,
            state=state,
            billed_cents=sum(balances),
        )
        session.add(visit)
        await session.flush()
        lines = [
            ChargeLine(
                tenant_id=tenant.id,
                account_id=account.id,
                visit_id=visit.id,
                line_number=n + 1,
                procedure_code="99213",
                billed_cents=cents,
                protected=protected,
            )
            for n, cents in enumerate(balances)
        ]
        session.add_all(lines)
        await session.flush()
        locked = await lock_lines(session, tenant.id, [line.id for line in lines])
        await post(
            session,
            tenant.id,
            locked,
            [Posting(line.id, line.billed_cents, "CHARGE", "CHARGE_POSTED") for line in lines],
            "seed",
            None,
        )
        await session.execute(
            Account.__table__.update().where(Account.id == account.id).values(version=0)
        )
    return World(tenant.id, slug, account.id, "A1", visit.id, [line.id for line in lines])


async def ledger_drift(sessions: SessionFactory, tenant_id: int) -> list[str]:
    """Every way the projection disagrees with the ledger for this tenant (empty when none).

    A line below zero is drift too, unless a payment put it there (a credit balance).
    """
    async with sessions() as session:
        paid = (
            select(LedgerEntry.id)
            .where(LedgerEntry.line_id == ChargeLine.id, LedgerEntry.kind == "PAYMENT")
            .exists()
        )
        lines = await session.execute(
            select(
                ChargeLine.id,
                ChargeLine.balance_cents,
                select(func.coalesce(func.sum(LedgerEntry.amount_cents), 0))
                .where(LedgerEntry.line_id == ChargeLine.id)
                .scalar_subquery(),
                paid,
            ).where(ChargeLine.tenant_id == tenant_id)
        )
        problems = [
            f"line {i}: {b} != {s}" for i, b, s, credit in lines if b != s or (b < 0 and not credit)
        ]
        accounts = await session.execute(
            select(
                Account.id,
                Account.balance_cents,
                select(func.coalesce(func.sum(ChargeLine.balance_cents), 0))
                .where(ChargeLine.account_id == Account.id)
                .scalar_subquery(),
            ).where(Account.tenant_id == tenant_id)
        )
        problems += [f"account {i}: {b} != {s}" for i, b, s in accounts if b != s]
        visits = await session.execute(
            select(
                Visit.id,
                Visit.balance_cents,
                select(func.coalesce(func.sum(ChargeLine.balance_cents), 0))
                .where(ChargeLine.visit_id == Visit.id)
                .scalar_subquery(),
            ).where(Visit.tenant_id == tenant_id)
        )
        problems += [f"visit {i}: {b} != {s}" for i, b, s in visits if b != s]
    return problems


async def _no_enqueue(command_id: int) -> None:
    return None


async def store_pending(
    sessions: SessionFactory, world: World, amount: str, key: str, line_index: int = 0
) -> int:
    """A committed PENDING write-off (reason charity) whose broker message is never sent."""
    request = parse_writeoff([(world.line_ids[line_index], amount)], "charity", None)
    async with UnitOfWork(sessions) as uow:
        command = await submit_writeoff(
            uow,
            tenant_id=world.tenant_id,
            actor="tester",
            idempotency_key=key,
            request=request,
            enqueue=_no_enqueue,
        )
        await uow.commit()
    return command.id
