"""Per-process runtime: one event loop, one engine and one Redis publisher per worker process.

Built in `worker_process_init` (each prefork child), or lazily on first use in a process that
never got the signal (e.g. the solo pool). Tasks run coroutines with `run()`.

A unit of work from `Runtime.uow()` publishes its events after commit and then marks the
commands they announce published (see `domain.commands.republish`). Failpoint, for the fault
tests only: `ARLEDGER_FAILPOINT=after_commit_before_publish`, read when the runtime is built,
makes the process exit (`os._exit(1)`) right after a commit, before anything is published or marked.
"""

import asyncio
import gc
import os
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import structlog
from celery.signals import worker_process_init, worker_process_shutdown
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from arledger.config import get_settings
from arledger.logs import configure_logging
from domain.commands.republish import command_ids_of, mark_published_alone
from domain.db import SessionFactory, make_engine, make_session_factory
from domain.events import Event
from domain.uow import UnitOfWork
from workers.publisher import RedisPublisher

T = TypeVar("T")
log = structlog.get_logger(__name__)


@dataclass
class Runtime:
    loop: asyncio.AbstractEventLoop
    engine: AsyncEngine
    session_factory: SessionFactory
    publisher: RedisPublisher
    failpoint: str = ""

    def uow(self, *command_ids: int) -> UnitOfWork:
        """A fresh unit of work that publishes to Redis after commit, then marks the commands
        its events announce (and `command_ids`, e.g. a bulk chunk's) published."""
        return UnitOfWork(self.session_factory, partial(self._publish, command_ids))

    async def _publish(self, command_ids: Sequence[int], events: Sequence[Event]) -> None:
        if self.failpoint == "after_commit_before_publish":
            os.write(2, b"ARLEDGER_FAILPOINT after_commit_before_publish: exiting\n")
            os._exit(1)
        await self.publisher.publish(events)
        try:
            await mark_published_alone(self.engine, command_ids_of(events).union(command_ids))
        except Exception:  # the sweeper republishes them: a duplicate, never a loss
            log.exception("mark_published_failed", events=len(events))


_runtime: Runtime | None = None


def _build() -> Runtime:
    settings = get_settings()
    configure_logging(settings)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    engine = make_engine(settings.worker_database_url, pool_size=2)
    redis = Redis.from_url(settings.redis_url)
    built = Runtime(
        loop,
        engine,
        make_session_factory(engine),
        RedisPublisher(redis, settings.channel_prefix),
        os.environ.get("ARLEDGER_FAILPOINT", ""),
    )
    gc.freeze()  # the modules and runtime live forever: keep them out of every gen-2 scan
    return built


@worker_process_init.connect
def _init_process(**_: Any) -> None:
    global _runtime
    _runtime = _build()


@worker_process_shutdown.connect
def _shutdown_process(**_: Any) -> None:
    global _runtime
    if _runtime is not None:
        _runtime.loop.run_until_complete(_runtime.publisher.close())
        _runtime.loop.close()
        _runtime = None


def runtime() -> Runtime:
    """This process's runtime, built on first use if the init signal never fired."""
    global _runtime
    if _runtime is None:
        _runtime = _build()
    return _runtime


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on this process's one event loop."""
    return runtime().loop.run_until_complete(coroutine)
