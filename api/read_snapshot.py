"""One consistent view of the database for a whole GraphQL query.

A query's resolvers read in many statements (the account, then its visits, then their lines and
totals, through data loaders). Each in its own READ COMMITTED transaction, a writer committing in
between made one response contradict itself: a visit's balance from before a write-off beside
its lines from after it. So every resolver of a query operation shares one session in one
`REPEATABLE READ READ ONLY` transaction (one snapshot, one pooled connection), taken at its
first read and closed when the operation ends. Resolvers run concurrently, so the shared session
is lent to one at a time. Mutations and subscriptions are untouched: they read what they wrote,
or live.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from contextvars import ContextVar
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from domain.db import SessionFactory

SNAPSHOT_OPTIONS = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}


class ReadSnapshot:
    """The shared session of one query operation, opened lazily."""

    def __init__(self) -> None:
        self._session: AsyncSession | None = None
        self._lock = asyncio.Lock()

    def factory(self, sessions: SessionFactory) -> SessionFactory:
        """Stands in for `sessions`: `async with factory() as session` borrows the shared one."""

        @asynccontextmanager
        async def borrow() -> AsyncIterator[AsyncSession]:
            async with self._lock:
                if self._session is None:
                    self._session = sessions()
                    await self._session.connection(execution_options=SNAPSHOT_OPTIONS)
                yield self._session

        return cast(SessionFactory, borrow)

    async def close(self) -> None:
        async with self._lock:
            if self._session is not None:
                await self._session.close()
                self._session = None


_current: ContextVar[ReadSnapshot | None] = ContextVar("read_snapshot", default=None)


def snapshot_sessions(sessions: SessionFactory) -> SessionFactory:
    """`sessions`, or inside a query operation the operation's shared snapshot."""
    snapshot = _current.get()
    return sessions if snapshot is None else snapshot.factory(sessions)


class ReadSnapshotExtension(SchemaExtension):
    """Gives each query operation its `ReadSnapshot` for the length of its execution."""

    async def on_execute(self) -> AsyncIterator[None]:
        if self._operation_type() != OperationType.QUERY:
            yield
            return
        snapshot = ReadSnapshot()
        token = _current.set(snapshot)
        try:
            yield
        finally:
            with suppress(ValueError):  # finalised in another context: nothing to undo
                _current.reset(token)
            await snapshot.close()

    def _operation_type(self) -> Any:
        try:
            return self.execution_context.operation_type
        except RuntimeError:  # no document: nothing will execute
            return None
