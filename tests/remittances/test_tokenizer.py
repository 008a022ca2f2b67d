"""Separator detection and layout tolerance of the tokenizer."""

from __future__ import annotations

import textwrap

from domain.remittances.generate import Layout, generate_835, synthetic_remittance
from domain.remittances.parser import parse_835
from domain.remittances.x12 import Separators, tokenize
from tests.remittances.base_file import BASE

SPEC = synthetic_remittance(claims=4, lines_per_claim=2, seed=7)


def test_isa_separators() -> None:
    assert tokenize(BASE).separators == Separators("*", ":", "^", "~")
    text = generate_835([SPEC], Layout("|", "^", None, "\n"))
    assert tokenize(text).separators == Separators("|", "^", None, "\n")


def test_terminator_written_at_the_start_of_each_line() -> None:
    one_per_line = generate_835([SPEC], Layout(segment="\n"))
    leading = one_per_line.replace("\n", "\n~").removesuffix("~")
    assert leading.count("\n~GS*") == 1
    tokens = tokenize(leading)
    assert tokens.separators.segment == "~"
    assert parse_835(leading) == parse_835(generate_835([SPEC]))


def test_lines_wrapped_at_80_columns_inside_segments() -> None:
    flat = generate_835([SPEC])
    wrapped = "\r\n".join(textwrap.wrap(flat, 80, drop_whitespace=False))
    assert "\n" in wrapped and parse_835(wrapped) == parse_835(flat)


def test_latin1_bytes_are_read() -> None:
    text = BASE.replace("ACME HEALTH PLAN", "SANTÉ MUTUELLE")
    (remittance,) = parse_835(text.encode("latin-1"))
    assert remittance.payer.name == "SANTÉ MUTUELLE"


def test_segment_numbers_count_every_segment_from_isa() -> None:
    tokens = tokenize("\ufeff  \r\n" + BASE.replace("\n", "\r\n   "))
    assert [(s.number, s.tag) for s in tokens.segments[:3]] == [(1, "ISA"), (2, "GS"), (3, "ST")]
    assert tokens.segments[-1].number == 21
    assert tokens.segments[12].get(1) == "CLAIM1" and tokens.segments[12].get(99) == ""
    assert tokens.segments[12].name(4) == "CLP04"


def test_no_envelope_defaults_and_detection() -> None:
    bare = "ST*835*1~BPR*I*0*C*NON~TRN*1*T*P~N1*PR*A~N1*PE*B~CLP*C1*4*10*0~CAS*CO*16*10~SE*8*1~"
    tokens = tokenize(bare)
    assert tokens.separators == Separators("*", ":", None, "~")
    assert not tokens.has_envelope
    piped = (
        "ST|835|1\nBPR|I|1|C|ACH\nTRN|1|T|P\nN1|PR|A\nN1|PE|B\nCLP|C1|1|1|1\nSVC|HC>1|1|1\nSE|8|1\n"
    )
    assert tokenize(piped).separators == Separators("|", ">", None, "\n")
    (remittance,) = parse_835(piped)
    assert remittance.claims[0].lines[0].procedure.code == "1"
