"""Submitting a write-off: check its lines and reason, store the command, enqueue after commit."""

from sqlalchemy import and_, select

from domain.commands import store as command_store
from domain.commands.store import Enqueue
from domain.errors import DomainError, Problem
from domain.models import ChargeLine, Command, Tenant
from domain.uow import UnitOfWork
from domain.writeoffs.rules import WriteOffRequest


async def submit_writeoff(
    uow: UnitOfWork,
    *,
    tenant_id: int,
    actor: str,
    idempotency_key: str,
    request: WriteOffRequest,
    enqueue: Enqueue,
) -> Command:
    """Store a PENDING write-off command and enqueue it once the transaction commits."""
    enabled, owners = await _reasons_and_owners(uow, tenant_id, request.line_ids)
    missing = [
        Problem(f"lines.{i}.lineId", "LINE_NOT_FOUND", "No such line.")
        for i, line_id in enumerate(request.line_ids)
        if line_id not in owners
    ]
    if missing:
        raise DomainError(*missing)
    payload = request.to_payload()
    if request.reason not in enabled:
        replay = await command_store.find_replay(
            uow,
            tenant_id=tenant_id,
            idempotency_key=idempotency_key,
            kind="WRITEOFF",
            payload=payload,
        )
        if replay is not None:
            return replay
        raise DomainError.of(
            "reason", "REASON_DISABLED", f"The reason '{request.reason}' is not enabled."
        )
    return await command_store.submit_and_enqueue(
        uow,
        tenant_id=tenant_id,
        actor=actor,
        kind="WRITEOFF",
        idempotency_key=idempotency_key,
        payload=payload,
        account_ids=list(owners.values()),
        enqueue=enqueue,
    )


async def _reasons_and_owners(
    uow: UnitOfWork, tenant_id: int, line_ids: list[int]
) -> tuple[list[str], dict[int, int]]:
    """The tenant's enabled write-off reasons and each found line's account, in one statement
    (one round trip fewer on every write-off)."""
    rows = await uow.session.execute(
        select(Tenant.writeoff_reasons, ChargeLine.id, ChargeLine.account_id)
        .select_from(Tenant)
        .outerjoin(
            ChargeLine,
            and_(ChargeLine.tenant_id == Tenant.id, ChargeLine.id.in_(line_ids)),
        )
        .where(Tenant.id == tenant_id)
    )
    enabled: list[str] = []
    owners: dict[int, int] = {}
    for reasons, line_id, account_id in rows:
        enabled = reasons or []
        if line_id is not None:
            owners[line_id] = account_id
    return enabled, owners
