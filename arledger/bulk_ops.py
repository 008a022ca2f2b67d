"""What `arledger bulk …` does: each action is one domain call in a unit of work, as the API
makes it, then (unless `--no-wait`) the job is followed to its end (`arledger.bulk_watch`).

The CLI acts as `cli:<os user>` with every billing scope. Events the unit of work records are
published to Redis like the API's, and a new job's planning is sent to the workers after
commit; should that send fail, the sweeper re-enqueues the command.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date

from celery import Celery
from redis.asyncio import Redis
from sqlalchemy import select

from arledger.bulk_watch import Watcher, print_status
from arledger.config import get_settings
from arledger.tokens import SCOPES
from domain.bulk import service as bulk_service
from domain.bulk.models import BulkJob
from domain.bulk.selection import RawFilter
from domain.db import SessionFactory, make_engine, make_session_factory
from domain.errors import DomainError, Problem
from domain.models import Tenant
from domain.uow import UnitOfWork
from workers.app import make_celery
from workers.publisher import RedisPublisher

BULK_TASK = "arledger.apply_bulk"
Submit = Callable[[UnitOfWork], Awaitable[BulkJob]]


def run(args: argparse.Namespace) -> int:
    """Run one `arledger bulk` action; its exit status."""
    return asyncio.run(_main(args))


def actor() -> str:
    """`cli:<os user>` (the uid when the user has no name)."""
    try:
        name = getpass.getuser()
    except Exception:  # no login name and no passwd entry
        name = str(os.getuid())
    return f"cli:{name}"


@dataclass
class Operator:
    """The CLI's session: its tenant, its services and the jobs it started."""

    args: argparse.Namespace
    sessions: SessionFactory
    redis: Redis
    celery: Celery
    tenant_id: int = 0
    enqueued: bool = False
    key: str = ""

    @property
    def actor(self) -> str:
        return actor()

    @property
    def scopes(self) -> frozenset[str]:
        return frozenset(SCOPES)

    def uow(self) -> UnitOfWork:
        settings = get_settings()
        return UnitOfWork(
            self.sessions, RedisPublisher(self.redis, settings.channel_prefix).publish
        )

    async def enqueue(self, command_id: int) -> None:
        """Send the planning command to the workers (after commit)."""
        self.enqueued = True
        queue = get_settings().bulk_queue_name
        try:
            await asyncio.to_thread(
                self.celery.send_task, BULK_TASK, args=[command_id], queue=queue
            )
        except Exception as error:  # the sweeper re-enqueues it
            print(f"warning: could not enqueue command {command_id}: {error}", file=sys.stderr)

    def watcher(self) -> Watcher:
        return Watcher(self.sessions, self.redis, get_settings().channel_prefix, self.tenant_id)


async def _main(args: argparse.Namespace) -> int:
    settings = get_settings()
    engine = make_engine(settings.worker_database_url, pool_size=2)
    op = Operator(args, make_session_factory(engine), Redis.from_url(settings.redis_url),
                  make_celery())  # fmt: skip
    try:
        op.tenant_id = await _tenant_id(op.sessions, args.tenant)
        op.key = getattr(args, "key", None) or str(uuid.uuid4())
        return await ACTIONS[args.bulk_action](op)
    except DomainError as error:
        _print_problems(error.problems)
        return 2
    finally:
        op.celery.close()
        await op.redis.aclose()
        await engine.dispose()


def _print_problems(problems: list[Problem]) -> None:
    for problem in problems:
        print(f"{problem.field or 'input'}: {problem.code} {problem.message}", file=sys.stderr)


async def _tenant_id(sessions: SessionFactory, slug: str) -> int:
    async with sessions() as session:
        tenant_id = await session.scalar(select(Tenant.id).where(Tenant.slug == slug.strip()))
    if tenant_id is None:
        raise DomainError.of("tenant", "TENANT_NOT_FOUND", f"No tenant {slug!r}.")
    return tenant_id


def raw_filter(args: argparse.Namespace) -> RawFilter:
    """The filter flags as the domain takes them (money stays text; the domain parses it)."""
    return RawFilter(
        args.payer_id,
        args.balance_min,
        args.balance_max,
        args.min_age_days,
        tuple(args.visit_state),
        tuple(args.account),
    )


def has_filter(args: argparse.Namespace) -> bool:
    """Whether any filter flag (or `--all`) was given."""
    scalars = (args.payer_id, args.balance_min, args.balance_max, args.min_age_days)
    return args.all or any(v is not None for v in scalars) or bool(args.visit_state or args.account)


def line_ids(text: str | None) -> list[int | None] | None:
    """`1,2,3` as ids; a part that is not an id becomes None (the domain says LINE_NOT_FOUND)."""
    if text is None:
        return None
    parts = [p.strip() for p in text.split(",") if p.strip()]
    return [int(p) if p.isdecimal() else None for p in parts]


def parse_date(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise DomainError.of(
            "transactionDate", "INVALID_DATE", f"'{text}' is not a date like 2026-11-23."
        ) from None


async def _submit(op: Operator, what: str, submit: Submit) -> int:
    """Store the job (or find it under the key), say so, and follow it unless --no-wait."""
    key = op.key
    async with op.uow() as uow:
        job = await submit(uow)
        await uow.commit()
    if op.enqueued:
        print(f"Job {job.id} submitted ({what}), idempotency key {key}")
        if op.args.key is None:
            print(f"  (rerun with --key {key} to get this job back)")
    else:
        print(f"Job {job.id} ({what}) was already submitted under key {key}")
    if op.args.no_wait:
        return 0
    return await op.watcher().follow(job.id)


async def _write_off(op: Operator) -> int:
    a = op.args
    ids = line_ids(a.line_ids)
    chosen = raw_filter(a) if has_filter(a) else None
    return await _submit(
        op,
        "write-off",
        lambda uow: bulk_service.submit_bulk_writeoff(
            uow,
            tenant_id=op.tenant_id,
            actor=op.actor,
            idempotency_key=op.key,
            line_ids=ids,
            raw_filter=chosen,
            reason=a.reason,
            note=a.note,
            enqueue=op.enqueue,
        ),
    )


async def _self_pay(op: Operator) -> int:
    a = op.args
    when = parse_date(a.date)
    return await _submit(
        op,
        f"self-pay {a.type}",
        lambda uow: bulk_service.submit_bulk_self_pay(
            uow,
            tenant_id=op.tenant_id,
            actor=op.actor,
            scopes=op.scopes,
            idempotency_key=op.key,
            type_=a.type,
            payer_code=a.payer_code,
            amount=a.amount,
            percent=a.percent,
            transaction_date=when,
            raw_filter=raw_filter(a),
            enqueue=op.enqueue,
        ),
    )


async def _reverse(op: Operator) -> int:
    a = op.args
    return await _submit(
        op,
        f"reversal of job {a.job}",
        lambda uow: bulk_service.submit_bulk_reversal(
            uow,
            tenant_id=op.tenant_id,
            actor=op.actor,
            scopes=op.scopes,
            idempotency_key=op.key,
            job_id=a.job,
            reason=a.reason,
            enqueue=op.enqueue,
        ),
    )


async def _cancel(op: Operator) -> int:
    """Cancel; then wait until the chunk under way has finished. 0 once the job is cancelled."""
    async with op.uow() as uow:
        job = await bulk_service.cancel_bulk_job(
            uow, tenant_id=op.tenant_id, actor=op.actor, scopes=op.scopes, job_id=op.args.job
        )
        await uow.commit()
    print(f"Job {job.id} cancelled; the chunk being applied (if any) finishes first")
    if not op.args.no_wait:
        await op.watcher().follow(job.id)
    return 0


async def _status(op: Operator) -> int:
    return await print_status(op.sessions, op.tenant_id, op.args.job, op.args.skipped)


ACTIONS: dict[str, Callable[[Operator], Awaitable[int]]] = {
    "write-off": _write_off,
    "self-pay": _self_pay,
    "reverse": _reverse,
    "cancel": _cancel,
    "status": _status,
}
