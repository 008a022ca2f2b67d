"""Tenant settings as the rules read them."""

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.models import Tenant


@dataclass(frozen=True)
class TenantPolicy:
    """The tenant settings that decide whether a balance change is allowed."""

    tenant_id: int
    small_balance_threshold_cents: int
    blocking_visit_states: frozenset[str]


async def load_policy(session: AsyncSession, tenant_id: int) -> TenantPolicy:
    """Read the tenant's policy (settings change rarely; read without locking)."""
    row = (
        await session.execute(
            select(Tenant.small_balance_threshold_cents, Tenant.blocking_visit_states).where(
                Tenant.id == tenant_id
            )
        )
    ).one()
    return TenantPolicy(tenant_id, row[0], frozenset(row[1]))
