"""Changing the tenant's aging buckets (scope billing.admin; audited as a settings change)."""

import strawberry
from graphql import GraphQLError

from api.context import Info
from api.reports.types import AgingBucket
from api.types import UserError, denied, user_errors
from domain.errors import DomainError
from domain.reports.buckets import buckets_of
from domain.reports.settings import set_aging_bucket_edges

ADMIN = "billing.admin"


@strawberry.type
class AgingBucketsPayload:
    edges: list[int] | None = strawberry.field(description="The tenant's edges now in force.")
    buckets: list[AgingBucket] | None = strawberry.field(description="The buckets they make.")
    user_errors: list[UserError]


@strawberry.type
class ReportMutation:
    @strawberry.mutation(
        description="Set the tenant's aging bucket edges (scope billing.admin), e.g. [30, 60, "
        "90, 120] for 0-30, 31-60, 61-90, 91-120, 121+: 1 to 12 whole days, strictly "
        "ascending. Audited (tenantSettings.history)."
    )
    async def set_aging_bucket_edges(self, info: Info, edges: list[int]) -> AgingBucketsPayload:
        try:
            principal = info.context.require(ADMIN)
        except GraphQLError as error:
            return AgingBucketsPayload(edges=None, buckets=None, user_errors=denied(error))
        try:
            async with info.context.uow() as uow:
                saved = await set_aging_bucket_edges(
                    uow, tenant_id=principal.tenant_id, actor=principal.actor, edges=edges
                )
                await uow.commit()
        except DomainError as error:
            return AgingBucketsPayload(edges=None, buckets=None, user_errors=user_errors(error))
        return AgingBucketsPayload(
            edges=list(saved),
            buckets=[AgingBucket.of(b) for b in buckets_of(saved)],
            user_errors=[],
        )
