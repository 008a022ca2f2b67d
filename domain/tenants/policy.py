"""Tenant settings as the rules read them."""

import json
from dataclasses import dataclass

from sqlalchemy.exc import NoResultFound
from sqlalchemy.ext.asyncio import AsyncSession

from domain.db import driver_connection


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


_POLICY = """SELECT t.small_balance_threshold_cents, t.blocking_visit_states, t.writeoff_reasons,
    t.adjustment_reasons, t.synthetic_carc_group, t.time_zone,
    (SELECT COALESCE(jsonb_agg(jsonb_build_array(c.code, c.name, c.reduces_balance,
        c.carc_group, c.carc_reason, c.active) ORDER BY c.id), '[]'::jsonb)::text
     FROM adjustment_categories c WHERE c.tenant_id = t.id),
    t.remittance_memo_groups
FROM tenants t WHERE t.id = $1"""


async def load_policy(session: AsyncSession, tenant_id: int) -> TenantPolicy:
    """Read the tenant's policy in one round trip (settings change rarely; read without lock):
    one fixed statement on the driver, since every batch the worker applies reads it."""
    tenant = await (await driver_connection(session)).fetchrow(_POLICY, tenant_id)
    if tenant is None:
        raise NoResultFound(f"no tenant {tenant_id}")
    threshold, blocking, writeoff, adjustment, group, time_zone, categories, memo = tenant
    return TenantPolicy(
        tenant_id,
        threshold,
        frozenset(blocking),
        tuple(writeoff),
        tuple(adjustment),
        group,
        tuple(
            Category(code, name, reduces, carc_group or group, reason, active)
            for code, name, reduces, carc_group, reason, active in json.loads(categories)
        ),
        time_zone,
        frozenset(memo),
    )
