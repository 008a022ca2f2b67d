"""Report queries: thin resolvers over `domain.reports`, each needing `billing.read` and reading
the caller's tenant in the operation's one snapshot."""

from datetime import date
from typing import Annotated

import strawberry

from api.auth import READ
from api.context import Info
from api.reports.types import (
    AS_OF,
    RANGE,
    AdjustmentGroupBy,
    AdjustmentSummary,
    AgingBasis,
    AgingGroupBy,
    ArAging,
    ArKpis,
    WriteOffGroupBy,
    WriteOffSummary,
    refused_as_errors,
)
from domain.reports import aging, kpis, summaries

FROM = Annotated[date, strawberry.argument(name="from", description="The first day counted.")]
TO = Annotated[date, strawberry.argument(description="The last day counted.")]
AS_OF_ARG = Annotated[date | None, strawberry.argument(description=AS_OF)]


@strawberry.type
class ReportQuery:
    @strawberry.field(
        description="AR aging: each visit's balance as the ledger stood at the end of `asOf` "
        "(tenant time zone), by age bucket (the tenant's edges unless `buckets` are given), "
        "grouped by payer, payer class or not at all; credit balances apart. As of today it "
        "equals the live balances."
    )
    async def ar_aging(
        self,
        info: Info,
        as_of: AS_OF_ARG = None,
        basis: AgingBasis = AgingBasis.DATE_OF_SERVICE,
        group_by: AgingGroupBy = AgingGroupBy.NONE,
        buckets: Annotated[
            list[int] | None,
            strawberry.argument(
                description="Upper bucket edges in days, ascending, e.g. [30, 60, 90, 120] for "
                "0-30, 31-60, 61-90, 91-120, 121+. Default: the tenant's setting."
            ),
        ] = None,
    ) -> ArAging:
        tenant_id = info.context.require(READ).tenant_id
        with refused_as_errors():
            async with info.context.sessions() as session:
                report = await aging.ar_aging(
                    session,
                    tenant_id,
                    as_of=as_of,
                    basis=aging.Basis(basis.value),
                    group_by=aging.GroupBy(group_by.value),
                    edges=buckets,
                )
        return ArAging.of(report)

    @strawberry.field(
        description="Write-offs posted in a period, net of reversals, by reason, payer or "
        "user; informational amounts apart. " + RANGE
    )
    async def write_off_summary(
        self,
        info: Info,
        from_: FROM,
        to: TO,
        group_by: WriteOffGroupBy = WriteOffGroupBy.REASON,
        as_of: AS_OF_ARG = None,
    ) -> WriteOffSummary:
        tenant_id = info.context.require(READ).tenant_id
        with refused_as_errors():
            async with info.context.sessions() as session:
                summary = await summaries.write_off_summary(
                    session,
                    tenant_id,
                    first=from_,
                    last=to,
                    group_by=summaries.WriteOffGroupBy(group_by.value),
                    as_of=as_of,
                )
        return WriteOffSummary.of(summary)

    @strawberry.field(
        description="Adjustments posted in a period, net of reversals, by category, CARC, "
        "reason or payer; informational (memo) amounts apart. " + RANGE
    )
    async def adjustment_summary(
        self,
        info: Info,
        from_: FROM,
        to: TO,
        group_by: AdjustmentGroupBy = AdjustmentGroupBy.CATEGORY,
        as_of: AS_OF_ARG = None,
    ) -> AdjustmentSummary:
        tenant_id = info.context.require(READ).tenant_id
        with refused_as_errors():
            async with info.context.sessions() as session:
                summary = await summaries.adjustment_summary(
                    session,
                    tenant_id,
                    first=from_,
                    last=to,
                    group_by=summaries.AdjustmentGroupBy(group_by.value),
                    as_of=as_of,
                )
        return AdjustmentSummary.of(summary)

    @strawberry.field(description="AR KPIs of a period (formulas on each field). " + RANGE)
    async def ar_kpis(
        self,
        info: Info,
        from_: FROM,
        to: TO,
        as_of: AS_OF_ARG = None,
    ) -> ArKpis:
        tenant_id = info.context.require(READ).tenant_id
        with refused_as_errors():
            async with info.context.sessions() as session:
                figures = await kpis.ar_kpis(session, tenant_id, first=from_, last=to, as_of=as_of)
        return ArKpis.of(figures)
