"""GET /fhir/Account/{id} and /fhir/Account?identifier= on the real server: balances to the cent
from a hand-built world (two payers, every aging edge, credits, a future date of service), every
response parsed by the `fhir.resources` R5 models and checked as written."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from fhir.resources.account import Account
from fhir.resources.bundle import Bundle

from arledger.config import Settings
from tests.fhir.world import A1_BALANCES, AGGREGATES, Tenancy, balances, get, valid, wire
from tests.support.client import gql


async def test_an_account_reads_as_an_r5_account_with_balances_to_the_cent(
    client: httpx.AsyncClient, clinic: Tenancy, settings: Settings
) -> None:
    account_id = clinic.world.accounts["A1"]
    # when A1 is read
    before = datetime.now(UTC)
    response = await get(client, f"/fhir/Account/{account_id}", clinic.token(settings))
    after = datetime.now(UTC)
    # then it is an R5 Account, in FHIR JSON
    assert response.status_code == 200
    resource = valid(Account, response)
    # with the account's id, number, name, status and every balance to the cent
    assert [resource[k] for k in ("resourceType", "id", "status", "name", "subject")] == [
        "Account",
        str(account_id),
        "active",
        "Patient A1",
        [{"display": "Patient A1"}],
    ]
    [identifier] = resource["identifier"]
    assert (identifier["system"], identifier["value"]) == (clinic.system, "A1")
    assert balances(resource) == A1_BALANCES
    # written with exactly two decimals, never through a float
    assert '"amount":{"value":-25.00,"currency":"USD"}' in response.text
    assert '"amount":{"value":1042.00,"currency":"USD"}' in response.text
    calculated = datetime.fromisoformat(resource["calculatedAt"])
    assert before - timedelta(milliseconds=1) <= calculated <= after


async def test_the_total_is_the_balance_graphql_shows(
    client: httpx.AsyncClient, clinic: Tenancy, settings: Settings
) -> None:
    token = clinic.token(settings)
    # when the account is read over FHIR and over GraphQL
    response = await get(client, f"/fhir/Account/{clinic.world.accounts['A1']}", token)
    fhir = balances(wire(response.text))
    body = await gql(client, '{ account(accountNumber: "A1") { balance } }', token=token)
    # then the FHIR terms of the total add up to the GraphQL balance
    total = sum(Decimal(v) for v in fhir["total"])
    assert (str(total), body["data"]["account"]["balance"]) == ("1517.51", "1517.51")


async def test_an_account_without_visits_has_zero_balances(
    client: httpx.AsyncClient, clinic: Tenancy, settings: Settings
) -> None:
    # when A3 (no visits) is read
    response = await get(
        client, f"/fhir/Account/{clinic.world.accounts['A3']}", clinic.token(settings)
    )
    # then every aggregate and term is there, at 0.00
    assert balances(valid(Account, response)) == {a: ("0.00",) * 5 for a in AGGREGATES}


async def test_search_by_account_number_gives_a_searchset_bundle(
    client: httpx.AsyncClient, clinic: Tenancy, server: str, settings: Settings
) -> None:
    token = clinic.token(settings)
    # when A2 is searched by its number, bare and with its system
    bare = await get(client, "/fhir/Account?identifier=A2", token)
    qualified = await client.get(
        "/fhir/Account",
        params={"identifier": f"{clinic.system}|A2"},
        headers={"Authorization": f"Bearer {token}"},
    )
    # then both are a searchset Bundle of A2 alone
    for response in (bare, qualified):
        bundle = valid(Bundle, response)
        assert (bundle["type"], bundle["total"]) == ("searchset", 1)
        [entry] = bundle["entry"]
        account_id = clinic.world.accounts["A2"]
        assert entry["fullUrl"] == f"{server}/fhir/Account/{account_id}"
        assert entry["search"] == {"mode": "match"}
        assert entry["resource"]["id"] == str(account_id)
        assert bundle["link"] == [{"relation": "self", "url": str(response.url)}]
    assert balances(wire(bare.text)["entry"][0]["resource"]) == {
        "patient": ("0.00",) * 5,
        "insurance": ("0.00", "123.45", "0.00", "0.00", "0.00"),
        "total": ("0.00", "123.45", "0.00", "0.00", "0.00"),
    }


@pytest.mark.parametrize(
    "identifier",
    [
        pytest.param("A9", id="unknown-number"),
        pytest.param("https://other.example.org/ids|A2", id="another-system"),
        pytest.param("|A2", id="no-system"),
        pytest.param("a2", id="case-differs"),
    ],
)
async def test_search_that_matches_nothing_gives_an_empty_bundle(
    client: httpx.AsyncClient, clinic: Tenancy, settings: Settings, identifier: str
) -> None:
    # when the search names no account of the tenant
    response = await client.get(
        "/fhir/Account",
        params={"identifier": identifier},
        headers={"Authorization": f"Bearer {clinic.token(settings)}"},
    )
    # then the Bundle is empty (and has no empty entry array, which FHIR JSON forbids)
    assert response.status_code == 200
    bundle = valid(Bundle, response)
    assert (bundle["type"], bundle["total"], "entry" in bundle) == ("searchset", 0, False)


async def test_search_sees_only_the_callers_tenant(
    client: httpx.AsyncClient, clinic: Tenancy, rival: Tenancy, settings: Settings
) -> None:
    # when each tenant searches A1, and the rival searches with the clinic's system
    mine = valid(Bundle, await get(client, "/fhir/Account?identifier=A1", rival.token(settings)))
    theirs = valid(Bundle, await get(client, "/fhir/Account?identifier=A1", clinic.token(settings)))
    crossed = await client.get(
        "/fhir/Account",
        params={"identifier": f"{clinic.system}|A1"},
        headers={"Authorization": f"Bearer {rival.token(settings)}"},
    )
    # then each finds its own A1 only
    assert [e["resource"]["id"] for e in mine["entry"]] == [str(rival.world.accounts["A1"])]
    assert [e["resource"]["id"] for e in theirs["entry"]] == [str(clinic.world.accounts["A1"])]
    assert valid(Bundle, crossed)["total"] == 0
