"""Submitting a manual adjustment: resolve the target, check the picklists, store, enqueue."""

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain import command_store
from domain.adjustments import AdjustmentRequest, TargetKind, parse_adjustment
from domain.command_store import Enqueue
from domain.models import ChargeLine, Command
from domain.policy import load_policy
from domain.uow import UnitOfWork


@dataclass(frozen=True)
class Target:
    kind: TargetKind
    id: int
    account_id: int
    line_ids: tuple[int, ...]


async def submit_adjustment(
    uow: UnitOfWork,
    *,
    tenant_id: int,
    actor: str,
    idempotency_key: str,
    target: tuple[TargetKind, int] | None,
    category: str,
    reason: str,
    amount: str,
    note: str | None,
    enqueue: Enqueue,
) -> tuple[Command, AdjustmentRequest]:
    """Store a PENDING adjustment; returns it with what it will do (reduce or inform, CARC)."""
    policy = await load_policy(uow.session, tenant_id)
    resolved = None if target is None else await _resolve(uow.session, tenant_id, *target)
    request = parse_adjustment(
        policy,
        target=None if resolved is None else (resolved.kind, resolved.id, resolved.line_ids),
        category=category,
        reason=reason,
        amount=amount,
        note=note,
    )
    assert resolved is not None
    command = await command_store.submit_and_enqueue(
        uow,
        tenant_id=tenant_id,
        actor=actor,
        kind="ADJUSTMENT",
        idempotency_key=idempotency_key,
        payload=request.to_payload(),
        account_ids=[resolved.account_id],
        enqueue=enqueue,
    )
    return command, AdjustmentRequest.from_payload(command.payload)


async def _resolve(
    session: AsyncSession, tenant_id: int, kind: TargetKind, target_id: int
) -> Target | None:
    """The target's account and the lines an adjustment on it may touch, or None."""
    column = ChargeLine.visit_id if kind == "VISIT" else ChargeLine.id
    rows = (
        await session.execute(
            select(ChargeLine.id, ChargeLine.account_id)
            .where(column == target_id, ChargeLine.tenant_id == tenant_id)
            .order_by(ChargeLine.line_number, ChargeLine.id)
        )
    ).all()
    if not rows:
        return None
    return Target(kind, target_id, rows[0].account_id, tuple(r.id for r in rows))
