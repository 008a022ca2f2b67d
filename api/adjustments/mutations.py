"""The applyAdjustment mutation: parse, authorise, call one domain function, map errors."""

import strawberry
from graphql import GraphQLError

from api.commands.types import Command
from api.context import Info
from api.ids import decode_any
from api.scalars import Money
from api.types import UserError, denied, user_errors
from domain.adjustments import service as adjustment_service
from domain.adjustments.rules import TargetKind
from domain.errors import DomainError
from domain.ledger.availability import ADJUSTMENT_SCOPE
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


def _target(global_id: str) -> tuple[TargetKind, int] | None:
    decoded = decode_any(global_id)
    if decoded is None or decoded[0] not in TARGETS:
        return None
    return TARGETS[decoded[0]], decoded[1]


@strawberry.type
class AdjustmentMutation:
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
