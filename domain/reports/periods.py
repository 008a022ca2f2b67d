"""When an entry counts: reports place each ledger entry on the day it was posted.

An entry is posted when its transaction wrote it (`ledger_entries.created_at`), and belongs to
that instant's calendar day in the tenant's time zone: an entry posted at 23:30 in Los Angeles
belongs to that day even though it is already tomorrow in UTC. "As of D" means every entry
posted up to the end of D (local), none after; a range "from F to T" means the entries posted
from the start of F to the end of T (local), both days included. The transaction date an entry
carries (which a user may back-date) does not move it.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.errors import DomainError
from domain.models import Tenant
from domain.reports.buckets import DEFAULT_EDGES


@dataclass(frozen=True)
class ReportingSettings:
    """What a tenant's reports depend on: its time zone and its aging bucket edges."""

    time_zone: str = "UTC"
    aging_bucket_edges: tuple[int, ...] = DEFAULT_EDGES

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def today(self, now: datetime | None = None) -> date:
        """Today in the tenant's time zone."""
        return (now or datetime.now(UTC)).astimezone(self.zone).date()

    def start_of(self, day: date) -> datetime:
        """The instant `day` begins in the tenant's time zone (an aware UTC datetime)."""
        return datetime.combine(day, time(), self.zone).astimezone(UTC)

    def end_of(self, day: date) -> datetime:
        """The instant after `day` ends (the next day's start): entries before it count."""
        return self.start_of(day + timedelta(days=1))

    def day_of(self, instant: datetime) -> date:
        """The tenant-local calendar day of `instant`."""
        return instant.astimezone(self.zone).date()


async def load_reporting(session: AsyncSession, tenant_id: int) -> ReportingSettings:
    """The tenant's time zone and aging bucket edges (defaults when the tenant is not found)."""
    row = (
        await session.execute(
            select(Tenant.time_zone, Tenant.aging_bucket_edges).where(Tenant.id == tenant_id)
        )
    ).one_or_none()
    if row is None:
        return ReportingSettings()
    return ReportingSettings(row.time_zone, tuple(row.aging_bucket_edges))


def resolve_as_of(settings: ReportingSettings, as_of: date | None) -> date:
    """`as_of`, today when None; a date after today (tenant time) is refused."""
    today = settings.today()
    if as_of is None:
        return today
    if as_of > today:
        raise DomainError.of(
            "asOf", "AS_OF_IN_FUTURE", f"asOf cannot be after today ({today.isoformat()})."
        )
    return as_of


@dataclass(frozen=True)
class Period:
    """Days `first` to `last`, both included, as the ledger stood at the end of `as_of`."""

    first: date
    last: date
    as_of: date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


def resolve_period(
    settings: ReportingSettings, first: date, last: date, as_of: date | None
) -> Period:
    """The period `first`..`last` (inclusive), cut at `as_of` (default today): entries posted
    after `as_of` are ignored, so `last` is at most `as_of`."""
    cut = resolve_as_of(settings, as_of)
    if first > last:
        raise DomainError.of("to", "RANGE_REVERSED", "'to' must not be before 'from'.")
    if first > cut:
        raise DomainError.of(
            "from", "RANGE_AFTER_AS_OF", f"'from' must not be after asOf ({cut.isoformat()})."
        )
    return Period(first, min(last, cut), cut)
