"""The per-account hash chain of ledger entries: every writer chains, and tampering shows.

Entries are written through the real worker (single commands, bulk jobs, transactions) and the
chain is checked twice: recomputed here in Python from the stored rows, and by the oracle's
`ledger_chain` check in SQL. Tampering happens as the superuser with triggers off, inside a
transaction rolled back at the end, so the database stays clean for everyone else.
"""

import asyncio
import json
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
import pytest
from celery import Celery
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from arledger.config import Settings
from domain.commands import apply as applying
from domain.db import SessionFactory
from domain.ledger.chain import HASHED_FIELDS, ZERO_HASH, encode, entry_hash, link
from domain.ledger.verify import verify
from domain.models import Account, LedgerEntry
from domain.uow import UnitOfWork
from tests.bulk.ops import Bulk, build, visit
from tests.reversals.ops import ALL_WRITES, adjust, reverse, write_off
from tests.support.client import gid
from tests.support.factories import World, make_world, store_pending
from tests.transactions.void_ops import (
    EVERY_SCOPE,
    apply_to,
    configure_codes,
    create,
    post_and_wait,
    void_and_wait,
)

CHANGED, BROKEN, HEAD = "changed", "broken", "head"
PROBLEMS = {"hash": CHANGED, "previous": BROKEN, "account": HEAD}
"""A `ledger_chain` finding's problem, by its first word."""
SQL_HASHES = text(
    "SELECT arledger_entry_hash(u.prev, jsonb_populate_record(NULL::ledger_entries, "
    "u.doc::jsonb)) FROM unnest(CAST(:prevs AS bytea[]), CAST(:docs AS text[])) "
    "WITH ORDINALITY AS u(prev, doc, n) ORDER BY u.n"
)


# --- helpers -------------------------------------------------------------------------------------


async def python_chains(sessions: SessionFactory, tenant_id: int) -> dict[int, list[str]]:
    """Each account's entry kinds in id order, after recomputing its chain here in Python:
    every stored `prev_hash` and `entry_hash`, and the account's head."""
    async with sessions() as session:
        entries = (
            await session.scalars(
                select(LedgerEntry)
                .where(LedgerEntry.tenant_id == tenant_id)
                .order_by(LedgerEntry.account_id, LedgerEntry.id)
            )
        ).all()
        heads = {
            row.id: row.ledger_chain_hash
            for row in await session.execute(
                select(Account.id, Account.ledger_chain_hash).where(Account.tenant_id == tenant_id)
            )
        }
    kinds: dict[int, list[str]] = {account_id: [] for account_id in heads}
    recomputed: dict[int, bytes] = {}
    for entry in entries:
        prev = recomputed.get(entry.account_id, ZERO_HASH)
        assert entry.prev_hash == prev, f"entry {entry.id}: prev_hash"
        recomputed[entry.account_id] = entry_hash(prev, _fields(entry))
        assert entry.entry_hash == recomputed[entry.account_id], f"entry {entry.id}: entry_hash"
        kinds[entry.account_id].append(entry.kind)
    assert heads == {a: recomputed.get(a, ZERO_HASH) for a in heads}
    return kinds


def _fields(entry: LedgerEntry) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in HASHED_FIELDS}


def chain_rows(findings: list[Any]) -> list[tuple[int, int | None, str]]:
    """The `ledger_chain` findings as (account id, entry id, changed|broken|head), sorted."""
    rows = [
        (f.row[0], f.row[1], PROBLEMS[f.row[2].split()[0]])
        for f in findings
        if f.check == "ledger_chain"
    ]
    return sorted(rows, key=lambda r: (r[0], r[1] or 0, r[2]))


async def clean(sessions: SessionFactory, tenant_id: int) -> list[str]:
    """Every oracle finding for the tenant, as text (empty when the tenant is sound)."""
    async with sessions() as session:
        return [str(f) for f in await verify(session, tenant_id)]


@asynccontextmanager
async def tampered(engine: AsyncEngine, *statements: str, **params: int) -> AsyncIterator[Any]:
    """Yield the tenant's findings after `statements` ran with every trigger off (superuser,
    `session_replication_role = replica`), in a transaction that is then rolled back."""
    async with engine.connect() as connection:
        await connection.begin()
        await connection.execute(text("SET LOCAL session_replication_role = replica"))
        for statement in statements:
            await connection.execute(text(statement), params)
        async with AsyncSession(bind=connection) as session:
            yield await verify(session, params["tenant"])
        await connection.rollback()


# --- Python and SQL agree ------------------------------------------------------------------------

GOLDEN = {
    "id": 7,
    "tenant_id": 1,
    "account_id": 2,
    "visit_id": 3,
    "line_id": 4,
    "command_id": None,
    "kind": "WRITEOFF",
    "amount_cents": -1234,
    "memo_amount_cents": None,
    "reason": "charity",
    "note": "Zoë — 中文",
    "category": None,
    "carc_group": "OA",
    "carc_reason": "45",
    "transaction_code_id": None,
    "transaction_date": date(2026, 11, 24),
    "actor": "tester",
    "reverses_entry_id": None,
    "transaction_id": None,
}


def _text(rng: random.Random, limit: int) -> str | None:
    alphabet = "aZ 09'\"\\%_,;{}()[]\t\néü中😀\u0301\u200b"
    if rng.random() < 0.2:
        return None
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, min(limit, 12))))


def _int(rng: random.Random, nullable: bool = True) -> int | None:
    if nullable and rng.random() < 0.3:
        return None
    return rng.choice([0, 1, -1, 2**63 - 1, -(2**63), rng.randint(-(10**12), 10**12)])


def random_entry(rng: random.Random) -> dict[str, Any]:
    """Any values the columns can hold, NULLs, empty strings and odd characters included."""
    limits = {
        "kind": 20,
        "reason": 500,
        "note": 1000,
        "category": 64,
        "carc_group": 2,
        "carc_reason": 8,
        "actor": 200,
    }
    entry: dict[str, Any] = {name: _text(rng, n) for name, n in limits.items()}
    for name in (
        "command_id",
        "memo_amount_cents",
        "transaction_code_id",
        "reverses_entry_id",
        "transaction_id",
    ):
        entry[name] = _int(rng)
    for name in ("id", "tenant_id", "account_id", "visit_id", "line_id", "amount_cents"):
        entry[name] = _int(rng, nullable=False)
    day = rng.choice([date(1, 1, 1), date(9999, 12, 31), date(2026, 2, 28)])
    entry["transaction_date"] = day.fromordinal(rng.randint(1, day.toordinal()))
    return entry


async def sql_hashes(
    session: AsyncSession, prevs: list[bytes], entries: list[dict[str, Any]]
) -> list[bytes]:
    """`arledger_entry_hash` of each (prev, entry), in one statement."""
    docs = [
        {k: (v.isoformat() if isinstance(v, date) else v) for k, v in e.items()} for e in entries
    ]
    result = await session.scalars(
        SQL_HASHES, {"prevs": prevs, "docs": [json.dumps(d) for d in docs]}
    )
    return list(result.all())


async def test_the_encoding_and_hash_are_pinned(rollback_sessions: SessionFactory) -> None:
    # given one entry with text, NULLs, a negative amount and non-ASCII characters
    prev = bytes(range(32))
    # then its encoding starts as specified (id 7: 0x01, length 1, "7"; tenant 1; ...)
    assert encode(GOLDEN)[:12] == b"\x01\x00\x00\x00\x017\x01\x00\x00\x00\x011"
    # and the hash is this exact value, in Python and in SQL
    expected = "ae45a1822f1b01f4b67234354a55409c62e349e0a285e579284706ec2f941463"
    assert entry_hash(prev, GOLDEN).hex() == expected
    async with rollback_sessions() as session:
        assert [h.hex() for h in await sql_hashes(session, [prev], [GOLDEN])] == [expected]


async def test_python_and_sql_compute_the_same_hash_for_any_entry(
    rollback_sessions: SessionFactory, rng: random.Random
) -> None:
    # given 400 random entries (and previous hashes), NULLs and odd characters included
    entries = [random_entry(rng) for _ in range(400)]
    prevs = [rng.randbytes(32) for _ in entries]
    # when PostgreSQL hashes them
    async with rollback_sessions() as session:
        in_sql = await sql_hashes(session, prevs, entries)
    # then every hash is the one Python computes
    in_python = [entry_hash(p, e) for p, e in zip(prevs, entries, strict=True)]
    assert [h.hex() for h in in_sql] == [h.hex() for h in in_python]


async def test_null_and_empty_text_hash_differently() -> None:
    # given two entries that differ only in a NULL note versus an empty one
    assert entry_hash(ZERO_HASH, {**GOLDEN, "note": None}) != entry_hash(
        ZERO_HASH, {**GOLDEN, "note": ""}
    )
    # and two whose fields' concatenations collide without length prefixes
    assert encode({**GOLDEN, "reason": "ab", "note": "c"}) != encode(
        {**GOLDEN, "reason": "a", "note": "bc"}
    )


def test_link_refuses_entries_out_of_id_order() -> None:
    entries = [{**GOLDEN, "id": 9}, {**GOLDEN, "id": 8}]
    with pytest.raises(ValueError, match="entry 8 is out of id order on account 2"):
        link(entries, {})


# --- every writer chains -------------------------------------------------------------------------


async def test_single_commands_through_the_worker_chain_every_entry(
    client: httpx.AsyncClient, sessions: SessionFactory, settings: Settings
) -> None:
    # given an account with two charged lines
    world = await make_world(sessions, [10000, 5000])
    token = world.token(settings, ALL_WRITES)
    # when a write-off, an adjustment and the write-off's reversal are applied by the worker
    written = await write_off(client, sessions, token, "w", world.line_ids[0], "10.00")
    await adjust(client, sessions, token, "a", world.line_ids[1], "5.00")
    await reverse(client, sessions, token, "r", written.entry_ids[0])
    # then the account's five entries form one chain, recomputed in Python and in SQL
    assert await python_chains(sessions, world.tenant_id) == {
        world.account_id: ["CHARGE", "CHARGE", "WRITEOFF", "ADJUSTMENT", "WRITEOFF"]
    }
    assert await clean(sessions, world.tenant_id) == []


async def test_a_bulk_job_and_its_reversal_chain_every_account(
    sessions: SessionFactory, celery_app: Celery, settings: Settings, worker: Any
) -> None:
    # given three accounts, one with two visits
    world = await build(
        sessions,
        {"A1": [visit(300, 200), visit(150)], "A2": [visit(400)], "A3": [visit(250, 100)]},
    )
    bulk = Bulk(sessions, celery_app, settings)
    # when every line is written off by a bulk job, and the job is then reversed
    line_ids = list(world.lines.values())
    job = await bulk.finished((await bulk.write_off(world.tenant_id, "k", line_ids=line_ids)).id)
    undo = await bulk.reverse(world.tenant_id, "undo", job.id)
    undone = await bulk.finished(undo.id)
    # then each account's chain holds its charges, write-offs and reversals, unbroken
    assert [job.status, job.applied_items, undone.status, undone.applied_items] == [
        "DONE",
        6,
        "DONE",
        6,
    ]
    charged = {"A1": 3, "A2": 1, "A3": 2}
    assert await python_chains(sessions, world.tenant_id) == {
        world.accounts[a]: ["CHARGE"] * n + ["WRITEOFF"] * n + ["WRITEOFF"] * n
        for a, n in charged.items()
    }
    assert await clean(sessions, world.tenant_id) == []


async def test_a_posted_and_voided_transaction_chains_its_entries_and_reversals(
    client: httpx.AsyncClient, sessions: SessionFactory, settings: Settings
) -> None:
    # given an account with two charged lines and transaction codes
    world = await make_world(sessions, [6000, 4000])
    token = world.token(settings, EVERY_SCOPE)
    payer = await configure_codes(client, sessions, world, token)
    # when a $70.00 payment is posted to its visit and then voided
    txn = await create(client, token, payer, "PY", "70.00")
    added = await apply_to(client, token, txn["id"], world.account_number, "70.00", 1)
    assert added["userErrors"] == [], added
    await post_and_wait(client, token, txn["id"], "post")
    await void_and_wait(client, token, txn["id"], "void", "wrong patient")
    # then the payment's entries and their reversals sit on the account's one chain
    assert await python_chains(sessions, world.tenant_id) == {
        world.account_id: ["CHARGE", "CHARGE", "PAYMENT", "PAYMENT", "PAYMENT", "PAYMENT"]
    }
    assert await clean(sessions, world.tenant_id) == []


WRITE_OFF_MUTATION = """
mutation($input: WriteOffInput!) { writeOff(input: $input) { command { id } userErrors { code } } }
"""


async def test_concurrent_writers_to_one_account_keep_one_chain(
    client: httpx.AsyncClient, sessions: SessionFactory, settings: Settings
) -> None:
    # given an account with two lines of $500.00
    world = await make_world(sessions, [50000, 50000])
    token = world.token(settings)
    # when 40 write-offs of $1.00 are submitted at once, for both worker children to apply
    keys = [f"k{n}" for n in range(40)]

    async def submit(n: int) -> None:
        variables = {
            "input": {
                "idempotencyKey": keys[n],
                "reason": "CHARITY",
                "lines": [{"lineId": gid("ChargeLine", world.line_ids[n % 2]), "amount": "1"}],
            }
        }
        response = await client.post(
            "/graphql",
            json={"query": WRITE_OFF_MUTATION, "variables": variables},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.json()["data"]["writeOff"]["userErrors"] == []

    await asyncio.gather(*(submit(n) for n in range(40)))
    await _until_written(sessions, world, 42)
    # then the 42 entries (written by several transactions) form one unbroken chain
    assert await python_chains(sessions, world.tenant_id) == {
        world.account_id: ["CHARGE", "CHARGE"] + ["WRITEOFF"] * 40
    }
    assert await clean(sessions, world.tenant_id) == []
    async with sessions() as session:
        transactions = await session.scalar(
            select(func.count(func.distinct(LedgerEntry.created_at))).where(
                LedgerEntry.tenant_id == world.tenant_id, LedgerEntry.kind == "WRITEOFF"
            )
        )
    assert transactions is not None and transactions > 1


async def _until_written(sessions: SessionFactory, world: World, entries: int) -> None:
    for _ in range(600):
        async with sessions() as session:
            count = await session.scalar(
                select(func.count()).where(LedgerEntry.tenant_id == world.tenant_id)
            )
        if count == entries:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{count} of {entries} entries written")


# --- tampering shows ----------------------------------------------------------------------------


@dataclass
class Ledger:
    """A committed tenant: line 1 charged $100.00, line 2 $50.00, then two write-offs on line 1
    ($12.34 and $5.00); `e` are the four entry ids in order."""

    world: World
    e: list[int]

    def params(self) -> dict[str, int]:
        w = self.world
        named = {f"e{n}": entry_id for n, entry_id in enumerate(self.e, start=1)}
        return {"tenant": w.tenant_id, "account": w.account_id, "line2": w.line_ids[1], **named}


@pytest.fixture
async def ledger(sessions: SessionFactory) -> Ledger:
    world = await make_world(sessions, [10000, 5000])
    for key, amount in (("w1", "12.34"), ("w2", "5.00")):
        command_id = await store_pending(sessions, world, amount, key)
        async with UnitOfWork(sessions) as uow:
            assert await applying.apply(uow, command_id) == "APPLIED"
            await uow.commit()
    async with sessions() as session:
        ids = await session.scalars(
            select(LedgerEntry.id)
            .where(LedgerEntry.tenant_id == world.tenant_id)
            .order_by(LedgerEntry.id)
        )
        return Ledger(world, list(ids.all()))


ZERO = "'\\x" + "00" * 32 + "'::bytea"
SWAP_IDS = (
    "UPDATE ledger_entries SET id = -id WHERE id IN (:e3, :e4)",
    "UPDATE ledger_entries SET id = CASE id WHEN -CAST(:e3 AS bigint) THEN :e4 ELSE :e3 END "
    "WHERE id < 0",
)
TAMPERING = {
    "amount changed": (
        ["UPDATE ledger_entries SET amount_cents = amount_cents - 1 WHERE id = :e2"],
        [("e2", CHANGED)],
    ),
    "entry moved to another line": (
        ["UPDATE ledger_entries SET line_id = :line2 WHERE id = :e3"],
        [("e3", CHANGED)],
    ),
    "amounts of two entries on one line swapped": (
        [
            "UPDATE ledger_entries SET amount_cents = CASE id WHEN :e3 THEN -500 ELSE -1234 END "
            "WHERE id IN (:e3, :e4)"
        ],
        [("e3", CHANGED), ("e4", CHANGED)],
    ),
    "two entries reordered": (
        list(SWAP_IDS),
        [("e3", BROKEN), ("e3", CHANGED), ("e4", BROKEN), ("e4", CHANGED), ("e4", HEAD)],
    ),
    "first entry deleted": (["DELETE FROM ledger_entries WHERE id = :e1"], [("e2", BROKEN)]),
    "middle entry deleted": (["DELETE FROM ledger_entries WHERE id = :e2"], [("e3", BROKEN)]),
    "last entry deleted": (["DELETE FROM ledger_entries WHERE id = :e4"], [("e3", HEAD)]),
    "edited and rehashed": (
        [
            "UPDATE ledger_entries SET amount_cents = -1000 WHERE id = :e3",
            "UPDATE ledger_entries e SET entry_hash = arledger_entry_hash(e.prev_hash, e) "
            "WHERE id = :e3",
        ],
        [("e4", BROKEN)],
    ),
    "head reset": (
        [f"UPDATE accounts SET ledger_chain_hash = {ZERO} WHERE id = :account"],
        [("e4", HEAD)],
    ),
}


@pytest.mark.parametrize("case", TAMPERING)
async def test_tampering_is_found_by_the_ledger_chain_check(
    engine: AsyncEngine, sessions: SessionFactory, ledger: Ledger, case: str
) -> None:
    # given a sound ledger of four entries on one account
    assert await clean(sessions, ledger.world.tenant_id) == []
    statements, expected = TAMPERING[case]
    params = ledger.params()
    # when it is tampered with (rolled back afterwards)
    async with tampered(engine, *statements, **params) as findings:
        # then the chain check names the account, the entry and what is wrong
        assert chain_rows(findings) == [(params["account"], params[e], p) for e, p in expected]
    assert await clean(sessions, ledger.world.tenant_id) == []


async def test_only_the_chain_sees_amounts_swapped_between_entries_of_one_line(
    engine: AsyncEngine, ledger: Ledger
) -> None:
    # given two write-offs of one line whose amounts are swapped: every balance still adds up
    swap = TAMPERING["amounts of two entries on one line swapped"][0]
    async with tampered(engine, *swap, **ledger.params()) as findings:
        # then the ledger chain is the only check that fails
        assert {f.check for f in findings} == {"ledger_chain"}


async def test_a_truncated_chain_with_its_head_moved_back_needs_the_balance_checks(
    engine: AsyncEngine, ledger: Ledger
) -> None:
    # given the last entry deleted and the head set to the entry before it (a consistent cut)
    truncate = (
        "DELETE FROM ledger_entries WHERE id = :e4",
        "UPDATE accounts a SET ledger_chain_hash = e.entry_hash FROM ledger_entries e "
        "WHERE e.id = :e3 AND a.id = :account",
    )
    async with tampered(engine, *truncate, **ledger.params()) as findings:
        # then the chain alone cannot tell (it has no outside anchor); the line balance can
        assert chain_rows(findings) == []
        assert {f.check for f in findings} == {"line_balance"}
