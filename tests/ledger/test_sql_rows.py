"""Many rows in one statement (`domain.ledger.sql_rows`): whatever goes in comes back exactly,
whichever way a column's array travels (one text literal, or a list asyncpg encodes)."""

from datetime import date

from sqlalchemy import text

from domain.db import SessionFactory
from domain.ledger.sql_rows import insert_columns, insert_rows, update_rows

TRICKY = [
    'a"b',
    "back\\slash",
    '\\"',
    "{braces}",
    "comma,here",
    "  spaced  ",
    "",
    "NULL",
    "null",
    "it's",
    "unicode ü ✓",
    "line\nbreak",
    None,
]
COLUMNS = {"id": "BIGINT", "n": "BIGINT", "small": "INTEGER", "t": "TEXT", "tags": "TEXT[]"}
COLUMNS_TYPED = {**COLUMNS, "d": "DATE", "b": "BYTEA"}


async def _table(session) -> None:  # type: ignore[no-untyped-def]
    await session.execute(
        text(
            "CREATE TEMP TABLE sql_rows_probe (id bigint PRIMARY KEY, n bigint, small integer, "
            "t text, tags text[], d date, b bytea) ON COMMIT DROP"
        )
    )


def _rows() -> list[dict]:
    numbers = [0, -1, 2**62, None]
    return [
        {
            "id": k,
            "n": numbers[k % len(numbers)],
            "small": None if k % 5 == 0 else -k,
            "t": value,
            "tags": [[], ["x", 'y"z', "\\", "", "NULL"], None][k % 3],
            "d": date(2026, 12, 7) if k % 2 else None,
            "b": bytes([k, 0, 255]) if k % 4 else None,
        }
        for k, value in enumerate(TRICKY)
    ]


async def _read(session) -> list[dict]:  # type: ignore[no-untyped-def]
    result = await session.execute(
        text("SELECT id, n, small, t, tags, d, b FROM sql_rows_probe ORDER BY id")
    )
    return [dict(row._mapping) for row in result]


async def test_inserted_rows_come_back_exactly(rollback_sessions: SessionFactory) -> None:
    async with rollback_sessions() as session, session.begin():
        await _table(session)
        # when rows full of quotes, backslashes, braces, NULL look-alikes and NULLs are inserted
        await insert_rows(session, "sql_rows_probe", COLUMNS_TYPED, _rows())
        # then each value comes back as it went in
        assert await _read(session) == _rows()


async def test_inserted_tuples_come_back_exactly(rollback_sessions: SessionFactory) -> None:
    async with rollback_sessions() as session, session.begin():
        await _table(session)
        rows = [tuple(row[name] for name in COLUMNS_TYPED) for row in _rows()]
        await insert_columns(session, "sql_rows_probe", COLUMNS_TYPED, rows)
        assert await _read(session) == _rows()


async def test_updated_rows_take_exactly_the_new_values(rollback_sessions: SessionFactory) -> None:
    async with rollback_sessions() as session, session.begin():
        # given rows with plain values
        await _table(session)
        plain = [{"id": k, "n": 1, "small": 1, "t": "plain"} for k in range(len(TRICKY))]
        await insert_rows(session, "sql_rows_probe", COLUMNS, plain)
        # when every row is updated to the tricky values
        wanted = _rows()
        changed = {"n": "BIGINT", "small": "INTEGER", "t": "TEXT", "d": "DATE", "b": "BYTEA"}
        await update_rows(session, "sql_rows_probe", "id", changed, wanted)
        # then they hold exactly those (tags untouched: NULL)
        assert await _read(session) == [{**row, "tags": None} for row in wanted]
