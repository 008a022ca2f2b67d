"""Helpers for the transaction-void tests: transaction codes and payer defaults for every type,
transactions created, applied, posted and voided over HTTP, and what the database holds."""

from typing import Any

import httpx
from sqlalchemy import select, update

from api.ids import decode_id
from domain.db import SessionFactory
from domain.models import AuditRow, LedgerEntry, Payer, Transaction, Visit
from tests.support.client import gid, gql, wait_final
from tests.support.factories import World

EVERY_SCOPE = "billing.read billing.payment.write billing.adjustment.write billing.admin"
TYPES = ("PY", "CW", "BD", "FC", "AD", "AC", "RF")

SAVE_CODE = """
mutation($code: String!, $type: TransactionType!, $description: String!) {
  saveTransactionCode(code: $code, type: $type, description: $description) {
    transactionCode { id code type } userErrors { field code message }
  }
}"""
SET_DEFAULT = """
mutation($payerId: ID!, $type: TransactionType!, $code: String) {
  setPayerDefaultCode(payerId: $payerId, type: $type, code: $code) {
    payer { id } userErrors { field code message }
  }
}"""
TXN_FIELDS = """
  id type amount status voidReason transactionDate lastErrorCode
  appliedAmount unappliedAmount
  applications { id accountNumber visitNumber amount contractualAmount visitBalance }
  entries { id kind amount category carcGroup carcReason reversesEntryId }
"""
CREATE = f"""
mutation($input: CreateTransactionInput!) {{
  createTransaction(input: $input) {{
    transaction {{ {TXN_FIELDS} }} userErrors {{ field code message }}
  }}
}}"""
ADD_APPLICATION = f"""
mutation($input: AddTransactionApplicationInput!) {{
  addTransactionApplication(input: $input) {{
    transaction {{ {TXN_FIELDS} }} userErrors {{ field code message }}
  }}
}}"""
POST = """
mutation($input: PostTransactionInput!) {
  postTransaction(input: $input) { command { id kind status } userErrors { field code message } }
}"""
VOID = """
mutation($input: VoidTransactionInput!) {
  voidTransaction(input: $input) { command { id kind status } userErrors { field code message } }
}"""
NODE = f"""
query($id: ID!) {{ node(id: $id) {{ ... on Transaction {{ {TXN_FIELDS} }} }} }}"""


async def payer_pk(sessions: SessionFactory, world: World) -> int:
    async with sessions() as session:
        pk = await session.scalar(
            select(Payer.id).where(Payer.tenant_id == world.tenant_id, Payer.code == "1")
        )
    assert pk is not None
    return pk


async def configure_codes(
    client: httpx.AsyncClient, sessions: SessionFactory, world: World, token: str
) -> str:
    """A code `<TYPE>1` for every type, each the default of payer 1; the payer's global id."""
    payer = gid("Payer", await payer_pk(sessions, world))
    for type_ in TYPES:
        variables = {"code": f"{type_}1", "type": type_, "description": f"{type_} code"}
        saved = (await gql(client, SAVE_CODE, variables, token))["data"]["saveTransactionCode"]
        assert saved["userErrors"] == [], saved
        variables = {"payerId": payer, "type": type_, "code": f"{type_}1"}
        body = await gql(client, SET_DEFAULT, variables, token)
        assert body["data"]["setPayerDefaultCode"]["userErrors"] == [], body
    return payer


async def create(
    client: httpx.AsyncClient,
    token: str,
    payer: str,
    type_: str,
    amount: str,
    transaction_date: str | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    """A work-in-progress transaction (must succeed)."""
    variables: dict[str, Any] = {"payerId": payer, "type": type_, "amount": amount}
    if code is not None:
        variables["code"] = code
    if transaction_date is not None:
        variables["transactionDate"] = transaction_date
    body = await gql(client, CREATE, {"input": variables}, token)
    payload = body["data"]["createTransaction"]
    assert payload["userErrors"] == [], payload
    txn: dict[str, Any] = payload["transaction"]
    return txn


async def apply_to(
    client: httpx.AsyncClient,
    token: str,
    txn_id: str,
    account: str,
    amount: str,
    visit: int | None = None,
    contractual: str | None = None,
) -> dict[str, Any]:
    """addTransactionApplication's payload (not checked)."""
    variables: dict[str, Any] = {
        "transactionId": txn_id,
        "accountNumber": account,
        "amount": amount,
    }
    if visit is not None:
        variables["visitNumber"] = visit
    if contractual is not None:
        variables["contractualAmount"] = contractual
    body = await gql(client, ADD_APPLICATION, {"input": variables}, token)
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"]["addTransactionApplication"]
    return payload


async def post_and_wait(
    client: httpx.AsyncClient, token: str, txn_id: str, key: str
) -> dict[str, Any]:
    """Post the transaction and wait until the worker applied it; the final command."""
    body = await gql(
        client, POST, {"input": {"idempotencyKey": key, "transactionId": txn_id}}, token
    )
    payload = body["data"]["postTransaction"]
    assert payload["userErrors"] == [], payload
    final = await wait_final(client, payload["command"]["id"], token)
    assert (final["status"], final["errorCode"]) == ("APPLIED", None), final
    return final


async def void(
    client: httpx.AsyncClient, token: str, txn_id: str, key: str, reason: str
) -> dict[str, Any]:
    """voidTransaction's payload (not checked)."""
    variables = {"input": {"idempotencyKey": key, "transactionId": txn_id, "reason": reason}}
    body = await gql(client, VOID, variables, token)
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"]["voidTransaction"]
    return payload


async def void_and_wait(
    client: httpx.AsyncClient, token: str, txn_id: str, key: str, reason: str
) -> dict[str, Any]:
    payload = await void(client, token, txn_id, key, reason)
    assert payload["userErrors"] == [], payload
    final = await wait_final(client, payload["command"]["id"], token)
    assert (final["status"], final["errorCode"]) == ("APPLIED", None), final
    return final


async def node(client: httpx.AsyncClient, token: str, txn_id: str) -> dict[str, Any]:
    body = await gql(client, NODE, {"id": txn_id}, token)
    assert "errors" not in body, body
    txn: dict[str, Any] = body["data"]["node"]
    return txn


def pk(global_id: str, type_name: str) -> int:
    value = decode_id(global_id, type_name)
    assert value is not None
    return value


async def set_visit(sessions: SessionFactory, visit_id: int, **values: Any) -> None:
    """Change a visit's columns directly (contract fee, billed amount)."""
    async with sessions() as session, session.begin():
        await session.execute(update(Visit).where(Visit.id == visit_id).values(**values))


async def transaction_entries(sessions: SessionFactory, txn_pk: int) -> list[LedgerEntry]:
    async with sessions() as session:
        rows = await session.scalars(
            select(LedgerEntry).where(LedgerEntry.transaction_id == txn_pk).order_by(LedgerEntry.id)
        )
        return list(rows.all())


async def audit_rows(sessions: SessionFactory, command_pk: int) -> list[AuditRow]:
    async with sessions() as session:
        rows = await session.scalars(
            select(AuditRow).where(AuditRow.command_id == command_pk).order_by(AuditRow.id)
        )
        return list(rows.all())


async def transaction_row(sessions: SessionFactory, txn_pk: int) -> Transaction:
    async with sessions() as session:
        row = await session.get(Transaction, txn_pk)
    assert row is not None
    return row
