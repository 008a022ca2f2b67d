"""Adjustment and reversal mutations: parse, authorise, call one domain function, map errors."""

import strawberry
from graphql import GraphQLError

from api.context import Info
from api.ids import decode_any, decode_id
from api.scalars import Money
from api.types import Command, LedgerEntry, UserError, denied, user_errors
from domain.adjustments import service as adjustment_service
from domain.adjustments.rules import TargetKind
from domain.errors import DomainError
from domain.ledger.availability import ADJUSTMENT_SCOPE, WRITE_OFF_SCOPE
from domain.reversals import service as reversal_service
from domain.uow import UnitOfWork

TARGETS: dict[str, TargetKind] = {"Visit": "VISIT", "ChargeLine": "LINE"}


@strawberry.input
class ApplyAdjustmentInput:
    idempotency_key: str
    target: strawberry.ID = strawberry.field(description="A Visit (claim) or ChargeLine id.")
    category: str = strawberry.field(description="A code from the tenant's adjustment picklist.")
    reason: str = strawberry.field(
        description="contracted-rate-correction, dual-eligible-coverage-correction, "
        "payer-error-corrected, or one the tenant added."
    )
    amount: Money
    note: str | None = None


@strawberry.type
class AdjustmentPayload:
    """The stored command and what it will do once applied."""

    command: Command | None
    reduces_balance: bool | None = strawberry.field(
        description="False when the category is informational: posted, balance unchanged."
    )
    carc: str | None = strawberry.field(description="The CARC written, e.g. OA-45.")
    user_errors: list[UserError]


@strawberry.input
class ReverseEntryInput:
    idempotency_key: str
    entry_id: strawberry.ID
    reason: str


@strawberry.type
class ReversalPayload:
    """The stored reversal, the entry it reverses, and what else changed the line since."""

    command: Command | None
    original: LedgerEntry | None
    changes_since: list[LedgerEntry] = strawberry.field(
        description="Entries posted on the line after the original: why the balance after the "
        "reversal may differ from the one before the original."
    )
    user_errors: list[UserError]


def _target(global_id: str) -> tuple[TargetKind, int] | None:
    decoded = decode_any(global_id)
    if decoded is None or decoded[0] not in TARGETS:
        return None
    return TARGETS[decoded[0]], decoded[1]


@strawberry.type
class LedgerMutation:
    @strawberry.mutation(description="Apply a manual adjustment (scope billing.adjustment.write).")
    async def apply_adjustment(self, info: Info, input: ApplyAdjustmentInput) -> AdjustmentPayload:
        try:
            principal = info.context.require(ADJUSTMENT_SCOPE)
        except GraphQLError as error:
            return AdjustmentPayload(
                command=None, reduces_balance=None, carc=None, user_errors=denied(error)
            )
        services = info.context.services
        try:
            async with UnitOfWork(info.context.sessions) as uow:
                command, request = await adjustment_service.submit_adjustment(
                    uow,
                    tenant_id=principal.tenant_id,
                    actor=principal.actor,
                    idempotency_key=input.idempotency_key,
                    target=_target(input.target),
                    category=input.category,
                    reason=input.reason,
                    amount=input.amount,
                    note=input.note,
                    enqueue=services.enqueuer.apply_command,
                )
                await uow.commit()
        except DomainError as error:
            return AdjustmentPayload(
                command=None, reduces_balance=None, carc=None, user_errors=user_errors(error)
            )
        return AdjustmentPayload(
            command=Command.from_row(command),
            reduces_balance=request.reduces_balance,
            carc=f"{request.carc_group}-{request.carc_reason}",
            user_errors=[],
        )

    @strawberry.mutation(
        description="Reverse a ledger entry with a reason (the scope that posting its kind needs)."
    )
    async def reverse_entry(self, info: Info, input: ReverseEntryInput) -> ReversalPayload:
        try:
            principal = info.context.require_any(WRITE_OFF_SCOPE, ADJUSTMENT_SCOPE)
        except GraphQLError as error:
            return ReversalPayload(
                command=None, original=None, changes_since=[], user_errors=denied(error)
            )
        services = info.context.services
        try:
            async with UnitOfWork(info.context.sessions) as uow:
                submitted = await reversal_service.submit_reversal(
                    uow,
                    tenant_id=principal.tenant_id,
                    actor=principal.actor,
                    scopes=principal.scopes,
                    idempotency_key=input.idempotency_key,
                    entry_id=decode_id(input.entry_id, "LedgerEntry"),
                    reason=input.reason,
                    enqueue=services.enqueuer.apply_command,
                )
                await uow.commit()
        except DomainError as error:
            return ReversalPayload(
                command=None, original=None, changes_since=[], user_errors=user_errors(error)
            )
        return ReversalPayload(
            command=Command.from_row(submitted.command),
            original=LedgerEntry.from_row(submitted.original),
            changes_since=[LedgerEntry.from_row(e) for e in submitted.changes_since],
            user_errors=[],
        )
