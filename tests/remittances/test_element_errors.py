"""Element-level refusals: bad amounts and dates, missing elements and segments, misplaced loops.

Garbage always raises MALFORMED; an empty required element or an impossible calendar date raises
when strict and is kept as an issue when lenient.
"""

from __future__ import annotations

import pytest

from domain.remittances.errors import MALFORMED
from domain.remittances.parser import parse_835
from tests.remittances.base_file import edit, refused


@pytest.mark.parametrize(
    ("paid", "why"),
    [
        ("1.234", "'1.234' has more than two decimals"),
        ("abc", "'abc' is not an amount (digits, an optional - and .)"),
        ("1e5", "'1e5' is not an amount (digits, an optional - and .)"),
        ("+5", "'+5' is not an amount (digits, an optional - and .)"),
        ("1,000.00", "'1,000.00' is not an amount (digits, an optional - and .)"),
        ("--1", "'--1' is not an amount (digits, an optional - and .)"),
        ("1.2.3", "'1.2.3' is not an amount (digits, an optional - and .)"),
        ("-", "'-' is not an amount (digits, an optional - and .)"),
        (".", "'.' is not an amount (digits, an optional - and .)"),
        ("NaN", "'NaN' is not an amount (digits, an optional - and .)"),
        ("٣", "'٣' is not an amount (digits, an optional - and .)"),
        (" 80", "' 80' is not an amount (digits, an optional - and .)"),
        ("1000000000000", "'1000000000000' is too large"),
    ],
)
def test_bad_amounts(paid: str, why: str) -> None:
    text = edit("CLP*CLAIM1*1*100*80*", f"CLP*CLAIM1*1*100*{paid}*")
    assert refused(text) == (MALFORMED, f"segment 13 (CLP): CLP04 {why}")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "SVC*HC:99213*100*",
            "SVC*HC:99213*1.005*",
            "segment 15 (SVC): SVC02 '1.005' has more than two decimals",
        ),
        (
            "CAS*CO*45*20~",
            "CAS*CO*45*2O~",
            "segment 17 (CAS): CAS03 '2O' is not an amount (digits, an optional - and .)",
        ),
        (
            "BPR*I*80*",
            "BPR*I*8e1*",
            "segment 4 (BPR): BPR02 '8e1' is not an amount (digits, an optional - and .)",
        ),
        ("BPR*I*80*", "BPR*I**", "segment 4 (BPR): BPR02 is required"),
        ("CLP*CLAIM1*1*100*", "CLP*CLAIM1*1**", "segment 13 (CLP): CLP03 is required"),
        ("CAS*CO*45*20~", "CAS*CO*45~", "segment 17 (CAS): CAS03 is required"),
        ("CAS*CO*45*20~", "CAS*CO*45*20*x~", "segment 17 (CAS): CAS04 'x' is not a quantity"),
        (
            "DTM*472*20260105",
            "DTM*472*2026-01-05",
            "segment 16 (DTM): DTM02 '2026-01-05' is not a date CCYYMMDD",
        ),
        (
            "DTM*472*20260105",
            "DTM*472*20260230",
            "segment 16 (DTM): DTM02 '20260230' is not a calendar date",
        ),
        (
            "DTM*472*20260105",
            "DTM*472*260105",
            "segment 16 (DTM): DTM02 '260105' is not a date CCYYMMDD",
        ),
        ("CLP*CLAIM1*", "CLP**", "segment 13 (CLP): CLP01 is required"),
        ("TRN*1*TRACE1*", "TRN*1**", "segment 5 (TRN): TRN02 is required"),
    ],
)
def test_malformed_elements(old: str, new: str, message: str) -> None:
    assert refused(edit(old, new)) == (MALFORMED, message)


def test_an_impossible_date_is_an_issue_when_lenient() -> None:
    (remittance,) = parse_835(edit("DTM*472*20260105", "DTM*472*20260230"), strict=False)
    (date_value,) = remittance.claims[0].lines[0].dates
    assert (date_value.value, date_value.raw) == (None, "20260230")
    assert [i.message for i in remittance.issues] == [
        "segment 16 (DTM): DTM02 '20260230' is not a calendar date"
    ]


def test_garbage_amounts_are_refused_even_when_lenient() -> None:
    text = edit("CLP*CLAIM1*1*100*80*", "CLP*CLAIM1*1*100*1.234*")
    assert refused(text, strict=False)[0] == MALFORMED


@pytest.mark.parametrize(
    ("segment", "what"),
    [
        ("BPR*I*80*C*ACH*CCP***********20260115~\n", "BPR"),
        ("TRN*1*TRACE1*1999999999~\n", "TRN"),
        ("N1*PR*ACME HEALTH PLAN~\n", "N1*PR (payer)"),
        ("N1*PE*GOOD CLINIC*XX*1234567893~\n", "N1*PE (payee)"),
    ],
)
def test_missing_required_segments(segment: str, what: str) -> None:
    text = edit("SE*17*", "SE*16*", edit(segment, ""))
    message = f"segment 3 (ST): transaction set '0001' has no {what} segment"
    assert refused(text) == (MALFORMED, message)
    assert refused(text, strict=False) == (MALFORMED, message)


def test_a_service_line_outside_any_claim() -> None:
    text = edit("LX*1~\nCLP*CLAIM1*1*100*80**12*PCN1~\nNM1*QC*1*DOE*JANE****MI*M123456~\n", "")
    text = edit("SE*17*", "SE*14*", text)
    assert refused(text) == (
        MALFORMED,
        "segment 12 (SVC): SVC outside any claim (no CLP before it)",
    )
