"""Engine and session factory construction (one engine per process)."""

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

SessionFactory = async_sessionmaker[AsyncSession]


def make_engine(database_url: str, pool_size: int = 10, recycle_seconds: int = 600) -> AsyncEngine:
    """An asyncpg engine with a bounded pool.

    No pre-ping (it costs a round trip per checkout): a connection broken by a server restart
    fails its statement, is invalidated, and the next checkout gets a fresh one; connections
    are also recycled every `recycle_seconds`.
    """
    return create_async_engine(
        database_url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=recycle_seconds
    )


def make_session_factory(engine: AsyncEngine) -> SessionFactory:
    """Sessions that never expire loaded state on commit (we read after commit)."""
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
