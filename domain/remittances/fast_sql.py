"""Tens of thousands of rows per statement, straight through the driver.

An import reads and writes ~100,000 rows in one transaction. SQLAlchemy's result and
parameter handling costs more than the statements themselves at that size, so these helpers
use the session's own asyncpg connection (the same transaction, and the same tenant scope row
security reads). `COPY` is not an option: PostgreSQL refuses `COPY FROM` on a table with row
security for a role it applies to (the API's `arledger_api`), so rows go in as one
`INSERT … SELECT FROM unnest(…)` per table, one array parameter per column.
"""

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession


async def driver_connection(session: AsyncSession) -> Any:
    """The asyncpg connection under the session's transaction (begun, scope set)."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    return raw.driver_connection


async def insert_columns(
    session: AsyncSession,
    table: str,
    columns: dict[str, str],
    rows: Sequence[tuple[Any, ...]],
) -> None:
    """INSERT `rows` (tuples in `columns` order; name → SQL type) as one statement.

    A column of an array type (`"TEXT[]"`) travels as array literals and is cast on the
    server, since `unnest` would flatten an array of arrays."""
    if not rows:
        return
    names = list(columns)
    arrays = [
        f"${k}::{'TEXT' if kind.endswith('[]') else kind}[]"
        for k, kind in enumerate(columns.values(), start=1)
    ]
    picked = ", ".join(
        f"u.{name}::{kind}" if kind.endswith("[]") else f"u.{name}"
        for name, kind in columns.items()
    )
    values = [
        [array_literal(v) for v in column] if kind.endswith("[]") else list(column)
        for column, kind in zip(zip(*rows, strict=True), columns.values(), strict=True)
    ]
    raw = await driver_connection(session)
    await raw.execute(
        f"INSERT INTO {table} ({', '.join(names)}) SELECT {picked} "
        f"FROM unnest({', '.join(arrays)}) AS u({', '.join(names)})",
        *values,
    )


def array_literal(values: Sequence[str] | None) -> str | None:
    """A PostgreSQL array literal of strings, every element quoted."""
    if values is None:
        return None
    quoted = ('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
    return "{" + ",".join(quoted) + "}"


async def reserve_ids(session: AsyncSession, sequence: str, count: int) -> list[int]:
    """Reserve `count` ids from `sequence` in one round trip, in ascending order."""
    raw = await driver_connection(session)
    rows = await raw.fetch(
        "SELECT nextval($1::regclass) FROM generate_series(1, $2) ORDER BY 1", sequence, count
    )
    return [row[0] for row in rows]
