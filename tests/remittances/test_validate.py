"""pyx12 validation: findings by segment number, never an exception."""

from __future__ import annotations

import pytest

from domain.remittances.generate import generate_835, synthetic_remittance
from domain.remittances.validate import REFUSED, validate_835
from domain.remittances.x12 import MAX_BYTES
from tests.remittances.samples import sample


def test_medicare_example_lacks_per_and_uses_not_used_ts3_elements() -> None:
    found = validate_835(sample("01_lfh_medicare_part_a_institutional.835"))
    assert [(f.level, f.segment, f.tag, f.element, f.code) for f in found] == [
        ("segment", 11, "PER", "", "3"),
        ("element", 13, "TS3", "TS309", "10"),
        ("element", 13, "TS3", "TS311", "10"),
        ("element", 23, "TS3", "TS309", "10"),
        ("element", 23, "TS3", "TS311", "10"),
    ]
    assert "Mandatory segment" in found[0].message


def test_clean_samples_and_known_findings() -> None:
    assert validate_835(sample("03_pyx12_denials_mult_svc_loops.835")) == []
    assert validate_835(sample("04_pyx12_4010_reversal_correction_plb.835")) == []
    (bpr16, per) = validate_835(sample("02_lfh_managed_care_two_claims.835"))
    assert (bpr16.segment, bpr16.element, bpr16.value) == (4, "BPR16", "20002316")
    assert (per.segment, per.tag) == (10, "PER")
    (state,) = validate_835(sample("08_edi835parser_uhc_gt_component_sep.835"))
    assert (state.segment, state.element, state.value) == (16, "N402", "NP")


def test_normalizing_lets_pyx12_read_pipes_with_leading_terminators() -> None:
    name = "11_tigershark_pipe_delimited_plb_wo.835"
    (count,) = validate_835(sample(name))
    assert count.level == "transaction" and "SE count of 43" in count.message
    as_sent = validate_835(sample(name), normalize=False)
    assert [f.tag for f in as_sent] == ["ISA"] and "IEA" in as_sent[0].message


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("09_edi835parser_bcbsnc_no_envelope.835", "no ISA"),
        ("12_oopfactory_reversals_cr_group_bom_indented.835", "Map not found"),
        ("14_oopfactory_deident_4010_96_claims_reversals.835", "ISA12 version"),
    ],
)
def test_files_pyx12_refuses_give_one_finding(name: str, words: str) -> None:
    (finding,) = validate_835(sample(name))
    assert finding.level == "validator" and finding.code == REFUSED and words in finding.message


def test_generated_files_are_valid_5010() -> None:
    assert validate_835(generate_835([synthetic_remittance(20, 3, seed=3)])) == []


def test_unreadable_input_is_a_finding_not_an_exception() -> None:
    (binary,) = validate_835(b"\x00\x01")
    assert binary.code == "REMITTANCE_NOT_835"
    (large,) = validate_835(b"ISA" + b" " * MAX_BYTES)
    assert large.code == "REMITTANCE_TOO_LARGE"
