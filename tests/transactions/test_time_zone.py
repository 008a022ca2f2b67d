"""The tenant's time zone decides a transaction's default date ("today")."""

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from arledger.config import Settings
from domain.db import SessionFactory
from domain.models import Payer, PayerDefaultCode, Tenant, TransactionCode
from tests.support.client import gid, gql
from tests.support.factories import make_world
from tests.support.gql_ops import EVERY_SCOPE, errors, must_update_settings, update_settings

CREATE = """
mutation($input: CreateTransactionInput!) {
  createTransaction(input: $input) {
    transaction { transactionDate status code { code } }
    userErrors { field code message }
  }
}"""


async def test_default_transaction_date_is_today_in_the_tenant_time_zone(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given a tenant in UTC+14 whose payer 1 has a default PY code
    world = await make_world(sessions, [10000])
    token = world.token(settings, EVERY_SCOPE)
    async with sessions() as session, session.begin():
        payer_id = await session.scalar(
            select(Payer.id).where(Payer.tenant_id == world.tenant_id, Payer.code == "1")
        )
        code = TransactionCode(tenant_id=world.tenant_id, code="PY01", type="PY", description="Pay")
        session.add(code)
        await session.flush()
        session.add(PayerDefaultCode(payer_id=payer_id, type="PY", transaction_code_id=code.id))
    await must_update_settings(client, {"timeZone": "Pacific/Kiritimati"}, token)
    # when a payment is created without a date
    variables = {"input": {"payerId": gid("Payer", payer_id), "type": "PY", "amount": "25"}}
    body = await gql(client, CREATE, variables, token)
    # then it is dated today as the tenant's clock reads it, with the payer's default code
    created = body["data"]["createTransaction"]
    today = datetime.now(ZoneInfo("Pacific/Kiritimati")).date().isoformat()
    assert created["transaction"] == {
        "transactionDate": today,
        "status": "WORK_IN_PROGRESS",
        "code": {"code": "PY01"},
    }


async def test_unknown_time_zone_is_refused_and_changes_nothing(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given a tenant in UTC
    world = await make_world(sessions, [100])
    token = world.token(settings, EVERY_SCOPE)
    # when an unknown zone is set
    payload = await update_settings(client, {"timeZone": "Mars/Olympus"}, token)
    # then it is refused and the zone is unchanged
    assert errors(payload) == [("timeZone", "UNKNOWN_TIME_ZONE")]
    async with sessions() as session:
        zone = await session.scalar(select(Tenant.time_zone).where(Tenant.id == world.tenant_id))
    assert zone == "UTC"
