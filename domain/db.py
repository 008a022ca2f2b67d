"""Engine and session factory construction (one engine per process), and the tenant scope.

The API connects as `arledger_api`, which row-level security confines to the tenant named by
the transaction-local setting `arledger.tenant_id`. A session factory made with a `Scope` sets
it (and the request id and scopes that audit rows record) at the start of every transaction,
so a pooled connection never carries one tenant's setting into another's transaction.
"""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, SessionTransaction

SessionFactory = async_sessionmaker[AsyncSession]
SCOPE_KEY = "arledger.scope"
SCOPE_SETTINGS = ("arledger.tenant_id", "arledger.request_id", "arledger.scopes")
"""The transaction-local settings a scope sets (row-level security and defaults read them)."""
SET_SCOPE = "SELECT " + ", ".join(
    f"set_config('{name}', ${k}, true)" for k, name in enumerate(SCOPE_SETTINGS, start=1)
)
"""Sets them, the values bound in `SCOPE_SETTINGS` order."""
_SET_SCOPE = text(
    "SELECT "
    + ", ".join(f"set_config('{name}', :v{k}, true)" for k, name in enumerate(SCOPE_SETTINGS))
)


@dataclass(frozen=True)
class Scope:
    """Whom a transaction works for: one tenant, in one request, with these scopes."""

    tenant_id: int
    request_id: str | None = None
    scopes: frozenset[str] = frozenset()

    def settings(self) -> tuple[str, str, str]:
        """The values of `SCOPE_SETTINGS` for this scope (scopes space-separated, sorted)."""
        return str(int(self.tenant_id)), self.request_id or "", " ".join(sorted(self.scopes))


def make_engine(
    database_url: str,
    pool_size: int = 10,
    recycle_seconds: int = 600,
    max_overflow: int | None = None,
) -> AsyncEngine:
    """An asyncpg engine with a bounded pool: `pool_size` kept, `max_overflow` (default: as
    many again) opened for a burst and closed as soon as they are returned.

    No pre-ping (it costs a round trip per checkout): a connection broken by a server restart
    fails its statement, is invalidated, and the next checkout gets a fresh one; connections
    are also recycled every `recycle_seconds`.
    """
    return create_async_engine(
        database_url,
        pool_size=pool_size,
        max_overflow=pool_size if max_overflow is None else max_overflow,
        pool_recycle=recycle_seconds,
    )


async def driver_connection(session: AsyncSession) -> Any:
    """The asyncpg connection under the session's transaction (begun, tenant scope set).

    For tens of thousands of rows SQLAlchemy's parameter and result handling costs more than
    the statements themselves, so the bulk helpers (`domain.ledger.sql_rows`) talk to the
    driver directly, as do services written for `domain.direct_uow.Transactional`."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    if not driver.is_in_transaction():
        # SQLAlchemy's asyncpg adapter sends BEGIN lazily, with the first statement it runs
        # itself; without this, the driver's statements would each commit on their own
        await connection.exec_driver_sql("SELECT 1")
    return driver


def make_session_factory(engine: AsyncEngine) -> SessionFactory:
    """Sessions that never expire loaded state on commit (we read after commit)."""
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def scoped(factory: SessionFactory, scope: Scope) -> SessionFactory:
    """`factory`'s sessions, each transaction of which is confined to `scope`'s tenant."""
    kw: dict[str, Any] = {**factory.kw, "info": {**factory.kw.get("info", {}), SCOPE_KEY: scope}}
    return async_sessionmaker(class_=factory.class_, **kw)


@event.listens_for(Session, "after_begin")
def _enter_scope(session: Session, transaction: SessionTransaction, connection: Connection) -> None:
    """Set the transaction-local tenant, request id and scopes of a scoped session."""
    scope: Scope | None = session.info.get(SCOPE_KEY)
    if scope is not None:
        connection.execute(_SET_SCOPE, {f"v{k}": v for k, v in enumerate(scope.settings())})
