"""Rows of the subscription phase: delivered/expected with what went missing and why, and the
fan-out run (many sockets per account, events stored directly so the API only relays)."""

from __future__ import annotations

import asyncpg

from bench import subs_bench
from bench.data import seed_tenant
from bench.report import Row, percentile
from bench.stack import Stack

BALANCE = 100_000_000_000  # cents: never runs out


def delivered_row(name: str, run: subs_bench.LatencyRun) -> Row:
    """Delivered/expected; the note names each missing event's account, version and fate."""
    notes = [f"{run.out_of_order} published out of version order"]
    notes += run.missing[:4]
    if run.errors:
        notes.append(f"{len(run.errors)} errors (not expected): {run.errors[0]}")
    if run.unanswered:
        notes.append(f"{run.unanswered} stored without an answer")
    return Row(name, run.delivered, "events", run.expected, "expected", "; ".join(notes))


async def fanout_rows(
    stack: Stack,
    conn: asyncpg.Connection,
    api: str,
    fanout: tuple[int, int],
    rate: float,
    seconds: float,
    procs: int,
) -> list[Row]:
    """`accounts` times `per_account` sockets, `rate` events/s spread over the accounts."""
    accounts, per_account = fanout
    tenant = await seed_tenant(conn, accounts, 1, BALANCE)
    async with subs_bench.direct_submitter(stack.dsn, tenant, stack.queue) as submit:
        run = await subs_bench.subscription_latency(
            api,
            conn,
            tenant,
            rate,
            seconds,
            submit,
            stack.check_alive,
            redis=(stack.redis_url, stack.prefix),
            fanout=per_account,
        )
    served = "" if procs == 1 else f" [{procs} API procs]"
    shape = f"{accounts * per_account} sockets, {per_account}/account, {rate:g} events/s"
    sent = f"{run.expected // per_account / run.submit_seconds:.0f}/s sent"
    rows = [
        Row(
            f"fan-out {name} p{p} ({shape}){served}",
            percentile([1000 * x for x in values], p),
            "ms",
            note=sent if (name, p) == ("commit→ws", 50) else "",
        )
        for name, values in (("commit→ws", run.commit_to_ws), ("send→ws", run.send_to_ws))
        for p in (50, 99)
    ]
    rows.append(delivered_row(f"fan-out events delivered ({shape}){served}", run))
    return rows
