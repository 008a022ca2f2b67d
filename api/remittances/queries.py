"""Reading remittances: a filtered, keyset-paginated list and one by id."""

from datetime import date
from typing import Any

import strawberry
from sqlalchemy import exists, or_, select

from api.auth import READ
from api.context import Info
from api.ids import decode_id
from api.pagination import Connection, paginate
from api.remittances.enums import RemittanceStatus
from api.remittances.types import Remittance
from domain.remittances import models as remit


@strawberry.input(description="Remittances by status, payer, trace number and payment date.")
class RemittanceFilterInput:
    status: RemittanceStatus | None = None
    payer_identifier: str | None = strawberry.field(default=None, description="TRN03, exactly.")
    trace_number: str | None = strawberry.field(default=None, description="TRN02, exactly.")
    date_from: date | None = strawberry.field(default=None, description="BPR16 on or after.")
    date_to: date | None = strawberry.field(default=None, description="BPR16 on or before.")
    unmatched_only: bool = strawberry.field(
        default=False,
        description="Only those with a claim or service line that matched nothing.",
    )

    def where(self, query: Any) -> Any:
        r = remit.Remittance
        if self.status is not None:
            query = query.where(r.status == self.status.value)
        if self.payer_identifier is not None:
            query = query.where(r.payer_identifier == self.payer_identifier)
        if self.trace_number is not None:
            query = query.where(r.trace_number == self.trace_number)
        if self.date_from is not None:
            query = query.where(r.payment_date >= self.date_from)
        if self.date_to is not None:
            query = query.where(r.payment_date <= self.date_to)
        if self.unmatched_only:
            query = query.where(_has_unmatched())
        return query


def _has_unmatched() -> Any:
    """A claim of the remittance matched no visit, or one of its lines no charge line."""
    c, line = remit.RemittanceClaim, remit.RemittanceLine
    unmatched_line = (
        select(line.id)
        .where(line.claim_id == c.id, line.unmatched_code == "LINE_NOT_FOUND")
        .exists()
    )
    return exists(
        select(c.id).where(
            c.remittance_id == remit.Remittance.id, or_(c.outcome == "UNMATCHED", unmatched_line)
        )
    )


@strawberry.type
class RemittanceQuery:
    @strawberry.field(description="Imported remittances, oldest first, filtered as given.")
    async def remittances(
        self,
        info: Info,
        filter: RemittanceFilterInput | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> Connection[Remittance]:
        tenant_id = info.context.require(READ).tenant_id
        r = remit.Remittance
        query = (filter or RemittanceFilterInput()).where(select(r).where(r.tenant_id == tenant_id))
        sessions = info.context.sessions
        return await paginate(sessions, query, r.id, first, after, Remittance.from_row)

    @strawberry.field(description="A remittance by its id; null if there is none.")
    async def remittance(self, info: Info, id: strawberry.ID) -> Remittance | None:
        tenant_id = info.context.require(READ).tenant_id
        r = remit.Remittance
        pk = decode_id(id, "Remittance") or 0
        async with info.context.sessions() as session:
            row = await session.scalar(select(r).where(r.id == pk, r.tenant_id == tenant_id))
        return None if row is None else Remittance.from_row(row)
