"""Account, visit and charge-line types: balances, their ledgers and why actions are blocked."""

from datetime import date
from typing import Any, Self

import strawberry
from strawberry.types.lazy_type import LazyType

from api.context import Info
from api.ids import encode_id
from api.ledger.entries import BlockedReason, LedgerEntry
from api.scalars import Money
from api.transactions.payers import Payer
from api.types import Node
from domain import models
from domain.ledger.availability import (
    ADJUSTMENT_SCOPE,
    WRITE_OFF_SCOPE,
    adjustment_blocked,
    line_writeoff_blocked,
    missing_scope,
    visit_writeoff_blocked,
)
from domain.reports.classification import ADJUSTMENT_KINDS, WRITE_OFF_KINDS, reduction
from domain.transactions.posting import contractual_applied
from domain.transactions.rules import contractual_default


@strawberry.type
class ChargeLine(Node):
    pk: strawberry.Private[int]
    visit_pk: strawberry.Private[int]
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
            visit_pk=row.visit_id,
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

    @strawberry.field(description="Why the caller cannot write this line off; null if they can.")
    async def write_off_blocked_reason(self, info: Info) -> BlockedReason | None:
        visit = await info.context.loaders.visit.load(self.visit_pk)
        return BlockedReason.of(
            missing_scope(WRITE_OFF_SCOPE, info.context.scopes)
            or line_writeoff_blocked(
                await info.context.loaders.policy(),
                protected=self.protected,
                visit_state=visit.state,
                balance_cents=self.balance,
            )
        )

    @strawberry.field(description="Why the caller cannot adjust this line now; null if they can.")
    async def adjustment_blocked_reason(self, info: Info) -> BlockedReason | None:
        return BlockedReason.of(
            missing_scope(ADJUSTMENT_SCOPE, info.context.scopes)
            or adjustment_blocked(await info.context.loaders.policy(), balance_cents=self.balance)
        )


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

    @strawberry.field(
        description="The remittance claims (835 CLP loops) that matched this visit, newest first.",
        # A lazy type and late imports: the remittance types import this module, not back.
        graphql_type=list[LazyType("RemittanceClaim", "api.remittances.types")],  # type: ignore[misc]
    )
    async def remittances(self, info: Info) -> list[Any]:
        from api.remittances.loaders import remittance_loaders
        from api.remittances.types import RemittanceClaim

        rows = await remittance_loaders(info).claims_by_visit.load(self.pk)
        return [RemittanceClaim.from_row(r) for r in rows]

    @strawberry.field(description="The claim's remittance-adjustment ledger, oldest first.")
    async def adjustments(self, info: Info) -> list[LedgerEntry]:
        rows = await info.context.loaders.entries_by_visit.load(self.pk)
        return [LedgerEntry.from_row(r) for r in rows if r.kind in ADJUSTMENT_KINDS]

    @strawberry.field(description="Write-offs on this visit's lines, oldest first.")
    async def write_offs(self, info: Info) -> list[LedgerEntry]:
        rows = await info.context.loaders.entries_by_visit.load(self.pk)
        return [LedgerEntry.from_row(r) for r in rows if r.kind in WRITE_OFF_KINDS]

    @strawberry.field(
        description="Contractual write-off due: billed - contract fee - contractual write-offs "
        "already applied; 0.00 when written off in full or there is no contract fee."
    )
    async def contractual_write_off_default(self, info: Info) -> Money:
        async with info.context.sessions() as session:
            applied = await contractual_applied(session, self.pk)
        return contractual_default(int(self.billed), self.contract_fee, applied)

    @strawberry.field(description="Net amount written off (write-offs less their reversals).")
    async def write_off_total(self, info: Info) -> Money:
        return reduction(await info.context.loaders.totals_by_visit.load(self.pk), WRITE_OFF_KINDS)

    @strawberry.field(description="Net amount adjusted (adjustments less their reversals).")
    async def adjustment_total(self, info: Info) -> Money:
        totals = await info.context.loaders.totals_by_visit.load(self.pk)
        return reduction(totals, ADJUSTMENT_KINDS)

    @strawberry.field(description="Why the caller cannot write off here; null if they can.")
    async def write_off_blocked_reason(self, info: Info) -> BlockedReason | None:
        lines = await info.context.loaders.lines_by_visit.load(self.pk)
        return BlockedReason.of(
            missing_scope(WRITE_OFF_SCOPE, info.context.scopes)
            or visit_writeoff_blocked(
                await info.context.loaders.policy(),
                state=self.state,
                lines=[(line.protected, line.balance_cents) for line in lines],
            )
        )

    @strawberry.field(description="Why the caller cannot adjust this visit now; null if they can.")
    async def adjustment_blocked_reason(self, info: Info) -> BlockedReason | None:
        return BlockedReason.of(
            missing_scope(ADJUSTMENT_SCOPE, info.context.scopes)
            or adjustment_blocked(await info.context.loaders.policy(), balance_cents=self.balance)
        )


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

    @strawberry.field(description="Net amount written off on this account.")
    async def write_off_total(self, info: Info) -> Money:
        totals = await info.context.loaders.totals_by_account.load(self.pk)
        return reduction(totals, WRITE_OFF_KINDS)

    @strawberry.field(description="Net amount adjusted on this account.")
    async def adjustment_total(self, info: Info) -> Money:
        totals = await info.context.loaders.totals_by_account.load(self.pk)
        return reduction(totals, ADJUSTMENT_KINDS)
