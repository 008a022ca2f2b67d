"""Two tenants for the isolation tests: a victim B holding one object of every kind, built over
the real API (so its commands, entries, audit rows, transactions and bulk jobs are the worker's
own), and an attacker A with just enough of its own to make each request otherwise valid.

Also: a digest of everything a tenant holds (to prove it unchanged), the database-wide check
that no row refers to another tenant's row, and the marker strings that must never reach A.
"""

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import Table, text

from api.ids import decode_any
from arledger.config import Settings
from arledger.tokens import issue_token
from domain.bulk import models as bulk_models
from domain.db import SessionFactory
from domain.models import Base, Payer
from domain.remittances.generate import (
    AdjustmentSpec,
    ClaimSpec,
    LineSpec,
    RemittanceSpec,
    generate_835,
)
from tests.bulk.gql import BULK_WRITE_OFF, Line, add_visit, run_job
from tests.bulk.gql import write_off_input as bulk_write_off_input
from tests.reversals.ops import REVERSE_ENTRY, entries_of, reverse_input
from tests.support.client import WRITE_OFF, gid, gql, wait_final, write_off_input
from tests.support.factories import World, make_world
from tests.transactions.ops import setup_codes
from tests.transactions.void_ops import ADD_APPLICATION, CREATE, POST, SAVE_CODE

EVERY_SCOPE = ["billing.read", "billing.payment.write", "billing.adjustment.write", "billing.admin"]
B_ACTOR = "b-secret-actor"
B_ACCOUNT = "B-SECRET-ACCT"
B_PAYER_CODE = "B-SECRET-PAYER"
B_PAYER_NAME = "B Secret Payer"
B_CODE = "B-SECRET-CODE"
B_CODE_DESCRIPTION = "b secret code"
B_NOTE = "b-secret-note"
B_REASON = "b-secret-reason"
B_CATEGORY = "b-secret-category"
B_CATEGORY_NAME = "B Secret Category"
B_WRITE_OFF_KEY = "b-write-off-1"
B_POST_KEY = "b-post-1"
B_BULK_KEY = "b-bulk-1"
B_TRACE = "B-SECRET-TRACE"

ADJUST = """
mutation($input: ApplyAdjustmentInput!) {
  applyAdjustment(input: $input) { command { id status } userErrors { field code message } }
}"""
SETTINGS = """
mutation($input: TenantSettingsInput!) {
  updateTenantSettings(input: $input) { settings { adjustmentReasons } userErrors { code } }
}"""
IMPORT_REMITTANCE = """
mutation($input: ImportRemittanceInput!) {
  importRemittance(input: $input) { remittances { id status } userErrors { code } }
}"""
REMITTANCE_STATUS = "query($id: ID!) { remittance(id: $id) { id status } }"


def token_for(settings: Settings, world: World, actor: str) -> str:
    return issue_token(settings, tenant=world.slug, scopes=EVERY_SCOPE, subject=actor)


async def must(client: httpx.AsyncClient, query: str, variables: dict[str, Any], token: str) -> Any:
    """The single payload of a mutation that must succeed."""
    body = await gql(client, query, variables, token)
    assert "errors" not in body, body
    [payload] = body["data"].values()
    assert payload["userErrors"] == [], payload
    return payload


@dataclass
class Victim:
    """Tenant B: `ids` maps a name to one of B's global ids; neither they nor `secrets` (text
    only B holds) may ever reach A."""

    world: World
    token: str
    ids: dict[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = (
        B_ACTOR,
        B_ACCOUNT,
        B_PAYER_CODE,
        B_PAYER_NAME,
        B_CODE,
        B_CODE_DESCRIPTION,
        B_NOTE,
        B_REASON,
        B_CATEGORY,
        B_CATEGORY_NAME,
        B_TRACE,
    )

    def leaked(self, response: Any, sent: Any) -> set[str]:
        """B's ids and secrets found in a response to A, other than those A itself sent."""
        got, mine = _strings(response), _strings(sent)
        ids = {i for i in self.ids.values() if i in got and i not in mine}
        texts = {m for m in (*self.secrets, self.world.slug) if any(m in s for s in got)}
        return ids | {m for m in texts if not any(m in s for s in mine)}


def _strings(value: Any) -> set[str]:
    """Every string in a JSON value (keys included)."""
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return set(value) | {s for v in value.values() for s in _strings(v)}
    if isinstance(value, list):
        return {s for v in value for s in _strings(v)}
    return set()


async def build_victim(
    client: httpx.AsyncClient, sessions: SessionFactory, settings: Settings
) -> Victim:
    """Tenant B with an object of every kind, each named in `ids`."""
    world = await make_world(sessions, [60000, 40000])
    victim = Victim(world, token_for(settings, world, B_ACTOR))
    token, ids = victim.token, victim.ids
    codes = await setup_codes(sessions, world)
    async with sessions() as session, session.begin():
        payer = Payer(tenant_id=world.tenant_id, code=B_PAYER_CODE, name=B_PAYER_NAME)
        session.add(payer)
        await session.flush()
    secret_lines = await add_visit(
        sessions, world, [Line(20000)], account_number=B_ACCOUNT, visit_number=1
    )
    bulk_lines = await add_visit(
        sessions, world, [Line(300)], account_number=B_ACCOUNT, visit_number=2
    )
    ids.update(
        account=gid("Account", world.account_id),
        visit=gid("Visit", world.visit_id),
        line=gid("ChargeLine", world.line_ids[0]),
        payer=gid("Payer", payer.id),
        payer_one=codes.payer_gid,
        secret_line=gid("ChargeLine", secret_lines[0]),
        bulk_line=gid("ChargeLine", bulk_lines[0]),
    )
    await _ledger_history(client, sessions, victim)
    await _transactions(client, victim)
    job = await run_job(
        client, BULK_WRITE_OFF, bulk_write_off_input(B_BULK_KEY, line_ids=bulk_lines), token
    )
    assert (job["status"], job["applied"]) == ("DONE", 1), job
    ids["job"] = job["id"]
    ids["remittance"] = await _remittance(client, victim)
    ids.update(await _row_ids(sessions, world.tenant_id))
    return victim


def remittance_file(b: Victim) -> str:
    """B's 835: one claim paying 100.00 on B's visit (its 600.00 line), CO-45 400.00, PR-2
    100.00 (the visit's payer, 1, has default codes)."""
    cas = (AdjustmentSpec("CO", "45", 40000), AdjustmentSpec("PR", "2", 10000))
    line = LineSpec("99213", 60000, 10000, adjustments=cas)
    claim = ClaimSpec(f"{b.world.slug}-1", 60000, 10000, lines=(line,))
    return generate_835([RemittanceSpec(B_TRACE, "1999999999", (claim,))])


async def _remittance(client: httpx.AsyncClient, b: Victim) -> str:
    """B's remittance, imported (as text) and posted by the worker; its id."""
    variables = {"input": {"text": remittance_file(b)}}
    imported = await must(client, IMPORT_REMITTANCE, variables, b.token)
    [remittance] = imported["remittances"]
    deadline = time.monotonic() + 60
    while remittance["status"] == "POSTING":
        assert time.monotonic() < deadline, remittance
        await asyncio.sleep(0.05)
        body = await gql(client, REMITTANCE_STATUS, {"id": remittance["id"]}, b.token)
        remittance = body["data"]["remittance"]
    assert remittance["status"] == "POSTED", remittance
    return str(remittance["id"])


async def _ledger_history(client: httpx.AsyncClient, sessions: SessionFactory, b: Victim) -> None:
    """Two write-offs (the first reversed), an adjustment and a settings change."""
    line = b.world.line_ids[0]
    variables = write_off_input(B_WRITE_OFF_KEY, [(line, "10")], reason="OTHER", note=B_NOTE)
    payload = await must(client, WRITE_OFF, variables, b.token)
    first = await wait_final(client, payload["command"]["id"], b.token)
    assert first["status"] == "APPLIED", first
    [reversed_entry] = await entries_of(sessions, _pk(first["id"]))
    payload = await must(client, REVERSE_ENTRY, reverse_input("b-rev-1", reversed_entry), b.token)
    assert (await wait_final(client, payload["command"]["id"], b.token))["status"] == "APPLIED"
    variables = write_off_input("b-write-off-2", [(line, "7.77")])
    payload = await must(client, WRITE_OFF, variables, b.token)
    second = await wait_final(client, payload["command"]["id"], b.token)
    assert second["status"] == "APPLIED", second
    [entry] = await entries_of(sessions, _pk(second["id"]))
    b.ids.update(command=second["id"], entry=gid("LedgerEntry", entry))
    adjustment = {
        "idempotencyKey": "b-adjust-1",
        "target": gid("ChargeLine", b.world.line_ids[1]),
        "category": "contract-correction",
        "reason": "contracted-rate-correction",
        "amount": "5.55",
    }
    payload = await must(client, ADJUST, {"input": adjustment}, b.token)
    assert (await wait_final(client, payload["command"]["id"], b.token))["status"] == "APPLIED"
    category = {
        "code": B_CATEGORY,
        "name": B_CATEGORY_NAME,
        "reducesBalance": True,
        "carcReason": "45",
    }
    change = {
        "adjustmentReasons": ["contracted-rate-correction", B_REASON],
        "adjustmentCategories": [category],
    }
    await must(client, SETTINGS, {"input": change}, b.token)


async def _transactions(client: httpx.AsyncClient, b: Victim) -> None:
    """A B-only code, a work-in-progress payment with an application, and a posted one."""
    code = {"code": B_CODE, "type": "PY", "description": B_CODE_DESCRIPTION}
    await must(client, SAVE_CODE, code, b.token)
    wip = await _payment(client, b, "4.00", B_ACCOUNT)
    b.ids.update(wip=wip["id"], application=wip["applications"][0]["id"])
    posted = await _payment(client, b, "3.00", "A1")
    variables = {"input": {"idempotencyKey": B_POST_KEY, "transactionId": posted["id"]}}
    payload = await must(client, POST, variables, b.token)
    assert (await wait_final(client, payload["command"]["id"], b.token))["status"] == "APPLIED"
    b.ids["posted"] = posted["id"]


async def _payment(client: httpx.AsyncClient, b: Victim, amount: str, account: str) -> Any:
    variables = {"payerId": b.ids["payer_one"], "type": "PY", "amount": amount, "code": B_CODE}
    created = await must(client, CREATE, {"input": variables}, b.token)
    variables = {
        "transactionId": created["transaction"]["id"],
        "accountNumber": account,
        "amount": amount,
    }
    added = await must(client, ADD_APPLICATION, {"input": variables}, b.token)
    return added["transaction"]


async def _row_ids(sessions: SessionFactory, tenant_id: int) -> dict[str, str]:
    """Global ids of B's rows the API gives no handle to at creation: an audit row, a code."""
    async with sessions() as session:
        row = (
            await session.execute(
                text(
                    "SELECT (SELECT min(id) FROM audit_rows WHERE tenant_id = :t "
                    "AND entry_id IS NOT NULL) AS audit, (SELECT id FROM transaction_codes "
                    "WHERE tenant_id = :t AND code = :code) AS code, (SELECT id FROM accounts "
                    "WHERE tenant_id = :t AND account_number = :account) AS account"
                ),
                {"t": tenant_id, "code": B_CODE, "account": B_ACCOUNT},
            )
        ).one()
    return {
        "audit": gid("AuditRow", row.audit),
        "code": gid("TransactionCode", row.code),
        "secret_account": gid("Account", row.account),
    }


@dataclass
class Attacker:
    """Tenant A: its own account A1 (one $900.00 line), payer 1 with default codes, a
    work-in-progress payment with no application, and a finished bulk job."""

    world: World
    token: str
    payer: str
    wip: str
    job: str | None


async def build_attacker(
    client: httpx.AsyncClient, sessions: SessionFactory, settings: Settings, *, job: bool = False
) -> Attacker:
    world = await make_world(sessions, [90000, 500])
    token = token_for(settings, world, "a-actor")
    codes = await setup_codes(sessions, world)
    variables = {"payerId": codes.payer_gid, "type": "PY", "amount": "1.00"}
    created = await must(client, CREATE, {"input": variables}, token)
    job_id = None
    if job:
        variables = bulk_write_off_input("a-bulk-1", line_ids=[world.line_ids[1]])
        done = await run_job(client, BULK_WRITE_OFF, variables, token)
        assert done["status"] == "DONE", done
        job_id = done["id"]
    return Attacker(world, token, codes.payer_gid, created["transaction"]["id"], job_id)


# --- what a tenant holds ------------------------------------------------------------------------

VOLATILE = ("enqueued_at", "published_at")
"""Columns the sweeper and the publisher may stamp later without changing what a row says."""


def _tenant_tables() -> list[Table]:
    assert bulk_models.BulkJob.__table__ in Base.metadata.sorted_tables
    return [t for t in Base.metadata.sorted_tables if "tenant_id" in t.c]


async def holdings(sessions: SessionFactory, tenant_id: int) -> dict[str, tuple[int, str]]:
    """(row count, digest of every row) of each of the tenant's tables, its tenant row and its
    payers' default codes. Any change to anything the tenant holds changes this."""
    queries = {t.name: f"FROM {t.name} x WHERE x.tenant_id = :t" for t in _tenant_tables()} | {
        "tenants": "FROM tenants x WHERE x.id = :t",
        "payer_default_codes": "FROM payer_default_codes x JOIN payers p ON p.id = x.payer_id "
        "WHERE p.tenant_id = :t",
    }
    strip = "".join(f" - '{c}'" for c in VOLATILE)
    found = {}
    async with sessions() as session:
        for name, where in sorted(queries.items()):
            row = (
                await session.execute(
                    text(
                        f"SELECT count(*) AS n, md5(coalesce(string_agg((to_jsonb(x){strip})::text,"
                        f" '|' ORDER BY (to_jsonb(x){strip})::text), '')) AS digest {where}"
                    ),
                    {"t": tenant_id},
                )
            ).one()
            found[name] = (int(row.n), str(row.digest))
    return found


CROSS_TENANT = {
    "entry of another tenant's line": "SELECT e.id FROM ledger_entries e "
    "JOIN charge_lines l ON l.id = e.line_id WHERE l.tenant_id <> e.tenant_id",
    "entry by another tenant's command": "SELECT e.id FROM ledger_entries e "
    "JOIN commands c ON c.id = e.command_id WHERE c.tenant_id <> e.tenant_id",
    "audit row of another tenant's command": "SELECT r.id FROM audit_rows r "
    "JOIN commands c ON c.id = r.command_id WHERE c.tenant_id <> r.tenant_id",
    "audit row of another tenant's line": "SELECT r.id FROM audit_rows r "
    "JOIN charge_lines l ON l.id = r.line_id WHERE l.tenant_id <> r.tenant_id",
    "audit row of another tenant's account": "SELECT r.id FROM audit_rows r "
    "JOIN accounts a ON a.id = r.account_id WHERE a.tenant_id <> r.tenant_id",
    "command naming another tenant's account": "SELECT c.id FROM commands c "
    "JOIN accounts a ON a.id = ANY(c.account_ids) WHERE a.tenant_id <> c.tenant_id",
    "application to another tenant's visit": "SELECT x.id FROM transaction_applications x "
    "JOIN visits v ON v.id = x.visit_id WHERE v.tenant_id <> x.tenant_id",
    "application of another tenant's transaction": "SELECT x.id FROM transaction_applications x "
    "JOIN transactions t ON t.id = x.transaction_id WHERE t.tenant_id <> x.tenant_id",
    "transaction with another tenant's payer": "SELECT t.id FROM transactions t "
    "JOIN payers p ON p.id = t.payer_id WHERE p.tenant_id <> t.tenant_id",
    "transaction with another tenant's code": "SELECT t.id FROM transactions t "
    "JOIN transaction_codes c ON c.id = t.transaction_code_id WHERE c.tenant_id <> t.tenant_id",
    "default code of another tenant": "SELECT d.payer_id FROM payer_default_codes d "
    "JOIN payers p ON p.id = d.payer_id JOIN transaction_codes c "
    "ON c.id = d.transaction_code_id WHERE c.tenant_id <> p.tenant_id",
    "bulk item of another tenant's line": "SELECT i.id FROM bulk_job_items i "
    "JOIN charge_lines l ON l.id = i.line_id WHERE l.tenant_id <> i.tenant_id",
    "bulk item of another tenant's job": "SELECT i.id FROM bulk_job_items i "
    "JOIN bulk_jobs j ON j.id = i.job_id WHERE j.tenant_id <> i.tenant_id",
    "remittance of another tenant's file": "SELECT r.id FROM remittances r "
    "JOIN remittance_files f ON f.id = r.file_id WHERE f.tenant_id <> r.tenant_id",
    "remittance claim of another tenant's remittance": "SELECT c.id FROM remittance_claims c "
    "JOIN remittances r ON r.id = c.remittance_id WHERE r.tenant_id <> c.tenant_id",
    "remittance claim matched to another tenant's visit": "SELECT c.id FROM remittance_claims c "
    "JOIN visits v ON v.id = c.visit_id WHERE v.tenant_id <> c.tenant_id",
    "remittance line matched to another tenant's line": "SELECT x.id FROM remittance_lines x "
    "JOIN charge_lines l ON l.id = x.charge_line_id WHERE l.tenant_id <> x.tenant_id",
}


async def cross_tenant_references(sessions: SessionFactory) -> dict[str, list[int]]:
    """Every row (in the whole database) that refers to a row of another tenant."""
    found = {}
    async with sessions() as session:
        for what, query in CROSS_TENANT.items():
            if rows := list(await session.scalars(text(query))):
                found[what] = rows
    return found


async def settled(sessions: SessionFactory, *tenant_ids: int, within: float = 60) -> None:
    """Wait until none of these tenants has a PENDING command or an unfinished bulk job."""
    deadline = time.monotonic() + within
    query = text(
        "SELECT (SELECT count(*) FROM commands WHERE status = 'PENDING' "
        "AND tenant_id = ANY(CAST(:t AS BIGINT[]))) + (SELECT count(*) FROM bulk_jobs "
        "WHERE finished_at IS NULL AND tenant_id = ANY(CAST(:t AS BIGINT[])))"
    )
    while True:
        async with sessions() as session:
            busy = await session.scalar(query, {"t": list(tenant_ids)})
        if not busy:
            return
        assert time.monotonic() < deadline, f"{busy} commands or jobs still unfinished"
        await asyncio.sleep(0.05)


def _pk(global_id: str) -> int:
    decoded = decode_any(global_id)
    assert decoded is not None, global_id
    return decoded[1]
