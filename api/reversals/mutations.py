"""The reverseEntry mutation: parse, authorise, call one domain function, map errors."""

import strawberry
from graphql import GraphQLError

from api.commands.types import Command
from api.context import Info
from api.ids import decode_id
from api.ledger.entries import LedgerEntry
from api.types import UserError, denied, user_errors
from domain.errors import DomainError
from domain.ledger.availability import ADJUSTMENT_SCOPE, WRITE_OFF_SCOPE
from domain.reversals import service as reversal_service
from domain.uow import UnitOfWork


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


@strawberry.type
class ReversalMutation:
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
