"""Wakes the workers for committed commands without blocking the event loop.

Tasks are wake-ups (a worker drains every PENDING command in batches), so one message can serve
many commands: a send covers every command committed before it starts. A lone command after a
quiet spell gets its message at once; under load the sends coalesce: one in flight at a time,
and at most one per `interval_seconds` (`ENQUEUE_INTERVAL_SECONDS`), so a burst of N commands
costs a handful of broker messages, not N (each a kombu publish on the GIL every request shares).
A lost wake-up loses nothing: the command is in PostgreSQL and the sweeper re-enqueues it, so
a send that fails (the broker is down) is logged, never raised to the client whose command is
already committed. It is logged as one line, without a traceback: rendering one (with locals)
takes seconds, on the event loop every request shares.

Failpoint, for the fault tests only: `ARLEDGER_FAILPOINT=after_commit_before_enqueue`, read when
the `Enqueuer` is built, makes the process exit (`os._exit(1)`) right after a command commits,
before its wake-up is sent.
"""

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import structlog
from celery import Celery

APPLY_TASK = "arledger.apply_command"
BULK_TASK = "arledger.apply_bulk"
log = structlog.get_logger(__name__)


class Enqueuer:
    """Sends `apply_command(id)` on one dedicated thread (kombu's producer is blocking)."""

    def __init__(
        self, celery: Celery, queue: str, bulk_queue: str, interval_seconds: float = 0.0
    ) -> None:
        self._celery = celery
        self._queue = queue
        self._bulk_queue = bulk_queue
        self._interval = interval_seconds
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="enqueue")
        self._latest: int | None = None
        self._sender: asyncio.Task[None] | None = None
        self._next_send = 0.0
        """Event-loop time before which no wake-up is sent (the last send's start + interval)."""
        self.sent = 0
        """Wake-ups sent (or attempted) by this process."""
        self._crash = os.environ.get("ARLEDGER_FAILPOINT") == "after_commit_before_enqueue"

    def start(self) -> "asyncio.Future[bool]":
        """Connect to the broker now, on the enqueue thread, rather than in the first wake-up:
        the first send imports the transport, loads the result backend and connects (about
        170 ms, holding the GIL for much of it), so the commands of a process's first moments
        waited for it and its requests stalled. Resolves to whether it connected; a broker
        that is down is logged, and a later send tries again. Not awaited by the app: it
        starts serving meanwhile, and its first send queues behind this on the same thread."""
        return asyncio.wrap_future(self._executor.submit(self._connect))

    def _connect(self) -> bool:
        try:
            self._celery.backend  # noqa: B018 (loaded on first use; a property)
            with self._celery.producer_or_acquire() as producer:
                producer.connection.connect()
                return bool(producer.connection.connected)
        except Exception as error:
            log.warning("enqueue_connect_failed", error=f"{type(error).__name__}: {error}")
            return False

    async def apply_command(self, command_id: int) -> None:
        """Make sure a wake-up for `command_id` (already committed) is sent soon."""
        if self._crash:
            _exit()
        self._latest = command_id
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_pending())

    async def apply_bulk(self, command_id: int) -> None:
        """Send `apply_bulk(id)` for a bulk job's planning command (each its own message)."""
        if self._crash:
            _exit()
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(
                self._executor,
                partial(
                    self._celery.send_task, BULK_TASK, args=[command_id], queue=self._bulk_queue
                ),
            )
        except Exception as error:  # the sweeper re-enqueues it
            _failed(command_id, error)

    async def _send_pending(self) -> None:
        loop = asyncio.get_running_loop()
        while self._latest is not None:
            if (wait := self._next_send - loop.time()) > 0:
                await asyncio.sleep(wait)  # commands committing meanwhile join this send
            command_id, self._latest = self._latest, None
            self._next_send = loop.time() + self._interval
            self.sent += 1
            try:
                await loop.run_in_executor(self._executor, self._send, command_id)
            except Exception as error:  # the sweeper re-enqueues it
                _failed(command_id, error)

    def _send(self, command_id: int) -> None:
        self._celery.send_task(APPLY_TASK, args=[command_id], queue=self._queue)

    async def close(self) -> None:
        """Finish any send under way, then stop the thread."""
        if self._sender is not None:
            await self._sender
        self._executor.shutdown(wait=True)


def _failed(command_id: int, error: Exception) -> None:
    log.warning("enqueue_failed", command_id=command_id, error=f"{type(error).__name__}: {error}")


def _exit() -> None:
    """The failpoint: say so on stderr (unbuffered), then die without any cleanup."""
    os.write(2, b"ARLEDGER_FAILPOINT after_commit_before_enqueue: exiting\n")
    os._exit(1)
