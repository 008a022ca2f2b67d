"""Envelope-level refusals: truncation, counts, control numbers, not an 835, separators, size.

Each refusal has its code and a message naming the segment number and id.
"""

from __future__ import annotations

import pytest

from domain.remittances.errors import (
    BAD_CONTROL_NUMBER,
    BAD_COUNT,
    BAD_SEPARATORS,
    MALFORMED,
    NOT_835,
    TOO_LARGE,
    TRUNCATED,
)
from domain.remittances.parser import parse_835
from domain.remittances.x12 import MAX_BYTES
from tests.remittances.base_file import BASE, edit, refused


def test_the_base_file_parses_and_balances() -> None:
    (remittance,) = parse_835(BASE)
    assert remittance.claims[0].lines[0].adjustments[0].cents == 2000
    assert remittance.payment.cents == 8000


# --- truncation ---------------------------------------------------------------------------


def test_truncated_after_a_segment_names_the_missing_trailer() -> None:
    cut = BASE[: BASE.index("REF*6R")]
    assert refused(cut) == (
        TRUNCATED,
        "segment 17 (CAS): the data ends here, SE missing for the ST at segment 3",
    )


def test_truncated_inside_a_segment() -> None:
    cut = BASE[: BASE.index("CAS*CO*45*20") + 8]
    assert refused(cut) == (
        TRUNCATED,
        "segment 17 (CAS): the data ends inside this segment (no terminator)",
    )


@pytest.mark.parametrize(
    ("trailer", "message"),
    [
        ("SE", "segment 18 (REF): the data ends here, SE missing for the ST at segment 3"),
        ("GE", "segment 19 (SE): the data ends here, GE missing for the GS at segment 2"),
        ("IEA", "segment 20 (GE): the data ends here, IEA missing for the ISA at segment 1"),
    ],
)
def test_truncated_before_a_trailer(trailer: str, message: str) -> None:
    assert refused(BASE[: BASE.index(f"\n{trailer}*") + 1]) == (TRUNCATED, message)


def test_every_cut_between_isa_and_iea_is_truncated() -> None:
    start, end = BASE.index("GS*"), BASE.index("IEA*")
    for size in range(start, end):
        code, message = refused(BASE[:size])
        assert code == TRUNCATED, (size, message)
        assert message.startswith("segment "), message


def test_a_transaction_set_closed_by_ge_lacks_its_se() -> None:
    text = edit("SE*17*0001~\n", "")
    assert refused(text) == (
        TRUNCATED,
        "segment 19 (GE): SE missing: the ST at segment 3 is not closed before this GE",
    )


# --- counts and control numbers -----------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("SE*17*", "SE*18*", "segment 19 (SE): SE01 says 18 segments, the transaction set has 17"),
        ("SE*17*", "SE*x*", "segment 19 (SE): SE01 'x' is no count"),
        ("GE*1*", "GE*2*", "segment 20 (GE): GE01 says 2 transaction sets, the group has 1"),
        ("IEA*1*", "IEA*3*", "segment 21 (IEA): IEA01 says 3 groups, the interchange has 1"),
    ],
)
def test_wrong_counts(old: str, new: str, message: str) -> None:
    assert refused(edit(old, new)) == (BAD_COUNT, message)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "SE*17*0001",
            "SE*17*0002",
            "segment 19 (SE): SE02 is '0002' but ST02 (segment 3) is '0001'",
        ),
        ("GE*1*1~", "GE*1*7~", "segment 20 (GE): GE02 is '7' but GS06 (segment 2) is '1'"),
        (
            "IEA*1*000000001",
            "IEA*1*000000002",
            "segment 21 (IEA): IEA02 is '000000002' but ISA13 (segment 1) is '000000001'",
        ),
    ],
)
def test_mismatched_control_numbers(old: str, new: str, message: str) -> None:
    assert refused(edit(old, new)) == (BAD_CONTROL_NUMBER, message)


def test_a_lenient_parse_keeps_envelope_defects_as_issues() -> None:
    text = edit("GE*1*1~", "GE*2*7~", edit("SE*17*", "SE*16*"))
    (remittance,) = parse_835(text, strict=False)
    assert [(i.segment, i.tag, i.code) for i in remittance.issues] == [
        (19, "SE", BAD_COUNT),
        (20, "GE", BAD_COUNT),
        (20, "GE", BAD_CONTROL_NUMBER),
    ]
    assert remittance.issues[0].problem().field == "file"


def test_a_strict_parse_reports_the_first_defect_in_the_file() -> None:
    text = edit("IEA*1*", "IEA*2*", edit("SE*17*", "SE*16*"))
    assert refused(text)[1].startswith("segment 19 (SE): SE01 says 16")


# --- not an 835 ---------------------------------------------------------------------------

CLAIM_837 = (
    "ISA*00*          *00*          *ZZ*SUBMITTER      *ZZ*RECEIVER       "
    "*260115*1200*^*00501*000000005*0*T*:~"
    "GS*HC*SUBMITTER*RECEIVER*20260115*1200*5*X*005010X222A1~"
    "ST*837*0001*005010X222A1~BHT*0019*00*1*20260115*1200*CH~SE*3*0001~GE*1*5~IEA*1*000000005~"
)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (CLAIM_837, "segment 3 (ST): ST01 is '837': this reader takes 835s only"),
        ("hello, world", "not an X12 file: it starts with 'hello, world', not ISA"),
        ('{"claims": []}', "not an X12 file: it starts with '{\"claims\": []}', not ISA"),
        ("", "not an X12 file: it starts with '', not ISA"),
        (" \r\n\t", "not an X12 file: it starts with '', not ISA"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary content (a NUL byte at offset 8)"),
        (
            BASE.replace("N3*", "N3*\x00"),
            f"binary content (a NUL at offset {BASE.index('N3*') + 3})",
        ),
        (
            bytes(range(1, 256)),
            "not an X12 file: it starts with '\\x01\\x02\\x03\\x04\\x05\\x06"
            "\\x07\\x08\\t\\n\\x0b\\x0c\\r\\x0e\\x0f\\x10\\x11\\x12\\x13\\x14', not ISA",
        ),
        (
            "ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       "
            "*260115*1200*^*00501*000000001*0*T*:~IEA*0*000000001~",
            "the file holds no ST*835 transaction set",
        ),
    ],
)
def test_not_an_835(data: bytes | str, message: str) -> None:
    assert refused(data) == (NOT_835, message)


def test_binary_bytes_with_a_nul() -> None:
    data = BASE.encode()[:200] + b"\x00\xff\xfe" + BASE.encode()[200:]
    assert refused(data) == (NOT_835, "binary content (a NUL byte at offset 200)")


# --- separators ---------------------------------------------------------------------------

NOT_USABLE = "is not usable; does ISA have 16 elements?"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            BASE.replace("*", "A"),
            "segment 1 (ISA): the element separator 'A' after ISA is not usable",
        ),
        (
            edit("*T*:~", "*T***~"),
            "segment 1 (ISA): the separators ['*', '*', '*', '^'] are not all different",
        ),
        (
            edit("*T*:~", "*T*:X"),
            "segment 1 (ISA): the segment terminator 'X' is a letter, digit or space",
        ),
        (
            edit("*T*:~", "*T*A~"),
            f"segment 1 (ISA): ISA16 (the component separator) 'A' {NOT_USABLE}",
        ),
        (
            edit("*260115*1200*", "*260115*"),
            f"segment 1 (ISA): ISA16 (the component separator) 'H' {NOT_USABLE}",
        ),
        (
            edit("*260115*1200*", "*260115*").replace("\n", ""),
            f"segment 1 (ISA): ISA16 (the component separator) 'H' {NOT_USABLE}",
        ),
        (
            edit("ZZ*SENDER  ", "ZZ*SEN~ER  "),
            "segment 1 (ISA): ISA does not have 16 elements before its terminator",
        ),
        (BASE[:60], "segment 1 (ISA): ISA does not have 16 elements"),
        (
            edit("*T*:~", "*T*^~"),
            "segment 1 (ISA): the separators ['*', '^', '~', '^'] are not all different",
        ),
    ],
)
def test_bad_separators(text: str, message: str) -> None:
    assert refused(text) == (BAD_SEPARATORS, message)


def test_segments_split_with_the_wrong_separator_are_not_segment_ids() -> None:
    text = edit("CLP*CLAIM1", "CLP|CLAIM1")
    assert refused(text) == (
        MALFORMED,
        "segment 13 (CLP|CLAIM1): 'CLP|CLAIM1' is not a segment id (bad separators?)",
    )


# --- size ---------------------------------------------------------------------------------


def test_over_the_size_limit_is_refused_before_parsing() -> None:
    huge = BASE.encode() + b" " * (MAX_BYTES + 1 - len(BASE))
    assert refused(huge) == (
        TOO_LARGE,
        f"the file is {MAX_BYTES + 1} bytes; the limit is {MAX_BYTES}",
    )
    assert refused("x" * (4 * MAX_BYTES + 1)) == (
        TOO_LARGE,
        f"the file is at least {4 * MAX_BYTES + 1} bytes; the limit is {MAX_BYTES}",
    )
    assert refused(BASE, max_bytes=100) == (
        TOO_LARGE,
        f"the file is {len(BASE)} bytes; the limit is 100",
    )


def test_exactly_at_the_size_limit_is_parsed() -> None:
    assert parse_835(BASE, max_bytes=len(BASE))


def test_data_after_the_interchange() -> None:
    assert refused(BASE + "XYZ*1~") == (
        MALFORMED,
        "segment 22 (XYZ): found XYZ where an ISA interchange header belongs",
    )
    assert refused(BASE + "garbage") == (
        TRUNCATED,
        "segment 22 (garbage): the data ends inside a segment ('garbage', no terminator)",
    )


def test_a_segment_outside_any_group() -> None:
    text = edit("GS*", "REF*EV*X~\nGS*")
    assert refused(text) == (
        MALFORMED,
        "segment 2 (REF): found REF where GS or IEA (it stands outside any group) belongs",
    )
