"""Running fuzzed cases against the real server: the harness of
`tests/security/test_fuzz_inputs.py`.

Hypothesis runs in a thread (its tests are synchronous) and hands each request and database read
to the test's event loop, where the session's HTTP client and engine live.
"""

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from sqlalchemy import BigInteger, bindparam, text

from arledger.config import Settings
from domain.db import SessionFactory
from tests.reversals.ops import write_off
from tests.security.fuzz import Case, ids, judge
from tests.support.client import gid
from tests.support.factories import World, make_world
from tests.support.seeds import SEED
from tests.transactions.ops import EVERY_SCOPE, must_create, setup_codes

COUNTS = text(
    "SELECT (SELECT COUNT(*) FROM commands WHERE tenant_id = :t), "
    "(SELECT COUNT(*) FROM ledger_entries WHERE tenant_id = :t), "
    "(SELECT COUNT(*) FROM audit_rows WHERE tenant_id = :t), "
    "(SELECT COUNT(*) FROM transactions WHERE tenant_id = :t), "
    "(SELECT COUNT(*) FROM transaction_applications a JOIN transactions x "
    "ON x.id = a.transaction_id WHERE x.tenant_id = :t), "
    "(SELECT COUNT(*) FROM bulk_jobs WHERE tenant_id = :t)"
).bindparams(bindparam("t", type_=BigInteger))
BUSY = text(
    "SELECT (SELECT COUNT(*) FROM commands WHERE tenant_id = :t AND status = 'PENDING') "
    "+ (SELECT COUNT(*) FROM bulk_jobs WHERE tenant_id = :t AND status IN ('QUEUED', 'RUNNING'))"
).bindparams(bindparam("t", type_=BigInteger))
FRESH = "<fresh key>"
FUZZ = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class Fuzzer:
    """Sends fuzzed cases to the real server from hypothesis's thread via the test's loop."""

    def __init__(
        self, client: httpx.AsyncClient, sessions: SessionFactory, world: World, token: str
    ):
        self.loop = asyncio.get_running_loop()
        self.client, self.sessions, self.world, self.token = client, sessions, world, token
        self.sent = 0

    def run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=120)

    async def send(self, case: Case) -> httpx.Response:
        self.sent += 1
        variables = json.dumps(case.variables).replace(json.dumps(FRESH), f'"fuzz-{self.sent}"')
        body = f'{{"query": {json.dumps(case.document)}, "variables": {variables}}}'  # ASCII
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        return await self.client.post("/graphql", content=body.encode(), headers=headers)

    async def counts(self) -> tuple[int, ...]:
        async with self.sessions() as session:
            return tuple((await session.execute(COUNTS, {"t": self.world.tenant_id})).one())

    async def settle(self) -> None:
        """Wait until the worker has finished every command and job of the tenant."""
        deadline = time.monotonic() + 60
        while True:
            async with self.sessions() as session:
                busy = await session.scalar(BUSY, {"t": self.world.tenant_id})
            if not busy:
                return
            assert time.monotonic() < deadline, "the tenant's work never finished"
            await asyncio.sleep(0.05)

    def check(self, case: Case) -> None:
        """The properties for one case."""
        before = self.run(self.counts())
        if judge(self.run(self.send(case))):
            assert self.run(self.counts()) == before, case
        else:
            self.run(self.settle())

    async def fuzz(self, cases: st.SearchStrategy[Case], examples: int) -> None:
        @seed(SEED)
        @settings(FUZZ, max_examples=examples)
        @given(case=cases)
        def property_holds(case: Case) -> None:
            self.check(case)

        await asyncio.to_thread(property_holds)


@dataclass(frozen=True)
class Targets:
    """Global ids of the fuzzed tenant's rows by type, and of every row of both tenants."""

    own: dict[str, list[str]]
    every: list[str]

    def ids(self, type_name: str) -> Any:
        return ids(self.own[type_name], self.every)


async def targets_of(sessions: SessionFactory, world: World, other: World) -> Targets:
    """Ids of lines, visits, accounts, entries, payers, transactions, commands of both tenants."""
    tables = {
        "ChargeLine": "charge_lines", "Visit": "visits", "Account": "accounts",
        "LedgerEntry": "ledger_entries", "Payer": "payers", "Transaction": "transactions",
        "Command": "commands",
    }  # fmt: skip
    own: dict[str, list[str]] = {}
    every: list[str] = []
    async with sessions() as session:
        for type_name, table in tables.items():
            rows = await session.execute(
                text(f"SELECT tenant_id, id FROM {table} WHERE tenant_id IN (:a, :b)").bindparams(
                    bindparam("a", type_=BigInteger), bindparam("b", type_=BigInteger)
                ),
                {"a": world.tenant_id, "b": other.tenant_id},
            )
            for tenant_id, pk in rows:
                every.append(gid(type_name, pk))
                if tenant_id == world.tenant_id:
                    own.setdefault(type_name, []).append(gid(type_name, pk))
    return Targets(own, every)


async def fuzz_world(
    client: httpx.AsyncClient, sessions: SessionFactory, settings: Settings
) -> tuple[Fuzzer, Targets]:
    """A tenant with lines, an applied write-off, a work-in-progress transaction and codes;
    another tenant like it, whose ids are fair game too."""
    worlds = [await make_world(sessions, [100_000, 2500, 300]), await make_world(sessions, [5000])]
    fuzzers = []
    for world in worlds:
        codes = await setup_codes(sessions, world)
        token = world.token(settings, EVERY_SCOPE)
        await write_off(client, sessions, token, "first", world.line_ids[0], "10")
        await must_create(client, token, codes.payer_gid, "PY", "25")
        fuzzers.append(Fuzzer(client, sessions, world, token))
    return fuzzers[0], await targets_of(sessions, *worlds)
