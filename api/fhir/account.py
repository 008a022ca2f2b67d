"""An account as a FHIR R5 `Account`, and accounts as a searchset `Bundle`.

- `id`: the account's numeric id (`42`), not the GraphQL global id: FHIR ids allow only
  `[A-Za-z0-9-.]`, and base64's `=`, `+` and `/` are not among them. The GraphQL id of
  `Account/42` is base64 of `Account:42`.
- `identifier`: the account number, in the system `FHIR_ACCOUNT_SYSTEM` with the tenant's slug.
- `status` is `active`; `name` and `subject[0].display` are the account's (patient's) name.
- `balance`: fifteen entries, one per aggregate (`patient`, `insurance`, `total`) and aging term
  (`current`, `30`, `60`, `90`, `120`) in that order, zeros included, `estimate: false`, the
  amount in USD with exactly two decimals (a credit is negative). `calculatedAt` is when the
  balances were read.
"""

from decimal import Decimal
from typing import Any

from domain.fhir.balances import TERMS, AccountBalances, Owner

AGGREGATE_SYSTEM = "http://hl7.org/fhir/account-aggregate"
TERM_SYSTEM = "http://hl7.org/fhir/account-balance-term"
IDENTIFIER_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v2-0203"
CURRENCY_SYSTEM = "urn:iso:std:iso:4217"
CURRENCY = "USD"
AGGREGATES: tuple[tuple[str, str, Owner | None], ...] = (
    ("patient", "Patient", "patient"),
    ("insurance", "Insurance", "insurance"),
    ("total", "Total", None),
)
"""(code, display, whose visits) of each balance aggregate; None: everyone's."""
TERM_CODES = {0: ("current", "Current"), **{t: (str(t), f"{t} day") for t in TERMS[1:]}}


def money(cents: int) -> Decimal:
    """Cents as a decimal with exactly two places (`-1250` → `Decimal("-12.50")`)."""
    return Decimal(cents).scaleb(-2)


def coding(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}]}


def instant(balances: AccountBalances) -> str:
    """`calculatedAt` as a FHIR instant in UTC, to the millisecond."""
    text = balances.calculated_at.isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def identifier_system(template: str, tenant_slug: str) -> str:
    return template.replace("{tenant}", tenant_slug)


def account_resource(balances: AccountBalances, system_template: str) -> dict[str, Any]:
    """The `Account` resource of `balances` (a dict of JSON values, money as `Decimal`)."""
    return {
        "resourceType": "Account",
        "id": str(balances.account_id),
        "identifier": [
            {
                "use": "usual",
                "type": coding(IDENTIFIER_TYPE_SYSTEM, "AN", "Account number"),
                "system": identifier_system(system_template, balances.tenant_slug),
                "value": balances.account_number,
            }
        ],
        "status": "active",
        "name": balances.name,
        "subject": [{"display": balances.name}],
        "currency": coding(CURRENCY_SYSTEM, CURRENCY, "US Dollar"),
        "balance": [
            {
                "aggregate": coding(AGGREGATE_SYSTEM, code, display),
                "term": coding(TERM_SYSTEM, *TERM_CODES[term]),
                "estimate": False,
                "amount": {"value": money(balances.cents(owner, term)), "currency": CURRENCY},
            }
            for code, display, owner in AGGREGATES
            for term in TERMS
        ],
        "calculatedAt": instant(balances),
    }


def searchset(
    found: list[AccountBalances], system_template: str, self_url: str, base_url: str
) -> dict[str, Any]:
    """A searchset `Bundle` of the accounts `found`, each entry with its absolute `fullUrl`."""
    entries = [
        {
            "fullUrl": f"{base_url}/Account/{balances.account_id}",
            "resource": account_resource(balances, system_template),
            "search": {"mode": "match"},
        }
        for balances in found
    ]
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(found),
        "link": [{"relation": "self", "url": self_url}],
    }
    return bundle | ({"entry": entries} if entries else {})  # FHIR JSON has no empty arrays


CAPABILITY_DATE = "2026-11-01"
"""When this export's capabilities last changed (CapabilityStatement.date)."""


def capability_statement(base_url: str) -> dict[str, Any]:
    """What this server does: read and search (by identifier) Account, JSON only, R5."""
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": CAPABILITY_DATE,
        "kind": "instance",
        "implementation": {"description": "arledger accounts receivable", "url": base_url},
        "fhirVersion": "5.0.0",
        "format": ["application/fhir+json"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "description": "A bearer token (JWT) with scope billing.read; the token's "
                    "tenant is the only one visible."
                },
                "resource": [
                    {
                        "type": "Account",
                        "interaction": [{"code": "read"}, {"code": "search-type"}],
                        "searchParam": [{"name": "identifier", "type": "token"}],
                    }
                ],
            }
        ],
    }
