"""Submitting a manual adjustment: resolve the target, check the picklists, store, enqueue."""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.adjustments.rules import AdjustmentRequest, TargetKind, parse_adjustment
from domain.commands import store as command_store
from domain.commands.store import Enqueue
from domain.errors import InvalidMoney
from domain.models import ChargeLine, Command
from domain.money import parse_money
from domain.tenants.policy import load_policy
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
    """Store a PENDING adjustment; returns it with what it will do (reduce or inform, CARC).

    A retry under the same key gets the stored command even when the tenant's picklist or
    CARC policy changed since: the key is matched against what the client asked.
    """
    asked = _asked(target, category, reason, amount, note)
    replay = await command_store.find_replay(
        uow, tenant_id=tenant_id, idempotency_key=idempotency_key, kind="ADJUSTMENT", payload=asked
    )
    if replay is not None:
        return replay, AdjustmentRequest.from_payload(replay.payload)
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
        asked=asked,
    )
    return command, AdjustmentRequest.from_payload(command.payload)


def _asked(
    target: tuple[TargetKind, int] | None,
    category: str,
    reason: str,
    amount: str,
    note: str | None,
) -> dict[str, Any]:
    """The client's request, normalised (`50` and `50.00` are the same amount)."""
    try:
        cents: int | str = parse_money(amount)
    except InvalidMoney:
        cents = amount
    return {
        "target": None if target is None else list(target),
        "category": category,
        "reason": reason,
        "amount": cents,
        "note": (note or "").strip() or None,
    }


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
