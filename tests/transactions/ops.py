"""Helpers for the practice-management transaction tests: codes and payer defaults, and the
transaction mutations sent over HTTP."""

from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select

from domain.db import SessionFactory
from domain.models import Payer, PayerDefaultCode, TransactionCode
from tests.support.client import gid, gql, wait_final
from tests.support.factories import World

TYPES = ("PY", "CW", "BD", "FC", "AD", "AC", "RF")
READ = "billing.read"
PAYMENT = "billing.payment.write"
ADJUST = "billing.adjustment.write"
ADMIN = "billing.admin"
EVERY_SCOPE = f"{READ} {PAYMENT} {ADJUST} {ADMIN}"

TRANSACTION_FIELDS = """
  id type transactionDate amount status lastErrorCode lastErrorMessage voidReason
  appliedAmount unappliedAmount
  payer { code }
  code { code type }
  applications { id amount contractualAmount accountNumber visitNumber visitId visitBalance }
  entries { id kind amount lineId reason category carcGroup carcReason reversesEntryId }
  postCommand { id status errorCode }
  voidCommand { id status errorCode }
"""
PAYLOAD = f"transaction {{ {TRANSACTION_FIELDS} }} userErrors {{ field code message }}"
CREATE_TRANSACTION = f"""
mutation($input: CreateTransactionInput!) {{ createTransaction(input: $input) {{ {PAYLOAD} }} }}"""
ADD_APPLICATION = f"""
mutation($input: AddTransactionApplicationInput!) {{
  addTransactionApplication(input: $input) {{ {PAYLOAD} }}
}}"""
CHANGE_APPLICATION = f"""
mutation($input: ChangeTransactionApplicationInput!) {{
  changeTransactionApplication(input: $input) {{ {PAYLOAD} }}
}}"""
REMOVE_APPLICATION = f"""
mutation($id: ID!) {{ removeTransactionApplication(applicationId: $id) {{ {PAYLOAD} }} }}"""
POST_TRANSACTION = """
mutation($input: PostTransactionInput!) {
  postTransaction(input: $input) { command { id kind status } userErrors { field code message } }
}"""
VOID_TRANSACTION = """
mutation($input: VoidTransactionInput!) {
  voidTransaction(input: $input) { command { id kind status } userErrors { field code message } }
}"""
TRANSACTION = f"""
query($id: ID!) {{ node(id: $id) {{ ... on Transaction {{ {TRANSACTION_FIELDS} }} }} }}"""


@dataclass
class Codes:
    """Per type: the payer's default code (e.g. PY01) and an alternative of the same type (PY02)."""

    payer_gid: str
    default: dict[str, int]
    alternative: dict[str, int]


async def setup_codes(
    sessions: SessionFactory, world: World, *, defaults: tuple[str, ...] = TYPES
) -> Codes:
    """Codes <TYPE>01 and <TYPE>02 for every type; <TYPE>01 is payer 1's default for `defaults`."""
    async with sessions() as session, session.begin():
        payer_id = await session.scalar(
            select(Payer.id).where(Payer.tenant_id == world.tenant_id, Payer.code == "1")
        )
        assert payer_id is not None
        rows = {
            (t, n): TransactionCode(
                tenant_id=world.tenant_id, code=f"{t}0{n}", type=t, description=f"{t} code {n}"
            )
            for t in TYPES
            for n in (1, 2)
        }
        session.add_all(rows.values())
        await session.flush()
        session.add_all(
            PayerDefaultCode(payer_id=payer_id, type=t, transaction_code_id=rows[t, 1].id)
            for t in defaults
        )
    return Codes(
        gid("Payer", payer_id),
        {t: rows[t, 1].id for t in TYPES},
        {t: rows[t, 2].id for t in TYPES},
    )


async def mutate(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any], token: str | None
) -> dict[str, Any]:
    """The single mutation payload of `query` (asserting there are no top-level errors)."""
    body = await gql(client, query, variables, token)
    assert "errors" not in body, body
    [payload] = body["data"].values()
    return dict(payload)


async def create_transaction(
    client: httpx.AsyncClient,
    token: str | None,
    payer_gid: str,
    type_: str,
    amount: str,
    *,
    code: str | None = None,
    transaction_date: str | None = None,
) -> dict[str, Any]:
    """The createTransaction payload."""
    variables: dict[str, Any] = {"payerId": payer_gid, "type": type_, "amount": amount}
    if code is not None:
        variables["code"] = code
    if transaction_date is not None:
        variables["transactionDate"] = transaction_date
    return await mutate(client, CREATE_TRANSACTION, {"input": variables}, token)


async def must_create(
    client: httpx.AsyncClient, token: str, payer_gid: str, type_: str, amount: str, **kw: Any
) -> dict[str, Any]:
    """A created transaction (asserting no userErrors)."""
    payload = await create_transaction(client, token, payer_gid, type_, amount, **kw)
    assert payload["userErrors"] == [], payload
    return dict(payload["transaction"])


async def add_application(
    client: httpx.AsyncClient,
    token: str | None,
    transaction_gid: str,
    amount: str,
    *,
    account_number: str = "A1",
    visit_number: int | None = None,
    contractual_amount: str | None = None,
) -> dict[str, Any]:
    """The addTransactionApplication payload."""
    variables: dict[str, Any] = {
        "transactionId": transaction_gid,
        "accountNumber": account_number,
        "amount": amount,
    }
    if visit_number is not None:
        variables["visitNumber"] = visit_number
    if contractual_amount is not None:
        variables["contractualAmount"] = contractual_amount
    return await mutate(client, ADD_APPLICATION, {"input": variables}, token)


async def must_add(
    client: httpx.AsyncClient, token: str, transaction_gid: str, amount: str, **kw: Any
) -> dict[str, Any]:
    """The transaction after adding an application (asserting no userErrors)."""
    payload = await add_application(client, token, transaction_gid, amount, **kw)
    assert payload["userErrors"] == [], payload
    return dict(payload["transaction"])


async def post_transaction(
    client: httpx.AsyncClient, token: str | None, transaction_gid: str, key: str = "post"
) -> dict[str, Any]:
    """The postTransaction payload."""
    variables = {"input": {"idempotencyKey": key, "transactionId": transaction_gid}}
    return await mutate(client, POST_TRANSACTION, variables, token)


async def post_and_wait(
    client: httpx.AsyncClient, token: str, transaction_gid: str, key: str = "post"
) -> dict[str, Any]:
    """Post a transaction that must be accepted; the command once APPLIED or REJECTED."""
    payload = await post_transaction(client, token, transaction_gid, key)
    assert payload["userErrors"] == [], payload
    assert payload["command"]["kind"] == "POST_TRANSACTION"
    return await wait_final(client, payload["command"]["id"], token)


async def read_transaction(
    client: httpx.AsyncClient, token: str, transaction_gid: str
) -> dict[str, Any]:
    body = await gql(client, TRANSACTION, {"id": transaction_gid}, token)
    assert "errors" not in body, body
    return dict(body["data"]["node"])


def codes_of(payload: dict[str, Any]) -> list[tuple[str | None, str]]:
    return [(e["field"], e["code"]) for e in payload["userErrors"]]
