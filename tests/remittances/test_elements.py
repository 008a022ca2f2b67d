"""The typed element helpers (money never through float) and the code-list lookups."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from domain.remittances import codes
from domain.remittances.elements import BadElement, x12_cents, x12_date, x12_quantity


@pytest.mark.parametrize(
    ("text", "cents"),
    [
        ("-1008.1", -100810),
        ("24.21", 2421),
        ("300", 30000),
        (".5", 50),
        ("-.05", -5),
        ("0", 0),
        ("-0", 0),
        ("5.", 500),
        ("000123.40", 12340),
        ("0.1", 10),
        ("211366.97", 21136697),
    ],
)
def test_x12_cents(text: str, cents: int) -> None:
    assert x12_cents(text) == cents
    assert isinstance(x12_cents(text), int)


@pytest.mark.parametrize(
    "text",
    [
        "1.234",
        "abc",
        "1e5",
        "1E5",
        "",
        "-",
        ".",
        "+1",
        " 1",
        "1 ",
        "1,0",
        "0x10",
        "NaN",
        "inf",
        "٣",
        "²",
        "1_000",
        "--1",
        "1.-2",
        "10000000000000",
        "9" * 5000,
    ],
)
def test_x12_cents_refuses(text: str) -> None:
    with pytest.raises(BadElement):
        x12_cents(text)


def test_x12_cents_limit() -> None:
    assert x12_cents("99999999999.99") == 9999999999999
    with pytest.raises(BadElement, match="too large"):
        x12_cents("100000000000")


def test_quantities_and_dates() -> None:
    assert x12_quantity("-2") == Decimal(-2)
    assert x12_quantity("9.999") == Decimal("9.999")
    assert x12_quantity(".5") == Decimal("0.5")
    for bad in ("1e3", "NaN", "", "1.2.3", "Infinity"):
        with pytest.raises(BadElement):
            x12_quantity(bad)
    assert x12_date("20240229") == date(2024, 2, 29)
    for bad in ("20230229", "2024-02-29", "240229", "2024022", "abcdefgh"):
        with pytest.raises(BadElement):
            x12_date(bad)


def test_code_lists() -> None:
    assert codes.carc_text("45") == "Charges exceed your contracted/legislated fee arrangement."
    assert codes.carc_text(" 1 ") == "Deductible Amount"
    assert codes.carc_text("ZZZ") is None
    assert codes.carc_inactive("63") and not codes.carc_inactive("45")
    assert codes.group_text("co") == "Contractual Obligations"
    assert codes.group_text("XX") is None
    assert codes.group_valid_in("CR", "4010") and not codes.group_valid_in("CR", "5010")
    assert codes.group_valid_in("PR", "5010") and not codes.group_valid_in("PR", "6020")
    assert codes.claim_status_text("22") == "Reversal of Previous Payment"
    assert codes.claim_status_text("99") is None
    assert codes.plb_reason_text("WO") == "Overpayment Recovery"
    assert codes.plb_reason_text("L6") == "Interest Owed"
    assert codes.plb_reason_text("AH") == ""  # valid in 5010, no label in the list
    assert codes.plb_reason_text("ZZ") is None
