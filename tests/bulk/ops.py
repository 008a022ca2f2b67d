"""Helpers for the domain-level bulk-job tests.

- `build`: a fresh tenant with accounts, visits and lines in chosen states, ages and payers,
  every balance posted through the ledger (a zero or credit line is a charge and a payment);
  transaction codes <TYPE>01 and <TYPE>02, <TYPE>01 being self-pay payer 1's default.
- `Bulk`: submit jobs as the API does (the planning goes to the real worker after commit), or
  plan one here in this process with a chosen chunk size and hold its chunks back (their
  messages are sent only when a test says so, and the sweeper leaves them alone), wait for a
  job to finish, cancel it, and read what the database holds.

Lines are named `<account>/<visit number>/<line number>` and visits `<account>/<visit number>`,
so expected outcomes read like the world that was built.
"""

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pytest
from celery import Celery
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from arledger.config import Settings
from domain.bulk.apply import apply_bulk_command
from domain.bulk.models import BulkJob, BulkJobItem
from domain.bulk.selection import RawFilter
from domain.bulk.service import (
    cancel_bulk_job,
    submit_bulk_reversal,
    submit_bulk_self_pay,
    submit_bulk_writeoff,
)
from domain.db import SessionFactory
from domain.errors import DomainError
from domain.ledger.batch import Posting, post
from domain.ledger.verify import verify
from domain.locks import lock_lines
from domain.models import (
    TRANSACTION_TYPES,
    Account,
    AuditRow,
    ChargeLine,
    Command,
    LedgerEntry,
    Payer,
    PayerDefaultCode,
    Tenant,
    Transaction,
    TransactionApplication,
    TransactionCode,
    Visit,
)
from domain.tenants.settings import add_default_categories
from domain.transactions.service import tenant_today
from domain.uow import UnitOfWork
from tests.support.factories import ledger_drift

BULK_TASK = "arledger.apply_bulk"
ACTOR = "tester"
SCOPES = frozenset({"billing.read", "billing.payment.write", "billing.adjustment.write"})
Submit = Callable[..., Awaitable[BulkJob]]


# --- the world ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class VisitSpec:
    """A visit: its lines' balances in cents (0 and credits allowed), state, age and payer."""

    balances: tuple[int, ...]
    state: str = "open"
    age_days: int = 60
    payer: str = "1"
    protected: tuple[int, ...] = ()
    """Line numbers (1-based) of the protected lines."""


def visit(
    *balances: int,
    state: str = "open",
    age: int = 60,
    payer: str = "1",
    protected: tuple[int, ...] = (),
) -> VisitSpec:
    return VisitSpec(tuple(balances), state, age, payer, protected)


@dataclass
class BulkWorld:
    """A tenant built by `build`; ids by name (`A1`, `A1/2`, `A1/2/3`)."""

    tenant_id: int
    today: date
    payers: dict[str, int]
    accounts: dict[str, int]
    visits: dict[str, int]
    lines: dict[str, int]
    codes: dict[str, int]
    """`<TYPE>01`, `<TYPE>02` → transaction code id."""
    names: dict[tuple[str, int], str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.names.update({("line", pk): name for name, pk in self.lines.items()})
        self.names.update({("visit", pk): name for name, pk in self.visits.items()})
        self.names.update({("account", pk): name for name, pk in self.accounts.items()})

    def ids(self, *names: str) -> list[int | None]:
        """Line ids by name, as a job's explicit selection takes them."""
        return [self.lines[n] for n in names]

    def line_name(self, pk: int) -> str:
        return self.names["line", pk]

    def visit_name(self, pk: int) -> str:
        return self.names["visit", pk]


async def build(
    sessions: SessionFactory, accounts: dict[str, list[VisitSpec]], *, threshold: int = 500
) -> BulkWorld:
    """A fresh tenant (small-balance threshold `threshold` cents) holding `accounts`.

    Payers `1` (Self Pay, every type's default code <TYPE>01) and `2` (no defaults). A visit's
    date of service is `age_days` before today in the tenant's zone (UTC).
    """
    slug = f"bulk-{secrets.token_hex(6)}"
    async with sessions() as session, session.begin():
        tenant = Tenant(slug=slug, name=slug, small_balance_threshold_cents=threshold)
        session.add(tenant)
        await session.flush()
        tenant_id = tenant.id
        await add_default_categories(session, tenant_id)
        today = await tenant_today(session, tenant_id)
        payers = {
            "1": Payer(tenant_id=tenant_id, code="1", name="Self Pay"),
            "2": Payer(tenant_id=tenant_id, code="2", name="Acme Health"),
        }
        codes = {
            f"{t}0{n}": TransactionCode(
                tenant_id=tenant_id, code=f"{t}0{n}", type=t, description=f"{t} code {n}"
            )
            for t in TRANSACTION_TYPES
            for n in (1, 2)
        }
        account_rows = {
            number: Account(tenant_id=tenant_id, account_number=number, name=f"Patient {number}")
            for number in accounts
        }
        session.add_all([*payers.values(), *codes.values(), *account_rows.values()])
        await session.flush()
        session.add_all(
            PayerDefaultCode(
                payer_id=payers["1"].id, type=t, transaction_code_id=codes[f"{t}01"].id
            )
            for t in TRANSACTION_TYPES
        )
        visit_rows: dict[str, Visit] = {}
        for number, specs in accounts.items():
            for n, spec in enumerate(specs, start=1):
                visit_rows[f"{number}/{n}"] = Visit(
                    tenant_id=tenant_id,
                    account_id=account_rows[number].id,
                    visit_number=n,
                    claim_number=f"{slug}-{number}-{n}",
                    date_of_service=today - timedelta(days=spec.age_days),
                    payer_id=payers[spec.payer].id,
                    state=spec.state,
                    billed_cents=sum(_billed(b) for b in spec.balances),
                )
        session.add_all(visit_rows.values())
        await session.flush()
        line_rows: dict[str, tuple[ChargeLine, int]] = {}
        for number, specs in accounts.items():
            for n, spec in enumerate(specs, start=1):
                for k, balance in enumerate(spec.balances, start=1):
                    line = ChargeLine(
                        tenant_id=tenant_id,
                        account_id=account_rows[number].id,
                        visit_id=visit_rows[f"{number}/{n}"].id,
                        line_number=k,
                        procedure_code="99213",
                        billed_cents=_billed(balance),
                        protected=k in spec.protected,
                    )
                    line_rows[f"{number}/{n}/{k}"] = (line, balance)
        session.add_all(line for line, _ in line_rows.values())
        await session.flush()
        postings = []
        for line, balance in line_rows.values():
            postings.append(Posting(line.id, line.billed_cents, "CHARGE", "CHARGE_POSTED"))
            if balance <= 0:
                postings.append(Posting(line.id, balance - line.billed_cents, "PAYMENT", "PAID"))
        locked = await lock_lines(session, tenant_id, [line.id for line, _ in line_rows.values()])
        await post(session, tenant_id, locked, postings, "seed", None)
    return BulkWorld(
        tenant_id,
        today,
        {code: p.id for code, p in payers.items()},
        {number: a.id for number, a in account_rows.items()},
        {name: v.id for name, v in visit_rows.items()},
        {name: line.id for name, (line, _) in line_rows.items()},
        {code: c.id for code, c in codes.items()},
    )


def _billed(balance: int) -> int:
    """A positive balance is its charge; a zero or credit line was charged 1.00 and overpaid."""
    return balance if balance > 0 else 100


# --- submitting and waiting ----------------------------------------------------------------------


def writeoff_args(tenant_id: int, key: str, **kw: Any) -> dict[str, Any]:
    """Arguments of `submit_bulk_writeoff` (reason charity unless given)."""
    return {
        "tenant_id": tenant_id,
        "actor": ACTOR,
        "idempotency_key": key,
        "line_ids": None,
        "raw_filter": None,
        "reason": "charity",
        "note": None,
        **kw,
    }


def self_pay_args(tenant_id: int, key: str, type_: str, **kw: Any) -> dict[str, Any]:
    """Arguments of `submit_bulk_self_pay` (payer 1, every scope, an empty filter)."""
    return {
        "tenant_id": tenant_id,
        "actor": ACTOR,
        "scopes": SCOPES,
        "idempotency_key": key,
        "type_": type_,
        "payer_code": "1",
        "amount": None,
        "percent": None,
        "transaction_date": None,
        "raw_filter": RawFilter(),
        **kw,
    }


def reversal_args(tenant_id: int, key: str, job_id: int | None, **kw: Any) -> dict[str, Any]:
    """Arguments of `submit_bulk_reversal`."""
    return {
        "tenant_id": tenant_id,
        "actor": ACTOR,
        "scopes": SCOPES,
        "idempotency_key": key,
        "job_id": job_id,
        "reason": "entered in error",
        **kw,
    }


async def no_enqueue(command_id: int) -> None:
    return None


async def _no_enqueue_many(command_ids: list[int]) -> None:
    return None


@dataclass(frozen=True)
class Planned:
    """A job planned in this process: its chunk commands in chunk order."""

    job_id: int
    chunk_ids: list[int]


@dataclass
class Bulk:
    """Bulk jobs against the real worker of the session."""

    sessions: SessionFactory
    celery_app: Celery
    settings: Settings

    async def enqueue(self, command_id: int) -> None:
        """What the API does after commit: send `apply_bulk(command_id)` to the workers."""
        self.send([command_id])

    def send(self, command_ids: Iterable[int], times: int = 1) -> None:
        for _ in range(times):
            for command_id in command_ids:
                self.celery_app.send_task(
                    BULK_TASK, args=[command_id], queue=self.settings.bulk_queue_name
                )

    async def submit(
        self, fn: Submit, args: dict[str, Any], enqueue: Callable[[int], Awaitable[None]] | None
    ) -> BulkJob:
        """Store a job with `fn` in a unit of work and commit; `enqueue` runs after commit."""
        async with UnitOfWork(self.sessions) as uow:
            job = await fn(uow, enqueue=enqueue or self.enqueue, **args)
            await uow.commit()
        return job

    async def write_off(self, tenant_id: int, key: str = "k", **kw: Any) -> BulkJob:
        return await self.submit(submit_bulk_writeoff, writeoff_args(tenant_id, key, **kw), None)

    async def self_pay(self, tenant_id: int, key: str, type_: str, **kw: Any) -> BulkJob:
        args = self_pay_args(tenant_id, key, type_, **kw)
        return await self.submit(submit_bulk_self_pay, args, None)

    async def reverse(self, tenant_id: int, key: str, job_id: int, **kw: Any) -> BulkJob:
        args = reversal_args(tenant_id, key, job_id, **kw)
        return await self.submit(submit_bulk_reversal, args, None)

    async def cancel(self, tenant_id: int, job_id: int) -> BulkJob:
        async with UnitOfWork(self.sessions) as uow:
            job = await cancel_bulk_job(
                uow, tenant_id=tenant_id, actor=ACTOR, scopes=SCOPES, job_id=job_id
            )
            await uow.commit()
        return job

    async def refusal(self, fn: Submit, args: dict[str, Any]) -> list[tuple[str | None, str]]:
        """(field, code) of each problem `fn` refuses the request with (nothing committed)."""
        async with UnitOfWork(self.sessions) as uow:
            with pytest.raises(DomainError) as caught:
                await fn(uow, enqueue=self.enqueue, **args)
        assert all(p.message for p in caught.value.problems)
        return [(p.field, p.code) for p in caught.value.problems]

    async def cancel_refusal(self, tenant_id: int, job_id: int) -> list[tuple[str | None, str]]:
        async with UnitOfWork(self.sessions) as uow:
            with pytest.raises(DomainError) as caught:
                await cancel_bulk_job(
                    uow, tenant_id=tenant_id, actor=ACTOR, scopes=SCOPES, job_id=job_id
                )
        return [(p.field, p.code) for p in caught.value.problems]

    async def plan_here(
        self,
        fn: Submit,
        args: dict[str, Any],
        chunk_size: int,
        *,
        meanwhile: Callable[[UnitOfWork], Awaitable[None]] | None = None,
        hold: bool = True,
    ) -> Planned:
        """Submit and plan a job in this process, in one transaction, with `chunk_size`.

        `meanwhile` runs after the planning, before the commit: whatever it changes happened
        between the job's selection and its chunks. With `hold` the chunk commands are marked
        enqueued an hour ahead, so the sweeper leaves them alone until a test sends them.
        """
        async with UnitOfWork(self.sessions) as uow:
            job = await fn(uow, enqueue=no_enqueue, **args)
            plan_id = await uow.session.scalar(
                select(Command.id).where(
                    Command.tenant_id == job.tenant_id,
                    Command.kind == "BULK_PLAN",
                    Command.payload["job"].as_integer() == job.id,
                )
            )
            assert plan_id is not None
            kind = await apply_bulk_command(uow, plan_id, chunk_size, _no_enqueue_many)
            assert kind == "BULK_PLAN"
            chunk_ids = list(
                await uow.session.scalars(
                    select(Command.id)
                    .where(
                        Command.tenant_id == job.tenant_id,
                        Command.kind == "BULK_CHUNK",
                        Command.payload["job"].as_integer() == job.id,
                    )
                    .order_by(Command.payload["chunk"].as_integer())
                )
            )
            if hold:
                await hold_back(uow.session, chunk_ids)
            if meanwhile is not None:
                await meanwhile(uow)
            await uow.commit()
        return Planned(job.id, chunk_ids)

    async def hold(self, job_id: int) -> list[int]:
        """Keep the sweeper away from the job's PENDING commands (until a test sends them);
        their ids."""
        pending = [c.id for c in await self.commands(job_id) if c.status == "PENDING"]
        async with self.sessions() as session, session.begin():
            await hold_back(session, pending)
        return pending

    async def job(self, job_id: int) -> BulkJob:
        async with self.sessions() as session:
            job = await session.get(BulkJob, job_id)
        assert job is not None
        return job

    async def wait(
        self, job_id: int, until: Callable[[BulkJob], bool], within: float = 30
    ) -> BulkJob:
        deadline = time.monotonic() + within
        while not until(job := await self.job(job_id)):
            assert time.monotonic() < deadline, f"job {job_id} is still {totals(job)}"
            await asyncio.sleep(0.02)
        return job

    async def finished(self, job_id: int, within: float = 30) -> BulkJob:
        """The job once it is finished (DONE, FAILED or CANCELLED with every chunk closed)."""
        return await self.wait(job_id, lambda job: job.finished_at is not None, within)

    async def commands(self, job_id: int) -> list[Command]:
        """The job's planning command and its chunk commands, in id order."""
        async with self.sessions() as session:
            rows = await session.scalars(
                select(Command)
                .where(
                    Command.kind.in_(("BULK_PLAN", "BULK_CHUNK")),
                    Command.payload["job"].as_integer() == job_id,
                )
                .order_by(Command.id)
            )
            return list(rows.all())

    async def drain(self) -> None:
        """Wait until the worker has taken every message sent so far: run one more small job
        through it (the queue is FIFO), then give tasks still in flight a moment."""
        world = await build(self.sessions, {"A1": [visit(100)]})
        job = await self.write_off(world.tenant_id, "barrier", line_ids=world.ids("A1/1/1"))
        assert (await self.finished(job.id)).status == "DONE"
        await asyncio.sleep(1)


async def hold_back(session: AsyncSession, command_ids: list[int]) -> None:
    """Mark commands enqueued an hour ahead: the sweeper re-enqueues only stale ones."""
    if command_ids:
        await session.execute(
            update(Command)
            .where(Command.id.in_(command_ids))
            .values(enqueued_at=func.now() + timedelta(hours=1))
        )


# --- reading ------------------------------------------------------------------------------------


def totals(job: BulkJob) -> dict[str, Any]:
    """A job's status and counters."""
    return {
        "status": job.status,
        "total": job.total_items,
        "applied": job.applied_items,
        "skipped": job.skipped_items,
        "cancelled": job.cancelled_items,
        "cents": job.applied_cents,
        "chunks": (job.done_chunks, job.total_chunks),
        "finished": job.finished_at is not None,
        "error": job.error_code,
    }


async def items(sessions: SessionFactory, job_id: int) -> list[BulkJobItem]:
    async with sessions() as session:
        rows = await session.scalars(
            select(BulkJobItem).where(BulkJobItem.job_id == job_id).order_by(BulkJobItem.seq)
        )
        return list(rows.all())


async def line_outcomes(
    sessions: SessionFactory, world: BulkWorld, job_id: int
) -> list[tuple[str, str, str | None, int | None]]:
    """(line, status, code, amount) per row of a line job, in job order."""
    return [
        (world.line_name(i.line_id or 0), i.status, i.code, i.amount_cents)
        for i in await items(sessions, job_id)
    ]


async def visit_outcomes(
    sessions: SessionFactory, world: BulkWorld, job_id: int
) -> list[tuple[str, str, str | None, int | None]]:
    """(visit, status, code, amount) per row of a visit job, in job order."""
    return [
        (world.visit_name(i.visit_id), i.status, i.code, i.amount_cents)
        for i in await items(sessions, job_id)
    ]


async def line_balances(sessions: SessionFactory, world: BulkWorld) -> dict[str, int]:
    async with sessions() as session:
        rows = await session.execute(
            select(ChargeLine.id, ChargeLine.balance_cents).where(
                ChargeLine.tenant_id == world.tenant_id
            )
        )
        return {world.line_name(pk): cents for pk, cents in rows}


async def visit_balances(sessions: SessionFactory, world: BulkWorld) -> dict[str, int]:
    async with sessions() as session:
        rows = await session.execute(
            select(Visit.id, Visit.balance_cents).where(Visit.tenant_id == world.tenant_id)
        )
        return {world.visit_name(pk): cents for pk, cents in rows}


async def entries(
    sessions: SessionFactory, tenant_id: int, *, exclude: tuple[str, ...] = ("CHARGE", "PAYMENT")
) -> list[LedgerEntry]:
    """The tenant's ledger entries in id order, without the seeding ones by default."""
    async with sessions() as session:
        rows = await session.scalars(
            select(LedgerEntry)
            .where(LedgerEntry.tenant_id == tenant_id, LedgerEntry.kind.not_in(exclude))
            .order_by(LedgerEntry.id)
        )
        return list(rows.all())


async def stored(sessions: SessionFactory, tenant_id: int) -> dict[str, int]:
    """How many jobs, commands and (non-seed) audit rows the tenant has."""
    async with sessions() as session:

        async def count(model: Any, *where: Any) -> int:
            n = await session.scalar(
                select(func.count()).select_from(model).where(model.tenant_id == tenant_id, *where)
            )
            return int(n or 0)

        return {
            "jobs": await count(BulkJob),
            "items": await count(BulkJobItem),
            "commands": await count(Command),
            "audit": await count(AuditRow, AuditRow.actor != "seed"),
        }


async def drift(sessions: SessionFactory, tenant_id: int) -> list[str]:
    """Every disagreement between the ledger and the projection, and every broken invariant
    of the correctness oracle (`domain.ledger.verify`), for the tenant; empty when none."""
    async with sessions() as session:
        findings = [str(f) for f in await verify(session, tenant_id)]
    return [*await ledger_drift(sessions, tenant_id), *findings]


async def posted(sessions: SessionFactory, world: BulkWorld, job_id: int) -> dict[str, Any]:
    """What each applied row of a self-pay job posted, by visit: its transaction, the one
    application and the ledger entries linked to it (by line, in line order)."""
    codes = {pk: code for code, pk in world.codes.items()}
    payers = {pk: code for code, pk in world.payers.items()}
    applied = [i for i in await items(sessions, job_id) if i.status == "APPLIED"]
    found: dict[str, Any] = {}
    async with sessions() as session:
        for item in applied:
            txn = await session.get(Transaction, item.transaction_id)
            assert txn is not None
            apps = await session.scalars(
                select(TransactionApplication).where(
                    TransactionApplication.transaction_id == txn.id
                )
            )
            lines = await session.scalars(
                select(LedgerEntry)
                .where(
                    LedgerEntry.transaction_id == txn.id, LedgerEntry.reverses_entry_id.is_(None)
                )
                .order_by(LedgerEntry.line_id)
            )
            found[world.visit_name(item.visit_id)] = {
                "txn": (
                    txn.type,
                    txn.status,
                    codes[txn.transaction_code_id],
                    payers[txn.payer_id],
                    txn.transaction_date,
                    txn.amount_cents,
                    txn.created_by,
                ),
                "applications": [
                    (
                        world.visit_name(a.visit_id),
                        world.names["account", a.account_id],
                        a.amount_cents,
                    )
                    for a in apps
                ],
                "entries": [
                    (
                        world.line_name(e.line_id),
                        e.kind,
                        e.amount_cents,
                        codes.get(e.transaction_code_id or 0),
                        e.transaction_date,
                    )
                    for e in lines
                ],
            }
    return found
