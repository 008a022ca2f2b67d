"""Ceiling A: one transaction per command on bench-only tables, 8 connections, fixed time.

BEGIN; SELECT balance … FOR UPDATE; INSERT a ledger-like row; UPDATE the balance; COMMIT —
spread over many rows, or all on one hot row. pgbench runs it when installed (its C client
costs next to no CPU), else the same SQL from asyncpg.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import shutil
import tempfile
import time
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from bench.report import BenchError

SETUP = """
CREATE TABLE bench_balance (id int PRIMARY KEY, balance bigint NOT NULL);
CREATE TABLE bench_ledger (
    id bigserial PRIMARY KEY,
    balance_id int NOT NULL REFERENCES bench_balance (id),
    amount bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
"""
OPENING = 1_000_000_000
SELECT = "SELECT balance FROM bench_balance WHERE id = $1 FOR UPDATE"
INSERT = "INSERT INTO bench_ledger (balance_id, amount) VALUES ($1, -1)"
UPDATE = "UPDATE bench_balance SET balance = balance - 1 WHERE id = $1"
PGBENCH_SCRIPT = """\\set id random(1, {rows})
BEGIN;
SELECT balance FROM bench_balance WHERE id = :id FOR UPDATE;
INSERT INTO bench_ledger (balance_id, amount) VALUES (:id, -1);
UPDATE bench_balance SET balance = balance - 1 WHERE id = :id;
COMMIT;
"""


async def create_tables(conn: asyncpg.Connection, rows: int) -> None:
    await conn.execute(SETUP)
    await conn.execute(
        "INSERT INTO bench_balance SELECT g, $1 FROM generate_series(1, $2) g", OPENING, rows
    )
    await conn.execute("ANALYZE bench_balance")


async def drift(conn: asyncpg.Connection) -> list[str]:
    """Every bench_balance row must equal its opening balance plus its ledger rows."""
    rows = await conn.fetch(
        """SELECT b.id, b.balance, $1 + COALESCE(sum(l.amount), 0) AS expected
           FROM bench_balance b LEFT JOIN bench_ledger l ON l.balance_id = b.id
           GROUP BY b.id HAVING b.balance <> $1 + COALESCE(sum(l.amount), 0) LIMIT 20""",
        OPENING,
    )
    return [f"bench_balance {r['id']}: {r['balance']} != {r['expected']}" for r in rows]


async def run_asyncpg(dsn: str, rows: int, clients: int, seconds: float) -> float:
    """Transactions per second from `clients` asyncpg connections (rows=1: the hot row)."""
    conns = [await asyncpg.connect(dsn) for _ in range(clients)]
    done = [0] * clients
    deadline = time.monotonic() + seconds

    async def loop(index: int, conn: asyncpg.Connection) -> None:
        rng = random.Random(index)
        while time.monotonic() < deadline:
            row = rng.randint(1, rows)
            async with conn.transaction():
                await conn.fetchval(SELECT, row)
                await conn.execute(INSERT, row)
                await conn.execute(UPDATE, row)
            done[index] += 1

    try:
        start = time.monotonic()
        await asyncio.gather(*(loop(i, c) for i, c in enumerate(conns)))
        return sum(done) / (time.monotonic() - start)
    finally:
        for conn in conns:
            await conn.close()


async def run_pgbench(url: str, rows: int, clients: int, seconds: float) -> float:
    """Transactions per second as pgbench reports them (prepared statements, like asyncpg)."""
    parsed = make_url(url)
    host = parsed.host or str(parsed.query.get("host") or "")
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = parsed.password
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "txn.sql"
        script.write_text(PGBENCH_SCRIPT.format(rows=rows))
        args = [
            "-n",
            "-M",
            "prepared",
            "-c",
            str(clients),
            "-j",
            str(min(clients, 2)),
            "-T",
            str(max(1, round(seconds))),
            "-f",
            str(script),
            "-p",
            str(parsed.port or 5432),
            "-U",
            parsed.username or "postgres",
        ]
        if host:
            args += ["-h", host]
        proc = await asyncio.create_subprocess_exec(
            "pgbench",
            *args,
            parsed.database or "postgres",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await proc.communicate()
    text = out.decode(errors="replace")
    found = re.search(r"tps = ([0-9.]+)", text)
    if proc.returncode != 0 or found is None:
        raise BenchError(f"pgbench failed ({proc.returncode}):\n{text[-2000:]}")
    return float(found.group(1))


def pick_tool(requested: str) -> str:
    """`pgbench` when asked for or (auto) installed, else `asyncpg`."""
    if requested == "auto":
        return "pgbench" if shutil.which("pgbench") else "asyncpg"
    if requested == "pgbench" and not shutil.which("pgbench"):
        raise BenchError("--ceiling-tool pgbench, but pgbench is not on PATH")
    return requested


async def measure(url: str, tool: str, rows: int, clients: int, seconds: float) -> float:
    dsn = url.replace("+asyncpg", "", 1)
    if tool == "pgbench":
        return await run_pgbench(url, rows, clients, seconds)
    return await run_asyncpg(dsn, rows, clients, seconds)
