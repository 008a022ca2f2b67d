"""GraphQL object types. Each is built from a row; nested data comes through DataLoaders."""

from datetime import date, datetime
from typing import Any, Self

import strawberry

from api.context import Info
from api.ids import encode_id
from api.scalars import Money
from domain import models


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


@strawberry.type
class Payer(Node):
    code: str
    name: str
    address_line1: str
    zip: str

    @classmethod
    def from_row(cls, row: models.Payer) -> Self:
        return cls(
            id=strawberry.ID(encode_id("Payer", row.id)),
            code=row.code,
            name=row.name,
            address_line1=row.address_line1,
            zip=row.zip,
        )


@strawberry.type
class LedgerEntry(Node):
    kind: str
    amount: Money = strawberry.field(description="Signed effect on the line's balance.")
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
            kind=row.kind,
            amount=row.amount_cents,
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


def _gid(type_name: str, pk: int | None) -> strawberry.ID | None:
    return None if pk is None else strawberry.ID(encode_id(type_name, pk))


@strawberry.type
class ChargeLine(Node):
    pk: strawberry.Private[int]
    line_number: int
    procedure_code: str
    units: int
    billed: Money
    contract_fee: Money | None
    protected: bool
    balance: Money

    @classmethod
    def from_row(cls, row: models.ChargeLine) -> Self:
        return cls(
            id=strawberry.ID(encode_id("ChargeLine", row.id)),
            pk=row.id,
            line_number=row.line_number,
            procedure_code=row.procedure_code,
            units=row.units,
            billed=row.billed_cents,
            contract_fee=row.contract_fee_cents,
            protected=row.protected,
            balance=row.balance_cents,
        )

    @strawberry.field(description="Every ledger entry on this line, oldest first.")
    async def ledger_entries(self, info: Info) -> list[LedgerEntry]:
        rows = await info.context.loaders.entries_by_line.load(self.pk)
        return [LedgerEntry.from_row(r) for r in rows]


@strawberry.type
class Visit(Node):
    pk: strawberry.Private[int]
    payer_pk: strawberry.Private[int]
    visit_number: int
    claim_number: str
    date_of_service: date
    state: str
    billed: Money
    contract_fee: Money | None
    balance: Money

    @classmethod
    def from_row(cls, row: models.Visit) -> Self:
        return cls(
            id=strawberry.ID(encode_id("Visit", row.id)),
            pk=row.id,
            payer_pk=row.payer_id,
            visit_number=row.visit_number,
            claim_number=row.claim_number,
            date_of_service=row.date_of_service,
            state=row.state,
            billed=row.billed_cents,
            contract_fee=row.contract_fee_cents,
            balance=row.balance_cents,
        )

    @strawberry.field
    async def payer(self, info: Info) -> Payer:
        return Payer.from_row(await info.context.loaders.payer.load(self.payer_pk))

    @strawberry.field
    async def charge_lines(self, info: Info) -> list[ChargeLine]:
        rows = await info.context.loaders.lines_by_visit.load(self.pk)
        return [ChargeLine.from_row(r) for r in rows]


@strawberry.type
class Account(Node):
    pk: strawberry.Private[int]
    account_number: str
    name: str
    balance: Money
    version: int = strawberry.field(description="Rises by one with every committed change.")

    @classmethod
    def from_row(cls, row: models.Account) -> Self:
        return cls(
            id=strawberry.ID(encode_id("Account", row.id)),
            pk=row.id,
            account_number=row.account_number,
            name=row.name,
            balance=row.balance_cents,
            version=row.version,
        )

    @strawberry.field(description="Visits, newest first.")
    async def visits(self, info: Info) -> list[Visit]:
        rows = await info.context.loaders.visits_by_account.load(self.pk)
        return [Visit.from_row(r) for r in rows]


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


NODE_TYPES: dict[str, tuple[Any, Any]] = {
    "Account": (models.Account, Account),
    "Visit": (models.Visit, Visit),
    "ChargeLine": (models.ChargeLine, ChargeLine),
    "Payer": (models.Payer, Payer),
    "LedgerEntry": (models.LedgerEntry, LedgerEntry),
    "Command": (models.Command, Command),
}
