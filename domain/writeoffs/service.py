"""Submitting a write-off: check its lines and reason, store the command, enqueue after commit."""

from sqlalchemy import select

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
    rows = await uow.session.execute(
        select(ChargeLine.id, ChargeLine.account_id).where(
            ChargeLine.id.in_(request.line_ids), ChargeLine.tenant_id == tenant_id
        )
    )
    owners: dict[int, int] = {line_id: account_id for line_id, account_id in rows}
    missing = [
        Problem(f"lines.{i}.lineId", "LINE_NOT_FOUND", "No such line.")
        for i, line_id in enumerate(request.line_ids)
        if line_id not in owners
    ]
    if missing:
        raise DomainError(*missing)
    payload = request.to_payload()
    enabled = await uow.session.scalar(
        select(Tenant.writeoff_reasons).where(Tenant.id == tenant_id)
    )
    if request.reason not in (enabled or []):
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
