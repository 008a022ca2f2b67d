"""The migrations build exactly the schema the models describe, and 0007 chains the ledger
entries that were there before it."""

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from arledger import devstack
from arledger.config import Settings
from domain.bulk.models import BulkJob  # noqa: F401  (registers the bulk tables)
from domain.db import make_engine
from domain.ledger.chain import HASHED_FIELDS, ZERO_HASH, link
from domain.ledger.verify import verify
from domain.migrations.run import alembic_config, upgrade
from domain.models import Base


async def test_migrated_database_matches_the_models(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        diff = await connection.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
        )
    assert diff == []


async def test_balance_rows_leave_room_on_each_page_for_their_next_versions(
    engine: AsyncEngine,
) -> None:
    # given the migrated schema, then the tables every posting rewrites fill pages to 80 %
    # (migration 0014: an update can stay on its page without new index entries)
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT relname, reloptions FROM pg_class WHERE relkind = 'r' "
                "AND relname IN ('accounts', 'visits', 'charge_lines') ORDER BY relname"
            )
        )
        assert [tuple(r) for r in rows] == [
            ("accounts", ["fillfactor=80"]),
            ("charge_lines", ["fillfactor=80"]),
            ("visits", ["fillfactor=80"]),
        ]


OLD_LEDGER = """
WITH t AS (INSERT INTO tenants (slug, name) VALUES ('old', 'Old') RETURNING id),
p AS (INSERT INTO payers (tenant_id, code, name) SELECT id, '1', 'Self Pay' FROM t RETURNING id),
a AS (INSERT INTO accounts (tenant_id, account_number, name)
      SELECT t.id, 'A' || n, 'Pat ' || n FROM t, generate_series(1, 3) n RETURNING id)
INSERT INTO visits (tenant_id, account_id, visit_number, claim_number, date_of_service, payer_id)
SELECT t.id, a.id, 1, 'C' || a.id, DATE '2026-10-01', p.id FROM t, a, p;
INSERT INTO charge_lines (tenant_id, account_id, visit_id, line_number, procedure_code,
                          billed_cents)
SELECT v.tenant_id, v.account_id, v.id, n, '99213', 1000 * n
FROM visits v, generate_series(1, 2) n WHERE v.visit_number = 1;
INSERT INTO ledger_entries (tenant_id, account_id, visit_id, line_id, kind, amount_cents, actor,
                            reason, transaction_date)
SELECT l.tenant_id, l.account_id, l.visit_id, l.id, k.kind, k.amount, 'old', k.reason,
       DATE '2026-10-02'
FROM charge_lines l JOIN accounts a ON a.id = l.account_id AND a.account_number <> 'A3',
     (VALUES (1, 'CHARGE', 1000, NULL), (2, 'WRITEOFF', -100, 'charity')) k(n, kind, amount, reason)
ORDER BY k.n, l.id
"""
"""Three accounts; on A1 and A2 two lines, each charged and then written off, entries of the
two accounts interleaved by id; A3 has no entries."""


async def _entries(connection: AsyncConnection) -> list[dict[str, object]]:
    rows = await connection.execute(
        text(
            f"SELECT {', '.join(HASHED_FIELDS)}, prev_hash, entry_hash FROM ledger_entries "
            "ORDER BY id"
        )
    )
    return [dict(row._mapping) for row in rows]


@pytest.fixture
async def scratch_url(settings: Settings) -> AsyncIterator[str]:
    """A database of its own (the session's must stay at head), dropped afterwards."""
    url = devstack.database_url_for(f"arledger_mig_{secrets.token_hex(4)}", settings.database_url)
    await devstack.create_database(url)
    yield url
    await devstack.drop_database(url)


async def test_0007_chains_the_entries_already_there_and_round_trips(scratch_url: str) -> None:
    # given a database at 0006 holding entries of two accounts (and an account without any)
    await asyncio.to_thread(upgrade, scratch_url, "0006")
    engine = make_engine(scratch_url, pool_size=1)
    try:
        async with engine.begin() as connection:
            for statement in OLD_LEDGER.split(";"):
                await connection.execute(text(statement))
        # when 0007 runs
        await asyncio.to_thread(upgrade, scratch_url, "0007")
        # then every entry is chained as `domain.ledger.chain` would have chained it
        async with engine.connect() as connection:
            entries = await _entries(connection)
            accounts = await connection.execute(
                text("SELECT id, ledger_chain_hash FROM accounts ORDER BY id")
            )
            heads = {row.id: row.ledger_chain_hash for row in accounts}
            async with AsyncSession(bind=connection) as session:
                chain = [f for f in await verify(session) if f.check == "ledger_chain"]
        a1, a2, a3 = heads
        expected = [{k: v for k, v in e.items() if k in HASHED_FIELDS} for e in entries]
        chained: dict[int, bytes] = dict.fromkeys(heads, ZERO_HASH)
        link(expected, chained)
        assert [(e["prev_hash"], e["entry_hash"]) for e in entries] == [
            (e["prev_hash"], e["entry_hash"]) for e in expected
        ]
        assert [e["account_id"] for e in entries] == [a1, a2] * 4
        assert heads == chained and heads[a3] == ZERO_HASH
        assert chain == []
        # and 0007 goes down and up again, chaining the same way
        await asyncio.to_thread(command.downgrade, alembic_config(scratch_url), "0006")
        async with engine.connect() as connection:
            columns = await connection.scalar(
                text(
                    "SELECT count(*) FROM information_schema.columns WHERE column_name IN "
                    "('prev_hash', 'entry_hash', 'ledger_chain_hash')"
                )
            )
        assert columns == 0
        await asyncio.to_thread(upgrade, scratch_url, "head")
        async with engine.connect() as connection:
            assert await _entries(connection) == entries
    finally:
        await engine.dispose()


OLD_COMMANDS = """
INSERT INTO tenants (id, slug, name) VALUES (1, 't', 'T');
INSERT INTO commands (id, tenant_id, idempotency_key, kind, payload, fingerprint, account_ids,
    actor, status, finished_at) VALUES
  (1, 1, 'k1', 'WRITEOFF', '{}', 'f', '{}', 'a', 'APPLIED', '2026-01-02 03:04:05+00'),
  (2, 1, 'k2', 'WRITEOFF', '{}', 'f', '{}', 'a', 'REJECTED', NULL),
  (3, 1, 'k3', 'WRITEOFF', '{}', 'f', '{}', 'a', 'PENDING', NULL)
"""


async def test_0008_marks_the_history_published_and_round_trips(scratch_url: str) -> None:
    # given a database at 0007 with an applied, a rejected and a pending command
    await asyncio.to_thread(upgrade, scratch_url, "0007")
    engine = make_engine(scratch_url, pool_size=1)
    try:
        async with engine.begin() as connection:
            for statement in OLD_COMMANDS.split(";"):
                await connection.execute(text(statement))
        # when 0008 runs
        await asyncio.to_thread(upgrade, scratch_url, "0008")
        # then what finished before it counts as published (the sweeper will not republish
        # a whole history); the pending command is still to be published
        async with engine.connect() as connection:
            rows = await connection.execute(
                text(
                    "SELECT id, published_at = finished_at, published_at IS NULL "
                    "FROM commands ORDER BY id"
                )
            )
            marked = [tuple(row) for row in rows]
        assert marked == [(1, True, False), (2, None, False), (3, None, True)]
        # and 0008 goes down (policies, columns, grants) and up again
        await asyncio.to_thread(command.downgrade, alembic_config(scratch_url), "0007")
        async with engine.connect() as connection:
            secured = await connection.scalar(
                text("SELECT count(*) FROM pg_class WHERE relrowsecurity AND relkind = 'r'")
            )
        assert secured == 0
        await asyncio.to_thread(upgrade, scratch_url, "head")
    finally:
        await engine.dispose()
