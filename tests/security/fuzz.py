"""Hypothesis strategies for the public inputs, and the judge of one fuzzed HTTP answer.

Inputs mix the well-formed with the hostile: money strings in every shape (exponents, unicode
digits, NaN, blanks, absurd sizes), global ids (random base64, wrong type names, another
tenant's, huge numbers), free text with control characters, NUL bytes and lone surrogates,
dates that are not dates, integers beyond 32 bits, and JSON values of the wrong type.
"""

import base64
from dataclasses import dataclass
from typing import Any

import httpx
from hypothesis import strategies as st

NASTY_MONEY = [
    "12.34", "12", "-1", "0", "0.00", "1e3", "1E3", "0.001", "12.345", "\u0661\u0662",
    "\u0661\u0662.\u0663\u0664", "\uff11\uff12", "\u0967\u0968", "\U0001d7d9\U0001d7da",
    "\u0663.\u0665\u0660", "", " ", "\t", "\n", " 12 ", "NaN", "nan", "Infinity", "-Infinity",
    "inf", "+5", "5.", ".5", "0x10", "1_000", "1,000", "12.3.4", "\u22125", "5-", "--5", "$5",
    "5 USD", "1e-2", "-0", "00000000000000000000012", "99999999999.99", "100000000000",
    "9" * 40, "9" * 400, "12\x00", "\x00", "\ud800", "\u00bd",
]  # fmt: skip
NASTY_TEXT = [
    "", " ", "\x00", "a\x00b", "\x01\x02\x1f\x7f", "\u202eevil", "🙂", "\ud800", "\udfff",
    "x" * 10_001, "'; DROP TABLE ledger_entries; --", "%", "_", "\\", "\r\n", "\u210c\U0001d522",
]  # fmt: skip
NASTY_DATES = [
    "2026-11-23", "2026-13-01", "2026-02-30", "0000-01-01", "0001-01-01", "9999-12-31", "",
    "now", "2026-1-1", "20261123", "2026-11-23T10:00:00", "2026-11-23\x00",
    "\u0661\u0669\u0669\u0669-\u0660\u0661-\u0660\u0661", "-2026-01-01", "+12026-01-01",
]  # fmt: skip
TYPE_NAMES = [
    "ChargeLine", "Visit", "Account", "LedgerEntry", "Command", "Transaction", "Payer",
    "BulkJob", "TransactionApplication", "AuditRow", "Tenant", "Nope", "", "chargeline",
    "ChargeLine ", "Charge\x00Line",
]  # fmt: skip

json_noise = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
text_noise = st.one_of(st.sampled_from(NASTY_TEXT), st.text(max_size=40))


def mostly(valid: st.SearchStrategy[Any], hostile: st.SearchStrategy[Any]) -> Any:
    """Valid three times in four, so a case often gets past every field but one."""
    return st.sampled_from([True, True, True, False]).flatmap(lambda ok: valid if ok else hostile)


def amount_text(cents: int) -> str:
    whole, frac = divmod(cents, 100)
    return str(whole) if frac == 0 else f"{whole}.{frac:02d}"


money = mostly(
    st.integers(1, 3000).map(amount_text),
    st.one_of(
        st.sampled_from(NASTY_MONEY),
        st.from_regex(r"-?[0-9]{1,16}(\.[0-9]{0,4})?", fullmatch=True),
        st.text(alphabet="0123456789.,-+eE \u0661\u0662\u0663", max_size=12),
        text_noise,
        json_noise,
    ),
)
dates = mostly(
    st.dates().map(lambda d: d.isoformat()),
    st.one_of(st.sampled_from(NASTY_DATES), text_noise, json_noise),
)
ints = mostly(
    st.integers(-5, 400),
    st.one_of(
        st.sampled_from([2**31 - 1, 2**31, -(2**31) - 1, 2**53, 10**30]),
        st.integers(-(2**70), 2**70),
        json_noise,
        text_noise,
    ),
)
notes = mostly(st.one_of(st.none(), st.text(max_size=20)), text_noise)


def gid_of(type_name: str, pk: str) -> str:
    return base64.b64encode(f"{type_name}:{pk}".encode("utf-8", "surrogatepass")).decode()


def ids(valid: list[str], every: list[str]) -> Any:
    """Global ids: mostly one of `valid`; else another real one (`every`: the caller's and
    another tenant's), a made-up one, or noise."""
    pks = st.one_of(st.integers(-(2**70), 2**70).map(str), st.text(max_size=8))
    return mostly(
        st.sampled_from(valid),
        st.one_of(
            st.sampled_from(every),
            st.builds(gid_of, st.sampled_from(TYPE_NAMES), pks),
            st.binary(max_size=24).map(lambda b: base64.b64encode(b).decode()),
            text_noise,
            json_noise,
        ),
    )


def words(valid: list[str]) -> Any:
    """A picklist value: mostly a valid one, else hostile text or a JSON value of another type."""
    return mostly(st.sampled_from(valid), st.one_of(text_noise, json_noise))


@dataclass(frozen=True)
class Case:
    """One request: its GraphQL document and variables."""

    document: str
    variables: dict[str, Any]


def judge(response: httpx.Response) -> bool:
    """Check one answer to fuzzed input; True when it refused the input.

    Never a 5xx, never the masked "Internal error."; every GraphQL error and userError carries a
    code and a message.
    """
    assert response.status_code < 500, (response.status_code, response.text[:2000])
    if response.status_code != 200:
        return True
    body = response.json()
    errors = body.get("errors") or []
    for error in errors:
        assert error.get("message") and error["message"] != "Internal error.", body
        assert (error.get("extensions") or {}).get("code"), body
    data = body.get("data") or {}
    payloads = [p for p in data.values() if isinstance(p, dict) and "userErrors" in p]
    for payload in payloads:
        assert all(e["code"] and e["message"] for e in payload["userErrors"]), payload
    return bool(errors) or any(p["userErrors"] for p in payloads)
