"""Commands: a requested change and its status."""

from datetime import datetime
from typing import Self

import strawberry

from api.enums import CommandStatus
from api.ids import encode_id
from api.types import Node, UserError
from domain import models
from domain.commands.store import StoredCommand


@strawberry.type
class Command(Node):
    kind: str
    status: CommandStatus
    error_code: str | None
    error_message: str | None
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def from_row(cls, row: models.Command | StoredCommand) -> Self:
        return cls(
            id=strawberry.ID(encode_id("Command", row.id)),
            kind=row.kind,
            status=CommandStatus(row.status),
            error_code=row.error_code,
            error_message=row.error_message,
            created_at=row.created_at,
            finished_at=row.finished_at,
        )


@strawberry.type
class CommandPayload:
    """The stored command (PENDING until a worker applies it), or why nothing was stored."""

    command: Command | None
    user_errors: list[UserError]
