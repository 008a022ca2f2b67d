"""The tenant's aging buckets: changed under the tenant row's lock, audited like every setting
(one SETTINGS_CHANGED row with the edges before and after, shown in the settings history)."""

from sqlalchemy import select, update

from domain.locks import lock_tenant
from domain.models import AuditRow, Tenant
from domain.reports.buckets import validate_edges
from domain.uow import UnitOfWork

SETTING = "agingBucketEdges"


async def set_aging_bucket_edges(
    uow: UnitOfWork, *, tenant_id: int, actor: str, edges: list[int]
) -> tuple[int, ...]:
    """Make `edges` the tenant's aging bucket edges (validated first); returns them. No change,
    no audit row."""
    wanted = validate_edges(edges, field="edges")
    session = uow.session
    await lock_tenant(session, tenant_id)
    before = tuple(
        await session.scalar(select(Tenant.aging_bucket_edges).where(Tenant.id == tenant_id)) or ()
    )
    if wanted != before:
        await session.execute(
            update(Tenant).where(Tenant.id == tenant_id).values(aging_bucket_edges=list(wanted))
        )
        session.add(
            AuditRow(
                tenant_id=tenant_id,
                actor=actor,
                action="SETTINGS_CHANGED",
                reason=SETTING,
                details={"before": {SETTING: list(before)}, "after": {SETTING: list(wanted)}},
            )
        )
        await session.flush()
    return wanted
