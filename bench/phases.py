"""The phases of one run, each adding rows to `Results` and ending with the drift check."""

from __future__ import annotations

import time
from dataclasses import dataclass

import asyncpg
from celery import Celery

from bench import (
    apply_bench,
    bulk_bench,
    ceiling,
    drift,
    http_bench,
    remit_bench,
    subs_bench,
    subs_rows,
)
from bench.data import seed_tenant, wait_final
from bench.report import BenchError, Results, Row, percentile
from bench.stack import Stack

BIG = 100_000_000_000  # cents on a hot line: never runs out


@dataclass(frozen=True)
class Scale:
    name: str
    ceiling_seconds: float
    ceiling_rows: int
    ceiling_clients: int
    apply_commands: int
    spread_accounts: int
    lines_per_account: int
    http_requests: int
    http_clients: int
    ws_clients: int
    sub_rate: float
    sub_seconds: float
    bulk_jobs: tuple[tuple[int, float], ...] = ()
    """(lines, target seconds) per bulk write-off job."""
    remittances: tuple[tuple[int, float], ...] = ()
    """(claims, target seconds) per generated 835 (3 service lines a claim)."""
    sub_fanout: tuple[int, int] = (0, 0)
    """(accounts, sockets per account) of the fan-out run at `sub_rate` events/s."""


class DriftError(BenchError):
    """The projection disagrees with the ledger (or a command was applied twice)."""


async def drift_gate(
    conn: asyncpg.Connection, phase: str, results: Results, extra: list[str] | None = None
) -> None:
    problems = (extra or []) + await drift.check(conn)
    results.drift[phase] = problems
    if problems:
        raise DriftError(f"drift after {phase}:\n  " + "\n  ".join(problems))


async def phase_ceiling(
    stack: Stack, conn: asyncpg.Connection, s: Scale, tool: str, results: Results
) -> None:
    """Ceiling A: one row-lock transaction per command, spread and on one hot row."""
    await ceiling.create_tables(conn, s.ceiling_rows)
    c = s.ceiling_clients
    for label, rows in (("spread", s.ceiling_rows), ("hot", 1)):
        tps = await ceiling.measure(stack.database_url, tool, rows, c, s.ceiling_seconds)
        where = f"{rows:,} rows" if rows > 1 else "1 row"
        results.add(
            Row(
                f"A {label}: 1 txn/command ({c} conns, {where})",
                tps,
                "tx/s",
                note=f"{tool}, {s.ceiling_seconds:g} s",
            )
        )
    await drift_gate(conn, "ceiling", results, await ceiling.drift(conn))


async def phase_apply(
    stack: Stack, conn: asyncpg.Connection, app: Celery, s: Scale, results: Results
) -> None:
    """Worker apply throughput: N PENDING write-offs, spread and hot."""
    n = s.apply_commands
    spread = await seed_tenant(conn, s.spread_accounts, s.lines_per_account, 10_000_000)
    hot = await seed_tenant(conn, 1, 1, BIG)
    shape = f"{len(spread.lines):,} lines/{s.spread_accounts} accts"
    for label, tenant, what in (("spread", spread, shape), ("hot", hot, "1 line")):
        run = await apply_bench.run_apply(stack, conn, app, tenant, n)
        a = f"A {label}: 1 txn/command"
        ceiling_phase = next((r.phase for r in results.rows if r.phase.startswith(a)), "")
        note = f"{run.applied} applied, {run.rejected} rejected; {run.wakeups} wake-ups sent in "
        note += f"{run.send_seconds:.2f} s"
        results.add(
            Row(
                f"worker apply {label} ({n:,} cmds, {what})",
                run.rate,
                "cmd/s",
                results.figure(ceiling_phase),
                "A " + label,
                note,
            )
        )
        await drift_gate(conn, f"apply {label}", results)


def served_by(name: str, procs: int) -> str:
    """A row's (or drift check's) name, marked with the API processes that served it (rows of
    a one-process run keep their names, comparable with earlier runs)."""
    return name if procs == 1 else f"{name} [{procs} API procs]"


async def phase_http(
    stack: Stack,
    conn: asyncpg.Connection,
    api: str,
    bare: str,
    s: Scale,
    results: Results,
    procs: int = 1,
) -> None:
    """End to end over HTTP against the bare strawberry app's requests/s (both served by
    `procs` uvicorn processes)."""
    n, c = s.http_requests, s.http_clients
    spread = await seed_tenant(conn, s.spread_accounts, s.lines_per_account, 10_000_000)
    hot = await seed_tenant(conn, 1, 1, BIG)
    line_ids = [line for line, _ in spread.lines]
    warm = await seed_tenant(conn, 1, 1, BIG)  # fill the API's connection pool, untimed
    warm_bodies = http_bench.writeoff_bodies([warm.lines[0][0]], seed=0)
    await http_bench.blast(api, warm.token(), c, 2 * c, warm_bodies, "writeOff")
    await wait_final(conn, warm.id, 2 * c, 120, stack.check_alive)
    bare_run = await http_bench.blast(bare, None, c, n, http_bench.noop_bodies(line_ids), "noop")
    if bare_run.errors:
        raise BenchError("bare app errors:\n" + "\n".join(bare_run.errors[:5]))
    bare_name = served_by(f"bare strawberry mutation ({c} clients)", procs)
    results.add(Row(bare_name, bare_run.rate, "req/s", note=f"{n:,} requests"))
    for label, tenant in (("spread", spread), ("hot", hot)):
        ids = [line for line, _ in tenant.lines]
        bodies = http_bench.writeoff_bodies(ids, seed=tenant.id)
        run = await http_bench.blast(api, tenant.token(), c, n, bodies, "writeOff")
        if run.errors:
            raise BenchError(f"e2e {label} errors:\n" + "\n".join(run.errors[:5]))
        out = await wait_final(conn, tenant.id, n, max(120.0, n / 10), stack.check_alive)
        final = n / (out.seen_at - run.started)
        results.add(
            Row(
                served_by(f"e2e {label}: mutations answered ({c} clients)", procs),
                run.rate,
                "req/s",
                bare_run.rate,
                "bare mutation",
                f"{n:,} requests",
            )
        )
        one_process_bare = results.figure(f"bare strawberry mutation ({c} clients)")
        if procs > 1 and one_process_bare:  # the target: N processes vs the framework
            results.add(
                Row(
                    served_by(f"e2e {label}: mutations answered vs 1-process bare", procs),
                    run.rate,
                    "req/s",
                    one_process_bare,
                    "bare, 1 process",
                    "same run; the bare app served by one process",
                )
            )
        results.add(
            Row(
                served_by(f"e2e {label}: all commands final", procs),
                final,
                "cmd/s",
                bare_run.rate,
                "bare mutation",
                f"{out.applied} applied, {out.rejected} rejected",
            )
        )
        await drift_gate(conn, served_by(f"e2e {label}", procs), results)


async def phase_subscriptions(
    stack: Stack,
    conn: asyncpg.Connection,
    api: str,
    bare: str,
    s: Scale,
    results: Results,
    procs: int = 1,
) -> None:
    """Subscription latency at a steady write-off rate, against the bare relay's (both served
    by `procs` uvicorn processes: the sockets spread over them, one Redis subscriber each)."""
    w, rate, secs = s.ws_clients, s.sub_rate, s.sub_seconds
    ceiling_run = await subs_bench.relay_ceiling(bare, stack.redis_url, stack.prefix, w, rate, secs)
    if not ceiling_run.send_to_ws:
        raise BenchError("bare relay delivered nothing: " + "; ".join(ceiling_run.errors[:3]))
    shape = f"{w} sockets, {rate:g}/s"
    ms = [1000 * x for x in ceiling_run.send_to_ws]
    relay = {p: percentile(ms, p) for p in (50, 99)}
    for p in (50, 99):
        note = f"{ceiling_run.delivered}/{ceiling_run.expected} delivered" if p == 50 else ""
        relay_row = served_by(f"bare relay publish→ws p{p} ({shape})", procs)
        results.add(Row(relay_row, relay[p], "ms", note=note))
    for via in ("direct", "http"):
        tenant = await seed_tenant(conn, w, 1, BIG)
        if via == "http":
            submitter = subs_bench.http_submitter(api, tenant)
        else:
            submitter = subs_bench.direct_submitter(stack.dsn, tenant, stack.queue)
        async with submitter as submit:
            run = await subs_bench.subscription_latency(
                api,
                conn,
                tenant,
                rate,
                secs,
                submit,
                stack.check_alive,
                redis=(stack.redis_url, stack.prefix),
            )
        if not run.delivered:
            raise BenchError(f"subscriptions ({via}) delivered nothing: {run.errors[:3]}")
        sent = f"{run.expected / run.submit_seconds:.0f}/s sent over {run.submit_seconds:.1f} s"
        what = "via writeOff" if via == "http" else "stored directly, API idle"
        for name, values in (("commit→ws", run.commit_to_ws), ("send→ws", run.send_to_ws)):
            for p in (50, 99):
                value = percentile([1000 * x for x in values], p)
                note = sent if (name, p) == ("send→ws", 50) else ""
                results.add(
                    Row(
                        served_by(f"sub {name} p{p} ({what})", procs),
                        value,
                        "ms",
                        relay[p],
                        f"bare relay p{p}",
                        note,
                    )
                )
        delivered = served_by(f"sub events delivered ({what})", procs)
        results.add(subs_rows.delivered_row(delivered, run))
    if s.sub_fanout[0]:
        print("· subscription fan-out …", flush=True)
        for row in await subs_rows.fanout_rows(stack, conn, api, s.sub_fanout, rate, secs, procs):
            results.add(row)
    await drift_gate(conn, served_by("subscriptions", procs), results)


async def phase_bulk(
    stack: Stack, conn: asyncpg.Connection, app: Celery, s: Scale, results: Results
) -> None:
    """Bulk write-off jobs of N lines: submission → finished_at, progress events, drift."""
    for lines, target in s.bulk_jobs:
        accounts = -(-lines // bulk_bench.LINES_PER_ACCOUNT)
        seeded = time.monotonic()
        tenant = await seed_tenant(conn, accounts, bulk_bench.LINES_PER_ACCOUNT, 10_000)
        await bulk_bench.analyze(conn)
        seed_seconds = time.monotonic() - seeded
        run = await bulk_bench.run_bulk(stack, conn, app, tenant)
        name = f"bulk write-off {run.lines:,} lines"
        note = (
            f"job {run.job_id} {run.status}, {run.applied:,} applied, {run.chunks} chunks; "
            f"submit {run.submit_seconds:.2f} s, planned at {run.plan_seconds:.2f} s, "
            f"finished event at {run.final_event_seconds:.2f} s; seeded and analyzed in "
            f"{seed_seconds:.1f} s"
        )
        results.add(Row(f"{name}: submit → finished", run.seconds, "s", target, "target", note))
        results.add(Row(f"{name}: throughput", run.rate, "lines/s", lines / target, "target"))
        results.add(
            Row(
                f"{name}: max gap between progress events",
                run.max_gap,
                "s",
                1.0,
                "target",
                f"{len(run.event_times)} events; the first one when the planning commits",
            )
        )
        results.add(
            Row(
                f"{name}: max gap between progress events once planned",
                run.max_running_gap,
                "s",
                1.0,
                "target",
            )
        )
        results.extra.setdefault("bulk", []).append(
            {
                **run.__dict__,
                "max_gap": run.max_gap,
                "max_running_gap": run.max_running_gap,
                "rate": run.rate,
                "target": target,
            }
        )
        await drift_gate(conn, name, results, await bulk_bench.problems(conn, run, tenant))


async def phase_remit(
    stack: Stack, conn: asyncpg.Connection, app: Celery, s: Scale, results: Results
) -> None:
    """835 remittances of N claims: import → the posting job's finished_at, progress, drift."""
    for claims, target in s.remittances:
        run = await remit_bench.run_remit(stack, conn, app, claims, 3)
        name = f"835 import + post {claims:,} claims / {run.lines:,} lines"
        note = (
            f"job {run.job_id} {run.status}; {run.file_bytes / 1e6:.1f} MB; the import "
            f"transaction (parse, balance, match, store) {run.import_seconds:.2f} s"
        )
        results.add(Row(f"{name}: import → posted", run.seconds, "s", target, "target", note))
        results.add(
            Row(
                f"{name}: max gap between progress events",
                run.max_gap,
                "s",
                1.0,
                "target",
                f"{len(run.event_times)} events, counted from the import call",
            )
        )
        results.add(
            Row(
                f"{name}: max gap between progress events once imported",
                run.max_posting_gap,
                "s",
                1.0,
                "target",
                "from the import's answer (the posting job exists), as a client sees it",
            )
        )
        results.extra.setdefault("remittances", []).append(
            {
                **run.__dict__,
                "max_gap": run.max_gap,
                "max_posting_gap": run.max_posting_gap,
                "target": target,
            }
        )
        await drift_gate(conn, name, results, await remit_bench.problems(conn, run))
