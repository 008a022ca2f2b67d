"""The unit of work: the one owner of a transaction.

Services receive a `UnitOfWork`, use its session and record events or after-commit actions;
only the caller that opened the unit of work calls `commit()`. Events and actions run after a
successful commit and are dropped on rollback.
"""

from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Any, Self

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from domain.db import SessionFactory, driver_connection
from domain.events import Event

Publish = Callable[[Sequence[Event]], Awaitable[None]]
AfterCommit = Callable[[], Awaitable[None]]
log = structlog.get_logger(__name__)


async def publish_nowhere(events: Sequence[Event]) -> None:
    return None


class UnitOfWork:
    """`async with UnitOfWork(factory, publish) as uow: ...; await uow.commit()`."""

    def __init__(self, session_factory: SessionFactory, publish: Publish = publish_nowhere):
        self._factory = session_factory
        self._publish = publish
        self._events: list[Event | Callable[[], Sequence[Event]]] = []
        self._after: list[AfterCommit] = []
        self._session: AsyncSession | None = None

    @property
    def session(self) -> AsyncSession:
        assert self._session is not None, "unit of work not entered"
        return self._session

    async def __aenter__(self) -> Self:
        self._session = self._factory()
        await self._session.begin()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._session is not None
        try:
            if self._session.in_transaction():
                await self._session.rollback()
        finally:
            await self._session.close()
            self._session = None
            self._events.clear()
            self._after.clear()

    async def driver(self) -> Any:
        """The asyncpg connection under this unit of work's transaction (begun, tenant scope
        set), for services that write through the driver (see `domain.direct_uow`)."""
        return await driver_connection(self.session)

    def record(self, *events: Event) -> None:
        """Announce these events once the transaction commits."""
        self._events.extend(events)

    def record_later(self, build: Callable[[], Sequence[Event]]) -> None:
        """Announce the events `build` returns once the transaction commits, in the order
        recorded; `build` runs after the commit (work kept out of the transaction)."""
        self._events.append(build)

    def after_commit(self, action: AfterCommit) -> None:
        """Run `action` once the transaction commits (e.g. enqueue a task)."""
        self._after.append(action)

    async def commit(self) -> None:
        """Commit, then publish recorded events and run after-commit actions."""
        await self.session.commit()
        recorded, actions = list(self._events), list(self._after)
        self._events.clear()
        self._after.clear()
        if recorded:
            try:
                events = [e for item in recorded for e in (item() if callable(item) else (item,))]
                if events:
                    await self._publish(events)
            except Exception:  # publishing is at-most-once; the commit stands
                log.exception("publish_failed", recorded=len(recorded))
        for action in actions:
            await action()

    async def rollback(self) -> None:
        """Abandon the transaction and everything recorded in it."""
        await self.session.rollback()
        self._events.clear()
        self._after.clear()
