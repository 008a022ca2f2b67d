"""Submitting a write-off: check its lines, store the command, enqueue it after commit."""

from collections.abc import Awaitable, Callable

from sqlalchemy import select

from domain import command_store
from domain.errors import DomainError, Problem
from domain.models import ChargeLine, Command
from domain.uow import UnitOfWork
from domain.writeoffs import WriteOffRequest

Enqueue = Callable[[int], Awaitable[None]]


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
    command, created = await command_store.submit(
        uow,
        tenant_id=tenant_id,
        actor=actor,
        kind="WRITEOFF",
        idempotency_key=idempotency_key,
        payload=request.to_payload(),
        account_ids=list(owners.values()),
    )
    if created:
        command_id = command.id
        uow.after_commit(lambda: enqueue(command_id))
    return command
