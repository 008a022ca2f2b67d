"""Celery tasks. Each parses its message (ids only), calls one domain function, logs."""

import asyncio
import time
from datetime import timedelta

import structlog

from arledger.config import get_settings
from domain import apply as applying
from domain import command_store
from workers.app import app
from workers.runtime import run, runtime

log = structlog.get_logger(__name__)


async def _drain(batch_size: int, wait_seconds: float, budget_seconds: float) -> int:
    """Apply batches of PENDING commands until a batch comes back short or time is up."""
    if wait_seconds > 0:
        await asyncio.sleep(wait_seconds)
    deadline, total = time.monotonic() + budget_seconds, 0
    while True:
        async with runtime().uow() as uow:
            claimed = await applying.apply_next_batch(uow, batch_size)
            await uow.commit()
        total += claimed
        if claimed < batch_size or time.monotonic() > deadline:
            return total


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
        )
    )
    if applied:
        log.info("commands_applied", woken_by=command_id, count=applied)
    return applied


async def _sweep(older_than: timedelta) -> list[int]:
    async with runtime().uow() as uow:
        ids = await command_store.stale_pending(uow, older_than)
        await uow.commit()
    return ids


@app.task(name="arledger.sweep_pending", acks_late=True)
def sweep_pending() -> int:
    """Re-enqueue PENDING commands whose message may have been lost."""
    ids = run(_sweep(timedelta(seconds=get_settings().sweep_after_seconds)))
    for command_id in ids:
        apply_command.delay(command_id)
    if ids:
        log.info("swept_pending", count=len(ids))
    return len(ids)
