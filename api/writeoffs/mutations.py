"""Mutations. Each parses, authorises, calls one domain function and maps its errors."""

import strawberry
from graphql import GraphQLError

from api.commands.types import Command, CommandPayload
from api.context import Info
from api.enums import WriteOffReason
from api.ids import decode_id
from api.scalars import Money
from api.types import denied, user_errors
from domain.errors import DomainError
from domain.writeoffs import service as writeoff_service
from domain.writeoffs.rules import parse_writeoff


@strawberry.input
class WriteOffLineInput:
    line_id: strawberry.ID
    amount: Money


@strawberry.input
class WriteOffInput:
    idempotency_key: str = strawberry.field(
        description="Client-chosen key; the same key returns the same command."
    )
    lines: list[WriteOffLineInput]
    reason: WriteOffReason = strawberry.field(
        description="Must be enabled for the tenant; OTHER needs a note."
    )
    note: str | None = None


@strawberry.type
class WriteOffMutation:
    @strawberry.mutation(description="Write off line balances (scope billing.payment.write).")
    async def write_off(self, info: Info, input: WriteOffInput) -> CommandPayload:
        try:
            principal = info.context.require("billing.payment.write")
        except GraphQLError as error:
            return CommandPayload(command=None, user_errors=denied(error))
        services = info.context.services
        try:
            request = parse_writeoff(
                [(decode_id(line.line_id, "ChargeLine"), line.amount) for line in input.lines],
                input.reason.value,
                input.note,
            )
            async with info.context.direct_uow() as uow:
                command = await writeoff_service.submit_writeoff(
                    uow,
                    tenant_id=principal.tenant_id,
                    actor=principal.actor,
                    idempotency_key=input.idempotency_key,
                    request=request,
                    enqueue=services.enqueuer.apply_command,
                )
                await uow.commit()
        except DomainError as error:
            return CommandPayload(command=None, user_errors=user_errors(error))
        return CommandPayload(command=Command.from_row(command), user_errors=[])
