"""Following a bulk job from a shell: a progress bar fed by the job's Redis channel (with a
database poll every second, since pub/sub is at-most-once), then the summary line, e.g.
`Job 12 DONE: 9,870 of 10,000 applied, 130 skipped (LINE_PROTECTED 12, …)`.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import func, select

from domain.bulk.models import BulkJob, BulkJobItem
from domain.db import SessionFactory
from domain.models import Account, Visit

POLL_SECONDS = 1.0
FINAL_OK = "DONE"


@dataclass
class State:
    """A job's progress as an event or a database read shows it."""

    status: str
    total: int | None
    applied: int
    skipped: int
    cancelled: int
    finished: bool

    @property
    def done(self) -> int:
        return self.applied + self.skipped + self.cancelled

    def newer_than(self, other: State) -> bool:
        """Chunks commit in parallel, so events may come out of order: keep only progress."""
        return (
            self.done > other.done
            or (self.finished and not other.finished)
            or (self.total is not None and other.total is None)
            or (self.status != other.status and other.status in ("QUEUED", "RUNNING"))
        )


@dataclass
class Summary:
    """A job row and its skipped rows counted by code."""

    job: BulkJob
    skip_reasons: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        """`Job 12 DONE: 9,870 of 10,000 applied, 130 skipped (LINE_PROTECTED 12, …)`."""
        job = self.job
        head = f"Job {job.id} {job.status}"
        if job.total_items is None:
            return f"{head}: not planned yet"
        text = f"{head}: {job.applied_items:,} of {job.total_items:,} applied"
        text += f", {job.skipped_items:,} skipped"
        if self.skip_reasons:
            reasons = sorted(self.skip_reasons.items())
            text += " (" + ", ".join(f"{code} {n:,}" for code, n in reasons) + ")"
        if job.cancelled_items:
            text += f", {job.cancelled_items:,} not attempted"
        remaining = job.total_items - job.applied_items - job.skipped_items - job.cancelled_items
        if job.finished_at is None and remaining:
            text += f", {remaining:,} remaining"
        return text

    def details(self) -> list[str]:
        """The amount moved and, for a failed job, the error."""
        lines = [f"  amount applied: {money(self.job.applied_cents)}"]
        if self.job.error_code:
            lines.append(f"  error: {self.job.error_code} {self.job.error_message or ''}".rstrip())
        return lines


def money(cents: int) -> str:
    """Cents as an amount with thousands separators, e.g. `-1,234.50` (no float involved)."""
    whole, frac = divmod(abs(cents), 100)
    return f"{'-' if cents < 0 else ''}{whole:,}.{frac:02d}"


def exit_status(status: str) -> int:
    """0 for a DONE job (or one still going), 1 for FAILED or CANCELLED."""
    return 1 if status in ("FAILED", "CANCELLED") else 0


async def load_summary(sessions: SessionFactory, tenant_id: int, job_id: int) -> Summary | None:
    """The job of `tenant_id` and its skip reasons, or None when there is no such job."""
    async with sessions() as session:
        job = await session.scalar(
            select(BulkJob).where(BulkJob.id == job_id, BulkJob.tenant_id == tenant_id)
        )
        if job is None:
            return None
        rows = await session.execute(
            select(BulkJobItem.code, func.count())
            .where(BulkJobItem.job_id == job_id, BulkJobItem.status == "SKIPPED")
            .group_by(BulkJobItem.code)
        )
        return Summary(job, {code or "UNKNOWN": n for code, n in rows})


def _progress_bar() -> Progress:
    return Progress(
        TextColumn("Job {task.fields[job]} {task.fields[status]:<9}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("applied {task.fields[applied]:,} · skipped {task.fields[skipped]:,}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    )


class Watcher:
    """Follows one tenant's jobs: `follow(job_id)` shows progress until the job is finished."""

    def __init__(self, sessions: SessionFactory, redis: Redis, prefix: str, tenant_id: int):
        self._sessions = sessions
        self._redis = redis
        self._prefix = prefix
        self._tenant_id = tenant_id

    async def follow(self, job_id: int) -> int:
        """Show the job's progress until it is finished; print the summary; its exit status."""
        pubsub = await self._subscribe(job_id)
        try:
            with _progress_bar() as bar:
                task = bar.add_task("job", total=None, job=job_id, status="", applied=0, skipped=0)
                latest = await self._poll(job_id)
                self._show(bar, task, latest)
                while not latest.finished:
                    latest = await self._next(job_id, pubsub, latest)
                    self._show(bar, task, latest)
        finally:
            if pubsub is not None:
                await pubsub.aclose()
        summary = await load_summary(self._sessions, self._tenant_id, job_id)
        assert summary is not None
        print(summary.line())
        print("\n".join(summary.details()))
        return exit_status(summary.job.status)

    async def _subscribe(self, job_id: int) -> PubSub | None:
        """The job's channel, or None when Redis cannot be reached (then polling alone)."""
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(f"{self._prefix}:{self._tenant_id}:bulkjob:{job_id}")
        except (RedisError, OSError) as error:
            print(f"warning: no progress events ({error}); polling", file=sys.stderr)
            await pubsub.aclose()
            return None
        return pubsub

    async def _next(self, job_id: int, pubsub: PubSub | None, latest: State) -> State:
        """The next newer state: from an event, or from the database after a second."""
        deadline = time.monotonic() + POLL_SECONDS
        while pubsub is not None and (wait := deadline - time.monotonic()) > 0:
            try:
                message = await pubsub.get_message(timeout=wait)
            except (RedisError, OSError):
                break
            if message is not None and message.get("type") == "message":
                event = _state(json.loads(message["data"]))
                if event is not None and event.newer_than(latest):
                    return event
        await _sleep(deadline - time.monotonic())  # when Redis is absent or failed
        polled = await self._poll(job_id)
        return polled if polled.newer_than(latest) or polled.finished else latest

    async def _poll(self, job_id: int) -> State:
        async with self._sessions() as session:
            job = await session.get(BulkJob, job_id)
        assert job is not None and job.tenant_id == self._tenant_id
        return State(
            job.status,
            job.total_items,
            job.applied_items,
            job.skipped_items,
            job.cancelled_items,
            job.finished_at is not None,
        )

    @staticmethod
    def _show(bar: Progress, task: Any, state: State) -> None:
        bar.update(
            task,
            total=state.total,
            completed=state.done,
            status=state.status,
            applied=state.applied,
            skipped=state.skipped,
        )


def _state(message: dict[str, Any]) -> State | None:
    if message.get("type") != "BulkJobProgress":
        return None
    return State(
        message["status"],
        message["total"],
        message["applied"],
        message["skipped"],
        message["cancelled"],
        message["finished"],
    )


async def _sleep(seconds: float) -> None:
    await asyncio.sleep(max(0.0, seconds))


async def print_status(sessions: SessionFactory, tenant_id: int, job_id: int, skipped: bool) -> int:
    """Print a job's description and totals (and every skipped row); its exit status."""
    summary = await load_summary(sessions, tenant_id, job_id)
    if summary is None:
        print(f"jobId: JOB_NOT_FOUND No bulk job {job_id}.", file=sys.stderr)
        return 2
    for line in _description(summary.job):
        print(line)
    print(summary.line())
    print("\n".join(summary.details()))
    if skipped:
        await _print_skipped(sessions, job_id)
    return exit_status(summary.job.status)


def _description(job: BulkJob) -> list[str]:
    params = {k: v for k, v in job.params.items() if k not in ("filter", "lines") and v is not None}
    lines = [f"Job {job.id}: {job.kind} by {job.actor}, key {job.idempotency_key}"]
    if "amount" in params:
        params["amount"] = money(params["amount"])
    lines.append("  " + ", ".join(f"{k} {v}" for k, v in params.items()))
    if job.params.get("filter"):
        lines.append(f"  filter: {_filter_text(job.params['filter'])}")
    if job.params.get("lines"):
        lines.append(f"  lines: {len(job.params['lines']):,} explicit")
    times = [
        ("created", job.created_at),
        ("started", job.started_at),
        ("finished", job.finished_at),
    ]
    lines.append("  " + ", ".join(f"{name} {t:%Y-%m-%d %H:%M:%S}" for name, t in times if t))
    if job.reverses_job_id:
        lines.append(f"  reverses job {job.reverses_job_id}")
    return lines


def _filter_text(params: dict[str, Any]) -> str:
    """A stored filter for people: money as amounts, account numbers rather than ids."""
    shown = {k: v for k, v in params.items() if k != "account_ids" and v not in (None, [])}
    for bound in ("min", "max"):
        if bound in shown:
            shown[bound] = money(shown[bound])
    return ", ".join(f"{k} {v}" for k, v in shown.items()) or "everything"


async def _print_skipped(sessions: SessionFactory, job_id: int) -> None:
    """Every skipped row, in job order: account, visit, line (or target) and why."""
    i = BulkJobItem
    query = (
        select(i, Account.account_number, Visit.visit_number)
        .join(Account, Account.id == i.account_id)
        .join(Visit, Visit.id == i.visit_id)
        .where(i.job_id == job_id, i.status == "SKIPPED")
        .order_by(i.seq)
    )
    print("Skipped rows:")
    async with sessions() as session:
        rows = await session.stream(query.execution_options(yield_per=1000))
        async for item, account_number, visit_number in rows:
            where = f"account {account_number} visit {visit_number}"
            if item.line_id is not None:
                where += f" line {item.line_id}"
            if item.target_entry_id is not None:
                where += f" entry {item.target_entry_id}"
            if item.target_transaction_id is not None:
                where += f" transaction {item.target_transaction_id}"
            print(f"  {where}: {item.code} {item.message}")
