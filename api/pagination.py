"""Keyset cursor pagination, Relay connection shaped: edges, node, cursor, pageInfo."""

import base64
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import strawberry
from graphql import GraphQLError
from sqlalchemy import Select

from domain.db import SessionFactory

T = TypeVar("T")
MAX_PAGE = 100


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo

    @strawberry.field
    def nodes(self) -> list[T]:
        return [edge.node for edge in self.edges]


def _cursor(pk: int) -> str:
    return base64.b64encode(f"cursor:{pk}".encode()).decode()


def _after(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        prefix, _, pk = base64.b64decode(cursor, validate=True).decode().partition(":")
        assert prefix == "cursor"
        return int(pk)
    except Exception as error:
        raise GraphQLError("Invalid cursor.", extensions={"code": "INVALID_CURSOR"}) from error


async def paginate(
    sessions: SessionFactory,
    query: Select[Any],
    id_column: Any,
    first: int,
    after: str | None,
    to_node: Callable[[Any], T],
) -> Connection[T]:
    """Rows of `query` ordered by `id_column` ascending, `first` at a time after `after`."""
    if not 0 < first <= MAX_PAGE:
        raise GraphQLError(f"first must be 1 to {MAX_PAGE}.", extensions={"code": "INVALID_PAGE"})
    start = _after(after)
    if start is not None:
        query = query.where(id_column > start)
    async with sessions() as session:
        rows: Sequence[Any] = (
            await session.scalars(query.order_by(id_column).limit(first + 1))
        ).all()
    edges = [Edge(cursor=_cursor(row.id), node=to_node(row)) for row in rows[:first]]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=len(rows) > first, end_cursor=edges[-1].cursor if edges else None
        ),
    )
