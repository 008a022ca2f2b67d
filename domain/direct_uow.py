"""A unit of work on the driver's own connection, for the hottest small writes (a command's
submission): three round trips where the ORM's unit of work takes five, and none of its
per-statement bookkeeping.

- `BEGIN` and the tenant scope go in one simple-protocol message;
- the service's statements run on the asyncpg connection (`driver()`), as they do inside a
  `UnitOfWork` (its `driver()` is the same connection under the session's transaction), so
  a service written against `Transactional` runs unchanged in either;
- `COMMIT` is the third; after-commit actions run only after it, as in `UnitOfWork`.

The connection comes from the engine's pool. The pool does not know about the transaction
begun here, so this class always ends it: ROLLBACK when the block ends without a commit, with
a `DomainError` (raised between statements) or with an error the server reported (the protocol
is in step: the connection is idle in a failed transaction); and the connection is invalidated
(closed, never reused) when anything else interrupted it, a cancelled request included, since
it may be mid-statement.
"""

from types import TracebackType
from typing import Any, Protocol, Self

from asyncpg import PostgresError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.db import SCOPE_SETTINGS, SET_SCOPE, Scope
from domain.errors import DomainError
from domain.uow import AfterCommit


class Transactional(Protocol):
    """What a service needs of its caller's unit of work to write through the driver."""

    async def driver(self) -> Any:
        """The asyncpg connection, inside the begun, tenant-scoped transaction."""
        ...

    def after_commit(self, action: AfterCommit) -> None: ...


def literal(text: str) -> str:
    """`text` as an SQL string literal (quotes doubled, as asyncpg's own `_quote_literal`).

    Exact only under `standard_conforming_strings = on` (backslashes literal), which
    `DirectUnitOfWork` checks on the connection before it relies on it."""
    if "\x00" in text:
        raise ValueError("a NUL character cannot be sent in a setting")
    return "'" + text.replace("'", "''") + "'"


def begin_in_scope(scope: Scope) -> str:
    """`BEGIN` and the transaction-local settings `domain.db` sets, as one message."""
    calls = ", ".join(
        f"set_config({literal(k)}, {literal(v)}, true)"
        for k, v in zip(SCOPE_SETTINGS, scope.settings(), strict=True)
    )
    return f"BEGIN; SELECT {calls}"


class DirectUnitOfWork:
    """`async with DirectUnitOfWork(engine, scope) as uow: ...; await uow.commit()`."""

    def __init__(self, engine: AsyncEngine, scope: Scope) -> None:
        self._engine = engine
        self._scope = scope
        self._after: list[AfterCommit] = []
        self._connection: AsyncConnection | None = None
        self._driver: Any = None
        self._open = False

    async def driver(self) -> Any:
        assert self._open, "unit of work not entered, or already ended"
        return self._driver

    def after_commit(self, action: AfterCommit) -> None:
        """Run `action` once the transaction commits (e.g. enqueue a task)."""
        self._after.append(action)

    async def __aenter__(self) -> Self:
        self._connection = await self._engine.connect()
        try:
            self._driver = (await self._connection.get_raw_connection()).driver_connection
            if self._driver.get_settings().standard_conforming_strings == "on":
                await self._driver.execute(begin_in_scope(self._scope))
            else:  # literals would be misread: bind the settings instead (one more round trip)
                await self._driver.execute("BEGIN")
                await self._driver.execute(SET_SCOPE, *self._scope.settings())
        except BaseException:
            await self._discard()
            raise
        self._open = True
        return self

    async def commit(self) -> None:
        """Commit, then run the after-commit actions."""
        await self._driver.execute("COMMIT")
        self._open = False
        actions, self._after = self._after, []
        for action in actions:
            await action()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._after.clear()
        if not self._open:
            await self._release()
        elif exc_type is None or issubclass(exc_type, DomainError | PostgresError):
            self._open = False
            try:
                await self._driver.execute("ROLLBACK")
            except BaseException:
                await self._discard()
                raise
            await self._release()
        else:
            self._open = False
            await self._discard()

    async def _release(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            await connection.close()

    async def _discard(self) -> None:
        """Close the connection for good: its transaction state is unknown."""
        if self._connection is not None:
            connection, self._connection = self._connection, None
            try:
                await connection.invalidate()
            finally:
                await connection.close()
