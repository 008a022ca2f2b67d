"""Celery tasks. Each parses its message (ids only), calls one domain function, logs."""

import asyncio
import time
from datetime import timedelta

import structlog
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from arledger.config import get_settings
from domain.bulk.apply import apply_bulk_command, fail_command
from domain.commands import apply as applying
from domain.commands import republish
from domain.commands import store as command_store
from domain.locks import BULK_COMMAND_KINDS
from workers import broker_fix  # noqa: F401  (installs the fix in every worker process)
from workers.app import app
from workers.runtime import run, runtime

log = structlog.get_logger(__name__)


async def _drain(batch_size: int, wait_seconds: float, budget_seconds: float, share: float) -> int:
    """Apply batches of PENDING commands until none is left or time is up.

    The first batch claims the classic way (the oldest commands, then it waits for their
    rows) unless more than one batch waits: under light traffic a wake-up is one claim. A
    backlog is drained in batches on accounts no other child holds, so two children drain it
    side by side; one that finds none free ends its transaction and the next queues behind the
    holder (`apply_next_batch`)."""
    if wait_seconds > 0:
        await asyncio.sleep(wait_seconds)
    deadline, total = time.monotonic() + budget_seconds, 0
    queue: bool | None = None
    while True:
        async with runtime().uow() as uow:
            batch = await applying.apply_next_batch(uow, batch_size, share, queue)
            await uow.commit()
        total += batch.claimed
        if not batch.more or time.monotonic() > deadline:
            return total
        queue = batch.queue


@app.task(name="arledger.apply_command", acks_late=True)
def apply_command(command_id: int) -> int:
    """Wake-up for a stored command: drain the PENDING queue in batches (oldest first).

    The command named may already be final (applied by an earlier drain): then this is a
    no-op, which also makes a redelivered task harmless.
    """
    settings = get_settings()
    applied = run(
        _drain(
            settings.apply_batch_size,
            settings.apply_batch_wait_seconds,
            settings.apply_drain_seconds,
            settings.apply_batch_account_share,
        )
    )
    if applied:
        log.info("commands_applied", woken_by=command_id, count=applied)
    return applied


async def _enqueue_bulk(command_ids: list[int]) -> None:
    for command_id in command_ids:
        apply_bulk.delay(command_id)


def _transient(error: Exception) -> bool:
    """A lost connection or a database restart: leave the command PENDING for the sweeper."""
    if isinstance(error, OSError | TimeoutError | OperationalError | InterfaceError):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


async def _apply_bulk(command_id: int) -> str | None:
    try:
        async with runtime().uow(command_id) as uow:
            kind = await apply_bulk_command(
                uow, command_id, get_settings().bulk_chunk_size, _enqueue_bulk
            )
            await uow.commit()
        return kind
    except Exception as error:
        if _transient(error):
            raise
        log.exception("bulk_command_failed", command_id=command_id)
        async with runtime().uow(command_id) as uow:
            await fail_command(uow, command_id, f"{type(error).__name__}: {error}")
            await uow.commit()
        return None


@app.task(name="arledger.apply_bulk", acks_late=True)
def apply_bulk(command_id: int) -> str | None:
    """Plan a bulk job or apply one of its chunks; a no-op once that command is final."""
    kind = run(_apply_bulk(command_id))
    if kind:
        log.debug("bulk_command_applied", command_id=command_id, kind=kind)
    return kind


async def _sweep(older_than: timedelta) -> list[tuple[int, str]]:
    async with runtime().uow() as uow:
        stale = await command_store.stale_pending(uow, older_than)
        await uow.commit()
    return stale


async def _republish(older_than: timedelta) -> int:
    """Publish again the events of final commands never marked published; mark them."""
    async with runtime().uow() as uow:
        command_ids, events = await republish.unpublished(uow, older_than)
    if command_ids:
        await runtime().publisher.publish(events)
        async with runtime().uow() as uow:
            await republish.mark_published(uow, command_ids)
            await uow.commit()
    return len(command_ids)


@app.task(name="arledger.sweep_pending", acks_late=True)
def sweep_pending() -> int:
    """Re-enqueue PENDING commands (and bulk chunks) whose message may have been lost, and
    republish the events of final commands whose publication may have been lost."""
    older_than = timedelta(seconds=get_settings().sweep_after_seconds)
    stale = run(_sweep(older_than))
    for command_id, kind in stale:
        (apply_bulk if kind in BULK_COMMAND_KINDS else apply_command).delay(command_id)
    if stale:
        log.info("swept_pending", count=len(stale))
    if republished := run(_republish(older_than)):
        log.info("republished", count=republished)
    return len(stale)
