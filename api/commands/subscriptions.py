"""The commandStatus subscription: a command's status until it is final."""

from collections.abc import AsyncGenerator

import strawberry
from sqlalchemy import select

from api.auth import READ
from api.commands.types import Command
from api.context import Info
from api.ids import decode_id
from api.types import not_found
from domain import models
from domain.events import CommandFinished


async def _load_command(info: Info, tenant_id: int, pk: int | None) -> models.Command:
    async with info.context.sessions() as session:
        row = await session.scalar(
            select(models.Command).where(
                models.Command.id == pk, models.Command.tenant_id == tenant_id
            )
        )
    if row is None:
        raise not_found("command")
    return row


@strawberry.type
class CommandSubscription:
    @strawberry.subscription(description="The command's status, until it is final.")
    async def command_status(self, info: Info, id: strawberry.ID) -> AsyncGenerator[Command, None]:
        tenant_id = info.context.require(READ).tenant_id
        pk = decode_id(id, "Command")
        services = info.context.services
        async with services.broadcaster.listen(f"{tenant_id}:command:{pk}") as queue:
            command = await _load_command(info, tenant_id, pk)
            yield Command.from_row(command)
            while command.status == "PENDING":
                event = await queue.get()
                if isinstance(event, CommandFinished):
                    command = await _load_command(info, tenant_id, pk)
                    yield Command.from_row(command)
