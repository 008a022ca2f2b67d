"""Each visit's balance as the ledger stood at an instant: three equal ways to one answer.

- LIVE: the projection (`visits.balance_cents`), which always equals the ledger's sum (the
  oracle checks it). Exact for "as of today": nothing is posted after now.
- FORWARD: the sum of every entry posted before the cutoff. Reads the entries before it.
- BACKWARD: the projection less every entry posted at or after the cutoff. Reads the entries
  after it.

All three read inside the caller's one snapshot, so the projection and the entries they
subtract agree; the entries through `ix_ledger_entries_tenant_id_created_at` (tenant, posting
time, covering visit and amount: an index-only range scan). The per-visit sums are a
MATERIALIZED CTE, so PostgreSQL computes them once (in parallel) instead of once per parallel
worker of the outer query. `choose` picks FORWARD or BACKWARD by which side of the cutoff
holds less of the tenant's history (estimated from the time span, not counted).

Each is a `Source`: SQL for the visits whose balance was not zero, with that balance, under the
binds `:t` (tenant) and `:cutoff` (an aware datetime).
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


class Strategy(StrEnum):
    LIVE = "LIVE"
    FORWARD = "FORWARD"
    BACKWARD = "BACKWARD"


@dataclass(frozen=True)
class Source:
    """SQL reading each visit `v` (of tenant `:t`) with its balance `bal` at `:cutoff`:
    `SELECT … {bal} … FROM {from_} WHERE v.tenant_id = :t AND {where}` after `WITH {cte}`
    (when given) lists every visit whose balance then was not zero."""

    cte: str | None
    from_: str
    bal: str
    where: str


DELTA = """d AS MATERIALIZED (
    SELECT e.visit_id, sum(e.amount_cents)::bigint AS amount FROM ledger_entries e
    WHERE e.tenant_id = :t AND e.created_at {op} :cutoff GROUP BY e.visit_id)"""

SOURCES = {
    Strategy.LIVE: Source(None, "visits v", "v.balance_cents", "v.balance_cents <> 0"),
    Strategy.FORWARD: Source(
        DELTA.format(op="<"), "d JOIN visits v ON v.id = d.visit_id", "d.amount", "d.amount <> 0"
    ),
    Strategy.BACKWARD: Source(
        DELTA.format(op=">="),
        "visits v LEFT JOIN d ON d.visit_id = v.id",
        "(v.balance_cents - coalesce(d.amount, 0))",
        "(v.balance_cents <> 0 OR d.visit_id IS NOT NULL) "
        "AND v.balance_cents - coalesce(d.amount, 0) <> 0",
    ),
}

BACKWARD_SHARE = 0.5
"""BACKWARD when at most this share of the tenant's history lies after the cutoff."""

_SPAN = text(
    "SELECT min(created_at) AS first, clock_timestamp() AS now FROM ledger_entries "
    "WHERE tenant_id = :t"
)


async def choose(session: AsyncSession, tenant_id: int, cutoff: datetime) -> Strategy:
    """LIVE when nothing can have been posted at or after `cutoff`; otherwise FORWARD or
    BACKWARD by the share of the tenant's posting history before and after it."""
    span = (await session.execute(_SPAN, {"t": tenant_id})).one()
    if span.first is None or cutoff > span.now:
        return Strategy.LIVE
    if cutoff <= span.first:
        return Strategy.FORWARD  # nothing before it: reads nothing
    after = (span.now - cutoff).total_seconds()
    whole = (span.now - span.first).total_seconds()
    return Strategy.BACKWARD if after <= BACKWARD_SHARE * whole else Strategy.FORWARD


async def tune(session: AsyncSession) -> None:
    """Give this transaction's report queries room to hash a tenant's visits in memory, and
    no JIT compilation (it costs more than it saves on these few-second aggregates)."""
    await session.execute(text("SET LOCAL work_mem = '64MB'"))
    await session.execute(text("SET LOCAL jit = off"))
