"""Tenant settings as the rules read them."""

from dataclasses import dataclass

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from domain.models import AdjustmentCategory, Tenant


@dataclass(frozen=True)
class Category:
    """An adjustment category of the tenant's picklist, with its CARC resolved."""

    code: str
    name: str
    reduces_balance: bool
    carc_group: str
    carc_reason: str
    active: bool

    @property
    def carc(self) -> str:
        return f"{self.carc_group}-{self.carc_reason}"


@dataclass(frozen=True)
class TenantPolicy:
    """The tenant settings that decide whether a balance change is allowed."""

    tenant_id: int
    small_balance_threshold_cents: int
    blocking_visit_states: frozenset[str]
    writeoff_reasons: tuple[str, ...] = ()
    adjustment_reasons: tuple[str, ...] = ()
    synthetic_carc_group: str = "OA"
    categories: tuple[Category, ...] = ()
    time_zone: str = "UTC"
    remittance_memo_groups: frozenset[str] = frozenset()
    """CAS groups among OA and PI that a remittance posts as memo instead of reducing."""

    def category(self, code: str) -> Category | None:
        """The active category `code`, or None."""
        return next((c for c in self.categories if c.code == code and c.active), None)

    @property
    def active_categories(self) -> list[Category]:
        return [c for c in self.categories if c.active]


async def load_policy(session: AsyncSession, tenant_id: int) -> TenantPolicy:
    """Read the tenant's policy in one round trip (settings change rarely; read without lock)."""
    c = AdjustmentCategory
    categories = (
        select(
            func.coalesce(
                func.jsonb_agg(
                    aggregate_order_by(
                        func.jsonb_build_array(
                            c.code, c.name, c.reduces_balance, c.carc_group, c.carc_reason, c.active
                        ),
                        c.id,
                    )
                ),
                text("'[]'::jsonb"),
            )
        )
        .where(c.tenant_id == Tenant.id)
        .scalar_subquery()
    )
    tenant = (
        await session.execute(
            select(
                Tenant.small_balance_threshold_cents,
                Tenant.blocking_visit_states,
                Tenant.writeoff_reasons,
                Tenant.adjustment_reasons,
                Tenant.synthetic_carc_group,
                Tenant.time_zone,
                categories,
                Tenant.remittance_memo_groups,
            ).where(Tenant.id == tenant_id)
        )
    ).one()
    group = tenant.synthetic_carc_group
    return TenantPolicy(
        tenant_id,
        tenant.small_balance_threshold_cents,
        frozenset(tenant.blocking_visit_states),
        tuple(tenant.writeoff_reasons),
        tuple(tenant.adjustment_reasons),
        group,
        tuple(
            Category(code, name, reduces, carc_group or group, reason, active)
            for code, name, reduces, carc_group, reason, active in tenant[6]
        ),
        tenant.time_zone,
        frozenset(tenant.remittance_memo_groups),
    )
