"""The live AR dashboard: every figure of one tenant's dashboard, read in one snapshot.

A dashboard is the report queries over one period — the aging (as of today), the write-off
summary by reason, the adjustment summary by category and by CARC, the KPIs — computed by the
very functions those queries call, in one `REPEATABLE READ READ ONLY` transaction, so its
figures equal the queries' by construction and agree with each other. The period is the last
`period_days` days up to today in the tenant's time zone. Beside them: the names of the payers
the aging rows name, and the tenant's latest entries (`ACTIVITY_SIZE`), newest first.
"""

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.db import SessionFactory
from domain.errors import DomainError
from domain.models import Payer
from domain.reports.aging import AgingReport, Basis, GroupBy, ar_aging, by_payer_name
from domain.reports.classification import ADJUSTMENT_KINDS, WRITE_OFF_KINDS
from domain.reports.kpis import Kpis, ar_kpis
from domain.reports.periods import ReportingSettings, load_reporting
from domain.reports.since import (
    aging_with,
    binds_since,
    current_snapshot,
    kpis_with,
    read_changes,
)
from domain.reports.summaries import (
    AdjustmentGroupBy,
    Summary,
    adjustment_summary,
    with_rows,
    write_off_summary,
)

ACTIVITY_SIZE = 20
MAX_PERIOD_DAYS = 366
SNAPSHOT = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
SMALL_READS = text(
    "SELECT set_config('plan_cache_mode', 'force_custom_plan', true), "
    "set_config('max_parallel_workers_per_gather', '0', true)"
)
"""Bringing forward reads a few rows per statement, and only with plans made for its snapshot:
a generic plan (which PostgreSQL may settle on after five executions of a prepared statement)
cannot know that "entries since xmin" are a handful and would scan the whole ledger; parallel
workers cost more to start than such reads take."""


@dataclass(frozen=True)
class DashboardFilter:
    """What one dashboard shows; dashboards with equal filters are computed once."""

    aging_group_by: GroupBy = GroupBy.PAYER
    basis: Basis = Basis.DATE_OF_SERVICE
    period_days: int = 30

    def validate(self) -> None:
        """Refuse a period outside 1..366 days (before anything is computed)."""
        if not 1 <= self.period_days <= MAX_PERIOD_DAYS:
            raise DomainError.of(
                "filter.periodDays",
                "PERIOD_DAYS_OUT_OF_RANGE",
                f"periodDays must be between 1 and {MAX_PERIOD_DAYS}.",
            )

    def period(self, settings: ReportingSettings) -> tuple[date, date]:
        """(first, last): the last `period_days` days up to today, tenant time."""
        today = settings.today()
        return today - timedelta(days=self.period_days - 1), today


@dataclass(frozen=True)
class Activity:
    """One recent ledger entry, with its account and a label for people."""

    entry_id: int
    account_id: int
    account_number: str
    account_name: str
    kind: str
    amount_cents: int
    memo_amount_cents: int | None
    label: str
    posted_at: datetime


@dataclass(frozen=True)
class Dashboard:
    filter: DashboardFilter
    computed_at: datetime
    aging: AgingReport
    payers: dict[int, Payer]
    """The payers the aging rows name (grouped by payer), detached from the session."""
    write_offs: Summary
    adjustments: Summary
    adjustments_by_carc: Summary
    kpis: Kpis
    activity: list[Activity]
    settings: ReportingSettings = field(default_factory=ReportingSettings)
    snapshot: str = ""
    """The database snapshot the figures were read in (`pg_current_snapshot()`)."""
    brought_forward: bool = False
    """Whether it was brought forward from a previous dashboard (else read afresh)."""

    def current(self, wanted: DashboardFilter, settings: ReportingSettings) -> bool:
        """Whether it can be brought forward for `wanted`: same filter, settings and day."""
        return (
            bool(self.snapshot)
            and self.filter == wanted
            and self.settings == settings
            and self.kpis.period.last == settings.today()
        )


async def ar_dashboard(
    sessions: SessionFactory,
    tenant_id: int,
    wanted: DashboardFilter,
    previous: Dashboard | None = None,
) -> Dashboard:
    """The tenant's dashboard for `wanted`, every figure from one read-only snapshot.
    `sessions` must be confined to the tenant (the API's row-level security) or trusted.
    `previous` (an earlier dashboard of the same filter) is brought forward by the entries
    committed since it was read when its day and settings still hold (`domain.reports.since`,
    the same figures for a fraction of the reading); otherwise everything is read afresh."""
    wanted.validate()
    async with sessions() as session:
        await session.connection(execution_options=SNAPSHOT)
        snapshot = await current_snapshot(session)
        settings = await load_reporting(session, tenant_id)
        if previous is not None and previous.current(wanted, settings):
            return await _brought_forward(session, tenant_id, previous, snapshot)
        return await _afresh(session, tenant_id, wanted, settings, snapshot)


async def _afresh(
    session: AsyncSession,
    tenant_id: int,
    wanted: DashboardFilter,
    settings: ReportingSettings,
    snapshot: str,
) -> Dashboard:
    first, last = wanted.period(settings)
    aging = await ar_aging(
        session,
        tenant_id,
        basis=wanted.basis,
        group_by=wanted.aging_group_by,
        settings=settings,
    )
    return Dashboard(
        filter=wanted,
        aging=aging,
        payers=await _payers(session, aging),
        write_offs=await write_off_summary(
            session, tenant_id, first=first, last=last, settings=settings
        ),
        adjustments=await adjustment_summary(
            session, tenant_id, first=first, last=last, settings=settings
        ),
        adjustments_by_carc=await adjustment_summary(
            session,
            tenant_id,
            first=first,
            last=last,
            group_by=AdjustmentGroupBy.CARC,
            settings=settings,
        ),
        kpis=await ar_kpis(session, tenant_id, first=first, last=last, settings=settings),
        activity=await latest_activity(session, tenant_id),
        settings=settings,
        snapshot=snapshot,
        computed_at=datetime.now(UTC),
    )


async def _brought_forward(
    session: AsyncSession, tenant_id: int, previous: Dashboard, snapshot: str
) -> Dashboard:
    await session.execute(SMALL_READS)
    period, settings = previous.kpis.period, previous.settings
    summaries = [previous.write_offs, previous.adjustments, previous.adjustments_by_carc]
    changes = await read_changes(
        session,
        binds_since(tenant_id, previous.snapshot, settings, period.first, period.last),
        previous.aging,
        settings.aging_bucket_edges,
        summaries,
        [WRITE_OFF_KINDS, ADJUSTMENT_KINDS, ADJUSTMENT_KINDS],
    )
    aging = aging_with(previous.aging, changes.aging)
    payers = await _payers(session, aging)
    if aging.group_by is GroupBy.PAYER:
        names = {pk: payer.name for pk, payer in payers.items()}
        aging = replace(aging, rows=by_payer_name(aging.rows, names))
    write_offs, adjustments, by_carc = (
        with_rows(summary, found)
        for summary, found in zip(summaries, changes.summaries, strict=True)
    )
    activity = await latest_activity(session, tenant_id)
    return replace(
        previous,
        computed_at=datetime.now(UTC),
        aging=aging,
        payers=payers,
        write_offs=write_offs,
        adjustments=adjustments,
        adjustments_by_carc=by_carc,
        kpis=kpis_with(previous.kpis, changes.kpi_aging, changes.activity),
        activity=activity,
        snapshot=snapshot,
        brought_forward=True,
    )


async def _payers(session: AsyncSession, aging: AgingReport) -> dict[int, Payer]:
    ids = [row.payer_id for row in aging.rows if row.payer_id is not None]
    if not ids:
        return {}
    found = await session.scalars(select(Payer).where(Payer.id.in_(ids)))
    return {payer.id: payer for payer in found}


ACTIVITY = text(
    """SELECT e.id, e.account_id, a.account_number, a.name, e.kind, e.amount_cents,
           e.memo_amount_cents, e.reason, e.reverses_entry_id IS NOT NULL AS reversal,
           coalesce(o.category, e.category) AS category,
           coalesce(o.carc_group, e.carc_group) AS carc_group,
           coalesce(o.carc_reason, e.carc_reason) AS carc_reason,
           coalesce(o.reason, e.reason) AS original_reason,
           c.code AS tx_code, c.description AS tx_description, e.created_at
    FROM ledger_entries e
    JOIN accounts a ON a.id = e.account_id
    LEFT JOIN ledger_entries o ON o.id = e.reverses_entry_id
    LEFT JOIN transaction_codes c ON c.id = coalesce(o.transaction_code_id,
                                                     e.transaction_code_id)
    WHERE e.tenant_id = :t
    ORDER BY e.created_at DESC, e.id DESC
    LIMIT :n"""
)
"""The latest entries through `ix_ledger_entries_tenant_id_created_at`, read backwards; a
reversal is labelled by its original (category, CARC, reason, code) and its own reason."""


async def latest_activity(
    session: AsyncSession, tenant_id: int, size: int = ACTIVITY_SIZE
) -> list[Activity]:
    """The tenant's latest `size` ledger entries, newest (by posting time, then id) first."""
    rows = await session.execute(ACTIVITY, {"t": tenant_id, "n": size})
    return [
        Activity(
            entry_id=r.id,
            account_id=r.account_id,
            account_number=r.account_number,
            account_name=r.name,
            kind=r.kind,
            amount_cents=r.amount_cents,
            memo_amount_cents=r.memo_amount_cents,
            label=label(r),
            posted_at=r.created_at,
        )
        for r in rows
    ]


def label(entry: Any) -> str:
    """A line for people: the transaction code, else the CARC and category, else the reason,
    else the kind; a reversal says so and why. E.g. "BD01 Bad debt", "CO-45 · Contractual",
    "Small balance", "Reversal: Charity (entered twice)", "Charge"."""
    parts: list[str] = []
    if entry.tx_code:
        parts.append(" ".join(p for p in (entry.tx_code, entry.tx_description) if p))
    else:
        if entry.carc_group and entry.carc_reason:
            parts.append(f"{entry.carc_group}-{entry.carc_reason}")
        if entry.category:
            parts.append(_words(entry.category))
        elif entry.original_reason and not parts:
            parts.append(_words(entry.original_reason))
    what = " · ".join(parts) or _words(entry.kind)
    if not entry.reversal:
        return what
    why = f" ({entry.reason})" if entry.reason and entry.reason != entry.original_reason else ""
    return f"Reversal: {what}{why}"


def _words(value: str) -> str:
    """A stored code in words (`small-balance`, `BAD_DEBT` → `Small balance`, `Bad debt`);
    free text keeps its spelling, capitalised."""
    text_ = value.strip()
    if " " not in text_:
        text_ = text_.replace("-", " ").replace("_", " ").lower()
    return text_[:1].upper() + text_[1:]
