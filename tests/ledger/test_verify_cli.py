"""`arledger verify` run as a subprocess: its report and exit status (0 sound, 1 broken, 2 bad
arguments), against a database of this module's own (so "the whole database" means what it
holds and nothing another test left behind), connecting as the worker's role like in production.
"""

import asyncio
import os
import secrets
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from arledger import devstack
from arledger.config import Settings
from arledger.demo import seed_tenant
from domain.db import make_engine, make_session_factory
from domain.ledger.verify import CHECKS
from domain.migrations.run import upgrade
from tests.conftest import ROOT


@dataclass
class Database:
    url: str
    slugs: list[str]
    """Two tenants seeded with the demo data (every entry chained by `domain.ledger.chain`)."""


@pytest.fixture(scope="module")
async def database(settings: Settings) -> AsyncIterator[Database]:
    url = devstack.database_url_for(f"arledger_cli_{secrets.token_hex(4)}", settings.database_url)
    await devstack.create_database(url)
    await asyncio.to_thread(upgrade, url)
    engine = make_engine(url, pool_size=1)
    slugs = [f"v-{secrets.token_hex(4)}" for _ in range(2)]
    try:
        for slug in slugs:
            await seed_tenant(make_session_factory(engine), slug, slug, accounts=5)
        yield Database(url, slugs)
    finally:
        await engine.dispose()
        await devstack.drop_database(url)


async def arledger_verify(database: Database, *args: str) -> tuple[int, str, str]:
    """Run `arledger verify <args>` on the module's database; (exit status, stdout, stderr)."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("DATABASE_URL")}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "arledger.cli",
        "verify",
        *args,
        cwd=ROOT,
        env={**env, "DATABASE_URL": database.url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


EVERY_CHECK_OK = [f"  ok  {c.name}: {c.description}" for c in CHECKS]


async def test_a_sound_database_exits_0_with_every_check_ok(database: Database) -> None:
    # when the whole database is verified
    status, out, err = await arledger_verify(database)
    # then every check is listed as ok
    assert (status, err) == (0, "")
    assert out.splitlines() == [
        "arledger verify: the whole database",
        *EVERY_CHECK_OK,
        f"all {len(CHECKS)} checks hold",
    ]


async def test_one_tenant_is_verified_by_its_slug(database: Database) -> None:
    status, out, err = await arledger_verify(database, "--tenant", database.slugs[1])
    assert (status, err) == (0, "")
    assert out.startswith(f"arledger verify: tenant '{database.slugs[1]}' (id ")
    assert out.splitlines()[1:] == [*EVERY_CHECK_OK, f"all {len(CHECKS)} checks hold"]


LAST_ENTRY = text(
    "SELECT e.id, e.account_id, e.line_id FROM ledger_entries e "
    "JOIN tenants t ON t.id = e.tenant_id WHERE t.slug = :slug ORDER BY e.id DESC LIMIT 1"
)


async def test_a_broken_chain_exits_1_and_names_the_rows(database: Database) -> None:
    # given, in the second tenant, an entry's amount edited behind the append-only trigger
    engine = make_engine(database.url, pool_size=1)
    try:
        async with engine.begin() as connection:
            entry = (await connection.execute(LAST_ENTRY, {"slug": database.slugs[1]})).one()
            await _edit_amount(connection, entry.id, +1)
        # when each tenant, then the whole database, is verified
        broken, sound, whole = await asyncio.gather(
            arledger_verify(database, "--tenant", database.slugs[1]),
            arledger_verify(database, "--tenant", database.slugs[0]),
            arledger_verify(database),
        )
    finally:
        async with engine.begin() as connection:
            await _edit_amount(connection, entry.id, -1)
        await engine.dispose()
    # then the tampered tenant and the whole database fail, naming the entry, the other holds
    chain = (
        f"account_id={entry.account_id}, entry_id={entry.id}, "
        "problem=hash does not match the entry's fields (entry changed)"
    )
    for status, out, err in (broken, whole):
        assert (status, err) == (1, "")
        lines = out.splitlines()
        at = lines.index(
            "  1 violation  ledger_chain: each account's ledger entries form an unbroken hash "
            "chain ending at its head"
        )
        assert lines[at + 1] == f"      {chain}"
        assert lines[-1] == f"2 of {len(CHECKS)} checks failed"
        assert f"      id={entry.line_id}, " in out  # line_balance names the line
    assert sound[0] == 0


async def _edit_amount(connection: AsyncConnection, entry_id: int, delta: int) -> None:
    """Add `delta` cents to an entry's amount with the append-only trigger off (superuser)."""
    await connection.execute(text("SET LOCAL session_replication_role = replica"))
    await connection.execute(
        text("UPDATE ledger_entries SET amount_cents = amount_cents + :d WHERE id = :id"),
        {"d": delta, "id": entry_id},
    )


async def test_an_unknown_tenant_exits_2(database: Database) -> None:
    status, out, err = await arledger_verify(database, "--tenant", "no-such-tenant")
    assert (status, out) == (2, "")
    assert err == "arledger verify: unknown tenant 'no-such-tenant' (no tenant has that slug)\n"


async def test_bad_arguments_exit_2(database: Database) -> None:
    status, out, err = await arledger_verify(database, "--tenant")
    assert (status, out) == (2, "")
    assert "arledger verify: error: argument --tenant: expected one argument" in err
