"""Phase: AR reports at size. One tenant of `lines` charge lines (4 per visit, 2.5 visits per
account, 21 payers, dates of service spread over three years) and about five ledger entries per
line — the charge, a CO-45 contractual adjustment, a payment, a PR patient-responsibility memo,
then a closing payment, a write-off or a patient payment, and reversals of four in five bad-debt
write-offs — each posted (`created_at`) days after its date of service, never in the future.

Seeded in bulk SQL as the owner (INSERT … SELECT over generate_series), the balances projected
from the entries with the same sums `LedgerBatch` keeps (no line below zero, so the drift gate
holds), then VACUUM ANALYZE as autovacuum would have done long before. The entries carry zero
chain hashes and no audit rows: `arledger verify`'s chain and audit checks would name them;
the balance checks hold.

Timed: `arAging` over HTTP against the API (as `arledger_api`, row-level security on), today
and as of a day a year back, each warmed once and then run `RUNS` times; p50 and max. Then the
live dashboard on the same tenant (`bench.dashboard_bench`).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
import httpx

from bench.dashboard_bench import phase_dashboard
from bench.data import Tenant
from bench.phases import drift_gate
from bench.report import BenchError, Results, Row, percentile
from bench.stack import Stack

RUNS = 7
LINES_PER_VISIT = 4
VISITS_PER_ACCOUNT = 2.5
INSURERS = 20
SPREAD_DAYS = 1095

AGING = """query($asOf: Date, $groupBy: AgingGroupBy!) {
  arAging(asOf: $asOf, groupBy: $groupBy) {
    asOf rows { payer { code } payerClass buckets { amount visits } credits { amount } net }
    total { net debitTotal debitVisits } } }"""

ZERO = "'\\x" + "00" * 32 + "'::bytea"

PLAN = [
    """CREATE TEMP TABLE bench_visits ON COMMIT DROP AS
    SELECT nextval('visits_id_seq') AS id, g, a.id AS account_id, p.id AS payer_id,
           current_date - (g * 7 % $4) AS dos
    FROM generate_series(1, $2::int) g
    JOIN accounts a ON a.tenant_id = $1 AND a.account_number = 'A' || (1 + (g - 1) % $3)
    JOIN payers p ON p.tenant_id = $1
     AND p.code = CASE WHEN g % 5 = 0 THEN '1' ELSE 'P' || (1 + g % $5) END""",
    """CREATE TEMP TABLE bench_lines ON COMMIT DROP AS
    SELECT nextval('charge_lines_id_seq') AS id, v.id AS visit_id, v.account_id, v.dos, n,
           (5000 + (v.g * 7919 + n * 104729) % 45000)::bigint AS billed
    FROM bench_visits v CROSS JOIN generate_series(1, $1::int) n""",
    """CREATE TEMP TABLE bench_entries ON COMMIT DROP AS
    SELECT nextval('ledger_entries_id_seq') AS id, s.* FROM (
      SELECT l.id AS line_id, l.visit_id, l.account_id, x.*
      FROM bench_lines l
      CROSS JOIN LATERAL (
          SELECT (l.dos::timestamp AT TIME ZONE 'UTC') + (l.id % 36000) * interval '1 s'
                 AS base, l.billed AS c, l.id % 4 AS r
      ) p
      CROSS JOIN LATERAL (VALUES
          (1, 'CHARGE', p.c, NULL::bigint, NULL, NULL, NULL, NULL, p.base + interval '1 day'),
          (2, 'ADJUSTMENT', -(p.c / 5), NULL, NULL, 'contractual', 'CO', '45',
              p.base + interval '20 days'),
          (3, 'PAYMENT', -(p.c / 2), NULL, NULL, NULL, NULL, NULL,
              p.base + interval '30 days'),
          (4, 'ADJUSTMENT', 0, -(p.c / 10), NULL, 'patient-responsibility', 'PR', '1',
              p.base + interval '30 days'),
          (5, CASE p.r WHEN 0 THEN 'PAYMENT' WHEN 2 THEN 'PAYMENT' ELSE 'WRITEOFF' END,
              CASE p.r WHEN 0 THEN -(p.c - p.c / 5 - p.c / 2) ELSE -(p.c / 10) END, NULL,
              CASE p.r WHEN 1 THEN 'small-balance' WHEN 3 THEN 'bad-debt' END, NULL, NULL,
              NULL, p.base + CASE p.r WHEN 0 THEN interval '100 days'
                                      WHEN 1 THEN interval '95 days'
                                      WHEN 2 THEN interval '60 days'
                                      ELSE interval '150 days' END),
          (6, 'WRITEOFF', p.c / 10, NULL, 'collected after all', NULL, NULL, NULL,
              CASE WHEN p.r = 3 AND l.id % 5 <> 0 THEN p.base + interval '160 days' END)
      ) AS x(n, kind, amount, memo, reason, category, carc_group, carc_reason, at)
      WHERE x.at <= now()
      ORDER BY x.at, l.id, x.n
    ) s""",
]
"""Every row of the tenant planned first, ids reserved (entries in posting order, as a ledger
written over time holds them), so balances are written with the rows, never updated after."""

WRITE = [
    """INSERT INTO visits (id, tenant_id, account_id, visit_number, claim_number,
                           date_of_service, payer_id, billed_cents, balance_cents,
                           first_billed_on)
    SELECT v.id, $1, v.account_id, 1 + (v.g - 1) / $2, $3 || '-' || v.g, v.dos, v.payer_id,
           coalesce(l.billed, 0), coalesce(b.balance, 0),
           CASE WHEN v.g % 2 = 0 THEN v.dos + 3 END
    FROM bench_visits v
    LEFT JOIN (SELECT visit_id, sum(billed) AS billed FROM bench_lines GROUP BY visit_id) l
      ON l.visit_id = v.id
    LEFT JOIN (SELECT visit_id, sum(amount) AS balance FROM bench_entries GROUP BY visit_id) b
      ON b.visit_id = v.id
    ORDER BY v.id""",
    """INSERT INTO charge_lines (id, tenant_id, account_id, visit_id, line_number,
                                 procedure_code, billed_cents, balance_cents)
    SELECT l.id, $1, l.account_id, l.visit_id, l.n, '99213', l.billed, coalesce(b.balance, 0)
    FROM bench_lines l
    LEFT JOIN (SELECT line_id, sum(amount) AS balance FROM bench_entries GROUP BY line_id) b
      ON b.line_id = l.id
    ORDER BY l.id""",
    f"""INSERT INTO ledger_entries (id, tenant_id, account_id, visit_id, line_id, kind,
        amount_cents, memo_amount_cents, reason, category, carc_group, carc_reason,
        transaction_date, actor, reverses_entry_id, prev_hash, entry_hash, created_at)
    SELECT e.id, $1, e.account_id, e.visit_id, e.line_id, e.kind, e.amount, e.memo, e.reason,
           e.category, e.carc_group, e.carc_reason, (e.at AT TIME ZONE 'UTC')::date, 'bench',
           o.id, {ZERO}, {ZERO}, e.at
    FROM bench_entries e
    LEFT JOIN bench_entries o ON e.n = 6 AND o.line_id = e.line_id AND o.n = 5
    ORDER BY e.id""",
    """UPDATE accounts a SET balance_cents = s.total
    FROM (SELECT account_id, sum(balance_cents) AS total FROM visits WHERE tenant_id = $1
          GROUP BY account_id) s
    WHERE a.id = s.account_id""",
]


@dataclass
class Seeded:
    tenant: Tenant
    lines: int
    visits: int
    accounts: int
    entries: int
    seconds: float


async def seed(conn: asyncpg.Connection, lines: int) -> Seeded:
    """The tenant described above, with `lines` charge lines."""
    started = time.monotonic()
    visits = max(1, lines // LINES_PER_VISIT)
    accounts = max(1, int(visits / VISITS_PER_ACCOUNT))
    slug = f"bench-reports-{secrets.token_hex(4)}"
    async with conn.transaction():
        tid = await conn.fetchval(
            "INSERT INTO tenants (slug, name) VALUES ($1, $1) RETURNING id", slug
        )
        await conn.execute(
            """INSERT INTO payers (tenant_id, code, name)
               SELECT $1::bigint, '1', 'Self Pay' UNION ALL
               SELECT $1, 'P' || g, 'Insurer ' || g FROM generate_series(1, $2) g""",
            tid,
            INSURERS,
        )
        await conn.execute(
            """INSERT INTO accounts (tenant_id, account_number, name)
               SELECT $1, 'A' || g, 'Patient ' || g FROM generate_series(1, $2) g""",
            tid,
            accounts,
        )
        # Bulk load: the rows are consistent by construction, so the per-row foreign-key
        # triggers are skipped for this transaction (the owner may; nothing else changes).
        await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute(PLAN[0], tid, visits, accounts, SPREAD_DAYS, INSURERS)
        await conn.execute(PLAN[1], LINES_PER_VISIT)
        await conn.execute(PLAN[2])
        await conn.execute(WRITE[0], tid, accounts, slug)
        await conn.execute(WRITE[1], tid)
        await conn.execute(WRITE[2], tid)
        await conn.execute(WRITE[3], tid)
    for table in ("ledger_entries", "charge_lines", "visits", "accounts", "payers"):
        await conn.execute(f"VACUUM ANALYZE {table}")
    counts = await conn.fetchrow(
        """SELECT (SELECT count(*) FROM charge_lines WHERE tenant_id = $1) AS lines,
                  (SELECT count(*) FROM visits WHERE tenant_id = $1) AS visits,
                  (SELECT count(*) FROM ledger_entries WHERE tenant_id = $1) AS entries""",
        tid,
    )
    tenant = Tenant(tid, slug, [], [])
    return Seeded(
        tenant,
        counts["lines"],
        counts["visits"],
        accounts,
        counts["entries"],
        time.monotonic() - started,
    )


@dataclass
class Timing:
    label: str
    ms: list[float]
    net: str

    @property
    def p50(self) -> float:
        return percentile(self.ms, 50)

    @property
    def max(self) -> float:
        return max(self.ms)


async def time_aging(
    api: str, token: str, label: str, as_of: str | None, group_by: str = "NONE"
) -> Timing:
    """`arAging` over HTTP: one warm-up, then `RUNS` timed requests."""
    variables = {"asOf": as_of, "groupBy": group_by}
    times: list[float] = []
    net = ""
    async with httpx.AsyncClient(base_url=api, timeout=120, trust_env=False) as client:
        for run in range(RUNS + 1):
            started = time.perf_counter()
            response = await client.post(
                "/graphql",
                json={"query": AGING, "variables": variables},
                headers={"Authorization": f"Bearer {token}"},
            )
            elapsed = 1000 * (time.perf_counter() - started)
            body = response.json()
            if response.status_code != 200 or "errors" in body:
                raise BenchError(f"arAging {label}: {response.status_code} {body}")
            net = body["data"]["arAging"]["total"]["net"]
            if run:
                times.append(elapsed)
    return Timing(label, times, net)


LINES = {"small": 40_000, "full": 1_000_000}
"""Charge lines of the report tenant per scale (about five ledger entries each)."""
TARGETS_MS = {"today": 300.0, "a year back": 2000.0}


async def phase_reports(
    stack: Stack, conn: asyncpg.Connection, api: str, scale: str, results: Results
) -> None:
    """Seed the report tenant, then time `arAging` today and as of a year back over HTTP."""
    seeded = await seed(conn, LINES[scale])
    shape = f"{seeded.lines:,} lines, {seeded.entries:,} entries"
    token = seeded.tenant.token()
    today = await conn.fetchval("SELECT current_date")
    year_back = (today - timedelta(days=365)).isoformat()
    runs = [
        ("today", None, "NONE"),
        ("a year back", year_back, "NONE"),
        ("today by payer class", None, "PAYER_CLASS"),
        ("a year back by payer", year_back, "PAYER"),
    ]
    for label, as_of, group_by in runs:
        stack.check_alive("reports-api")
        timing = await time_aging(api, token, label, as_of, group_by)
        target = TARGETS_MS.get(label)
        note = f"{shape}; seeded in {seeded.seconds:.0f} s" if label == "today" else ""
        note += f"{'; ' if note else ''}{RUNS} runs, net AR {timing.net}"
        name = f"arAging {label} ({shape})"
        results.add(Row(f"{name} p50", timing.p50, "ms", target, "target" if target else "", note))
        results.add(Row(f"{name} max", timing.max, "ms", target, "target" if target else ""))
    print("· live dashboard at size …", flush=True)
    await phase_dashboard(stack, conn, api, seeded.tenant.id, scale, results)
    await drift_gate(conn, "reports", results)
