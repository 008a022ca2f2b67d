"""Write-off and adjustment summaries over a period: two reports, never one total.

Both count the entries posted in the period (`domain.reports.periods`), with the same
classification the visit totals use (`domain.reports.classification`), so over any period
the write-off summary's net equals the change in the visits' `writeOffTotal` (likewise for
adjustments). Amounts are reductions, positive:

- `gross`: what the period's original entries reduced;
- `reversed`: what the period's reversals put back (of originals from any period: a reversal
  belongs to the day it was posted, so a closed period's figures never change);
- `net` = gross - reversed;
- `memo`: informational entries (balance unchanged: PR patient responsibility, denials, memo
  categories), net of their reversals, never inside `net`.

A reversal is grouped with its original: under the original's reason, actor, category and
CARC (they are the same entry's), and the visit's payer.
"""

import dataclasses
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.reports.classification import ADJUSTMENT_KINDS, WRITE_OFF_KINDS, kinds_sql
from domain.reports.periods import ReportingSettings, load_reporting, resolve_period


class WriteOffGroupBy(StrEnum):
    REASON = "REASON"
    PAYER = "PAYER"
    USER = "USER"


class AdjustmentGroupBy(StrEnum):
    CATEGORY = "CATEGORY"
    CARC = "CARC"
    REASON = "REASON"
    PAYER = "PAYER"


def _original(column: str) -> str:
    """The original entry's `column` for an entry `e` (its own when it is no reversal)."""
    return f"CASE WHEN e.reverses_entry_id IS NULL THEN e.{column} ELSE o.{column} END"


KEYS: dict[str, tuple[str, ...]] = {
    "REASON": (_original("reason"),),
    "USER": (_original("actor"),),
    "PAYER": ("v.payer_id",),
    "CATEGORY": (_original("category"),),
    "CARC": (_original("carc_group"), _original("carc_reason")),
}
"""The SQL expressions each grouping groups by."""


@dataclass
class SummaryRow:
    """One group: `key` holds the grouping's values (reason; payer id; actor; category;
    CARC group and reason)."""

    key: tuple[Any, ...]
    gross_cents: int = 0
    reversed_cents: int = 0
    memo_cents: int = 0
    entries: int = 0
    reversals: int = 0

    @property
    def net_cents(self) -> int:
        return self.gross_cents - self.reversed_cents

    def add(self, other: "SummaryRow") -> None:
        self.gross_cents += other.gross_cents
        self.reversed_cents += other.reversed_cents
        self.memo_cents += other.memo_cents
        self.entries += other.entries
        self.reversals += other.reversals


@dataclass(frozen=True)
class Summary:
    first: date
    last: date
    as_of: date
    group_by: str
    rows: list[SummaryRow]
    total: SummaryRow = field(default_factory=lambda: SummaryRow(()))


def summary_sql(kinds: tuple[str, ...], group_by: str, entries: str = "ledger_entries") -> str:
    """Per group of `group_by`: gross, reversed, memo, entries, reversals of the `entries` (a
    table or CTE of ledger entries) of `kinds` posted from `:start` to before `:end`."""
    keys = KEYS[group_by]
    payer_join = "JOIN visits v ON v.id = e.visit_id" if group_by == "PAYER" else ""
    return f"""
        SELECT {", ".join(keys)},
          coalesce(-sum(e.amount_cents) FILTER (WHERE e.reverses_entry_id IS NULL), 0)::bigint,
          coalesce(sum(e.amount_cents) FILTER (WHERE e.reverses_entry_id IS NOT NULL), 0)::bigint,
          coalesce(-sum(e.memo_amount_cents), 0)::bigint,
          count(*) FILTER (WHERE e.reverses_entry_id IS NULL),
          count(*) FILTER (WHERE e.reverses_entry_id IS NOT NULL)
        FROM {entries} e
        LEFT JOIN ledger_entries o ON o.id = e.reverses_entry_id
        {payer_join}
        WHERE e.tenant_id = :t AND e.kind IN {kinds_sql(kinds)}
          AND e.created_at >= :start AND e.created_at < :end
        GROUP BY {", ".join(str(n) for n in range(1, len(keys) + 1))}"""


def summary_rows(found: list[Any], group_by: str) -> list[SummaryRow]:
    """The statement's rows (`summary_sql`) as `SummaryRow`s."""
    width = len(KEYS[group_by])
    return [SummaryRow(tuple(r[:width]), *r[width:]) for r in found]


def summarised(
    first: date, last: date, as_of: date, group_by: str, rows: list[SummaryRow]
) -> Summary:
    """The summary of `rows`: ordered by key (each part ascending, codepoint order for text,
    missing last, whatever the database's collation) and totalled."""
    ordered = sorted(rows, key=lambda row: tuple((part is None, part) for part in row.key))
    total = SummaryRow(())
    for row in ordered:
        total.add(row)
    return Summary(first, last, as_of, group_by, ordered, total)


def with_rows(summary: Summary, found: list[SummaryRow]) -> Summary:
    """`summary` with `found` (more entries of its period) added to their groups."""
    rows = {row.key: dataclasses.replace(row) for row in summary.rows}
    for row in found:
        rows.setdefault(row.key, SummaryRow(row.key)).add(row)
    return summarised(
        summary.first, summary.last, summary.as_of, summary.group_by, list(rows.values())
    )


async def _summary(
    session: AsyncSession,
    tenant_id: int,
    kinds: tuple[str, ...],
    group_by: str,
    first: date,
    last: date,
    as_of: date | None,
    settings: ReportingSettings | None,
) -> Summary:
    settings = settings or await load_reporting(session, tenant_id)
    period = resolve_period(settings, first, last, as_of)
    found = await session.execute(
        text(summary_sql(kinds, group_by)),
        {
            "t": tenant_id,
            "start": settings.start_of(period.first),
            "end": settings.end_of(period.last),
        },
    )
    rows = summary_rows(list(found.all()), group_by)
    return summarised(period.first, period.last, period.as_of, group_by, rows)


async def write_off_summary(
    session: AsyncSession,
    tenant_id: int,
    *,
    first: date,
    last: date,
    group_by: WriteOffGroupBy = WriteOffGroupBy.REASON,
    as_of: date | None = None,
    settings: ReportingSettings | None = None,
) -> Summary:
    """Write-offs (WRITEOFF and BAD_DEBT entries, e.g. BD transactions) posted `first` to
    `last`, both included, cut at `as_of`, by reason, payer or user."""
    return await _summary(
        session, tenant_id, WRITE_OFF_KINDS, group_by.value, first, last, as_of, settings
    )


async def adjustment_summary(
    session: AsyncSession,
    tenant_id: int,
    *,
    first: date,
    last: date,
    group_by: AdjustmentGroupBy = AdjustmentGroupBy.CATEGORY,
    as_of: date | None = None,
    settings: ReportingSettings | None = None,
) -> Summary:
    """Adjustments (ADJUSTMENT and CONTRACTUAL entries: manual, CW/AD transactions, remittance
    CARCs) posted `first` to `last`, both included, cut at `as_of`, by category, CARC, reason
    or payer."""
    return await _summary(
        session, tenant_id, ADJUSTMENT_KINDS, group_by.value, first, last, as_of, settings
    )
