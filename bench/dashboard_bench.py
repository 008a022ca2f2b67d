"""Phase (part of `reports`): the live dashboard at size. On the report tenant (1,000,000 charge
lines, about 5,000,000 entries at full scale), `clients` websockets subscribe to `arDashboard`
(one tenant, one filter: one group, computed once per push for all of them); then one-cent
charity write-offs, each on its own line, are stored at `rate`/s for `seconds` (straight into
`commands` and enqueued with the API's Enqueuer, as the subscription phase's "direct" run) and
applied by the worker.

A push's `kpis.totalAr` tells how many write-offs it includes: the tenant's AR fell by one cent
per applied write-off. Ranked by `finished_at` (the applying batch's claim, before its balance
work and commit, so latencies are over by that batch's time), the k-th command is in the first
push on a socket whose AR fell by at least k cents, and its latency is that push's receipt
minus its `finished_at`; the part from the push's `computedAt` to its receipt is reported
beside it. Every socket must end with the push that includes all of them, equal to the
`arAging` and `arKpis` queries.
"""

from __future__ import annotations

from datetime import date, timedelta

import asyncpg
import httpx

from bench.dashboard_clients import ClientProcesses, Socket, cents
from bench.data import Tenant, finished_at, wait_final
from bench.report import BenchError, Results, Row, percentile
from bench.stack import Stack
from bench.subs_bench import direct_submitter, paced, ws_url

DASHBOARD = """subscription { arDashboard {
  seq snapshot computedAt
  aging { rows { payer { code } buckets { amount visits } net } total { net } }
  writeOffs { rows { reason amount } total { amount } }
  adjustments { rows { category amount memoAmount } total { amount } }
  adjustmentsByCarc { rows { carc amount } total { amount } }
  kpis { totalAr daysInAr arOver90 arOver120 netCollectionRate }
  activity { entryId accountNumber kind amount label postedAt } } }"""
TOTALS = """query($from: Date!, $to: Date!) {
  arKpis(from: $from, to: $to) { totalAr } arAging { total { net } } }"""
CLIENTS = {"small": 20, "full": 100}
RATE = {"small": 50.0, "full": 200.0}
SECONDS = {"small": 3.0, "full": 10.0}
TARGET_MS = 300.0
DELIVERY_SECONDS = 30.0
PROCESSES = {"small": 1, "full": 1}
"""Client processes the dashboards are spread over (`bench.dashboard_clients`)."""


async def spendable_lines(conn: asyncpg.Connection, tenant_id: int, count: int) -> Tenant:
    """A `Tenant` naming `count` lines that each owe at least two cents."""
    rows = await conn.fetch(
        """SELECT id, account_id FROM charge_lines
           WHERE tenant_id = $1 AND balance_cents >= 2 ORDER BY id LIMIT $2""",
        tenant_id,
        count,
    )
    if len(rows) < count:
        raise BenchError(f"dashboard: only {len(rows)} lines owe anything, {count} needed")
    slug = await conn.fetchval("SELECT slug FROM tenants WHERE id = $1", tenant_id)
    lines = [(r["id"], r["account_id"]) for r in rows]
    return Tenant(tenant_id, slug, sorted({a for _, a in lines}), lines)


async def queried_total(api: str, token: str) -> tuple[int, int]:
    """(arKpis.totalAr, arAging total net) in cents, asked over HTTP."""
    today = date.today()  # the bench tenant's time zone is UTC, as this machine's
    period = {"from": (today - timedelta(days=29)).isoformat(), "to": today.isoformat()}
    async with httpx.AsyncClient(base_url=api, timeout=120, trust_env=False) as client:
        response = await client.post(
            "/graphql",
            json={"query": TOTALS, "variables": period},
            headers={"Authorization": f"Bearer {token}"},
        )
    body = response.json()
    if "errors" in body:
        raise BenchError(f"dashboard: the report queries failed: {body['errors'][:2]}")
    data = body["data"]
    return cents(data["arKpis"]["totalAr"]), cents(data["arAging"]["total"]["net"])


def latencies(
    sockets: list[Socket], start_ar: int, committed: list[float]
) -> tuple[list[float], list[float]]:
    """Per socket and command: receipt of the first push including it - its commit (ms), and
    of those, the part from the push's `computedAt` to its receipt (rendering and sending)."""
    found: list[float] = []
    delivery: list[float] = []
    for socket in sockets:
        pushes = sorted(socket.pushes)
        at = 0
        for rank, commit in enumerate(committed, start=1):
            while at < len(pushes) and start_ar - pushes[at][1] < rank:
                at += 1
            if at == len(pushes):
                raise BenchError(f"dashboard: a socket never saw command {rank} of the run")
            found.append(1000 * (pushes[at][0] - commit))
            delivery.append(1000 * (pushes[at][0] - pushes[at][3]))
    return found, delivery


async def phase_dashboard(
    stack: Stack, conn: asyncpg.Connection, api: str, tenant_id: int, scale: str, results: Results
) -> None:
    """`clients` dashboards while write-offs are applied at `rate`/s: push latency after commit."""
    clients, rate, seconds = CLIENTS[scale], RATE[scale], SECONDS[scale]
    commands = round(rate * seconds)
    tenant = await spendable_lines(conn, tenant_id, commands)
    token = tenant.token()
    start_ar, _ = await queried_total(api, token)
    processes = ClientProcesses(ws_url(api), DASHBOARD, token, clients, PROCESSES[scale])
    ids: list[int] = []
    try:
        await processes.ready()
        async with direct_submitter(stack.dsn, tenant, stack.queue) as submit:

            async def fire(n: int, due: float) -> None:
                command_id = await submit(n, tenant.lines[n][0])
                if command_id is not None:
                    ids.append(command_id)

            sent_seconds = await paced(rate, commands, fire)
        outcome = await wait_final(conn, tenant_id, commands, 120, stack.check_alive)
        end_ar = start_ar - outcome.applied
        sockets, errors = await processes.finish(end_ar, DELIVERY_SECONDS)
    finally:
        processes.close()
    if any(not s.pushes or s.pushes[-1][1] != end_ar for s in sockets):
        raise BenchError("dashboard: not every socket got the final push")
    if errors:
        raise BenchError(f"dashboard sockets: {errors[:3]}")
    if outcome.rejected:
        raise BenchError(f"dashboard: {outcome.rejected} write-offs rejected")
    queried = await queried_total(api, token)
    if queried != (end_ar, end_ar):
        raise BenchError(f"dashboard: last push AR {end_ar} but the queries say {queried}")
    commits = await finished_at(conn, ids)
    committed = [commits[i] for i in sorted(ids, key=lambda i: (commits[i], i))]
    ms, delivery = latencies(sockets, start_ar, committed)
    pushes = [len(s.pushes) for s in sockets]
    seqs = {s.pushes[-1][2] for s in sockets}
    shape = f"{clients} dashboards, {commands / sent_seconds:.0f} write-offs/s for {seconds:g} s"
    note = (
        f"{shape}; {min(pushes)}-{max(pushes)} pushes a socket, last seq {sorted(seqs)}; "
        "final push = arKpis = arAging"
    )
    for p in (50, 99):
        row = f"arDashboard push after commit p{p} ({shape})"
        target = TARGET_MS if p == 99 else None
        results.add(Row(row, percentile(ms, p), "ms", target, "target" if target else "", note))
        note = ""
    for p in (50, 99):
        row = f"… of which computedAt → received p{p} (rendering, sending, the client's parse)"
        results.add(Row(row, percentile(delivery, p), "ms", None, "", ""))
