"""Test infrastructure: real PostgreSQL (migrated), real Redis, a real Celery worker process
and a real uvicorn server, started once per session.

PostgreSQL and Redis come from DATABASE_URL / REDIS_URL when set, else embedded ones start.
Each session gets its own throwaway database, Celery queue and pub/sub channel prefix.
"""

import asyncio
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from celery import Celery
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from arledger import devstack
from arledger.config import Settings, get_settings
from domain.db import SessionFactory, make_engine, make_session_factory
from domain.migrations.run import upgrade
from tests.support.seeds import replay_hint, rng_for
from workers.app import make_celery

RUN = secrets.token_hex(4)
ROOT = Path(__file__).resolve().parent.parent


def pytest_report_header() -> str:
    return replay_hint()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    terminalreporter.write_line(replay_hint())


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> random.Random:
    """This test's random generator, seeded from the run's seed (see `tests.support.seeds`)."""
    return rng_for(request.node.nodeid)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Process-wide settings pointing at this session's database, queue and channels."""
    base = os.environ.get("DATABASE_URL") or devstack.start_postgres(
        tmp_path_factory.mktemp("pg") / "data", cleanup_mode="delete"
    )
    redis_url = os.environ.get("REDIS_URL") or devstack.start_redis(
        tmp_path_factory.mktemp("redis")
    )
    url = devstack.database_url_for(f"arledger_test_{RUN}", base)
    asyncio.run(devstack.create_database(url))
    upgrade(url)
    os.environ.update(
        DATABASE_URL=url,
        REDIS_URL=redis_url,
        CELERY_QUEUE=f"arledger-test-{RUN}",
        CHANNEL_PREFIX=f"arledger-test-{RUN}",
        SWEEP_AFTER_SECONDS="3",
        SWEEP_INTERVAL_SECONDS="1",
    )
    get_settings.cache_clear()
    yield get_settings()
    asyncio.run(devstack.drop_database(url))


@pytest.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(settings.database_url, pool_size=20)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def sessions(engine: AsyncEngine) -> SessionFactory:
    """Sessions that really commit (for tests that go through the worker)."""
    return make_session_factory(engine)


@pytest.fixture
async def rollback_sessions(engine: AsyncEngine) -> AsyncIterator[SessionFactory]:
    """Sessions whose commits are savepoints inside one transaction rolled back at the end."""
    async with engine.connect() as connection:
        outer = await connection.begin()
        yield async_sessionmaker(
            bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )
        await outer.rollback()


def _spawn(
    args: list[str], log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start `python <args>` in its own process group (`env`: this process's when None)."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env=dict(os.environ) if env is None else env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, 15)
        process.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, 9)
        process.wait()


class Worker:
    """The session's Celery worker (prefork, 2 children, the sweeper on embedded beat).

    `kill` signals its whole process group (the main process, its pool children and beat) and
    reaps it; `start` spawns a fresh one (new log and beat schedule files). A test that kills
    the worker must start it again (in a `finally`): the session keeps it running.
    """

    def __init__(
        self, queue: str, logs: Path, env: dict[str, str] | None = None, concurrency: int = 2
    ) -> None:
        self._queue = queue
        self._logs = logs
        self._concurrency = concurrency
        self.env = env
        """The environment of the next `start` (this process's when None)."""
        self._starts = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def log(self) -> Path:
        """The current (latest) worker log."""
        return self._logs / f"worker-{self._starts}.log"

    def start(self) -> None:
        assert not self.running, "the worker is already running"
        self._starts += 1
        self._process = _spawn(
            [
                "-m",
                "celery",
                "-A",
                "workers.app",
                "worker",
                "-Q",
                self._queue,
                "-c",
                str(self._concurrency),
                "-B",
                "-s",
                str(self._logs / f"beat-schedule-{self._starts}"),
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
            ],
            self.log,
            self.env,
        )

    @property
    def pid(self) -> int:
        """The main process's pid."""
        assert self._process is not None
        return self._process.pid

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send `sig` to the worker's whole process group and wait for the main process."""
        assert self._process is not None and self.running, "the worker is not running"
        os.killpg(self._process.pid, sig)
        self._process.wait(timeout=30)

    def stop(self) -> None:
        if self._process is not None and self.running:
            _stop(self._process)


@pytest.fixture(scope="session")
def worker(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    """A real Celery worker (prefork, 2 children) with the sweeper on embedded beat."""
    handle = Worker(settings.worker_queues, tmp_path_factory.mktemp("worker"))
    handle.start()
    yield handle
    handle.stop()


@pytest.fixture(scope="session")
def server(
    settings: Settings, worker: Worker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A real uvicorn serving the API; yields its base URL."""
    port = _free_port()
    logs = tmp_path_factory.mktemp("api")
    process = _spawn(
        [
            "-m",
            "uvicorn",
            "api.app:create_app",
            "--factory",
            "--port",
            str(port),
            "--ws-per-message-deflate",
            str(settings.ws_compression).lower(),
            "--log-level",
            "warning",
            "--timeout-keep-alive",
            "30",
        ],
        logs / "api.log",
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                _stop(process)
                raise RuntimeError((logs / "api.log").read_text()) from None
            time.sleep(0.2)
    yield base
    _stop(process)


@pytest.fixture
async def client(server: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the running API."""
    async with httpx.AsyncClient(base_url=server, timeout=30) as c:
        yield c


@pytest.fixture(scope="session")
def celery_app(settings: Settings) -> Iterator[Celery]:
    """A Celery app for sending tasks to the running worker, as the API does."""
    app = make_celery()
    yield app
    app.close()


# The fault tests' dedicated stack (imported last: tests.faults.stack imports this module).
from tests.faults.stack import fault_engine, fault_sessions, fault_stack  # noqa: E402, F401
