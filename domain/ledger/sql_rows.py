"""Many rows in one statement: arrays in, `unnest` on the server. Used by the ledger's hot path."""

from collections.abc import Iterable
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, any_, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

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


def among(column: Any, ids: Iterable[int]) -> ColumnElement[bool]:
    """`column = ANY(:ids)` with the ids as ONE array parameter.

    `IN (...)` binds one parameter per value, and PostgreSQL's protocol allows at most 32,767
    (a large bulk selection or account would exceed it); an array also keeps one prepared
    statement for every size.
    """
    return column == any_(bindparam(None, list(ids), type_=ARRAY(BigInteger)))


async def next_ids(session: AsyncSession, sequence: str, count: int) -> list[int]:
    """Reserve `count` ids from `sequence` in one round trip, in ascending order."""
    result = await session.scalars(
        text(f"SELECT nextval('{sequence}') FROM generate_series(1, :n) ORDER BY 1"),
        {"n": count},
    )
    return list(result.all())


async def insert_rows(
    session: AsyncSession, table: str, columns: dict[str, str], rows: list[dict[str, Any]]
) -> None:
    """INSERT many rows as one statement: one array parameter per column, unnested.

    A column of an array type (`"TEXT[]"`) travels as array literals, since `unnest` would
    flatten an array of arrays."""
    names = ", ".join(columns)
    if not any(kind.endswith("[]") for kind in columns.values()):
        arrays = ", ".join(f"CAST(:{name} AS {kind}[])" for name, kind in columns.items())
        await session.execute(
            text(f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays})"),
            {name: [row.get(name) for row in rows] for name in columns},
        )
        return
    arrays = ", ".join(
        f"CAST(:{name} AS {'TEXT' if kind.endswith('[]') else kind}[])"
        for name, kind in columns.items()
    )
    picked = ", ".join(
        f"CAST(u.{name} AS {kind})" if kind.endswith("[]") else f"u.{name}"
        for name, kind in columns.items()
    )
    await session.execute(
        text(f"INSERT INTO {table} ({names}) SELECT {picked} FROM unnest({arrays}) AS u({names})"),
        {
            name: [
                _literal(row.get(name)) if kind.endswith("[]") else row.get(name) for row in rows
            ]
            for name, kind in columns.items()
        },
    )


def _literal(values: Iterable[str] | None) -> str | None:
    """A PostgreSQL array literal of strings, every element quoted."""
    if values is None:
        return None
    quoted = ('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
    return "{" + ",".join(quoted) + "}"


async def update_rows(
    session: AsyncSession,
    table: str,
    key: str,
    columns: dict[str, str],
    rows: list[dict[str, Any]],
    extra: str = "",
) -> None:
    """UPDATE many rows by `key` as one statement; `extra` adds fixed assignments."""
    names = [key, *columns]
    types = {key: "BIGINT", **columns}
    arrays = ", ".join(f"CAST(:{name} AS {types[name]}[])" for name in names)
    assignments = ", ".join([f"{name} = u.{name}" for name in columns] + ([extra] if extra else []))
    await session.execute(
        text(
            f"UPDATE {table} SET {assignments} FROM unnest({arrays}) AS u({', '.join(names)}) "
            f"WHERE {table}.{key} = u.{key}"
        ),
        {name: [row.get(name) for row in rows] for name in names},
    )
