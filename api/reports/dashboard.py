"""The live AR dashboard's types: what `arDashboard` pushes is plain data, built once per
computation (`api.reports.dashboard_hub`) and handed to every subscriber of its group."""

from datetime import datetime
from typing import Any, Self

import strawberry

from api.enums import LedgerEntryKind
from api.ids import encode_id
from api.reports.types import (
    AdjustmentSummary,
    AgingBasis,
    AgingGroupBy,
    ArAging,
    ArKpis,
    WriteOffSummary,
)
from api.scalars import Money
from api.transactions.payers import Payer
from domain.reports import aging
from domain.reports import dashboard as domain


@strawberry.input(
    description="What one dashboard shows; computed once per (tenant, filter) per API process."
)
class DashboardFilter:
    aging_group_by: AgingGroupBy = strawberry.field(
        default=AgingGroupBy.PAYER,
        description="Aging rows grouping (the bucket widget uses ArAging.total).",
    )
    basis: AgingBasis = AgingBasis.DATE_OF_SERVICE
    period_days: int = strawberry.field(
        default=30,
        description="Summaries and KPIs cover the last `periodDays` days up to today (tenant "
        "time zone), 1..366.",
    )

    def to_domain(self) -> domain.DashboardFilter:
        return domain.DashboardFilter(
            aging.GroupBy(self.aging_group_by.value),
            aging.Basis(self.basis.value),
            self.period_days,
        )


@strawberry.type(description="A recent ledger entry of the tenant.")
class DashboardActivity:
    entry_id: strawberry.ID
    account_id: strawberry.ID
    account_number: str
    account_name: str
    kind: LedgerEntryKind
    amount: Money = strawberry.field(
        description="Signed effect on the balance, 0 when informational."
    )
    memo_amount: Money | None
    label: str = strawberry.field(
        description="Reason / category / CARC group-code, or the transaction code, human readable."
    )
    posted_at: datetime

    @classmethod
    def of(cls, a: domain.Activity) -> Self:
        return cls(
            entry_id=strawberry.ID(encode_id("LedgerEntry", a.entry_id)),
            account_id=strawberry.ID(encode_id("Account", a.account_id)),
            account_number=a.account_number,
            account_name=a.account_name,
            kind=LedgerEntryKind(a.kind),
            amount=a.amount_cents,
            memo_amount=a.memo_amount_cents,
            label=a.label,
            posted_at=a.posted_at,
        )


@strawberry.type(
    description="One push of the AR dashboard. Equal to the report queries over the same period."
)
class ArDashboard:
    seq: int = strawberry.field(
        description="Per (tenant, filter), increasing by one per push; a client's first "
        "message is a snapshot."
    )
    snapshot: bool
    computed_at: datetime
    aging: ArAging
    write_offs: WriteOffSummary
    adjustments: AdjustmentSummary
    adjustments_by_carc: AdjustmentSummary
    kpis: ArKpis
    activity: list[DashboardActivity] = strawberry.field(
        description="The latest 20 ledger entries of the tenant, newest first."
    )
    group: strawberry.Private[tuple[Any, ...]] = ()
    """The (tenant, filter) it was computed for."""

    @property
    def share_key(self) -> tuple[Any, ...] | None:
        """Same group, seq and snapshot flag: the same push, rendered once per selection set
        for every subscriber of it (api/fanout.py); its fields read nothing but itself."""
        return ("arDashboard", *self.group, self.seq, self.snapshot) if self.group else None

    @classmethod
    def of(cls, d: domain.Dashboard, seq: int, group: tuple[Any, ...] = ()) -> Self:
        """Plain data throughout (payers resolved here): pushing it reads nothing."""
        payers = {pk: Payer.from_row(row) for pk, row in d.payers.items()}
        return cls(
            group=group,
            seq=seq,
            snapshot=False,
            computed_at=d.computed_at,
            aging=ArAging.of(d.aging, payers),
            write_offs=WriteOffSummary.of(d.write_offs),
            adjustments=AdjustmentSummary.of(d.adjustments),
            adjustments_by_carc=AdjustmentSummary.of(d.adjustments_by_carc),
            kpis=ArKpis.of(d.kpis),
            activity=[DashboardActivity.of(a) for a in d.activity],
        )
