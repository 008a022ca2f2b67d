"""The FHIR tests' world and helpers: a clinic whose accounts owe on every aging edge to two
payers (with credits and a future date of service), a rival tenant with the same account
number, and reading responses as written (decimals keep their digits) after the `fhir.resources`
R5 models have parsed them."""

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
from fhir.resources.resource import Resource
from sqlalchemy import select

from arledger.config import Settings
from arledger.tokens import issue_token
from domain.db import SessionFactory
from domain.models import Tenant
from tests.bulk.ops import BulkWorld, build, visit

SYSTEM = "https://arledger.invalid/{tenant}/account-number"
TERMS = ("current", "30", "60", "90", "120")
AGGREGATES = ("patient", "insurance", "total")


@dataclass
class Tenancy:
    world: BulkWorld
    slug: str

    def token(self, settings: Settings, scopes: str = "billing.read", ttl: int = 600) -> str:
        return issue_token(settings, tenant=self.slug, scopes=scopes.split(), ttl_seconds=ttl)

    @property
    def system(self) -> str:
        return SYSTEM.format(tenant=self.slug)


async def tenancy(sessions: SessionFactory, world: BulkWorld) -> Tenancy:
    async with sessions() as session:
        slug = await session.scalar(select(Tenant.slug).where(Tenant.id == world.tenant_id))
    assert slug is not None
    return Tenancy(world, slug)


A1_BALANCES = {
    "patient": ("130.50", "19.99", "-25.00", "0.01", "42.00"),
    "insurance": ("200.00", "50.00", "70.01", "30.00", "1000.00"),
    "total": ("330.50", "69.99", "45.01", "30.01", "1042.00"),
}


def wire(text: str) -> Any:
    """JSON as written: decimals keep their digits (`10.50` stays `Decimal("10.50")`)."""
    return json.loads(text, parse_float=Decimal)


def valid(model: type[Resource], response: httpx.Response) -> Any:
    """The response's resource as written, after checking it is FHIR JSON that parses as
    `model` (an R5 resource of `fhir.resources`)."""
    assert response.headers["content-type"] == "application/fhir+json"
    model.model_validate_json(response.text)
    return wire(response.text)


def balances(resource: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    """An Account's balance amounts per aggregate, in term order, as written on the wire."""
    found: dict[str, list[str]] = {a: [] for a in AGGREGATES}
    for entry in resource["balance"]:
        assert entry["estimate"] is False
        assert entry["amount"]["currency"] == "USD"
        assert entry["term"]["coding"][0]["code"] == TERMS[len(found[aggregate(entry)])]
        found[aggregate(entry)].append(str(entry["amount"]["value"]))
    return {a: tuple(v) for a, v in found.items()}


def aggregate(entry: dict[str, Any]) -> str:
    [coding] = entry["aggregate"]["coding"]
    assert coding["system"] == "http://hl7.org/fhir/account-aggregate"
    return str(coding["code"])


async def get(client: httpx.AsyncClient, path: str, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await client.get(path, headers=headers)


async def build_clinic(sessions: SessionFactory) -> Tenancy:
    """A1 owes on every aging edge, to self pay (payer 1) and to Acme Health (payer 2), with
    credits and a zero-balance visit; A2 owes insurance only; A3 has no visits."""
    world = await build(
        sessions,
        {
            "A1": [
                visit(10000, 2550, age=0),  # patient current 125.50
                visit(500, age=-3),  # a future date of service: patient current 5.00
                visit(20000, age=30, payer="2"),  # insurance current 200.00
                visit(5000, age=31, payer="2"),  # insurance 30: 50.00
                visit(1999, age=60),  # patient 30: 19.99
                visit(-2500, age=61),  # a credit: patient 60: -25.00
                visit(7001, age=90, payer="2"),  # insurance 60: 70.01
                visit(3333, -333, age=91, payer="2"),  # a line credit: insurance 90: 30.00
                visit(1, age=120),  # patient 90: 0.01
                visit(100000, age=121, payer="2"),  # insurance 120: 1000.00
                visit(0, age=400),  # nothing owed
                visit(4200, age=365),  # patient 120: 42.00
            ],
            "A2": [visit(12345, age=45, payer="2")],
            "A3": [],
        },
    )
    return await tenancy(sessions, world)


async def build_rival(sessions: SessionFactory) -> Tenancy:
    """Another tenant with its own A1."""
    return await tenancy(sessions, await build(sessions, {"A1": [visit(999, age=10)]}))
