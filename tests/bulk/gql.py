"""Helpers for the bulk-job API tests: the GraphQL documents, submitting a job and waiting for the
worker to finish it, building tenants with lines in every situation, what the database holds,
and a hand-spoken graphql-transport-ws client for the `bulkJob` subscription."""

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from api.ids import decode_id
from arledger.config import Settings
from domain.bulk.apply import apply_bulk_command
from domain.bulk.models import BulkJob
from domain.bulk.service import submit_bulk_writeoff
from domain.db import SessionFactory
from domain.ledger.batch import Posting, post
from domain.locks import lock_lines
from domain.models import (
    Account,
    ChargeLine,
    Command,
    LedgerEntry,
    Payer,
    Transaction,
    Visit,
)
from domain.uow import UnitOfWork
from tests.support.client import gid, gql
from tests.support.factories import World

READ = "billing.read"
PAYMENT = "billing.payment.write"
ADJUST = "billing.adjustment.write"
EVERY_SCOPE = f"{READ} {PAYMENT} {ADJUST}"

# --- documents ----------------------------------------------------------------------------------

JOB_FIELDS = """
  id kind status transactionType reason actor total applied skipped cancelled remaining summary
  appliedAmount finished errorCode reversesJobId reversedBy { id }
  skipReasons { code count }
"""
ITEM_FIELDS = (
    "seq status code message amount lineId visitId accountId entryId transactionId expectedBalance"
)
PAYLOAD = f"job {{ {JOB_FIELDS} }} userErrors {{ field code message }}"
BULK_WRITE_OFF = f"""
mutation($input: BulkWriteOffInput!) {{ bulkWriteOff(input: $input) {{ {PAYLOAD} }} }}"""
BULK_SELF_PAY = f"""
mutation($input: BulkSelfPayInput!) {{ bulkSelfPayTransactions(input: $input) {{ {PAYLOAD} }} }}"""
REVERSE_BULK_JOB = f"""
mutation($input: ReverseBulkJobInput!) {{ reverseBulkJob(input: $input) {{ {PAYLOAD} }} }}"""
CANCEL_BULK_JOB = f"""
mutation($jobId: ID!) {{ cancelBulkJob(jobId: $jobId) {{ {PAYLOAD} }} }}"""
JOB = f"query($id: ID!) {{ node(id: $id) {{ __typename ... on BulkJob {{ {JOB_FIELDS} }} }} }}"
JOB_ITEMS = f"""
query($id: ID!, $status: BulkJobItemStatus, $first: Int!, $after: String) {{
  node(id: $id) {{
    ... on BulkJob {{
      items(status: $status, first: $first, after: $after) {{
        pageInfo {{ hasNextPage endCursor }}
        nodes {{ {ITEM_FIELDS} }}
      }}
    }}
  }}
}}"""
BULK_JOBS = """
query($status: BulkJobStatus, $kind: BulkJobKind, $first: Int!, $after: String) {
  bulkJobs(status: $status, kind: $kind, first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes { id kind status }
  }
}"""
BALANCES = """
{
  accounts(first: 100) {
    nodes {
      accountNumber balance
      visits { visitNumber balance chargeLines { id balance } }
    }
  }
}"""
BULK_JOB_SUBSCRIPTION = """
subscription($id: ID!) {
  bulkJob(id: $id) {
    jobId status total applied skipped cancelled remaining finished summary
  }
}"""

# --- sending ------------------------------------------------------------------------------------


async def mutate(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any], token: str | None
) -> dict[str, Any]:
    """The single mutation payload of `query` (asserting there are no top-level errors)."""
    body = await gql(client, query, variables, token)
    assert "errors" not in body, body
    [payload] = body["data"].values()
    return dict(payload)


def codes(payload: dict[str, Any]) -> list[tuple[str | None, str]]:
    """(field, code) of a payload's userErrors, checking each has a message and no job came."""
    assert all(e["message"] for e in payload["userErrors"]), payload
    if payload["userErrors"]:
        assert payload["job"] is None, payload
    return [(e["field"], e["code"]) for e in payload["userErrors"]]


def line_gids(line_ids: list[int]) -> list[str]:
    return [gid("ChargeLine", i) for i in line_ids]


def write_off_input(
    key: str,
    *,
    line_ids: list[int] | None = None,
    filter: dict[str, Any] | None = None,
    reason: str = "CHARITY",
    note: str | None = None,
) -> dict[str, Any]:
    """Variables for bulkWriteOff; `line_ids` are primary keys, `reason` a WriteOffReason name."""
    selection: dict[str, Any] = {}
    if line_ids is not None:
        selection["lineIds"] = line_gids(line_ids)
    if filter is not None:
        selection["filter"] = filter
    return {
        "input": {"idempotencyKey": key, "selection": selection, "reason": reason, "note": note}
    }


def self_pay_input(key: str, type_: str, **fields: Any) -> dict[str, Any]:
    """Variables for bulkSelfPayTransactions (camelCase `fields`: amount, percent, filter …)."""
    return {"input": {"idempotencyKey": key, "type": type_, **fields}}


def reverse_input(key: str, job_id: str, reason: str = "entered in error") -> dict[str, Any]:
    return {"input": {"idempotencyKey": key, "jobId": job_id, "reason": reason}}


async def submit(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any], token: str
) -> dict[str, Any]:
    """Submit a job that must be accepted; the job as the mutation returned it."""
    payload = await mutate(client, query, variables, token)
    assert payload["userErrors"] == [], payload
    job: dict[str, Any] = payload["job"]
    return job


async def read_job(client: httpx.AsyncClient, job_id: str, token: str) -> dict[str, Any] | None:
    body = await gql(client, JOB, {"id": job_id}, token)
    assert "errors" not in body, body
    node: dict[str, Any] | None = body["data"]["node"]
    if node is None:
        return None
    assert node.pop("__typename") == "BulkJob", node
    return node


async def wait_job(
    client: httpx.AsyncClient, job_id: str, token: str, within: float = 60
) -> dict[str, Any]:
    """Poll `node(id)` until the job is finished; the job then."""
    deadline = time.monotonic() + within
    while True:
        assert time.monotonic() < deadline, f"bulk job {job_id} not finished"
        try:
            job = await read_job(client, job_id, token)
        except (httpx.ReadError, httpx.RemoteProtocolError):
            continue  # a kept-alive connection closed under us; the read is safe to repeat
        assert job is not None, job_id
        if job["finished"]:
            return job
        await asyncio.sleep(0.05)


async def run_job(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any], token: str
) -> dict[str, Any]:
    """Submit a job, check it came back QUEUED, and wait until the worker finished it."""
    job = await submit(client, query, variables, token)
    assert (job["status"], job["total"], job["finished"]) == ("QUEUED", None, False), job
    assert job["summary"] == "Selecting rows…"
    return await wait_job(client, job["id"], token)


async def job_items(
    client: httpx.AsyncClient, job_id: str, token: str, status: str | None = None
) -> list[dict[str, Any]]:
    """Every item of the job (optionally of one status), following the pages."""
    found: list[dict[str, Any]] = []
    after = None
    while True:
        variables = {"id": job_id, "status": status, "first": 100, "after": after}
        body = await gql(client, JOB_ITEMS, variables, token)
        assert "errors" not in body, body
        page = body["data"]["node"]["items"]
        found.extend(page["nodes"])
        if not page["pageInfo"]["hasNextPage"]:
            return found
        after = page["pageInfo"]["endCursor"]


@dataclass(frozen=True)
class Balances:
    """Balances as GraphQL shows them: by account number, by (account, visit), by line gid."""

    accounts: dict[str, str]
    visits: dict[tuple[str, int], str]
    lines: dict[str, str]


async def balances_shown(client: httpx.AsyncClient, token: str) -> Balances:
    body = await gql(client, BALANCES, None, token)
    assert "errors" not in body, body
    accounts, visits, lines = {}, {}, {}
    for account in body["data"]["accounts"]["nodes"]:
        number = account["accountNumber"]
        accounts[number] = account["balance"]
        for visit in account["visits"]:
            visits[number, visit["visitNumber"]] = visit["balance"]
            lines.update({x["id"]: x["balance"] for x in visit["chargeLines"]})
    return Balances(accounts, visits, lines)


def money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def cents_of(amount: str) -> int:
    """Cents of a Money string such as "12.30" or "-0.05"."""
    sign = -1 if amount.startswith("-") else 1
    whole, _, frac = amount.lstrip("-").partition(".")
    return sign * (int(whole) * 100 + int(frac or 0))


def pk(global_id: str, type_name: str) -> int:
    found = decode_id(global_id, type_name)
    assert found is not None, global_id
    return found


# --- building tenants ---------------------------------------------------------------------------


def today() -> date:
    """Today in UTC (every test tenant's time zone)."""
    return datetime.now(UTC).date()


def days_ago(days: int) -> date:
    return today() - timedelta(days=days)


@dataclass(frozen=True)
class Line:
    """A charge line to build: `cents` charged, then `paid` paid (a credit when more), maybe
    protected."""

    cents: int
    paid: int = 0
    protected: bool = False

    @property
    def balance(self) -> int:
        return self.cents - self.paid


async def add_payer(sessions: SessionFactory, world: World, code: str) -> int:
    async with sessions() as session, session.begin():
        payer = Payer(tenant_id=world.tenant_id, code=code, name=f"Payer {code}")
        session.add(payer)
        await session.flush()
        return payer.id


async def add_account(sessions: SessionFactory, world: World, number: str) -> int:
    async with sessions() as session, session.begin():
        account = Account(tenant_id=world.tenant_id, account_number=number, name=f"Pat {number}")
        session.add(account)
        await session.flush()
        return account.id


async def add_visit(
    sessions: SessionFactory,
    world: World,
    lines: list[Line],
    *,
    account_number: str = "A1",
    visit_number: int,
    state: str = "open",
    date_of_service: date = date(2026, 10, 1),
    payer_code: str = "1",
) -> list[int]:
    """Another visit (on an existing or new account) whose lines are charged, and paid when
    asked, through the ledger; its line ids in line order."""
    async with sessions() as session, session.begin():
        account_id = await session.scalar(
            select(Account.id).where(
                Account.tenant_id == world.tenant_id, Account.account_number == account_number
            )
        )
        if account_id is None:
            account = Account(
                tenant_id=world.tenant_id, account_number=account_number, name="Sam Roe"
            )
            session.add(account)
            await session.flush()
            account_id = account.id
        payer_id = await session.scalar(
            select(Payer.id).where(Payer.tenant_id == world.tenant_id, Payer.code == payer_code)
        )
        assert payer_id is not None, payer_code
        visit = Visit(
            tenant_id=world.tenant_id,
            account_id=account_id,
            visit_number=visit_number,
            claim_number=f"{world.slug}-{account_number}-{visit_number}",
            date_of_service=date_of_service,
            payer_id=payer_id,
            state=state,
            billed_cents=sum(x.cents for x in lines),
        )
        session.add(visit)
        await session.flush()
        rows = [
            ChargeLine(
                tenant_id=world.tenant_id,
                account_id=account_id,
                visit_id=visit.id,
                line_number=n + 1,
                procedure_code="99214",
                billed_cents=x.cents,
                protected=x.protected,
            )
            for n, x in enumerate(lines)
        ]
        session.add_all(rows)
        await session.flush()
        locked = await lock_lines(session, world.tenant_id, [r.id for r in rows])
        postings = [
            Posting(r.id, x.cents, "CHARGE", "CHARGE_POSTED")
            for r, x in zip(rows, lines, strict=True)
            if x.cents
        ] + [
            Posting(r.id, -x.paid, "PAYMENT", "PAYMENT_APPLIED")
            for r, x in zip(rows, lines, strict=True)
            if x.paid
        ]
        await post(session, world.tenant_id, locked, postings, "seed", None)
    return [r.id for r in rows]


# --- what the database holds --------------------------------------------------------------------


@dataclass(frozen=True)
class Stored:
    """What a tenant holds that a bulk submission could add to."""

    jobs: int
    commands: int
    entries: int
    transactions: int
    balances: list[int]


async def stored(sessions: SessionFactory, tenant_id: int) -> Stored:
    async with sessions() as session:

        async def count(model: Any) -> int:
            return int(
                await session.scalar(
                    select(func.count()).select_from(model).where(model.tenant_id == tenant_id)
                )
                or 0
            )

        jobs = await count(BulkJob)
        commands = await count(Command)
        entries = await count(LedgerEntry)
        transactions = await count(Transaction)
        balances = await session.scalars(
            select(ChargeLine.balance_cents)
            .where(ChargeLine.tenant_id == tenant_id)
            .order_by(ChargeLine.id)
        )
        return Stored(jobs, commands, entries, transactions, list(balances))


async def job_row(sessions: SessionFactory, job_id: str) -> BulkJob:
    async with sessions() as session:
        row = await session.get(BulkJob, pk(job_id, "BulkJob"))
    assert row is not None
    return row


async def command_final(sessions: SessionFactory, command_id: int, within: float = 30) -> str:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        async with sessions() as session:
            status = await session.scalar(select(Command.status).where(Command.id == command_id))
        if status != "PENDING":
            assert status is not None
            return status
        await asyncio.sleep(0.05)
    raise AssertionError(f"command {command_id} still PENDING")


async def visit_ids(sessions: SessionFactory, world: World) -> list[int]:
    async with sessions() as session:
        rows = await session.scalars(
            select(Visit.id).where(Visit.tenant_id == world.tenant_id).order_by(Visit.id)
        )
        return list(rows)


async def line_ids_by_visit(sessions: SessionFactory, world: World) -> dict[int, list[int]]:
    async with sessions() as session:
        rows = await session.execute(
            select(ChargeLine.visit_id, ChargeLine.id)
            .where(ChargeLine.tenant_id == world.tenant_id)
            .order_by(ChargeLine.visit_id, ChargeLine.line_number)
        )
    found: dict[int, list[int]] = {}
    for visit_id, line_id in rows:
        found.setdefault(visit_id, []).append(line_id)
    return found


async def plan_holding_chunks(
    sessions: SessionFactory, settings: Settings, plan_command_id: int
) -> list[int]:
    """Plan a held job here (selecting its rows, RUNNING) without sending its chunks (the
    sweeper sends them after SWEEP_AFTER_SECONDS); the chunk commands' ids."""

    async def hold(command_ids: list[int]) -> None:
        held.extend(command_ids)

    held: list[int] = []
    async with UnitOfWork(sessions) as uow:
        kind = await apply_bulk_command(uow, plan_command_id, settings.bulk_chunk_size, hold)
        await uow.commit()
    assert kind == "BULK_PLAN"
    return held


async def noop_enqueue(command_id: int) -> None:
    return None


async def hold_write_off(
    sessions: SessionFactory, world: World, key: str, line_ids: list[int], reason: str = "charity"
) -> tuple[str, int]:
    """A QUEUED bulk write-off whose planning message is never sent (the sweeper sends it after
    SWEEP_AFTER_SECONDS); (the job's global id, its planning command's id)."""
    async with UnitOfWork(sessions) as uow:
        job = await submit_bulk_writeoff(
            uow,
            tenant_id=world.tenant_id,
            actor="tester",
            idempotency_key=key,
            line_ids=list(line_ids),
            raw_filter=None,
            reason=reason,
            note=None,
            enqueue=noop_enqueue,
        )
        await uow.commit()
    async with sessions() as session:
        plan = await session.scalar(
            select(Command.id).where(
                Command.tenant_id == world.tenant_id,
                Command.kind == "BULK_PLAN",
                Command.payload["job"].as_integer() == job.id,
            )
        )
    assert plan is not None
    return gid("BulkJob", job.id), plan


# --- the bulkJob subscription -------------------------------------------------------------------


class Subscriber:
    """One graphql-transport-ws connection, spoken by hand."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def receive(self, within: float = 30) -> dict[str, Any]:
        async with asyncio.timeout(within):
            while True:
                message: dict[str, Any] = json.loads(await self.ws.recv())
                if message["type"] == "ping":
                    await self.send({"type": "pong"})
                    continue
                return message

    async def subscribe(self, op: str, job_id: str) -> None:
        await self.send(
            {
                "id": op,
                "type": "subscribe",
                "payload": {"query": BULK_JOB_SUBSCRIPTION, "variables": {"id": job_id}},
            }
        )

    async def events(self, op: str) -> list[dict[str, Any]]:
        """Every event of `op` until the server completes it (failing on anything else)."""
        found: list[dict[str, Any]] = []
        while True:
            message = await self.receive()
            assert message.get("id") == op, message
            if message["type"] == "complete":
                return found
            assert message["type"] == "next", message
            assert "errors" not in message["payload"], message
            found.append(message["payload"]["data"]["bulkJob"])

    async def errors(self, op: str) -> list[tuple[str, str | None]]:
        """The errors `op` ended with, as (message, code); nothing more comes for it."""
        message = await self.receive()
        assert message.get("id") == op, message
        if message["type"] == "error":
            errors = message["payload"]
        else:
            assert message["type"] == "next", message
            assert message["payload"].get("data") is None, message
            errors = message["payload"]["errors"]
            assert await self.receive() == {"id": op, "type": "complete"}
        return [(e["message"], (e.get("extensions") or {}).get("code")) for e in errors]

    async def assert_silent(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            message = await self.receive(within=seconds)
            raise AssertionError(f"unexpected message {message}")


@contextlib.asynccontextmanager
async def subscriber(server: str, token: str) -> AsyncIterator[Subscriber]:
    url = server.replace("http", "ws", 1) + "/graphql"
    async with connect(url, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
        sub = Subscriber(ws)
        await sub.send({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
        assert (await sub.receive())["type"] == "connection_ack"
        yield sub
