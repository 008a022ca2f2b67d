"""Reading transactions and transaction codes."""

from datetime import date
from typing import Any

import strawberry
from sqlalchemy import select

from api.context import Info
from api.enums import TransactionStatus, TransactionType
from api.ids import decode_id
from api.pagination import Connection, paginate
from api.transactions.types import Transaction, TransactionCode
from domain import models


@strawberry.type
class TransactionQuery:
    @strawberry.field(description="Transactions, oldest first, filtered as given.")
    async def transactions(
        self,
        info: Info,
        status: TransactionStatus | None = None,
        payer_id: strawberry.ID | None = None,
        date_from: date | None = None,
        date_to: date | None = None,
        account_number: str | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> Connection[Transaction]:
        tenant_id = info.context.require("billing.read").tenant_id
        t = models.Transaction
        query = select(t).where(t.tenant_id == tenant_id)
        if status is not None:
            query = query.where(t.status == status.value)
        if payer_id is not None:
            query = query.where(t.payer_id == (decode_id(payer_id, "Payer") or 0))
        if date_from is not None:
            query = query.where(t.transaction_date >= date_from)
        if date_to is not None:
            query = query.where(t.transaction_date <= date_to)
        if account_number is not None:
            query = query.where(t.id.in_(_applied_to(tenant_id, account_number)))
        sessions = info.context.sessions
        return await paginate(sessions, query, t.id, first, after, Transaction.from_row)

    @strawberry.field(description="The tenant's transaction codes, optionally of one type.")
    async def transaction_codes(
        self, info: Info, type: TransactionType | None = None
    ) -> list[TransactionCode]:
        tenant_id = info.context.require("billing.read").tenant_id
        c = models.TransactionCode
        query = select(c).where(c.tenant_id == tenant_id).order_by(c.type, c.code)
        if type is not None:
            query = query.where(c.type == type.value)
        async with info.context.sessions() as session:
            rows = await session.scalars(query)
        return [TransactionCode.from_row(r) for r in rows]


def _applied_to(tenant_id: int, account_number: str) -> Any:
    a, app = models.Account, models.TransactionApplication
    return (
        select(app.transaction_id)
        .join(a, a.id == app.account_id)
        .where(a.tenant_id == tenant_id, a.account_number == account_number)
    )
