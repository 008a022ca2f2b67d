"""Many rows in one statement (`domain.ledger.sql_rows`): whatever goes in comes back exactly,
whichever way a column's array travels (one text literal, or a list asyncpg encodes)."""

from datetime import date

import pytest
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


async def test_columns_that_repeat_a_few_values_or_are_all_null_come_back_exactly(
    rollback_sessions: SessionFactory,
) -> None:
    async with rollback_sessions() as session, session.begin():
        await _table(session)
        # when a text column repeats three tricky values, a number column has no NULL and
        # another is all NULL (the shapes each get a shortcut)
        rows = [{"id": k, "n": -(2**62) + k, "small": None, "t": TRICKY[k % 3]} for k in range(40)]
        await insert_rows(session, "sql_rows_probe", COLUMNS, rows)
        # then each value comes back as it went in
        assert await _read(session) == [{**row, "tags": None, "d": None, "b": None} for row in rows]


async def test_a_number_column_refuses_anything_but_whole_numbers(
    rollback_sessions: SessionFactory,
) -> None:
    async with rollback_sessions() as session, session.begin():
        await _table(session)
        # when a number column holds a string (one that would read as two elements) or a float
        for bad in ("1,2", 1.5):
            rows = [{"id": 1, "n": 5}, {"id": 2, "n": bad}, {"id": 3, "n": None}]
            # then the insert is refused before it is sent, and nothing is written
            with pytest.raises(TypeError):
                await insert_rows(session, "sql_rows_probe", COLUMNS, rows)
        assert await _read(session) == []
