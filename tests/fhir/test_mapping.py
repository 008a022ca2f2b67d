"""The pure parts of the FHIR export: aging terms, money as two-decimal decimals, and JSON that
writes decimals as they are."""

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from fhir.resources.account import Account
from pydantic import ValidationError

from api.fhir.account import account_resource, money
from api.fhir.json import dumps
from arledger.config import Settings
from domain.fhir.balances import AccountBalances, term_of


@pytest.mark.parametrize(
    ("age", "term"),
    [
        (-5, 0),
        (0, 0),
        (30, 0),
        (31, 30),
        (60, 30),
        (61, 60),
        (90, 60),
        (91, 90),
        (120, 90),
        (121, 120),
        (4000, 120),
    ],
)
def test_an_age_falls_in_the_term_named_by_its_lower_edge(age: int, term: int) -> None:
    # when a balance `age` days old is aged / then it is in `term`
    assert term_of(age) == term


@pytest.mark.parametrize(
    ("cents", "text"),
    [(0, "0.00"), (5, "0.05"), (100, "1.00"), (-1250, "-12.50"), (123456789, "1234567.89")],
)
def test_money_has_exactly_two_decimals_on_the_wire(cents: int, text: str) -> None:
    # when cents are written as a FHIR decimal
    written = dumps({"value": money(cents)})
    # then the digits are exactly the amount's, two after the point
    assert written == f'{{"value":{text}}}'
    assert json.loads(written, parse_float=Decimal) == {"value": Decimal(text)}


def test_dumps_writes_every_json_value_compactly() -> None:
    # given strings that need escaping, nested lists, booleans, null and integers
    value = {"a": 'Zoë "Z"', "b": [1, True, None, {"c": Decimal("-0.10")}], "d": []}
    # when written / then it is the compact JSON of the same values
    assert dumps(value) == '{"a":"Zoë \\"Z\\"","b":[1,true,null,{"c":-0.10}],"d":[]}'


def test_dumps_refuses_a_decimal_json_cannot_carry() -> None:
    with pytest.raises(ValueError, match="finite"):
        dumps({"value": Decimal("NaN")})


def test_an_account_with_no_balance_has_fifteen_zero_entries() -> None:
    # given an account read with no visit owing anything
    at = datetime(2026, 11, 2, 9, 30, 15, 123456, tzinfo=UTC)
    balances = AccountBalances(7, "B-7", "Ann Lee", "clinic", at, {})
    # when mapped
    resource = account_resource(balances, "https://ar.example.org/{tenant}/account-number")
    text = dumps(resource)
    # then it is a valid R5 Account: every aggregate and term present, each 0.00 USD
    Account.model_validate_json(text)
    assert text.count('"amount":{"value":0.00,"currency":"USD"}') == 15
    assert [
        (b["aggregate"]["coding"][0]["code"], b["term"]["coding"][0]["code"])
        for b in resource["balance"]
    ] == [
        (a, t)
        for a in ("patient", "insurance", "total")
        for t in ("current", "30", "60", "90", "120")
    ]
    assert resource["identifier"][0]["system"] == "https://ar.example.org/clinic/account-number"
    assert resource["calculatedAt"] == "2026-11-02T09:30:15.123Z"


@pytest.mark.parametrize(
    ("system", "problems"),
    [
        pytest.param(
            "https://ar.example.org/account-number",
            ["FHIR_ACCOUNT_SYSTEM must contain {tenant}: account numbers are unique per tenant"],
            id="no-tenant",
        ),
        pytest.param(
            "ar.example.org/{tenant}",
            ["FHIR_ACCOUNT_SYSTEM must be an absolute URL (https://…) or a urn:"],
            id="not-absolute",
        ),
    ],
)
def test_an_identifier_system_must_name_the_tenant_and_be_absolute(
    system: str, problems: list[str]
) -> None:
    # when the account-number system is set so / then the settings are refused, naming why
    with pytest.raises(ValidationError) as refused:
        Settings(fhir_account_system=system)
    [error] = refused.value.errors()
    assert error["msg"] == "Value error, FHIR settings:" + "".join(f"\n  - {p}" for p in problems)


@pytest.mark.parametrize(
    "system", ["https://ar.example.org/{tenant}/account-number", "urn:example:{tenant}:account"]
)
def test_an_identifier_system_may_be_a_url_or_a_urn(system: str) -> None:
    assert Settings(fhir_account_system=system).fhir_account_system == system
