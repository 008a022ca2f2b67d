"""Per-process runtime: one event loop, one engine and one Redis publisher per worker process.

Built in `worker_process_init` (each prefork child), or lazily on first use in a process that
never got the signal (e.g. the solo pool). Tasks run coroutines with `run()`.
"""

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from celery.signals import worker_process_init, worker_process_shutdown
from redis.asyncio import Redis

from arledger.config import get_settings
from domain.db import SessionFactory, make_engine, make_session_factory
from domain.uow import UnitOfWork
from workers.publisher import RedisPublisher

T = TypeVar("T")


@dataclass
class Runtime:
    loop: asyncio.AbstractEventLoop
    session_factory: SessionFactory
    publisher: RedisPublisher

    def uow(self) -> UnitOfWork:
        """A fresh unit of work that publishes to Redis after commit."""
        return UnitOfWork(self.session_factory, self.publisher.publish)


_runtime: Runtime | None = None


def _build() -> Runtime:
    settings = get_settings()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    engine = make_engine(settings.database_url, pool_size=2)
    redis = Redis.from_url(settings.redis_url)
    return Runtime(
        loop, make_session_factory(engine), RedisPublisher(redis, settings.channel_prefix)
    )


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
