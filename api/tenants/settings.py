"""Tenant settings over GraphQL: read with billing.read, change with billing.admin (audited)."""

from typing import Self

import strawberry
from graphql import GraphQLError
from sqlalchemy import select

from api.audit.trail import AuditRow
from api.context import Info
from api.enums import CarcGroup, WriteOffReason
from api.pagination import Connection, paginate
from api.scalars import Money
from api.types import UserError, denied, user_errors
from domain import models
from domain.errors import DomainError
from domain.tenants.policy import Category, TenantPolicy
from domain.tenants.settings import CategorySpec, SettingsChange, update_settings
from domain.uow import UnitOfWork


@strawberry.type
class AdjustmentCategory:
    code: str
    name: str
    reduces_balance: bool = strawberry.field(
        description="False for informational categories: posted, balance unchanged."
    )
    carc_group: CarcGroup
    carc_reason: str
    carc: str = strawberry.field(description="Group and reason as written, e.g. OA-45.")
    active: bool

    @classmethod
    def of(cls, c: Category) -> Self:
        return cls(
            code=c.code,
            name=c.name,
            reduces_balance=c.reduces_balance,
            carc_group=CarcGroup(c.carc_group),
            carc_reason=c.carc_reason,
            carc=c.carc,
            active=c.active,
        )


@strawberry.type
class TenantSettings:
    tenant_pk: strawberry.Private[int]
    small_balance_threshold: Money
    write_off_reasons: list[WriteOffReason] = strawberry.field(
        description="The write-off reasons enabled for this tenant."
    )
    blocking_visit_states: list[str]
    adjustment_reasons: list[str]
    synthetic_carc_group: CarcGroup = strawberry.field(
        description="CARC group written for categories that name none (commonly OA)."
    )
    adjustment_categories: list[AdjustmentCategory]
    time_zone: str = strawberry.field(description="Decides 'today' for transaction dates.")

    @classmethod
    def of(cls, policy: TenantPolicy) -> Self:
        return cls(
            tenant_pk=policy.tenant_id,
            small_balance_threshold=policy.small_balance_threshold_cents,
            write_off_reasons=[WriteOffReason(r) for r in policy.writeoff_reasons],
            blocking_visit_states=sorted(policy.blocking_visit_states),
            adjustment_reasons=list(policy.adjustment_reasons),
            synthetic_carc_group=CarcGroup(policy.synthetic_carc_group),
            adjustment_categories=[AdjustmentCategory.of(c) for c in policy.categories],
            time_zone=policy.time_zone,
        )

    @strawberry.field(description="Audited changes to these settings, oldest first.")
    async def history(
        self, info: Info, first: int = 50, after: str | None = None
    ) -> Connection[AuditRow]:
        row = models.AuditRow
        query = select(row).where(row.tenant_id == self.tenant_pk, row.action == "SETTINGS_CHANGED")
        return await paginate(info.context.sessions, query, row.id, first, after, AuditRow.from_row)


@strawberry.input
class AdjustmentCategoryInput:
    code: str
    name: str
    reduces_balance: bool
    carc_reason: str
    carc_group: CarcGroup | None = strawberry.field(
        default=None, description="Null: the tenant's synthetic CARC group."
    )
    active: bool = True


@strawberry.input(description="Only the fields given change; categories are upserted by code.")
class TenantSettingsInput:
    small_balance_threshold: Money | None = None
    write_off_reasons: list[WriteOffReason] | None = strawberry.field(
        default=None, description="The reasons to enable; the others are disabled."
    )
    blocking_visit_states: list[str] | None = None
    adjustment_reasons: list[str] | None = None
    synthetic_carc_group: CarcGroup | None = None
    adjustment_categories: list[AdjustmentCategoryInput] | None = None
    time_zone: str | None = None

    def to_change(self) -> SettingsChange:
        categories = self.adjustment_categories
        return SettingsChange(
            small_balance_threshold=self.small_balance_threshold,
            writeoff_reasons=None
            if self.write_off_reasons is None
            else [r.value for r in self.write_off_reasons],
            blocking_visit_states=self.blocking_visit_states,
            adjustment_reasons=self.adjustment_reasons,
            synthetic_carc_group=_value(self.synthetic_carc_group),
            time_zone=self.time_zone,
            categories=None
            if categories is None
            else [
                CategorySpec(
                    c.code, c.name, c.reduces_balance, c.carc_reason, _value(c.carc_group), c.active
                )
                for c in categories
            ],
        )


def _value(group: CarcGroup | None) -> str | None:
    return None if group is None else group.value


@strawberry.type
class TenantSettingsPayload:
    settings: TenantSettings | None
    user_errors: list[UserError]


@strawberry.type
class SettingsQuery:
    @strawberry.field(description="The caller's tenant settings.")
    async def tenant_settings(self, info: Info) -> TenantSettings:
        info.context.require("billing.read")
        return TenantSettings.of(await info.context.loaders.policy())


@strawberry.type
class SettingsMutation:
    @strawberry.mutation(description="Change tenant settings (scope billing.admin); audited.")
    async def update_tenant_settings(
        self, info: Info, input: TenantSettingsInput
    ) -> TenantSettingsPayload:
        try:
            principal = info.context.require("billing.admin")
        except GraphQLError as error:
            return TenantSettingsPayload(settings=None, user_errors=denied(error))
        try:
            async with UnitOfWork(info.context.sessions) as uow:
                policy = await update_settings(
                    uow,
                    tenant_id=principal.tenant_id,
                    actor=principal.actor,
                    change=input.to_change(),
                )
                await uow.commit()
        except DomainError as error:
            return TenantSettingsPayload(settings=None, user_errors=user_errors(error))
        return TenantSettingsPayload(settings=TenantSettings.of(policy), user_errors=[])
