"""Reports brought forward: what a report read in one snapshot becomes in a later one, from the
entries committed in between only.

Every entry carries the id of the transaction that wrote it (`created_xid`, migration 0011).
A report read in snapshot S (`pg_current_snapshot()`) counted exactly the entries of the
transactions S sees as committed. A later snapshot sees those and the `changed` entries: the
ones whose transaction id is at least S's xmin and which S does not see
(`pg_visible_in_snapshot`), an index range over the latest few transactions. That is exact
however commits interleave: entry ids and posting times are not in commit order, visibility is.

Sums over entries (the summaries, the KPIs' activity) add the changed entries' sums. The aging,
whose unit is the visit, takes away each touched visit's old contribution (its balance less the
changed entries, its patient responsibility less theirs) and adds its new one, through the very
statement the aging query runs (`domain.reports.aging.aging_sql`). A visit's payer, date of
service and first billed date never change, so its old bucket and group are its new ones.
Valid while the day and the tenant's reporting settings stay what they were: else recompute.
"""

from dataclasses import replace
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.reports.aging import (
    AgingReport,
    AgingRow,
    Amount,
    Basis,
    GroupBy,
    add_rows,
    aging_sql,
    in_payer_order,
)
from domain.reports.balances import Source
from domain.reports.buckets import thresholds
from domain.reports.kpis import OVER_90, OVER_120, Kpis, activity_sql
from domain.reports.periods import ReportingSettings
from domain.reports.summaries import Summary, summary_rows, summary_sql, with_rows

CURRENT_SNAPSHOT = text("SELECT pg_current_snapshot()::text")

_SINCE = "CAST(CAST(:since AS text) AS pg_snapshot)"
CHANGED = f"""changed AS MATERIALIZED (
    SELECT e.* FROM ledger_entries e
    WHERE e.tenant_id = :t AND e.created_xid >= pg_snapshot_xmin({_SINCE})::text::bigint
      AND NOT pg_visible_in_snapshot(e.created_xid::text::xid8, {_SINCE}))"""
"""The tenant's entries visible now that snapshot `:since` did not see."""

TOUCHED = """d AS MATERIALIZED (
    SELECT visit_id, sum(amount_cents)::bigint AS amount,
           coalesce(-sum(memo_amount_cents)
                    FILTER (WHERE carc_group = 'PR' AND amount_cents = 0), 0)::bigint AS owed
    FROM changed GROUP BY visit_id)"""
"""Per visit the changed entries touch: their balance change and patient responsibility."""


def _touched(balance: str) -> Source:
    return Source(
        f"{CHANGED}, {TOUCHED}", "d JOIN visits v ON v.id = d.visit_id", balance, f"{balance} <> 0"
    )


def _owed(change: str) -> str:
    return f"""pr AS MATERIALIZED (
    SELECT d.visit_id, (coalesce(-sum(e.memo_amount_cents), 0) {change})::bigint AS owed
    FROM d LEFT JOIN ledger_entries e ON e.tenant_id = :t AND e.visit_id = d.visit_id
      AND e.carc_group = 'PR' AND e.amount_cents = 0 AND e.created_at < :cutoff
    GROUP BY d.visit_id)"""


NOW, BEFORE = _touched("v.balance_cents"), _touched("(v.balance_cents - d.amount)")
"""The touched visits' balances now (the projection) and before the changed entries."""
OWED_NOW, OWED_BEFORE = _owed(""), _owed("- min(d.owed)")


def aging_change_sql(basis: Basis, group_by: GroupBy) -> str:
    """Rows of (sign, then `aging_sql`'s row): -1 for the touched visits as they were, 1 as
    they are."""
    before = aging_sql(BEFORE, basis, group_by, OWED_BEFORE)
    now = aging_sql(NOW, basis, group_by, OWED_NOW)
    return f"SELECT -1, b.* FROM ({before}) b UNION ALL SELECT 1, n.* FROM ({now}) n"


async def current_snapshot(session: AsyncSession) -> str:
    """The transaction's snapshot, as text (`xmin:xmax:xip,…`)."""
    return str((await session.execute(CURRENT_SNAPSHOT)).scalar_one())


async def aging_change(
    session: AsyncSession,
    binds: dict[str, Any],
    basis: Basis,
    group_by: GroupBy,
    edges: tuple[int, ...],
) -> tuple[list[Any], list[Any]]:
    """(before, now): the aging rows of the visits the changed entries touch."""
    found = await session.execute(
        text(aging_change_sql(basis, group_by)), {**binds, "thresholds": thresholds(edges)}
    )
    rows = found.all()
    return [r[1:] for r in rows if r[0] < 0], [r[1:] for r in rows if r[0] > 0]


async def aging_since(
    session: AsyncSession, report: AgingReport, binds: dict[str, Any], edges: tuple[int, ...]
) -> AgingReport:
    """`report` (as of today) brought forward to this transaction's snapshot."""
    before, now = await aging_change(session, binds, report.basis, report.group_by, edges)
    if not before and not now:
        return report
    groups = {(r.payer_id, _class(r)): _copy(r) for r in report.rows}
    total = _copy(report.total)
    size = len(report.buckets)
    add_rows(groups, total, before, size, -1)
    add_rows(groups, total, now, size, 1)
    if report.group_by is GroupBy.NONE:
        return replace(report, rows=[total], total=total)
    rows = list(groups.values())
    if report.group_by is GroupBy.PAYER:
        rows = await in_payer_order(
            session, [r for r in rows if r.debit_visits or r.credits.visits]
        )
    return replace(report, rows=rows, total=total)


async def kpis_since(session: AsyncSession, kpis: Kpis, binds: dict[str, Any]) -> Kpis:
    """`kpis` (of a period ending today) brought forward to this transaction's snapshot."""
    before, now = await aging_change(
        session, binds, Basis.DATE_OF_SERVICE, GroupBy.NONE, (OVER_90, OVER_120)
    )
    change = AgingRow(None, None, [Amount() for _ in range(3)])
    add_rows({}, change, before, 3, -1)
    add_rows({}, change, now, 3, 1)
    sql = f"WITH {CHANGED} {activity_sql('changed')}"
    activity = (await session.execute(text(sql), binds)).one()
    _, over_90, over_120 = change.buckets
    return replace(
        kpis,
        total_ar_cents=kpis.total_ar_cents + change.net_cents,
        debit_ar_cents=kpis.debit_ar_cents + change.debit_cents,
        credit_cents=kpis.credit_cents + change.credits.cents,
        ar_over_90_cents=kpis.ar_over_90_cents + over_90.cents + over_120.cents,
        ar_over_120_cents=kpis.ar_over_120_cents + over_120.cents,
        charges_cents=kpis.charges_cents + activity.charges,
        payments_cents=kpis.payments_cents + activity.payments,
        contractual_cents=kpis.contractual_cents + activity.contractual,
        write_off_cents=kpis.write_off_cents + activity.write_offs,
        adjustment_cents=kpis.adjustment_cents + activity.adjustments,
    )


async def summary_since(
    session: AsyncSession, summary: Summary, kinds: tuple[str, ...], binds: dict[str, Any]
) -> Summary:
    """`summary` (of a period ending today) brought forward to this transaction's snapshot."""
    sql = f"WITH {CHANGED} {summary_sql(kinds, summary.group_by, 'changed')}"
    found = summary_rows(list((await session.execute(text(sql), binds)).all()), summary.group_by)
    return with_rows(summary, found) if found else summary


def binds_since(
    tenant_id: int, since: str, settings: ReportingSettings, first: Any, today: Any
) -> dict[str, Any]:
    """The binds the statements above take: tenant, snapshot, today's cutoff, the period."""
    return {
        "t": tenant_id,
        "since": since,
        "as_of": today,
        "cutoff": settings.end_of(today),
        "start": settings.start_of(first),
        "end": settings.end_of(today),
    }


def _class(row: AgingRow) -> str | None:
    return None if row.payer_class is None else row.payer_class.value


def _copy(row: AgingRow) -> AgingRow:
    return replace(row, buckets=[replace(b) for b in row.buckets], credits=replace(row.credits))
