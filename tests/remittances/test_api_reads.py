"""Reading remittances: the list filtered and paged, and nothing of another tenant's, by id,
by node, by filter or through a visit."""

from typing import Any

import httpx
import pytest

from arledger.config import Settings
from domain.db import SessionFactory
from domain.remittances.parser import parse_835
from tests.remittances.gql import claim, file_of, import_text, settled, slug_of, token, unbalanced
from tests.remittances.world import world_for
from tests.support.client import gid, gql

pytestmark = pytest.mark.usefixtures("worker")


LIST = """query($filter: RemittanceFilterInput, $after: String) {
  remittances(filter: $filter, first: 2, after: $after) {
    nodes { traceNumber status } pageInfo { hasNextPage endCursor } } }"""


async def test_remittances_are_listed_filtered_and_paged(
    client: httpx.AsyncClient, sessions: SessionFactory, settings: Settings
) -> None:
    # given three remittances: two posted (one with an unmatched claim), one held
    files = [
        file_of("T-L1", claim("L1")),
        file_of("T-L2", claim("L2"), claim("NOBODY")),
        file_of("T-L3", unbalanced("L3")),
    ]
    world = await world_for(sessions, [r for f in files for r in parse_835(f)], skip=["NOBODY"])
    bearer = token(settings, await slug_of(sessions, world.tenant_id))
    for f in files:
        [r] = (await import_text(client, f.decode(), bearer))["remittances"]
        await settled(client, r["id"], bearer)

    async def listed(**filter: Any) -> list[tuple[str, str]]:
        found, after = [], None
        while True:
            body = await gql(client, LIST, {"filter": filter, "after": after}, bearer)
            page = body["data"]["remittances"]
            found += [(n["traceNumber"], n["status"]) for n in page["nodes"]]
            if not page["pageInfo"]["hasNextPage"]:
                return found
            after = page["pageInfo"]["endCursor"]

    # then each filter finds exactly its own, oldest first, two at a time
    assert await listed() == [
        ("T-L1", "POSTED"),
        ("T-L2", "POSTED"),
        ("T-L3", "NEEDS_REVIEW"),
    ]
    assert await listed(status="NEEDS_REVIEW") == [("T-L3", "NEEDS_REVIEW")]
    assert await listed(unmatchedOnly=True) == [("T-L2", "POSTED")]
    assert await listed(traceNumber="T-L1", payerIdentifier="1999999999") == [("T-L1", "POSTED")]
    assert await listed(dateFrom="2026-01-15", dateTo="2026-01-15") == await listed()
    assert await listed(dateFrom="2026-01-16") == []


SEEN = """query($id: ID!, $trace: String!, $visit: ID!) {
  remittance(id: $id) { id }
  node(id: $id) { id }
  remittances(filter: {traceNumber: $trace}) { nodes { id } }
  all: remittances { nodes { id traceNumber } }
  visit: node(id: $visit) { ... on Visit { remittances { patientControlNumber } } } }"""


async def test_another_tenants_remittance_is_never_seen(
    client: httpx.AsyncClient, sessions: SessionFactory, settings: Settings
) -> None:
    # given tenants A and B, each with a posted remittance paying its own visit V1
    tokens, ids = {}, {}
    for name in ("a", "b"):
        data = file_of(f"T-ISO-{name.upper()}", claim("V1"))
        world = await world_for(sessions, parse_835(data))
        tokens[name] = token(settings, await slug_of(sessions, world.tenant_id))
        [r] = (await import_text(client, data.decode(), tokens[name]))["remittances"]
        await settled(client, r["id"], tokens[name])
        ids[name] = (r["id"], gid("Visit", world.visits["V1"]))
    # when A asks for B's remittance by id, by node, by trace number and through B's visit
    b_remittance, b_visit = ids["b"]
    variables = {"id": b_remittance, "trace": "T-ISO-B", "visit": b_visit}
    body = await gql(client, SEEN, variables, tokens["a"])
    # then A sees none of it, only its own remittance
    assert body == {
        "data": {
            "remittance": None,
            "node": None,
            "remittances": {"nodes": []},
            "all": {"nodes": [{"id": ids["a"][0], "traceNumber": "T-ISO-A"}]},
            "visit": None,
        }
    }
    # and B sees its own
    own = await gql(client, SEEN, variables, tokens["b"])
    assert own["data"]["remittance"] == {"id": b_remittance}
    assert own["data"]["visit"] == {"remittances": [{"patientControlNumber": "V1"}]}


@pytest.mark.parametrize(
    ("scopes", "code"),
    [(None, "UNAUTHENTICATED"), ("billing.payment.write billing.adjustment.write", "FORBIDDEN")],
)
async def test_reading_remittances_needs_billing_read(
    client: httpx.AsyncClient, sessions: SessionFactory, settings: Settings, scopes: Any, code: str
) -> None:
    world = await world_for(sessions, [])
    slug = await slug_of(sessions, world.tenant_id)
    bearer = None if scopes is None else token(settings, slug, scopes)
    body = await gql(client, "{ remittances { nodes { id } } }", None, bearer)
    assert (body["data"], [e["extensions"]["code"] for e in body["errors"]]) == (None, [code])
