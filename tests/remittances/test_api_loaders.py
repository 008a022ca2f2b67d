"""No N+1: every visit's remittance claims, their lines, adjustments, charge lines and
remittances are read with one statement per kind of row, however many visits are shown (the
schema run in process on the session's engine, every statement recorded)."""

from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from api.auth import Principal
from api.context import Context, Services
from api.schema import schema
from arledger.config import Settings
from domain.db import SessionFactory
from domain.remittances.parser import parse_835
from tests.remittances.gql import claim, file_of, import_text, settled, slug_of, token
from tests.remittances.world import world_for

pytestmark = pytest.mark.usefixtures("worker")

VISITS = """{ accounts { nodes { visits { claimNumber remittances {
  patientControlNumber visit { claimNumber } remittance { traceNumber file { filename } }
  adjustments { amount } lines { chargeLine { id } adjustments { reasonCode amount } } } } } } }"""


def _context(settings: Settings, sessions: SessionFactory, tenant_id: int) -> Context:
    services = Services(settings, sessions, None, None, None)  # type: ignore[arg-type]
    principal = Principal(tenant_id, "reader", frozenset({"billing.read"}))
    return Context(request=None, response=None, services=services, principal=principal)  # type: ignore[arg-type]


async def test_visit_remittances_are_loaded_in_one_statement_per_kind_of_row(
    client: httpx.AsyncClient, engine: AsyncEngine, sessions: SessionFactory, settings: Settings
) -> None:
    # given six visits, each paid by two remittances
    numbers = [f"N{n}" for n in range(6)]
    files = [file_of(f"T-N1-{i}", *(claim(n) for n in numbers)) for i in range(2)]
    world = await world_for(sessions, parse_835(files[0]))
    bearer = token(settings, await slug_of(sessions, world.tenant_id))
    for data in files:
        [r] = (await import_text(client, data.decode(), bearer))["remittances"]
        await settled(client, r["id"], bearer)
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(" ".join(statement.split()))

    # when every visit is shown with its remittance claims and their parts
    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        result = await schema.execute(
            VISITS, context_value=_context(settings, sessions, world.tenant_id)
        )
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
    # then each visit lists both claims, newest first
    assert result.errors is None, result.errors
    visits = [v for a in result.data["accounts"]["nodes"] for v in a["visits"]]
    assert len(visits) == 6
    for visit in visits:
        shown = visit["remittances"]
        assert [c["remittance"]["traceNumber"] for c in shown] == ["T-N1-1", "T-N1-0"]
        assert {c["visit"]["claimNumber"] for c in shown} == {visit["claimNumber"]}
        assert [a["reasonCode"] for a in shown[0]["lines"][0]["adjustments"]] == ["45", "2"]
    # and every kind of row was read once

    def reads(table: str) -> int:
        return sum(1 for s in statements if s.startswith("SELECT") and f"FROM {table} " in s)

    tables = (
        "remittance_claims",
        "remittance_lines",
        "remittance_adjustments",
        "remittances",
        "remittance_files",
        "charge_lines",
    )
    assert {table: reads(table) for table in tables} == dict.fromkeys(tables, 1)
