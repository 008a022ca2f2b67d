"""Many rows in one statement: arrays in, `unnest` on the server. Used by the ledger's hot path,
bulk chunks and remittance imports."""

from collections.abc import Callable, Iterable, Sequence
from itertools import repeat
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from domain.db import driver_connection

ENTRY_COLUMNS = {
    "id": "BIGINT",
    "tenant_id": "BIGINT",
    "account_id": "BIGINT",
    "visit_id": "BIGINT",
    "line_id": "BIGINT",
    "command_id": "BIGINT",
    "kind": "TEXT",
    "amount_cents": "BIGINT",
    "memo_amount_cents": "BIGINT",
    "reason": "TEXT",
    "note": "TEXT",
    "category": "TEXT",
    "carc_group": "TEXT",
    "carc_reason": "TEXT",
    "transaction_code_id": "BIGINT",
    "transaction_date": "DATE",
    "actor": "TEXT",
    "reverses_entry_id": "BIGINT",
    "transaction_id": "BIGINT",
    "prev_hash": "BYTEA",
    "entry_hash": "BYTEA",
}
AUDIT_COLUMNS = {
    "tenant_id": "BIGINT",
    "command_id": "BIGINT",
    "entry_id": "BIGINT",
    "account_id": "BIGINT",
    "visit_id": "BIGINT",
    "line_id": "BIGINT",
    "actor": "TEXT",
    "action": "TEXT",
    "reason": "TEXT",
    "note": "TEXT",
    "balance_before_cents": "BIGINT",
    "balance_after_cents": "BIGINT",
}
PAIRED_AUDIT_COLUMNS = {"id": "BIGINT", **AUDIT_COLUMNS, "paired_audit_id": "BIGINT"}
PROVENANCE_COLUMNS = {"request_id": "TEXT", "scopes": "TEXT[]"}
"""An audit row's request and scopes, when the writer knows them: left out, they come from the
transaction's settings, or (a command's row, written by the worker) from the command, through
the `audit_rows_provenance` trigger, one lookup per row."""


def among(column: Any, ids: Iterable[int]) -> ColumnElement[bool]:
    """`column = ANY(:ids)` with the ids as ONE array parameter.

    `IN (...)` binds one parameter per value, and PostgreSQL's protocol allows at most 32,767
    (a large bulk selection or account would exceed it); an array also keeps one prepared
    statement for every size.
    """
    return column == any_(bindparam(None, list(ids), type_=ARRAY(BigInteger)))


async def next_ids(session: AsyncSession, sequence: str, count: int) -> list[int]:
    """Reserve `count` ids from `sequence` in one round trip, in ascending order."""
    raw = await driver_connection(session)
    rows = await raw.fetch(
        "SELECT nextval($1::regclass) FROM generate_series(1, $2) ORDER BY 1", sequence, count
    )
    return [row[0] for row in rows]


async def insert_rows(
    session: AsyncSession, table: str, columns: dict[str, str], rows: list[dict[str, Any]]
) -> None:
    """`insert_columns` for rows given as dicts (a missing key is NULL)."""
    writes = Writes()
    writes.insert(table, columns, rows)
    await writes.send(session)


async def insert_columns(
    session: AsyncSession,
    table: str,
    columns: dict[str, str],
    rows: Sequence[tuple[Any, ...]],
) -> None:
    """INSERT `rows` (tuples in `columns` order; name → SQL type) as one statement: one array
    parameter per column, unnested on the server.

    `COPY` is not an option: PostgreSQL refuses `COPY FROM` on a table with row security for a
    role it applies to (the API's `arledger_api`). A column of an array type (`"TEXT[]"`)
    travels as array literals and is cast on the server, since `unnest` would flatten an
    array of arrays."""
    if rows:
        writes = Writes()
        writes.insert_arrays(table, columns, [list(c) for c in zip(*rows, strict=True)])
        await writes.send(session)


class Writes:
    """INSERTs and UPDATEs of many rows each, sent as ONE statement: every one but the last
    is a data-modifying `WITH` query, which PostgreSQL runs once whether or not it is read.
    One round trip where each used to take its own; PostgreSQL checks constraints at the end
    of the whole statement, so the order they are listed in does not matter. A row may be
    written by only one of them (they share one snapshot)."""

    def __init__(self) -> None:
        self._statements: list[str] = []
        self._values: list[Any] = []

    def insert(self, table: str, columns: dict[str, str], rows: list[dict[str, Any]]) -> None:
        """INSERT `rows` (dicts; a missing key is NULL) into `table`, if there are any."""
        if rows:
            self.insert_arrays(table, columns, _column_values(rows, columns))

    def insert_arrays(self, table: str, columns: dict[str, str], values: list[list[Any]]) -> None:
        """INSERT one list of values per column of `columns` (name → SQL type)."""
        names = list(columns)
        for k, kind in enumerate(columns.values()):
            if kind.endswith("[]"):
                values[k] = [array_literal(v) for v in values[k]]
        arrays = self._arrays(list(columns.values()), values)
        picked = ", ".join(
            f"u.{name}::{kind}" if kind.endswith("[]") else f"u.{name}"
            for name, kind in columns.items()
        )
        self._statements.append(
            f"INSERT INTO {table} ({', '.join(names)}) SELECT {picked} "
            f"FROM unnest({arrays}) AS u({', '.join(names)})"
        )

    def update(
        self,
        table: str,
        key: str,
        columns: dict[str, str],
        rows: list[dict[str, Any]],
        extra: str = "",
    ) -> None:
        """UPDATE the rows of `table` whose `key` is a row's, if there are any; `extra` adds
        fixed assignments."""
        if not rows:
            return
        names = [key, *columns]
        types = {key: "BIGINT", **columns}
        arrays = self._arrays([types[n] for n in names], _column_values(rows, names))
        assignments = ", ".join([f"{n} = u.{n}" for n in columns] + ([extra] if extra else []))
        self._statements.append(
            f"UPDATE {table} SET {assignments} FROM unnest({arrays}) AS u({', '.join(names)}) "
            f"WHERE {table}.{key} = u.{key}"
        )

    def _arrays(self, kinds: list[str], values: list[list[Any]]) -> str:
        """The array parameters of one statement, numbered after those already taken."""
        first = len(self._values) + 1
        arrays = [
            array_parameter(f"${first + k}", _element(kind), values, k)
            for k, kind in enumerate(kinds)
        ]
        self._values += values
        return ", ".join(arrays)

    async def send(self, session: AsyncSession) -> None:
        """Run everything listed, in the session's transaction, as one statement."""
        if not self._statements:
            return
        *first, last = self._statements
        prefix = ", ".join(f"w{k} AS ({sql})" for k, sql in enumerate(first))
        raw = await driver_connection(session)
        await raw.execute(f"WITH {prefix} {last}" if first else last, *self._values)
        self._statements, self._values = [], []


def _column_values(rows: list[dict[str, Any]], names: Iterable[str]) -> list[list[Any]]:
    """One list per column name, in row order (a missing key is NULL)."""
    return [list(map(dict.get, rows, repeat(name))) for name in names]


def _element(kind: str) -> str:
    """The type of the array's elements: an array column travels as text literals."""
    return "TEXT" if kind.endswith("[]") else kind


def array_parameter(placeholder: str, kind: str, values: list[Any], k: int) -> str:
    """SQL for parameter `values[k]` as an array of `kind`; replaces `values[k]` by one text
    literal when `kind` has one (`AS_LITERAL`).

    asyncpg checks every element of a list parameter against `collections.abc` classes, a
    Python-level call each, and that was the largest single cost of writing a batch; the server
    parses one literal in about a third of the time (0.1 µs an element against 0.3-0.6)."""
    if kind not in AS_LITERAL:
        return f"CAST({placeholder} AS {kind}[])"
    values[k] = AS_LITERAL[kind](values[k])
    return f"CAST(CAST({placeholder} AS TEXT) AS {kind}[])"


def _numbers(values: list[int | None]) -> str:
    """Whole numbers (`int.__repr__` refuses anything but an int), NULL as NULL; the common
    shapes of a column (no NULL, all NULL) without a Python-level step per element."""
    nulls = values.count(None)
    if not nulls:
        return "{" + ",".join(map(int.__repr__, values)) + "}"
    if nulls == len(values):
        return "{" + ",".join(["NULL"] * nulls) + "}"
    return "{" + ",".join(["NULL" if v is None else int.__repr__(v) for v in values]) + "}"


def _texts(values: list[str | None]) -> str:
    """Each distinct value quoted once when a column repeats a few (a kind, an actor)."""
    distinct = set(values)
    if len(distinct) * 2 > len(values):
        return "{" + ",".join(["NULL" if v is None else _quoted(v) for v in values]) + "}"
    quoted = {v: "NULL" if v is None else _quoted(v) for v in distinct}
    return "{" + ",".join(map(quoted.__getitem__, values)) + "}"


def _quoted(value: str) -> str:
    """An array element, double-quoted: backslashes and quotes escaped, the rest as is."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


AS_LITERAL: dict[str, Callable[[list[Any]], str]] = {
    "BIGINT": _numbers,
    "INTEGER": _numbers,
    "TEXT": _texts,
}
"""Element types whose arrays are sent as one text literal (see `array_parameter`)."""


def array_literal(values: Iterable[str] | None) -> str | None:
    """A PostgreSQL array literal of strings, every element quoted."""
    if values is None:
        return None
    return "{" + ",".join(_quoted(v) for v in values) + "}"


async def update_rows(
    session: AsyncSession,
    table: str,
    key: str,
    columns: dict[str, str],
    rows: list[dict[str, Any]],
    extra: str = "",
) -> None:
    """UPDATE many rows by `key` as one statement; `extra` adds fixed assignments."""
    writes = Writes()
    writes.update(table, key, columns, rows, extra)
    await writes.send(session)
