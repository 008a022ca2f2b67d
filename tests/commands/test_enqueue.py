"""Wake-ups coalesce under load and never lag behind a commit."""

import asyncio
import itertools
import math
import threading
import time

from celery import Celery
from sqlalchemy import func, select
from structlog.testing import capture_logs

from api.enqueue import Enqueuer
from arledger.config import Settings
from domain.db import SessionFactory
from domain.models import Command
from domain.uow import UnitOfWork
from domain.writeoffs.rules import parse_writeoff
from domain.writeoffs.service import submit_writeoff
from tests.support.factories import World, ledger_drift, make_world
from workers.app import make_celery


class RecordingEnqueuer(Enqueuer):
    """The real coalescing logic; the send itself is recorded (and slow) instead of brokered."""

    def __init__(self, send_seconds: float, interval_seconds: float = 0.0) -> None:
        super().__init__(Celery("unused"), "unused", "unused-bulk", interval_seconds)
        self.sent_ids: list[int] = []
        self.sent_at: list[float] = []
        self._send_seconds = send_seconds
        self._lock = threading.Lock()

    def _send(self, command_id: int) -> None:
        threading.Event().wait(self._send_seconds)
        with self._lock:
            self.sent_ids.append(command_id)
            self.sent_at.append(time.monotonic())


async def test_a_lone_command_is_woken_at_once() -> None:
    enqueuer = RecordingEnqueuer(send_seconds=0)
    await enqueuer.apply_command(7)
    await enqueuer.close()
    assert enqueuer.sent_ids == [7]


async def test_sends_coalesce_and_the_last_commit_is_always_covered() -> None:
    # given a slow broker
    enqueuer = RecordingEnqueuer(send_seconds=0.05)
    # when 50 commands commit while a send is under way
    for command_id in range(1, 51):
        await enqueuer.apply_command(command_id)
        await asyncio.sleep(0.002)
    await enqueuer.close()
    # then far fewer messages went out, in order, the last naming the last command
    assert 2 <= len(enqueuer.sent_ids) < 10
    assert enqueuer.sent_ids == sorted(enqueuer.sent_ids)
    assert enqueuer.sent_ids[0] == 1 and enqueuer.sent_ids[-1] == 50


async def test_sends_are_spaced_by_the_interval_and_a_quiet_spell_sends_at_once() -> None:
    # given a fast broker and an interval of 100 ms
    enqueuer = RecordingEnqueuer(send_seconds=0, interval_seconds=0.1)
    # when a command commits, then 60 more, 5 ms apart
    started = time.monotonic()
    for command_id in range(1, 62):
        await enqueuer.apply_command(command_id)
        await asyncio.sleep(0.005)
    burst = time.monotonic() - started
    # and after a quiet spell longer than the interval one more commits
    await asyncio.sleep(0.3)
    lone_at = time.monotonic()
    await enqueuer.apply_command(99)
    await enqueuer.close()
    # then the burst's messages were at least an interval apart, the last naming the last
    burst_sends = enqueuer.sent_at[:-1]
    gaps = [b - a for a, b in itertools.pairwise(burst_sends)]
    assert min(gaps) >= 0.095
    assert len(burst_sends) <= 2 + math.ceil(burst / 0.1)
    assert enqueuer.sent_ids[0] == 1 and enqueuer.sent_ids[-2] == 61
    # and the lone command was sent at once, not an interval later
    assert enqueuer.sent_ids[-1] == 99 and enqueuer.sent_at[-1] - lone_at < 0.05
    assert enqueuer.sent == len(enqueuer.sent_ids)


async def _submit(sessions: SessionFactory, world: World, n: int, enqueuer: Enqueuer) -> int:
    request = parse_writeoff([(world.line_ids[n % len(world.line_ids)], "1")], "charity", None)
    async with UnitOfWork(sessions) as uow:
        command = await submit_writeoff(
            uow,
            tenant_id=world.tenant_id,
            actor="tester",
            idempotency_key=f"burst-{n}",
            request=request,
            enqueue=enqueuer.apply_command,
        )
        await uow.commit()
    return command.id


async def test_a_burst_sends_far_fewer_messages_than_commands_and_applies_every_one(
    sessions: SessionFactory, settings: Settings, celery_app: Celery, worker: object
) -> None:
    # given the API's enqueuer on the real broker (the worker listening), 250 ms apart at most
    interval = 0.25
    enqueuer = Enqueuer(celery_app, settings.celery_queue, settings.bulk_queue_name, interval)
    world = await make_world(sessions, [10_000] * 20)
    # when 120 write-offs of $1.00 commit at once, each asking for its wake-up after commit
    started = time.monotonic()
    ids = await asyncio.gather(*(_submit(sessions, world, n, enqueuer) for n in range(120)))
    burst = time.monotonic() - started
    await enqueuer.close()
    # then far fewer broker messages went out than commands were stored
    assert enqueuer.sent <= min(24, 2 + math.ceil(burst / interval))
    # and every command is applied, by those wake-ups alone (the sweeper re-enqueued none)
    deadline = time.monotonic() + 60
    while await _pending(sessions, world):
        assert time.monotonic() < deadline, "commands still PENDING after 60 s"
        await asyncio.sleep(0.1)
    async with sessions() as session:
        rows = (
            await session.execute(
                select(Command.status, Command.enqueued_at == Command.created_at).where(
                    Command.id.in_(ids)
                )
            )
        ).all()
    assert sorted(set(rows)) == [("APPLIED", True)] and len(rows) == 120
    assert await ledger_drift(sessions, world.tenant_id) == []


async def _pending(sessions: SessionFactory, world: World) -> int:
    async with sessions() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(Command)
            .where(Command.tenant_id == world.tenant_id, Command.status == "PENDING")
        )
    return int(count or 0)


async def test_start_connects_to_the_broker_before_the_first_wake_up(settings: Settings) -> None:
    # given a new process's Celery app, not yet connected to the real broker
    celery = make_celery()
    enqueuer = Enqueuer(celery, settings.celery_queue, settings.bulk_queue_name)
    try:
        # when the enqueuer starts, then it has connected, and no wake-up was sent for it
        assert await enqueuer.start() is True
        assert enqueuer.sent == 0
        with celery.producer_or_acquire() as producer:
            assert producer.connection.connected
    finally:
        await enqueuer.close()
        celery.close()


async def test_start_with_the_broker_down_is_logged_and_later_wake_ups_do_not_raise(
    settings: Settings,
) -> None:
    # given a Celery app whose broker does not answer (nothing listens on port 1)
    celery = Celery("down", broker="redis://127.0.0.1:1/0")
    celery.conf.broker_connection_timeout = 0.5
    enqueuer = Enqueuer(celery, settings.celery_queue, settings.bulk_queue_name)
    try:
        with capture_logs() as logs:
            # when it starts, then it says so and goes on; so does a wake-up sent after it
            assert await enqueuer.start() is False
            await enqueuer.apply_command(1)
            await enqueuer.close()
        assert [entry["event"] for entry in logs] == ["enqueue_connect_failed", "enqueue_failed"]
    finally:
        celery.close()
