"""Every type `node(id:)` can return, by the type name in its global id."""

from typing import Any

import strawberry
from sqlalchemy import select

from api.audit.trail import AuditRow
from api.auth import READ
from api.bulk.types import BulkJob
from api.commands.types import Command
from api.context import Info
from api.ids import decode_any
from api.ledger.entries import LedgerEntry
from api.ledger.types import Account, ChargeLine, Visit
from api.remittances.types import Remittance
from api.transactions.payers import Payer
from api.transactions.types import Transaction, TransactionCode
from api.types import Node
from domain import models
from domain.bulk import models as bulk_models
from domain.remittances import models as remittance_models

NODE_TYPES: dict[str, tuple[Any, Any]] = {
    "Account": (models.Account, Account),
    "Visit": (models.Visit, Visit),
    "ChargeLine": (models.ChargeLine, ChargeLine),
    "Payer": (models.Payer, Payer),
    "LedgerEntry": (models.LedgerEntry, LedgerEntry),
    "Command": (models.Command, Command),
    "AuditRow": (models.AuditRow, AuditRow),
    "Transaction": (models.Transaction, Transaction),
    "TransactionCode": (models.TransactionCode, TransactionCode),
    "BulkJob": (bulk_models.BulkJob, BulkJob),
    "Remittance": (remittance_models.Remittance, Remittance),
}


@strawberry.type
class NodeQuery:
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
