"""The SQL a unit of work sends, recorded from the driver."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from asyncpg.connection import LoggedQuery

from domain.uow import UnitOfWork


@asynccontextmanager
async def recording(uow: UnitOfWork) -> AsyncIterator[list[str]]:
    """The SQL statements sent on the unit of work's connection while inside, whitespace
    folded, in order (asyncpg's query logger: the statements of the apply path all go through
    the driver's own `execute` and `fetch`)."""
    statements: list[str] = []

    def record(query: LoggedQuery) -> None:
        statements.append(" ".join(query.query.split()))

    with (await uow.driver()).query_logger(record):
        yield statements
        await asyncio.sleep(0)  # the logger is called soon after each statement, not in it


BALANCE_WRITES = (
    "INSERT INTO ledger_entries",
    "UPDATE charge_lines",
    "UPDATE visits",
    "UPDATE accounts",
)


def writes_balances(statement: str) -> bool:
    """Whether the statement writes a ledger entry or a balance, as a whole or as one of its
    `WITH` queries (`domain.ledger.sql_rows.Writes` sends them together)."""
    return any(write in statement for write in BALANCE_WRITES)
