"""`python -m bench.run [--scale small|full] [--only PHASE,…] [--api-workers 1,N]`: every phase
(or the ones named) in one run, on one PostgreSQL and Redis (DATABASE_URL / REDIS_URL when set,
else embedded), in a fresh throwaway database with a fresh Celery queue and channel prefix.
Prints the table, writes bench/results/latest.json and exits non-zero when a phase fails or the
drift check finds anything. Every child process and the throwaway database are removed at the
end, whatever happened.

The HTTP and subscription phases run once per API process count of `--api-workers` (default:
1 and the number of CPUs), the API and the bare app each served by that many uvicorn
processes, as `arledger api --workers N` serves; rows of N > 1 are marked `[N API procs]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import secrets
import signal
import subprocess
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from arledger.config import get_settings
from arledger.devstack import DevStackError
from bench import ceiling
from bench.phases import (
    Scale,
    phase_apply,
    phase_bulk,
    phase_ceiling,
    phase_http,
    phase_remit,
    phase_subscriptions,
)
from bench.report import BenchError, Results, render_table, write_json
from bench.stack import ROOT, Stack

SCALES = {
    "small": Scale(
        "small",
        ceiling_seconds=2,
        ceiling_rows=10_000,
        ceiling_clients=8,
        apply_commands=300,
        spread_accounts=50,
        lines_per_account=10,
        http_requests=300,
        http_clients=32,
        ws_clients=50,
        sub_rate=50,
        sub_seconds=2,
        sub_fanout=(10, 5),
        bulk_jobs=((2_000, 5.0),),
        remittances=((1_000, 20.0),),
    ),
    "full": Scale(
        "full",
        ceiling_seconds=5,
        ceiling_rows=10_000,
        ceiling_clients=8,
        apply_commands=10_000,
        spread_accounts=200,
        lines_per_account=10,
        http_requests=3000,
        http_clients=32,
        ws_clients=200,
        sub_rate=200,
        sub_seconds=10,
        sub_fanout=(200, 10),
        bulk_jobs=((10_000, 5.0), (100_000, 40.0)),
        remittances=((10_000, 20.0),),
    ),
}
PHASES = ("ceiling", "apply", "bulk", "remit", "http", "subs", "reports")
OUTPUT = Path(__file__).resolve().parent / "results" / "latest.json"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    p.add_argument(
        "--scale",
        choices=sorted(SCALES),
        default="full",
        help="small: a quick smoke, a couple of seconds per phase (default: full)",
    )
    p.add_argument(
        "--phases",
        "--only",
        default=",".join(PHASES),
        help=f"comma-separated subset of {','.join(PHASES)} (ratios need ceilings), "
        "e.g. --only bulk",
    )
    p.add_argument(
        "--ceiling-tool",
        choices=("auto", "pgbench", "asyncpg"),
        default="auto",
        help="ceiling A client: pgbench when installed (auto), or asyncpg",
    )
    p.add_argument(
        "--api-workers",
        type=_process_counts,
        default=_process_counts(f"1,{os.cpu_count() or 1}"),
        metavar="N,…",
        help="API process counts the http and subs phases run with (default: 1 and the CPUs)",
    )
    p.add_argument("--output", type=Path, default=OUTPUT, help="where to write the JSON")
    return p


def _process_counts(text: str) -> tuple[int, ...]:
    """`1,4` → (1, 4): distinct counts, each at least 1, in the order given."""
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of whole numbers: {text!r}") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"process counts must be at least 1: {text!r}")
    return tuple(dict.fromkeys(counts))


def _git_commit() -> str:
    out = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip()


async def _phases(
    stack: Stack,
    scale: Scale,
    phases: set[str],
    tool: str,
    results: Results,
    api_workers: tuple[int, ...] = (1,),
) -> None:
    conn = await asyncpg.connect(stack.dsn)
    try:
        results.meta["postgresql"] = await conn.fetchval("SHOW server_version")
        if "ceiling" in phases:
            print("· ceiling A …", flush=True)
            await phase_ceiling(stack, conn, scale, tool, results)
        if phases & {"apply", "bulk", "remit", "http", "subs", "reports"}:
            from bench.apply_bench import warm_up
            from workers.app import make_celery

            app = make_celery()
            try:
                stack.start_worker()
                print("· worker warm-up …", flush=True)
                await warm_up(stack, conn, app)
                if "apply" in phases:
                    print("· worker apply …", flush=True)
                    await phase_apply(stack, conn, app, scale, results)
                if "bulk" in phases:
                    print("· bulk write-off jobs …", flush=True)
                    await phase_bulk(stack, conn, app, scale, results)
                if "remit" in phases:
                    print("· 835 remittance import + post …", flush=True)
                    await phase_remit(stack, conn, app, scale, results)
            finally:
                app.close()
        for procs in api_workers if phases & {"http", "subs"} else ():
            # one log per process count: logs/api-<procs>.log, logs/bare-<procs>.log
            api_name, bare_name = f"api-{procs}", f"bare-{procs}"
            api = stack.start_uvicorn(api_name, "api.app:create_app", workers=procs)
            bare = stack.start_uvicorn(bare_name, "bench.bare_app:create_app", workers=procs)
            await stack.wait_http(api_name, api)
            await stack.wait_http(bare_name, bare)
            if procs > 1:  # /health answers as soon as one of them is up
                await stack.wait_processes(api_name, procs)
                await stack.wait_processes(bare_name, procs)
            served = f"{procs} API process{'es' if procs > 1 else ''}"
            if "http" in phases:
                print(f"· end to end over HTTP ({served}) …", flush=True)
                await phase_http(stack, conn, api, bare, scale, results, procs)
            if "subs" in phases:
                print(f"· subscription latency ({served}) …", flush=True)
                await phase_subscriptions(stack, conn, api, bare, scale, results, procs)
            stack.stop(api_name)
            stack.stop(bare_name)
        if "reports" in phases:
            from bench.reports_bench import phase_reports

            print("· AR reports at size (seeding takes a while) …", flush=True)
            api = stack.start_uvicorn("reports-api", "api.app:create_app")
            await stack.wait_http("reports-api", api)
            await phase_reports(stack, conn, api, scale.name, results)
            stack.stop("reports-api")
    finally:
        await conn.close()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    phases = {p.strip() for p in args.phases.split(",") if p.strip()}
    if unknown := phases - set(PHASES):
        print(f"unknown phases: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    scale = SCALES[args.scale]
    run_id = secrets.token_hex(4)
    results = Results()
    started = time.monotonic()
    results.meta.update(
        run_id=run_id,
        scale=scale.name,
        phases=sorted(phases),
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        commit=_git_commit(),
        python=platform.python_version(),
        cpus=os.cpu_count(),
        api_workers=list(args.api_workers),
        scale_settings=scale.__dict__,
    )
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    stack = Stack(run_id)
    error: str | None = None
    try:
        tool = ceiling.pick_tool(args.ceiling_tool)
        print(f"bench {run_id}: scale {scale.name}, phases {','.join(sorted(phases))}", flush=True)
        stack.start()
        settings = get_settings()
        results.meta.update(
            ceiling_tool=tool,
            embedded=stack.embedded,
            apply_batch_size=settings.apply_batch_size,
            apply_batch_wait_seconds=settings.apply_batch_wait_seconds,
            bulk_chunk_size=settings.bulk_chunk_size,
            db_pool_size=settings.db_pool_size,
            db_max_overflow=settings.db_max_overflow,
        )
        asyncio.run(_phases(stack, scale, phases, tool, results, args.api_workers))
    except (BenchError, DevStackError) as exc:
        error = str(exc)
    except KeyboardInterrupt:
        error = "interrupted"
    except Exception:
        error = traceback.format_exc()
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not stop cleanup
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        kept = stack.close(keep_logs=error is not None or bool(os.environ.get("BENCH_KEEP_LOGS")))
    results.meta.update(ok=error is None, error=error, seconds=round(time.monotonic() - started, 1))
    write_json(results, args.output)
    print()
    print(render_table(results))
    print(f"\nwrote {args.output}")
    if error is not None:
        print(f"\nbench FAILED: {error}", file=sys.stderr)
        if kept:
            print(f"child logs kept in {kept}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
