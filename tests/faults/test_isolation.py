"""Bank-style isolation: balances change concurrently (through the real worker and by direct
domain transactions on their own connections) while readers keep reading totals. Every read must
see a consistent total, never a torn one, and the final total is the opening total minus exactly
what was applied.
"""

import asyncio
import random
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from arledger.config import Settings
from arledger.tokens import issue_token
from domain.db import SessionFactory
from domain.ledger.verify import verify
from domain.money import parse_money
from tests.faults.bank import Bank, open_bank, totals, write_off_directly
from tests.faults.model_system import money
from tests.support.client import WRITE_OFF, gid, gql, wait_final, write_off_input

LINE_CENTS = 100_000
ACCOUNTS = """{ accounts { edges { node {
  accountNumber balance writeOffTotal adjustmentTotal
  visits { id balance writeOffTotal adjustmentTotal chargeLines { balance } } } } } }"""
ADJUST = """mutation($input: ApplyAdjustmentInput!) {
  applyAdjustment(input: $input) { command { id } userErrors { code } } }"""


def _token(settings: Settings, bank: Bank) -> str:
    scopes = ["billing.read", "billing.payment.write", "billing.adjustment.write"]
    return issue_token(settings, tenant=bank.slug, scopes=scopes, subject="teller", ttl_seconds=600)


def torn(body: dict[str, Any], visit_cents: int) -> list[str]:
    """Every way one `accounts` response contradicts itself (empty when it is consistent).

    Per visit and per account: balance = sum of the children's balances, and balance + net
    write-offs + net adjustments = the opening balance (only write-offs and adjustments happen).
    """
    assert "errors" not in body, body
    problems = []
    for edge in body["data"]["accounts"]["edges"]:
        account = edge["node"]
        visits = account["visits"]
        for visit in visits:
            lines = sum(parse_money(line["balance"]) for line in visit["chargeLines"])
            reduced = parse_money(visit["writeOffTotal"]) + parse_money(visit["adjustmentTotal"])
            if not parse_money(visit["balance"]) == lines == visit_cents - reduced:
                problems.append(f"visit {visit['id']}: {visit} vs lines {lines}")
        children = sum(parse_money(v["balance"]) for v in visits)
        reduced = parse_money(account["writeOffTotal"]) + parse_money(account["adjustmentTotal"])
        opening = visit_cents * len(visits)
        if not parse_money(account["balance"]) == children == opening - reduced:
            problems.append(f"account {account['accountNumber']}: {account}")
    return problems


async def test_concurrent_writers_never_show_a_torn_total(
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    sessions: SessionFactory,
    settings: Settings,
    rng: random.Random,
) -> None:
    # given a tenant with 4 accounts x 2 visits x 2 lines of $1,000.00
    bank = await open_bank(sessions, accounts=4, visits=2, lines=2, cents=LINE_CENTS)
    token = _token(settings, bank)
    applied: list[int] = []
    writing = True

    async def through_the_worker(n: int, rand: random.Random) -> None:
        """Write-offs of a line and adjustments of a visit, over GraphQL, one after another."""
        for i in range(10):
            cents = rand.randint(1, 500)
            if i % 2:
                line = rand.choice(bank.line_ids)
                variables = write_off_input(f"w{n}-{i}", [(line, money(cents))])
                payload = (await gql(client, WRITE_OFF, variables, token))["data"]["writeOff"]
            else:
                visit = gid("Visit", rand.choice(bank.visit_ids))
                variables = {"input": _adjustment(f"a{n}-{i}", visit, money(cents))}
                payload = (await gql(client, ADJUST, variables, token))["data"]["applyAdjustment"]
            final = await wait_final(client, payload["command"]["id"], token)
            assert final["status"] == "APPLIED", final
            applied.append(cents)

    async def directly(n: int, rand: random.Random) -> None:
        """Transactions moving two lines of different accounts at once, on their own connection."""
        for _ in range(25):
            amounts = {line: rand.randint(1, 300) for line in rand.sample(bank.line_ids, 2)}
            await write_off_directly(sessions, bank.tenant_id, amounts, f"teller-{n}")
            applied.append(sum(amounts.values()))

    async def sql_reader() -> list[tuple[int, int, int, int]]:
        seen = []
        async with engine.connect() as connection:
            while writing:
                seen.append(await totals(connection, bank.tenant_id))
                await connection.commit()  # the next read is a new snapshot
        return seen

    async def api_reader() -> tuple[list[str], set[int]]:
        problems, seen = [], set()
        while writing or not seen:
            body = await gql(client, ACCOUNTS, None, token)
            problems += torn(body, 2 * LINE_CENTS)
            edges = body["data"]["accounts"]["edges"]
            seen.add(sum(parse_money(e["node"]["balance"]) for e in edges))
        return problems, seen

    # when two worker streams and two direct writers change balances while four readers read
    readers = [asyncio.create_task(r()) for r in (sql_reader, sql_reader, api_reader, api_reader)]
    writers = [through_the_worker(n, random.Random(rng.random())) for n in range(2)]
    writers += [directly(n, random.Random(rng.random())) for n in range(2)]
    await asyncio.gather(*writers)
    writing = False
    sql_a, sql_b, api_a, api_b = await asyncio.gather(*readers)
    # then every SQL read saw accounts = visits = lines = ledger, and the readers saw it move
    for seen in (sql_a, sql_b):
        assert [t for t in seen if len(set(t)) != 1] == []
        assert len({t[0] for t in seen}) > 10, seen
    # and every API response was consistent within itself, though they too saw it move
    for problems, seen in (api_a, api_b):
        assert problems == []
        assert len(seen) > 3, seen
    # and the final total is the opening total minus exactly what was applied
    async with engine.connect() as connection:
        final = await totals(connection, bank.tenant_id)
    assert final == (bank.total - sum(applied),) * 4
    assert len(applied) == 2 * 10 + 2 * 25
    async with sessions() as session:
        assert await verify(session, bank.tenant_id) == []


async def test_a_repeatable_read_reader_sees_the_same_totals_while_writers_commit(
    engine: AsyncEngine, sessions: SessionFactory, rng: random.Random
) -> None:
    # given a bank, and a reader that opens a REPEATABLE READ transaction
    bank = await open_bank(sessions, accounts=3, visits=1, lines=2, cents=LINE_CENTS)
    applied: list[int] = []
    writing = True

    async def writer() -> None:
        for _ in range(30):
            amounts = {line: rng.randint(1, 300) for line in rng.sample(bank.line_ids, 2)}
            await write_off_directly(sessions, bank.tenant_id, amounts, "teller")
            applied.append(sum(amounts.values()))
            await asyncio.sleep(0.005)  # let the readers in between commits

    async def committed_reader() -> set[tuple[int, int, int, int]]:
        seen = set()
        async with engine.connect() as connection:
            while writing:
                seen.add(await totals(connection, bank.tenant_id))
                await connection.commit()
        return seen

    async with engine.connect() as connection:
        connection = await connection.execution_options(isolation_level="REPEATABLE READ")
        async with connection.begin():
            first = await totals(connection, bank.tenant_id)
            # when writers commit while it is open (and a READ COMMITTED reader watches)
            other = asyncio.create_task(committed_reader())
            reads = [first]
            task = asyncio.create_task(writer())
            while not task.done():
                reads.append(await totals(connection, bank.tenant_id))
                await asyncio.sleep(0.005)
            await task
            reads.append(await totals(connection, bank.tenant_id))
            writing = False
        after = await totals(connection, bank.tenant_id)
    moving = await other
    # then it read the opening totals every time, though the others saw them move
    assert set(reads) == {(bank.total,) * 4} and len(reads) > 5
    assert len(moving) > 5
    # and once its transaction ends it sees everything the writers applied
    assert after == (bank.total - sum(applied),) * 4


def _adjustment(key: str, target: str, amount: str) -> dict[str, Any]:
    return {
        "idempotencyKey": key,
        "target": target,
        "category": "contract-correction",
        "reason": "contracted-rate-correction",
        "amount": amount,
    }
