"""Read queries. Every one is confined to the caller's tenant and needs `billing.read`."""

import strawberry
from sqlalchemy import or_, select

from api.audit import AuditQuery
from api.balances import Account
from api.bulk_api import BulkQuery
from api.context import Info
from api.ids import decode_any, decode_id
from api.nodes import NODE_TYPES
from api.pagination import Connection, paginate
from api.settings import SettingsQuery
from api.transaction_queries import TransactionQuery
from api.types import Command, LedgerEntry, Node, Payer
from domain import models

READ = "billing.read"


@strawberry.type
class Query(AuditQuery, SettingsQuery, TransactionQuery, BulkQuery):
    @strawberry.field(description="Any object by its global id; null if not found.")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        tenant_id = info.context.require(READ).tenant_id
        decoded = decode_any(id)
        if decoded is None or decoded[0] not in NODE_TYPES:
            return None
        model, gql_type = NODE_TYPES[decoded[0]]
        async with info.context.sessions() as session:
            row = await session.scalar(
                select(model).where(model.id == decoded[1], model.tenant_id == tenant_id)
            )
        return None if row is None else gql_type.from_row(row)

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

    @strawberry.field(description="Accounts in account-creation order.")
    async def accounts(
        self, info: Info, first: int = 50, after: str | None = None
    ) -> Connection[Account]:
        tenant_id = info.context.require(READ).tenant_id
        query = select(models.Account).where(models.Account.tenant_id == tenant_id)
        return await paginate(
            info.context.sessions,
            query,
            models.Account.id,
            first,
            after,
            Account.from_row,
        )

    @strawberry.field(description="Payers matching name, code, address line 1 or zip.")
    async def payers(
        self, info: Info, search: str = "", first: int = 50, after: str | None = None
    ) -> Connection[Payer]:
        tenant_id = info.context.require(READ).tenant_id
        query = select(models.Payer).where(models.Payer.tenant_id == tenant_id)
        if term := search.strip():
            like = "%" + term.replace("%", r"\%").replace("_", r"\_") + "%"
            query = query.where(
                or_(
                    models.Payer.code.ilike(like),
                    models.Payer.name.ilike(like),
                    models.Payer.address_line1.ilike(like),
                    models.Payer.zip.ilike(like),
                )
            )
        return await paginate(
            info.context.sessions,
            query,
            models.Payer.id,
            first,
            after,
            Payer.from_row,
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

    @strawberry.field(description="A command by id; null if not found.")
    async def command(self, info: Info, id: strawberry.ID) -> Command | None:
        tenant_id = info.context.require(READ).tenant_id
        pk = decode_id(id, "Command")
        async with info.context.sessions() as session:
            row = await session.scalar(
                select(models.Command).where(
                    models.Command.id == pk, models.Command.tenant_id == tenant_id
                )
            )
        return None if row is None else Command.from_row(row)
