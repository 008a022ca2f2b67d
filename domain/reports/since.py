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

import json
from dataclasses import dataclass, replace
from datetime import date
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
)
from domain.reports.balances import Source
from domain.reports.buckets import thresholds
from domain.reports.kpis import OVER_90, OVER_120, Kpis, activity_sql
from domain.reports.periods import ReportingSettings
from domain.reports.summaries import KEYS, Summary, SummaryRow, summary_rows, summary_sql

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


def aging_change_sql(basis: Basis, group_by: GroupBy, thresholds: str = ":thresholds") -> str:
    """Rows of (sign, then `aging_sql`'s row): -1 for the touched visits as they were, 1 as
    they are."""
    before = aging_sql(BEFORE, basis, group_by, OWED_BEFORE, thresholds)
    now = aging_sql(NOW, basis, group_by, OWED_NOW, thresholds)
    return f"SELECT -1, b.* FROM ({before}) b UNION ALL SELECT 1, n.* FROM ({now}) n"


async def current_snapshot(session: AsyncSession) -> str:
    """The transaction's snapshot, as text (`xmin:xmax:xip,…`)."""
    return str((await session.execute(CURRENT_SNAPSHOT)).scalar_one())


SIGNED_AGING_WIDTH = 8
"""Columns of `aging_change_sql`: the sign, then `aging_sql`'s seven."""
ACTIVITY_WIDTH = 5
"""Columns of `activity_sql`: charges, payments, contractual, write-offs, adjustments."""
SUMMARY_SUMS = 5
"""Columns of `summary_sql` after its keys: gross, reversed, memo, entries, reversals."""

SummaryWanted = tuple[tuple[str, ...], str]
"""(entry kinds, grouping) of one summary to bring forward."""


def _rows_of(statement: str, width: int) -> str:
    """A scalar subquery: `statement`'s rows as one JSON array of objects `{c0: …, c1: …}`
    (positional names: a statement's own column names may repeat)."""
    columns = ", ".join(f"c{i}" for i in range(width))
    return f"(SELECT coalesce(json_agg(x), '[]') FROM ({statement}) AS x({columns}))"


def changes_sql(basis: Basis, group_by: GroupBy, summaries: list[SummaryWanted]) -> str:
    """One statement, one round trip and one plan: the aging change (`:thresholds`), the KPIs'
    aging change (`:kpi_thresholds`) and activity sums, and each summary's changed groups."""
    parts = [
        _rows_of(aging_change_sql(basis, group_by), SIGNED_AGING_WIDTH),
        _rows_of(
            aging_change_sql(Basis.DATE_OF_SERVICE, GroupBy.NONE, ":kpi_thresholds"),
            SIGNED_AGING_WIDTH,
        ),
        _rows_of(f"WITH {CHANGED} {activity_sql('changed')}", ACTIVITY_WIDTH),
        *(
            _rows_of(
                f"WITH {CHANGED} {summary_sql(kinds, by, 'changed')}", len(KEYS[by]) + SUMMARY_SUMS
            )
            for kinds, by in summaries
        ),
    ]
    return "SELECT " + ",\n".join(parts)


@dataclass(frozen=True)
class Changes:
    """What the entries committed since a snapshot change, read in one statement."""

    aging: list[list[Any]]
    kpi_aging: list[list[Any]]
    activity: list[Any]
    summaries: list[list[SummaryRow]]


async def read_changes(
    session: AsyncSession,
    binds: dict[str, Any],
    aging: AgingReport,
    edges: tuple[int, ...],
    summaries: list[Summary],
    kinds: list[tuple[str, ...]],
) -> Changes:
    """The changes to `aging` (in buckets `edges`), to KPIs and to `summaries` (each of its
    `kinds`) since `binds["since"]`, in this transaction's snapshot."""
    wanted = [(k, s.group_by) for k, s in zip(kinds, summaries, strict=True)]
    statement = text(changes_sql(aging.basis, aging.group_by, wanted))
    row = (
        await session.execute(
            statement,
            {
                **binds,
                "thresholds": thresholds(edges),
                "kpi_thresholds": thresholds((OVER_90, OVER_120)),
            },
        )
    ).one()
    aging_rows, kpi_rows, activity, *found = (_positional(value) for value in row)
    return Changes(
        aging_rows,
        kpi_rows,
        activity[0],
        [summary_rows(rows, s.group_by) for rows, s in zip(found, summaries, strict=True)],
    )


def _positional(value: Any) -> list[list[Any]]:
    rows = json.loads(value) if isinstance(value, str) else value
    return [list(row.values()) for row in rows]


def _signed(rows: list[list[Any]], sign: int) -> list[list[Any]]:
    return [row[1:] for row in rows if row[0] == sign]


def _add_changes(
    groups: dict[Any, AgingRow], total: AgingRow, changes: list[list[Any]], size: int
) -> None:
    """Take the touched visits out as they were (sign -1) and add them back as they are (1)."""
    for sign in (-1, 1):
        add_rows(groups, total, _signed(changes, sign), size, sign)


def aging_with(report: AgingReport, changes: list[list[Any]]) -> AgingReport:
    """`report` with the touched visits taken out as they were and added back as they are
    (rows of payers left with no visit dropped; PAYER rows still to be put in name order)."""
    if not changes:
        return report
    groups = {(r.payer_id, _class(r)): _copy(r) for r in report.rows}
    total = _copy(report.total)
    _add_changes(groups, total, changes, len(report.buckets))
    if report.group_by is GroupBy.NONE:
        return replace(report, rows=[total], total=total)
    rows = list(groups.values())
    if report.group_by is GroupBy.PAYER:
        rows = [r for r in rows if r.debit_visits or r.credits.visits]
    return replace(report, rows=rows, total=total)


def kpis_with(kpis: Kpis, aging_changes: list[list[Any]], activity: list[Any]) -> Kpis:
    """`kpis` with the KPIs' aging changes (buckets 0-90, 91-120, 121+) and activity sums."""
    change = AgingRow(None, None, [Amount() for _ in range(3)])
    _add_changes({}, change, aging_changes, 3)
    charges, payments, contractual, write_offs, adjustments = activity
    _, over_90, over_120 = change.buckets
    return replace(
        kpis,
        total_ar_cents=kpis.total_ar_cents + change.net_cents,
        debit_ar_cents=kpis.debit_ar_cents + change.debit_cents,
        credit_cents=kpis.credit_cents + change.credits.cents,
        ar_over_90_cents=kpis.ar_over_90_cents + over_90.cents + over_120.cents,
        ar_over_120_cents=kpis.ar_over_120_cents + over_120.cents,
        charges_cents=kpis.charges_cents + charges,
        payments_cents=kpis.payments_cents + payments,
        contractual_cents=kpis.contractual_cents + contractual,
        write_off_cents=kpis.write_off_cents + write_offs,
        adjustment_cents=kpis.adjustment_cents + adjustments,
    )


def binds_since(
    tenant_id: int, since: str, settings: ReportingSettings, first: date, today: date
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
