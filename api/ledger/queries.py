"""Reading accounts and their ledgers. Confined to the caller's tenant; needs `billing.read`."""

import strawberry
from sqlalchemy import select

from api.auth import READ
from api.context import Info
from api.ids import decode_id
from api.ledger.entries import LedgerEntry
from api.ledger.types import Account
from api.pagination import Connection, paginate
from api.reports.types import AccountFilter, AccountOrder
from api.reports.worklist import account_worklist
from domain import models


@strawberry.type
class LedgerQuery:
    @strawberry.field(description="An account by its account number; null if not found.")
    async def account(self, info: Info, account_number: str) -> Account | None:
        tenant_id = info.context.require(READ).tenant_id
        async with info.context.sessions() as session:
            row = await session.scalar(
                select(models.Account).where(
                    models.Account.tenant_id == tenant_id,
                    models.Account.account_number == account_number,
                )
            )
        return None if row is None else Account.from_row(row)

    @strawberry.field(
        description="Accounts in account-creation order; with `filter` or `orderBy`, the "
        "worklist: searched and filtered, ordered by balance, age or name, keyset-paginated "
        "over the balances as they stood when the first page was read, so a walk lists every "
        "account once while balances change (each shows its balance when its page is read). "
        "A cursor belongs to the filter and order it was read with."
    )
    async def accounts(
        self,
        info: Info,
        first: int = 50,
        after: str | None = None,
        filter: AccountFilter | None = None,
        order_by: AccountOrder | None = None,
    ) -> Connection[Account]:
        tenant_id = info.context.require(READ).tenant_id
        if filter is not None or order_by is not None:
            return await account_worklist(info, tenant_id, first, after, filter, order_by)
        query = select(models.Account).where(models.Account.tenant_id == tenant_id)
        return await paginate(
            info.context.sessions,
            query,
            models.Account.id,
            first,
            after,
            Account.from_row,
        )

    @strawberry.field(description="An account's ledger entries, oldest first.")
    async def ledger_entries(
        self, info: Info, account_id: strawberry.ID, first: int = 50, after: str | None = None
    ) -> Connection[LedgerEntry]:
        tenant_id = info.context.require(READ).tenant_id
        pk = decode_id(account_id, "Account") or 0
        query = select(models.LedgerEntry).where(
            models.LedgerEntry.tenant_id == tenant_id, models.LedgerEntry.account_id == pk
        )
        return await paginate(
            info.context.sessions,
            query,
            models.LedgerEntry.id,
            first,
            after,
            LedgerEntry.from_row,
        )
