"""Practice-management transaction types: the transaction, its applications, codes."""

from datetime import date, datetime
from typing import Self

import strawberry
from sqlalchemy import select

from api.commands.types import Command
from api.context import Info
from api.enums import TransactionStatus, TransactionType
from api.ids import encode_id
from api.ledger.entries import LedgerEntry
from api.scalars import Money
from api.transactions.payers import Payer
from api.types import Node, UserError
from domain import models


@strawberry.type
class TransactionCode(Node):
    code: str
    type: TransactionType
    description: str

    @classmethod
    def from_row(cls, row: models.TransactionCode) -> Self:
        return cls(
            id=strawberry.ID(encode_id("TransactionCode", row.id)),
            code=row.code,
            type=TransactionType(row.type),
            description=row.description,
        )


@strawberry.type
class TransactionApplication:
    id: strawberry.ID
    visit_pk: strawberry.Private[int]
    account_pk: strawberry.Private[int]
    amount: Money
    contractual_amount: Money | None = strawberry.field(
        description="A payment's contractual write-off on this visit (posted as CW)."
    )

    @classmethod
    def from_row(cls, row: models.TransactionApplication) -> Self:
        return cls(
            id=strawberry.ID(encode_id("TransactionApplication", row.id)),
            visit_pk=row.visit_id,
            account_pk=row.account_id,
            amount=row.amount_cents,
            contractual_amount=row.contractual_cents,
        )

    @strawberry.field
    async def account_number(self, info: Info) -> str:
        account = await info.context.loaders.account.load(self.account_pk)
        return str(account.account_number)

    @strawberry.field
    async def visit_number(self, info: Info) -> int:
        return int((await info.context.loaders.visit.load(self.visit_pk)).visit_number)

    @strawberry.field
    def visit_id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("Visit", self.visit_pk))

    @strawberry.field(description="The visit's current balance (read only).")
    async def visit_balance(self, info: Info) -> Money:
        return (await info.context.loaders.visit.load(self.visit_pk)).balance_cents


@strawberry.type
class Transaction(Node):
    pk: strawberry.Private[int]
    payer_pk: strawberry.Private[int]
    code_pk: strawberry.Private[int]
    post_command_pk: strawberry.Private[int | None]
    void_command_pk: strawberry.Private[int | None]
    type: TransactionType
    transaction_date: date
    amount: Money
    status: TransactionStatus
    last_error_code: str | None
    last_error_message: str | None
    void_reason: str | None
    created_by: str
    created_at: datetime
    posted_at: datetime | None
    voided_at: datetime | None

    @classmethod
    def from_row(cls, row: models.Transaction) -> Self:
        return cls(
            id=strawberry.ID(encode_id("Transaction", row.id)),
            pk=row.id,
            payer_pk=row.payer_id,
            code_pk=row.transaction_code_id,
            post_command_pk=row.post_command_id,
            void_command_pk=row.void_command_id,
            type=TransactionType(row.type),
            transaction_date=row.transaction_date,
            amount=row.amount_cents,
            status=TransactionStatus(row.status),
            last_error_code=row.last_error_code,
            last_error_message=row.last_error_message,
            void_reason=row.void_reason,
            created_by=row.created_by,
            created_at=row.created_at,
            posted_at=row.posted_at,
            voided_at=row.voided_at,
        )

    @strawberry.field
    async def payer(self, info: Info) -> Payer:
        return Payer.from_row(await info.context.loaders.payer.load(self.payer_pk))

    @strawberry.field
    async def code(self, info: Info) -> TransactionCode:
        return TransactionCode.from_row(await info.context.loaders.code.load(self.code_pk))

    @strawberry.field
    async def applications(self, info: Info) -> list[TransactionApplication]:
        rows = await info.context.loaders.applications_by_transaction.load(self.pk)
        return [TransactionApplication.from_row(r) for r in rows]

    @strawberry.field(description="Sum of the applications' amounts.")
    async def applied_amount(self, info: Info) -> Money:
        rows = await info.context.loaders.applications_by_transaction.load(self.pk)
        return sum(r.amount_cents for r in rows)

    @strawberry.field(description="Amount minus applied: must be 0.00 before posting.")
    async def unapplied_amount(self, info: Info) -> Money:
        rows = await info.context.loaders.applications_by_transaction.load(self.pk)
        return int(self.amount) - sum(r.amount_cents for r in rows)

    @strawberry.field(description="Entries the posting wrote, and the reversals a void wrote.")
    async def entries(self, info: Info) -> list[LedgerEntry]:
        rows = await info.context.loaders.entries_by_transaction.load(self.pk)
        return [LedgerEntry.from_row(r) for r in rows]

    @strawberry.field
    async def post_command(self, info: Info) -> Command | None:
        return await _command(info, self.post_command_pk)

    @strawberry.field
    async def void_command(self, info: Info) -> Command | None:
        return await _command(info, self.void_command_pk)


async def _command(info: Info, pk: int | None) -> Command | None:
    if pk is None:
        return None
    async with info.context.sessions() as session:
        row = await session.scalar(select(models.Command).where(models.Command.id == pk))
    return None if row is None else Command.from_row(row)


@strawberry.type
class TransactionPayload:
    transaction: Transaction | None
    user_errors: list[UserError]
