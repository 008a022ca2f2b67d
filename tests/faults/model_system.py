"""The real system as the model-based test drives it: GraphQL over the running server, the
worker applying commands, and reads of what PostgreSQL holds.

Hypothesis rules are synchronous; they run in a thread and hand each coroutine to the test's
event loop (where the session's engine and HTTP client live) with `System.run`.
"""

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from sqlalchemy import func, select, update

from api.ids import decode_id
from domain.db import SessionFactory
from domain.ledger.verify import verify
from domain.models import Account, ChargeLine, Command, LedgerEntry, Visit
from tests.faults.model_ledger import Entry, Line, Model, Row
from tests.reversals.ops import add_visit
from tests.support.client import gql, wait_final
from tests.support.factories import World, make_world
from tests.transactions.ops import setup_codes

T = TypeVar("T")
USER_ERRORS = "userErrors { field code message }"
WRITE_OFF = f"""mutation($input: WriteOffInput!) {{
  writeOff(input: $input) {{ command {{ id kind }} {USER_ERRORS} }} }}"""
ADJUST = f"""mutation($input: ApplyAdjustmentInput!) {{
  applyAdjustment(input: $input) {{ command {{ id kind }} reducesBalance carc {USER_ERRORS} }} }}"""
REVERSE = f"""mutation($input: ReverseEntryInput!) {{
  reverseEntry(input: $input) {{
    command {{ id kind }} original {{ id kind amount }} {USER_ERRORS} }} }}"""
POST = f"""mutation($input: PostTransactionInput!) {{
  postTransaction(input: $input) {{ command {{ id kind }} {USER_ERRORS} }} }}"""
VOID = f"""mutation($input: VoidTransactionInput!) {{
  voidTransaction(input: $input) {{ command {{ id kind }} {USER_ERRORS} }} }}"""
CREATE = f"""mutation($input: CreateTransactionInput!) {{
  createTransaction(input: $input) {{ transaction {{ id status }} {USER_ERRORS} }} }}"""
ADD_APPLICATION = f"""mutation($input: AddTransactionApplicationInput!) {{
  addTransactionApplication(input: $input) {{ transaction {{ id appliedAmount }} {USER_ERRORS} }}
}}"""
TRANSACTION_STATUS = "query($id: ID!) { node(id: $id) { ... on Transaction { status } } }"


@dataclass(frozen=True)
class Place:
    """A visit as a transaction application names it."""

    visit_id: int
    account_number: str
    visit_number: int


@dataclass(frozen=True)
class Snapshot:
    lines: dict[int, int]
    visits: dict[int, int]
    accounts: dict[int, int]
    entries: int
    commands: int


class System:
    """One tenant (three visits on two accounts, one protected line) behind the real API."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, client: httpx.AsyncClient, sessions: SessionFactory
    ) -> None:
        self.loop, self.client, self.sessions = loop, client, sessions
        self.token = ""
        self.world: World | None = None
        self.places: list[Place] = []
        self.payer = ""

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run `coroutine` on the test's event loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=120)

    async def build(self, visits: list[list[int]], threshold: int, token: Any) -> Model:
        """A fresh tenant with `visits` (line balances in cents); the model of it."""
        world = await make_world(self.sessions, visits[0], threshold=threshold)
        second = await add_visit(self.sessions, world, visits[1])
        third = await add_visit(self.sessions, world, visits[2], new_account=True)
        async with self.sessions() as session, session.begin():
            await session.execute(
                update(ChargeLine).where(ChargeLine.id == third.line_ids[-1]).values(protected=True)
            )
        self.payer = (await setup_codes(self.sessions, world)).payer_gid
        self.world, self.token = world, token(world)
        self.places = [
            Place(world.visit_id, "A1", 1),
            Place(second.visit_id, "A1", 2),
            Place(third.visit_id, "A2", 1),
        ]
        return await self._model(threshold)

    async def _model(self, threshold: int) -> Model:
        assert self.world is not None
        model = Model(threshold)
        async with self.sessions() as session:
            lines = await session.execute(
                select(
                    ChargeLine.id,
                    ChargeLine.visit_id,
                    ChargeLine.account_id,
                    ChargeLine.balance_cents,
                    ChargeLine.protected,
                )
                .where(ChargeLine.tenant_id == self.world.tenant_id)
                .order_by(ChargeLine.visit_id, ChargeLine.line_number)
            )
            for row in lines:
                model.lines[row[0]] = Line(*row)
            rows = await self._entries(session, LedgerEntry.tenant_id == self.world.tenant_id)
        for entry_id, line_id, kind, amount, memo, reverses in rows:
            model.entries[entry_id] = Entry(entry_id, line_id, kind, amount, memo, reverses, None)
        return model

    async def send(self, document: str, variables: dict[str, Any]) -> dict[str, Any]:
        """The single payload of a mutation (no top-level errors allowed)."""
        body = await gql(self.client, document, variables, self.token)
        assert "errors" not in body, body
        [payload] = body["data"].values()
        return dict(payload)

    async def final(self, command_gid: str) -> tuple[str, str | None, list[Row]]:
        """(status, error code, entries written) once the worker has finished the command."""
        done = await wait_final(self.client, command_gid, self.token)
        pk = decode_id(command_gid, "Command")
        async with self.sessions() as session:
            rows = await self._entries(session, LedgerEntry.command_id == pk)
        return done["status"], done["errorCode"], rows

    @staticmethod
    async def _entries(session: Any, where: Any) -> list[Row]:
        rows = await session.execute(
            select(
                LedgerEntry.id,
                LedgerEntry.line_id,
                LedgerEntry.kind,
                LedgerEntry.amount_cents,
                LedgerEntry.memo_amount_cents,
                LedgerEntry.reverses_entry_id,
            )
            .where(where)
            .order_by(LedgerEntry.id)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]

    async def transaction_status(self, transaction: str) -> str:
        body = await gql(self.client, TRANSACTION_STATUS, {"id": transaction}, self.token)
        return str(body["data"]["node"]["status"])

    async def snapshot(self) -> Snapshot:
        """Every balance of the tenant, its ledger entry count and its command count."""
        assert self.world is not None
        tenant = self.world.tenant_id
        async with self.sessions() as session:
            return Snapshot(
                await _balances(session, ChargeLine, tenant),
                await _balances(session, Visit, tenant),
                await _balances(session, Account, tenant),
                await _count(session, LedgerEntry, tenant),
                await _count(session, Command, tenant),
            )

    async def findings(self) -> list[Any]:
        """What the correctness oracle finds wrong with the tenant (empty when nothing)."""
        assert self.world is not None
        async with self.sessions() as session:
            return list(await verify(session, self.world.tenant_id))


async def _balances(session: Any, model: Any, tenant_id: int) -> dict[int, int]:
    rows = await session.execute(
        select(model.id, model.balance_cents).where(model.tenant_id == tenant_id)
    )
    return {pk: cents for pk, cents in rows}


async def _count(session: Any, model: Any, tenant_id: int) -> int:
    query = select(func.count()).select_from(model).where(model.tenant_id == tenant_id)
    return int(await session.scalar(query) or 0)


def money(cents: int) -> str:
    """Cents as the API takes them: whole dollars without decimals, else two."""
    whole, frac = divmod(cents, 100)
    return str(whole) if frac == 0 else f"{whole}.{frac:02d}"


def amount_for(balance: int, mode: str, frac: int) -> int:
    """A positive amount: the whole balance, part of it, or more than it."""
    if mode == "whole":
        return balance if balance > 0 else 1
    if mode == "partial":
        return max(balance * frac // 100, 1)
    return max(balance, 0) + frac


@dataclass(frozen=True)
class Sent:
    """An accepted mutation: what was sent, what came back, and a different request."""

    document: str
    variables: dict[str, Any]
    payload: dict[str, Any]
    altered: dict[str, Any]


def altered(variables: dict[str, Any], **change: Any) -> dict[str, Any]:
    return {"input": {**variables["input"], **change}}


def money_out(cents: int) -> str:
    """Cents as the API answers: always two decimals."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{whole}.{frac:02d}"
