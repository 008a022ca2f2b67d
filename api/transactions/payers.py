"""Payers and their default transaction codes."""

from typing import Self

import strawberry
from sqlalchemy import or_, select

from api.auth import READ
from api.context import Info
from api.enums import TransactionType
from api.ids import encode_id
from api.pagination import Connection, paginate
from api.types import Node
from domain import models


@strawberry.type
class PayerDefaultCode:
    """The code a new transaction of `type` gets for this payer unless one is entered."""

    type: TransactionType
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
        return [
            PayerDefaultCode(type=TransactionType(t), code=c.code, description=c.description)
            for t, c in rows
        ]


@strawberry.type
class PayerQuery:
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
