"""What /fhir refuses, as OperationOutcomes: no token, a bad token, no billing.read, an id the
tenant does not have, a search without one identifier; and the CapabilityStatement."""

from typing import Any

import httpx
import pytest
from fhir.resources.capabilitystatement import CapabilityStatement
from fhir.resources.operationoutcome import OperationOutcome

from arledger.config import Settings
from tests.fhir.world import Tenancy, get, valid


def outcome(response: httpx.Response) -> tuple[int, str, str, str]:
    """(status, issue type, arledger code, message) of an OperationOutcome response."""
    [issue] = valid(OperationOutcome, response)["issue"]
    assert issue["severity"] == "error"
    return response.status_code, issue["code"], issue["details"]["text"], issue["diagnostics"]


async def test_refusals_are_operation_outcomes(
    client: httpx.AsyncClient, clinic: Tenancy, rival: Tenancy, settings: Settings
) -> None:
    path = f"/fhir/Account/{clinic.world.accounts['A1']}"
    # when A1 is read without a token, with an expired one, and without billing.read
    anonymous = await get(client, path, None)
    expired = await get(client, path, clinic.token(settings, ttl=-10))
    unscoped = await get(client, path, clinic.token(settings, "billing.payment.write"))
    # then 401 with a bearer challenge, 401 naming the token's fault, 403 naming the scope
    assert outcome(anonymous) == (401, "login", "UNAUTHENTICATED", "A bearer token is required.")
    assert anonymous.headers["www-authenticate"] == 'Bearer realm="arledger"'
    assert outcome(expired) == (401, "login", "TOKEN_EXPIRED", "The token has expired.")
    assert expired.headers["www-authenticate"] == 'Bearer realm="arledger", error="invalid_token"'
    assert outcome(unscoped) == (403, "forbidden", "FORBIDDEN", "Scope 'billing.read' is required.")
    assert unscoped.headers["www-authenticate"] == (
        'Bearer realm="arledger", error="insufficient_scope", scope="billing.read"'
    )
    # and a search is refused the same way
    assert outcome(await get(client, "/fhir/Account?identifier=A1", None))[:3] == (
        401,
        "login",
        "UNAUTHENTICATED",
    )


@pytest.mark.parametrize(
    "account",
    [
        pytest.param(lambda c, r: r.world.accounts["A1"], id="another-tenants-account"),
        pytest.param(lambda c, r: 9_000_000_000, id="never-used"),
        pytest.param(lambda c, r: "QWNjb3VudDox", id="a-graphql-id"),
        pytest.param(lambda c, r: "99999999999999999999", id="beyond-bigint"),
        pytest.param(lambda c, r: "9" * 5000, id="five-thousand-digits"),
    ],
)
async def test_an_account_the_caller_cannot_see_is_not_found(
    client: httpx.AsyncClient, clinic: Tenancy, rival: Tenancy, settings: Settings, account: Any
) -> None:
    key = account(clinic, rival)
    # when the clinic reads an id that is not one of its accounts
    response = await get(client, f"/fhir/Account/{key}", clinic.token(settings))
    # then it is 404, the same whether the account exists elsewhere or nowhere
    message = f"Account/{str(key)[:64]} is not known."
    assert outcome(response) == (404, "not-found", "NOT_FOUND", message)


@pytest.mark.parametrize(
    "query",
    ["", "?identifier=", "?identifier=A1&identifier=A2", "?identifier=https://x.org|", "?name=A1"],
)
async def test_a_search_needs_exactly_one_identifier(
    client: httpx.AsyncClient, clinic: Tenancy, settings: Settings, query: str
) -> None:
    # when the search names no account number, or two
    response = await get(client, f"/fhir/Account{query}", clinic.token(settings))
    # then it is refused as invalid, saying how to search
    assert outcome(response) == (
        400,
        "invalid",
        "INVALID_SEARCH",
        "Search accounts by one identifier: /fhir/Account?identifier=<account number>.",
    )


async def test_metadata_describes_the_account_export(
    client: httpx.AsyncClient, server: str
) -> None:
    # when the capability statement is fetched (no token needed)
    response = await client.get("/fhir/metadata")
    # then it is a valid R5 CapabilityStatement: Account read and search by identifier
    statement = valid(CapabilityStatement, response)
    [rest] = statement["rest"]
    assert (statement["fhirVersion"], statement["implementation"]["url"]) == (
        "5.0.0",
        f"{server}/fhir",
    )
    assert rest["resource"] == [
        {
            "type": "Account",
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": [{"name": "identifier", "type": "token"}],
        }
    ]


async def test_reads_carry_the_request_id(
    client: httpx.AsyncClient, clinic: Tenancy, settings: Settings
) -> None:
    # when a read sends an X-Request-ID
    response = await client.get(
        f"/fhir/Account/{clinic.world.accounts['A3']}",
        headers={"Authorization": f"Bearer {clinic.token(settings)}", "X-Request-ID": "fhir-1"},
    )
    # then the response echoes it, as GraphQL's do
    assert (response.status_code, response.headers["x-request-id"]) == (200, "fhir-1")
