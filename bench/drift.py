"""The drift check run after every phase, over the whole throwaway database.

Every line's balance equals the sum of its ledger entries and is not negative; every visit's
equals the sum of its lines; every account's the sum of its visits, and its version the
number of commands that touched it (bench tenants start at version 0); every APPLIED write-off
has exactly one WRITEOFF entry per line it asked for, for the amount asked; no other command
has any.
"""

from __future__ import annotations

import asyncpg

LIMIT = 20

CHECKS: list[tuple[str, str]] = [
    (
        "line != ledger sum",
        """SELECT l.id, l.balance_cents AS have, COALESCE(s.total, 0) AS want
           FROM charge_lines l LEFT JOIN (SELECT line_id, sum(amount_cents) AS total
                                          FROM ledger_entries GROUP BY line_id) s
             ON s.line_id = l.id
           WHERE l.balance_cents <> COALESCE(s.total, 0)""",
    ),
    (
        "negative line",
        "SELECT id, balance_cents AS have, 0 AS want FROM charge_lines WHERE balance_cents < 0",
    ),
    (
        "visit != sum of lines",
        """SELECT v.id, v.balance_cents AS have, COALESCE(s.total, 0) AS want
           FROM visits v LEFT JOIN (SELECT visit_id, sum(balance_cents) AS total
                                    FROM charge_lines GROUP BY visit_id) s
             ON s.visit_id = v.id
           WHERE v.balance_cents <> COALESCE(s.total, 0)""",
    ),
    (
        "account != sum of visits",
        """SELECT a.id, a.balance_cents AS have, COALESCE(s.total, 0) AS want
           FROM accounts a LEFT JOIN (SELECT account_id, sum(balance_cents) AS total
                                      FROM visits GROUP BY account_id) s
             ON s.account_id = a.id
           WHERE a.balance_cents <> COALESCE(s.total, 0)""",
    ),
    (
        "account version != commands applied to it",
        """SELECT a.id, a.version AS have, COALESCE(s.n, 0) AS want
           FROM accounts a LEFT JOIN (SELECT account_id, count(DISTINCT command_id) AS n
                                      FROM ledger_entries WHERE command_id IS NOT NULL
                                      GROUP BY account_id) s
             ON s.account_id = a.id
           WHERE a.version <> COALESCE(s.n, 0)""",
    ),
    (
        "write-off entries != what the command asked",
        """WITH asked AS (
               SELECT c.id, c.status, jsonb_array_length(c.payload -> 'lines') AS n_lines,
                      (SELECT COALESCE(sum((x ->> 1)::bigint), 0)
                       FROM jsonb_array_elements(c.payload -> 'lines') x) AS cents
               FROM commands c WHERE c.kind = 'WRITEOFF'),
           got AS (
               SELECT command_id, count(*) AS n, count(DISTINCT line_id) AS n_lines,
                      -sum(amount_cents) AS cents
               FROM ledger_entries WHERE kind = 'WRITEOFF' AND command_id IS NOT NULL
               GROUP BY command_id)
           SELECT a.id, COALESCE(g.n, 0) AS have,
                  CASE WHEN a.status = 'APPLIED' THEN a.n_lines ELSE 0 END AS want
           FROM asked a LEFT JOIN got g ON g.command_id = a.id
           WHERE COALESCE(g.n, 0) <> CASE WHEN a.status = 'APPLIED' THEN a.n_lines ELSE 0 END
              OR COALESCE(g.n_lines, 0) <> COALESCE(g.n, 0)
              OR (a.status = 'APPLIED' AND g.cents <> a.cents)""",
    ),
]


async def check(conn: asyncpg.Connection) -> list[str]:
    """Every problem found (empty when the database is consistent)."""
    problems: list[str] = []
    for name, sql in CHECKS:
        rows = await conn.fetch(f"{sql} LIMIT {LIMIT}")
        problems += [f"{name}: id {r['id']} has {r['have']}, expected {r['want']}" for r in rows]
    return problems
