"""Running a mutation's action: the scope check, one unit of work, errors mapped."""

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from graphql import GraphQLError

from api.auth import Principal
from api.context import Info
from api.types import denied, user_errors
from domain.errors import DomainError
from domain.ledger.availability import ADJUSTMENT_SCOPE, WRITE_OFF_SCOPE
from domain.uow import UnitOfWork

T = TypeVar("T")


Action = Callable[[UnitOfWork, Principal], Awaitable[T]]


async def perform(info: Info, scopes: tuple[str, ...], action: Action[T]) -> tuple[T | None, Any]:
    """Run `action` in a unit of work for a caller holding one of `scopes`; (result, errors)."""
    try:
        principal = info.context.require_any(*scopes)
    except GraphQLError as error:
        return None, denied(error)
    try:
        async with info.context.uow() as uow:
            result = await action(uow, principal)
            await uow.commit()
    except DomainError as error:
        return None, user_errors(error)
    return result, []


WRITERS = (WRITE_OFF_SCOPE, ADJUSTMENT_SCOPE)
