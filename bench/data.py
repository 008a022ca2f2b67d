"""Seeding for the bench: tenants whose opening balances are CHARGE entries (so projection ==
ledger), PENDING write-off commands shaped like the API stores them, and waiting for them."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import asyncpg

from arledger.config import get_settings
from arledger.tokens import issue_token
from bench.report import BenchError
from domain.commands.store import fingerprint
from domain.ledger.chain import link

SCOPES = ["billing.read", "billing.payment.write"]


@dataclass
class Tenant:
    id: int
    slug: str
    account_ids: list[int]
    lines: list[tuple[int, int]]  # (line id, account id), in line id order

    def token(self) -> str:
        return issue_token(
            get_settings(), tenant=self.slug, scopes=SCOPES, subject="bench", ttl_seconds=3600
        )

    def line_ids_of(self, account_id: int) -> list[int]:
        return [line for line, account in self.lines if account == account_id]


async def seed_tenant(
    conn: asyncpg.Connection, accounts: int, lines_per_account: int, balance_cents: int
) -> Tenant:
    """A tenant with `accounts` accounts, one open visit each, `lines_per_account` lines each."""
    slug = f"bench-{secrets.token_hex(5)}"
    async with conn.transaction():
        tid = await conn.fetchval(
            "INSERT INTO tenants (slug, name) VALUES ($1, $1) RETURNING id", slug
        )
        payer = await conn.fetchval(
            "INSERT INTO payers (tenant_id, code, name) VALUES ($1, '1', 'Self Pay') RETURNING id",
            tid,
        )
        await conn.execute(
            """INSERT INTO accounts (tenant_id, account_number, name)
               SELECT $1, 'A' || g, 'Bench Patient ' || g FROM generate_series(1, $2) g""",
            tid,
            accounts,
        )
        await conn.execute(
            """INSERT INTO visits (tenant_id, account_id, visit_number, claim_number,
                                   date_of_service, payer_id, billed_cents)
               SELECT $1, a.id, 1, $2 || '-' || a.id, DATE '2026-10-01', $3, $4::bigint * $5
               FROM accounts a WHERE a.tenant_id = $1""",
            tid,
            slug,
            payer,
            balance_cents,
            lines_per_account,
        )
        await conn.execute(
            """INSERT INTO charge_lines (tenant_id, account_id, visit_id, line_number,
                                         procedure_code, billed_cents)
               SELECT $1, v.account_id, v.id, g, '99213', $2
               FROM visits v CROSS JOIN generate_series(1, $3) g WHERE v.tenant_id = $1""",
            tid,
            balance_cents,
            lines_per_account,
        )
        await charge_every_line(conn, tid)
        rows = await conn.fetch(
            "SELECT id, account_id FROM charge_lines WHERE tenant_id = $1 ORDER BY id", tid
        )
    lines = [(r["id"], r["account_id"]) for r in rows]
    return Tenant(tid, slug, sorted({a for _, a in lines}), lines)


CHARGE_COLUMNS = {
    "id": "bigint",
    "tenant_id": "bigint",
    "account_id": "bigint",
    "visit_id": "bigint",
    "line_id": "bigint",
    "kind": "text",
    "amount_cents": "bigint",
    "transaction_date": "date",
    "actor": "text",
    "prev_hash": "bytea",
    "entry_hash": "bytea",
}


async def charge_every_line(conn: asyncpg.Connection, tid: int) -> None:
    """Open every line of the tenant with a CHARGE of its billed amount, and project the
    balances of lines, visits and accounts from the ledger."""
    await _insert_charges(conn, tid)
    await conn.execute(
        """UPDATE charge_lines l SET balance_cents = s.total
           FROM (SELECT line_id, sum(amount_cents) AS total FROM ledger_entries
                 WHERE tenant_id = $1 GROUP BY line_id) s WHERE l.id = s.line_id""",
        tid,
    )
    await conn.execute(
        """UPDATE visits v SET balance_cents = s.total
           FROM (SELECT visit_id, sum(balance_cents) AS total FROM charge_lines
                 WHERE tenant_id = $1 GROUP BY visit_id) s WHERE v.id = s.visit_id""",
        tid,
    )
    await conn.execute(
        """UPDATE accounts a SET balance_cents = s.total
           FROM (SELECT account_id, sum(balance_cents) AS total FROM visits
                 WHERE tenant_id = $1 GROUP BY account_id) s WHERE a.id = s.account_id""",
        tid,
    )


async def _insert_charges(conn: asyncpg.Connection, tenant_id: int) -> None:
    """One CHARGE entry per line of the tenant, hashed onto its account's chain."""
    lines = await conn.fetch(
        """SELECT l.id, l.account_id, l.visit_id, l.billed_cents, nextval('ledger_entries_id_seq')
                  AS entry_id FROM charge_lines l WHERE l.tenant_id = $1 ORDER BY l.id""",
        tenant_id,
    )
    entries = [
        {
            "id": r["entry_id"],
            "tenant_id": tenant_id,
            "account_id": r["account_id"],
            "visit_id": r["visit_id"],
            "line_id": r["id"],
            "kind": "CHARGE",
            "amount_cents": r["billed_cents"],
            "transaction_date": date.today(),
            "actor": "bench-seed",
        }
        for r in sorted(lines, key=lambda r: r["entry_id"])
    ]
    heads: dict[int, bytes] = {}
    link(entries, heads)
    arrays = ", ".join(f"${n}::{kind}[]" for n, kind in enumerate(CHARGE_COLUMNS.values(), 1))
    await conn.execute(
        f"INSERT INTO ledger_entries ({', '.join(CHARGE_COLUMNS)}) SELECT * FROM unnest({arrays})",
        *[[e[name] for e in entries] for name in CHARGE_COLUMNS],
    )
    await conn.execute(
        """UPDATE accounts a SET ledger_chain_hash = u.head
           FROM unnest($1::bigint[], $2::bytea[]) AS u(id, head) WHERE a.id = u.id""",
        list(heads),
        list(heads.values()),
    )


def writeoff_payload(line_id: int, cents: int) -> dict[str, object]:
    """The payload `WriteOffRequest.to_payload()` stores for a one-line charity write-off."""
    return {"lines": [[line_id, cents]], "reason": "charity", "note": None}


async def insert_pending(
    conn: asyncpg.Connection, tenant: Tenant, picks: list[tuple[int, int]]
) -> list[int]:
    """Store one PENDING write-off per (line id, cents) in one statement; their ids in order.

    Each carries a request id and the token's scopes, as the API stores a command."""
    owner = dict(tenant.lines)
    run = secrets.token_hex(4)
    keys, payloads, prints, accounts = [], [], [], []
    for n, (line_id, cents) in enumerate(picks):
        payload = writeoff_payload(line_id, cents)
        keys.append(f"bench-{run}-{n}")
        payloads.append(json.dumps(payload))
        prints.append(fingerprint("WRITEOFF", payload))
        accounts.append(owner[line_id])
    rows = await conn.fetch(
        """INSERT INTO commands (tenant_id, idempotency_key, kind, payload, fingerprint,
                                 account_ids, actor, request_id, scopes)
           SELECT $1, k, 'WRITEOFF', p::jsonb, f, ARRAY[a], 'bench', k, $6::text[]
           FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[]) WITH ORDINALITY
                AS u(k, p, f, a, n)
           ORDER BY n RETURNING id""",
        tenant.id,
        keys,
        payloads,
        prints,
        accounts,
        SCOPES,
    )
    return sorted(r["id"] for r in rows)


@dataclass
class Outcome:
    applied: int
    rejected: int
    last_finished: float  # epoch seconds of the last finished_at (its batch's claim)
    seen_at: float  # epoch seconds of the poll that first saw them all final (>= last commit)


PENDING_PROBE = "SELECT EXISTS (SELECT FROM commands WHERE status = 'PENDING' AND tenant_id = $1)"


async def wait_final(
    conn: asyncpg.Connection,
    tenant_id: int,
    expected: int,
    within: float,
    alive: Callable[[], None],
) -> Outcome:
    """Poll until `expected` commands of the tenant are final and none is PENDING.

    While any is PENDING a poll is one probe of the pending index, not a count of the tenant's
    commands: polling every 20 ms must not take the CPU the worker is being timed on."""
    deadline = time.monotonic() + within
    while True:
        polled = time.time()
        if await conn.fetchval(PENDING_PROBE, tenant_id):
            alive()
            if time.monotonic() > deadline:
                raise BenchError(f"tenant {tenant_id}: commands still PENDING after {within:.0f} s")
            await asyncio.sleep(0.02)
            continue
        row = await conn.fetchrow(
            """SELECT count(*) FILTER (WHERE status = 'PENDING') AS pending,
                      count(*) FILTER (WHERE status = 'APPLIED') AS applied,
                      count(*) FILTER (WHERE status = 'REJECTED') AS rejected,
                      extract(epoch FROM max(finished_at))::float8 AS last
               FROM commands WHERE tenant_id = $1""",
            tenant_id,
        )
        if row["pending"] == 0 and row["applied"] + row["rejected"] >= expected:
            return Outcome(row["applied"], row["rejected"], row["last"], polled)
        alive()
        if time.monotonic() > deadline:
            raise BenchError(
                f"tenant {tenant_id}: {row['pending']} commands still PENDING after {within:.0f} s"
            )
        await asyncio.sleep(0.02)


async def finished_at(conn: asyncpg.Connection, ids: list[int]) -> dict[int, float]:
    """Epoch seconds of `finished_at` per command id."""
    rows = await conn.fetch(
        """SELECT id, extract(epoch FROM finished_at)::float8 AS t
           FROM commands WHERE id = ANY($1::bigint[]) AND finished_at IS NOT NULL""",
        ids,
    )
    return {r["id"]: r["t"] for r in rows}
