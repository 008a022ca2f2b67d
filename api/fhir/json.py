"""FHIR JSON on the wire: `application/fhir+json`, decimals exactly as written, and
OperationOutcome for every refusal.

FHIR decimals keep their precision (`10.50` is not `10.5`), so money is a `Decimal` in the
resource dictionaries and is written as its own digits — never through a float, which neither
`json` (no decimals) nor `fhir.resources` (drops trailing zeros) would keep.
"""

import json
from decimal import Decimal
from typing import Any

from starlette.responses import Response

MEDIA_TYPE = "application/fhir+json"


def dumps(value: Any) -> str:
    """Compact JSON of dicts, lists, strings, numbers, booleans and None; a `Decimal` is
    written with its digits as they are (`Decimal("10.50")` → `10.50`)."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("FHIR decimals are finite")
        return format(value, "f")
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


class FhirResponse(Response):
    """A FHIR resource as `application/fhir+json`."""

    media_type = MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        return dumps(content).encode()


ISSUE_STATUS = {"login": 401, "forbidden": 403, "not-found": 404, "invalid": 400, "transient": 503}
"""HTTP status of each FHIR issue type used here."""


class Refusal(Exception):
    """A request refused with an OperationOutcome: `issue` is the FHIR issue type (`login`,
    `forbidden`, `not-found`, `invalid`, `transient`), `code` arledger's stable code."""

    def __init__(
        self, issue: str, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.issue = issue
        self.code = code
        self.message = message
        self.headers = headers or {}

    def response(self) -> FhirResponse:
        outcome = {
            "resourceType": "OperationOutcome",
            "issue": [
                {
                    "severity": "error",
                    "code": self.issue,
                    "details": {"text": self.code},
                    "diagnostics": self.message,
                }
            ],
        }
        return FhirResponse(outcome, status_code=ISSUE_STATUS[self.issue], headers=self.headers)
