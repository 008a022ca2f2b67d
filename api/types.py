"""GraphQL object types. Each is built from a row; nested data comes through DataLoaders."""

from datetime import date, datetime
from typing import Self

import strawberry
from graphql import GraphQLError

from api.context import Info
from api.ids import encode_id
from api.scalars import Money
from domain import models
from domain.errors import DomainError
from domain.ledger.availability import (
    Blocked,
)


@strawberry.interface
class Node:
    """An object with a Relay-style global id, fetchable with `node(id:)`."""

    id: strawberry.ID


@strawberry.type
class UserError:
    """An expected failure: which input field, a stable code, a message for people."""

    field: str | None
    code: str
    message: str


def user_errors(error: DomainError) -> list[UserError]:
    """A domain refusal as userErrors, one per problem."""
    return [UserError(field=p.field, code=p.code, message=p.message) for p in error.problems]


def denied(error: GraphQLError) -> list[UserError]:
    """An authentication or scope failure as a userError."""
    code = (error.extensions or {}).get("code", "FORBIDDEN")
    return [UserError(field=None, code=str(code), message=error.message)]


@strawberry.type
class BlockedReason:
    """Why an action is unavailable here: a stable code and a sentence for people."""

    code: str
    message: str

    @classmethod
    def of(cls, blocked: Blocked | None) -> "BlockedReason | None":
        return None if blocked is None else cls(code=blocked.code, message=blocked.message)


@strawberry.type
class PayerDefaultCode:
    """The code a new transaction of `type` gets for this payer unless one is entered."""

    type: str
    code: str
    description: str


@strawberry.type
class Payer(Node):
    pk: strawberry.Private[int]
    code: str
    name: str
    address_line1: str
    zip: str

    @classmethod
    def from_row(cls, row: models.Payer) -> Self:
        return cls(
            id=strawberry.ID(encode_id("Payer", row.id)),
            pk=row.id,
            code=row.code,
            name=row.name,
            address_line1=row.address_line1,
            zip=row.zip,
        )

    @strawberry.field(description="Payer configuration: default transaction code per type.")
    async def default_codes(self, info: Info) -> list[PayerDefaultCode]:
        rows = await info.context.loaders.default_codes.load(self.pk)
        return [PayerDefaultCode(type=t, code=c.code, description=c.description) for t, c in rows]


@strawberry.type
class LedgerEntry(Node):
    pk: strawberry.Private[int]
    line_pk: strawberry.Private[int]
    reverses_pk: strawberry.Private[int | None]
    kind: str
    amount: Money = strawberry.field(description="Signed effect on the line's balance.")
    memo_amount: Money | None = strawberry.field(
        description="For an informational entry (amount 0): the amount it records."
    )
    affects_balance: bool
    line_id: strawberry.ID
    reason: str | None
    note: str | None
    category: str | None
    carc_group: str | None
    carc_reason: str | None
    transaction_date: date
    actor: str
    created_at: datetime
    command_id: strawberry.ID | None
    reverses_entry_id: strawberry.ID | None

    @classmethod
    def from_row(cls, row: models.LedgerEntry) -> Self:
        return cls(
            id=strawberry.ID(encode_id("LedgerEntry", row.id)),
            pk=row.id,
            line_pk=row.line_id,
            reverses_pk=row.reverses_entry_id,
            kind=row.kind,
            amount=row.amount_cents,
            memo_amount=row.memo_amount_cents,
            affects_balance=row.amount_cents != 0,
            line_id=strawberry.ID(encode_id("ChargeLine", row.line_id)),
            reason=row.reason,
            note=row.note,
            category=row.category,
            carc_group=row.carc_group,
            carc_reason=row.carc_reason,
            transaction_date=row.transaction_date,
            actor=row.actor,
            created_at=row.created_at,
            command_id=_gid("Command", row.command_id),
            reverses_entry_id=_gid("LedgerEntry", row.reverses_entry_id),
        )

    @strawberry.field(description="The entry this one reverses, if it is a reversal.")
    async def reverses(self, info: Info) -> "LedgerEntry | None":
        if self.reverses_pk is None:
            return None
        row = await info.context.loaders.entry.load(self.reverses_pk)
        return None if row is None else LedgerEntry.from_row(row)

    @strawberry.field(description="The reversal of this entry, if it has been reversed.")
    async def reversed_by(self, info: Info) -> "LedgerEntry | None":
        row = await info.context.loaders.reversal_of.load(self.pk)
        return None if row is None else LedgerEntry.from_row(row)

    @strawberry.field(description="Entries posted on the same line after this one.")
    async def changes_since(self, info: Info) -> list["LedgerEntry"]:
        rows = await info.context.loaders.entries_by_line.load(self.line_pk)
        return [LedgerEntry.from_row(r) for r in rows if r.id > self.pk]


def _gid(type_name: str, pk: int | None) -> strawberry.ID | None:
    return None if pk is None else strawberry.ID(encode_id(type_name, pk))


@strawberry.type
class Command(Node):
    kind: str
    status: str
    error_code: str | None
    error_message: str | None
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def from_row(cls, row: models.Command) -> Self:
        return cls(
            id=strawberry.ID(encode_id("Command", row.id)),
            kind=row.kind,
            status=row.status,
            error_code=row.error_code,
            error_message=row.error_message,
            created_at=row.created_at,
            finished_at=row.finished_at,
        )


@strawberry.type
class CommandPayload:
    """The stored command (PENDING until a worker applies it), or why nothing was stored."""

    command: Command | None
    user_errors: list[UserError]
