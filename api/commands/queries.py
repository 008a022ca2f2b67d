"""Reading a command by id."""

import strawberry
from sqlalchemy import select

from api.auth import READ
from api.commands.types import Command
from api.context import Info
from api.ids import decode_id
from domain import models


@strawberry.type
class CommandQuery:
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
