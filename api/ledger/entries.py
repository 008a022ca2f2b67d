"""Ledger entries and why an action is blocked."""

from datetime import date, datetime
from typing import Self

import strawberry

from api.context import Info
from api.enums import LedgerEntryKind
from api.ids import encode_id, encode_optional_id
from api.scalars import Money
from api.types import Node
from domain import models
from domain.ledger.availability import (
    Blocked,
)


@strawberry.type
class BlockedReason:
    """Why an action is unavailable here: a stable code and a sentence for people."""

    code: str
    message: str

    @classmethod
    def of(cls, blocked: Blocked | None) -> "BlockedReason | None":
        return None if blocked is None else cls(code=blocked.code, message=blocked.message)


@strawberry.type
class LedgerEntry(Node):
    pk: strawberry.Private[int]
    line_pk: strawberry.Private[int]
    reverses_pk: strawberry.Private[int | None]
    kind: LedgerEntryKind
    amount: Money = strawberry.field(description="Signed effect on the line's balance.")
    memo_amount: Money | None = strawberry.field(
        description="For an informational entry (amount 0): the amount it records."
    )
    affects_balance: bool
    line_id: strawberry.ID
    reason: str | None = strawberry.field(
        description="A write-off reason (stored form, e.g. small-balance), an adjustment reason, "
        "or a reversal's or void's reason."
    )
    note: str | None
    category: str | None
    carc_group: str | None = strawberry.field(
        description="The CARC group written: CO, OA, PI or PR (see CarcGroup), or, from a 4010 "
        "remittance, CR. A string, since remittances may carry groups outside CarcGroup."
    )
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
            kind=LedgerEntryKind(row.kind),
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
            command_id=encode_optional_id("Command", row.command_id),
            reverses_entry_id=encode_optional_id("LedgerEntry", row.reverses_entry_id),
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
