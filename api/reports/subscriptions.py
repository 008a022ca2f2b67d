"""The `arDashboard` subscription: a thin resolver over the process's `DashboardHub`, which
computes each (tenant, filter) once, coalesces, and hands every subscriber the same push."""

from collections.abc import AsyncGenerator

import strawberry

from api.auth import READ
from api.context import Info
from api.reports.dashboard import ArDashboard, DashboardFilter
from api.reports.dashboard_hub import hub_for
from api.reports.types import refused_as_errors


@strawberry.type
class DashboardSubscription:
    @strawberry.subscription(
        description="The AR dashboard: a snapshot, then an update after committed changes, "
        "computed once per tenant and filter and coalesced to at most one push per 250 ms; "
        "a slow client skips to the latest push (seq shows the skip)."
    )
    async def ar_dashboard(
        self, info: Info, filter: DashboardFilter | None = None
    ) -> AsyncGenerator[ArDashboard, None]:
        tenant_id = info.context.require(READ).tenant_id
        wanted = (filter or DashboardFilter()).to_domain()
        with refused_as_errors():
            wanted.validate()
        hub = hub_for(info.context.services)
        async with hub.subscribe(tenant_id, wanted) as pushes:
            async for push in pushes:
                yield push
