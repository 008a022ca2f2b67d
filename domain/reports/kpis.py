"""AR KPIs over a period, from the ledger as it stood at the end of the period.

Balances are taken at the end of the period's last day (the aging machinery, by date of
service); activity is the entries posted in the period (`domain.reports.periods`), each kind
net of its reversals, classified as the visit totals are (`domain.reports.classification`).
Ratios are exact: integer cents in, one rounding half-up to two places out
(`domain.reports.figures`), None when the denominator is zero.
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.reports.aging import Basis, GroupBy, ar_aging
from domain.reports.classification import (
    ADJUSTMENT_KINDS,
    CHARGE_KINDS,
    CONTRACTUAL_SQL,
    PAYMENT_KINDS,
    WRITE_OFF_KINDS,
    kinds_sql,
)
from domain.reports.figures import percent, ratio, round_cents
from domain.reports.periods import Period, ReportingSettings, load_reporting, resolve_period

OVER_90, OVER_120 = 90, 120


@dataclass(frozen=True)
class Kpis:
    period: Period
    total_ar_cents: int
    """Every visit balance at the end of the period, credits included (net)."""
    debit_ar_cents: int
    """Debit balances only: the aging buckets' total, the base of the over-90/120 shares."""
    credit_cents: int
    ar_over_90_cents: int
    ar_over_120_cents: int
    charges_cents: int
    payments_cents: int
    contractual_cents: int
    write_off_cents: int
    adjustment_cents: int

    @property
    def average_daily_charges_cents(self) -> int:
        return round_cents(self.charges_cents, self.period.days)

    @property
    def days_in_ar(self) -> Decimal | None:
        """AR / (charges / days) = AR x days / charges."""
        return ratio(self.total_ar_cents * self.period.days, self.charges_cents)

    @property
    def percent_over_90(self) -> Decimal | None:
        return percent(self.ar_over_90_cents, self.debit_ar_cents)

    @property
    def percent_over_120(self) -> Decimal | None:
        return percent(self.ar_over_120_cents, self.debit_ar_cents)

    @property
    def net_collection_rate(self) -> Decimal | None:
        """payments / (charges - contractual adjustments), as a percentage."""
        return percent(self.payments_cents, self.charges_cents - self.contractual_cents)

    @property
    def write_off_percent(self) -> Decimal | None:
        return percent(self.write_off_cents, self.charges_cents)

    @property
    def adjustment_percent(self) -> Decimal | None:
        return percent(self.adjustment_cents, self.charges_cents)


def _reduction(kinds: tuple[str, ...]) -> str:
    return f"coalesce(-sum(e.amount_cents) FILTER (WHERE e.kind IN {kinds_sql(kinds)}), 0)"


def activity_sql(entries: str = "ledger_entries") -> str:
    """Charges, payments, contractual, write-offs, adjustments of the `entries` (a table or
    CTE of ledger entries) posted from `:start` to before `:end`."""
    return f"""
    SELECT coalesce(sum(e.amount_cents) FILTER (WHERE e.kind IN {kinds_sql(CHARGE_KINDS)}), 0)
             ::bigint AS charges,
           {_reduction(PAYMENT_KINDS)}::bigint AS payments,
           coalesce(-sum(e.amount_cents) FILTER (WHERE {CONTRACTUAL_SQL}), 0)::bigint
             AS contractual,
           {_reduction(WRITE_OFF_KINDS)}::bigint AS write_offs,
           {_reduction(ADJUSTMENT_KINDS)}::bigint AS adjustments
    FROM {entries} e
    WHERE e.tenant_id = :t AND e.created_at >= :start AND e.created_at < :end"""


async def ar_kpis(
    session: AsyncSession,
    tenant_id: int,
    *,
    first: date,
    last: date,
    as_of: date | None = None,
    settings: ReportingSettings | None = None,
) -> Kpis:
    """The KPIs of `first` to `last` (both included; `last` cut at `as_of`, default today)."""
    settings = settings or await load_reporting(session, tenant_id)
    period = resolve_period(settings, first, last, as_of)
    aging = await ar_aging(
        session,
        tenant_id,
        as_of=period.last,
        basis=Basis.DATE_OF_SERVICE,
        group_by=GroupBy.NONE,
        edges=[OVER_90, OVER_120],
        settings=settings,
    )
    _, over_90, over_120 = aging.total.buckets
    activity = (
        await session.execute(
            text(activity_sql()),
            {
                "t": tenant_id,
                "start": settings.start_of(period.first),
                "end": settings.end_of(period.last),
            },
        )
    ).one()
    return Kpis(
        period=period,
        total_ar_cents=aging.total.net_cents,
        debit_ar_cents=aging.total.debit_cents,
        credit_cents=aging.total.credits.cents,
        ar_over_90_cents=over_90.cents + over_120.cents,
        ar_over_120_cents=over_120.cents,
        charges_cents=activity.charges,
        payments_cents=activity.payments,
        contractual_cents=activity.contractual,
        write_off_cents=activity.write_offs,
        adjustment_cents=activity.adjustments,
    )
