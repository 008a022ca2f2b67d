"""Per-sample details: the feature each third-party 835 sample was chosen for."""

from __future__ import annotations

from datetime import date

from domain.remittances.balance import check_remittance
from domain.remittances.parsed import Remittance
from domain.remittances.parser import parse_835
from tests.remittances.samples import sample


def _one(name: str, strict: bool = True) -> Remittance:
    return parse_835(sample(name), strict=strict)[0]


def test_01_institutional_summaries_mia_moa_plb_composite() -> None:
    r = _one("01_lfh_medicare_part_a_institutional.835")
    assert [s.number for s in r.summaries] == ["110212", "130212"]
    assert r.summaries[0].ts3 is not None and r.summaries[0].ts3.elements[4] == "211366.97"
    assert r.summaries[0].ts2 is not None and r.summaries[1].ts2 is None
    assert r.claims[0].inpatient is not None and r.claims[0].inpatient.elements[3] == "138018.40"
    assert r.claims[1].outpatient is not None and r.claims[1].outpatient.elements[2] == "MA02"
    assert [(c.header_number, c.date_of("232")) for c in r.claims] == [
        ("110212", date(2002, 8, 16)),
        ("130212", date(2002, 5, 12)),
    ]
    (plb,) = r.provider_adjustments
    assert (plb.segment, plb.provider_id, plb.fiscal_period_end) == (
        29,
        "6543210903",
        date(2002, 12, 31),
    )
    assert (plb.reason, plb.reference, plb.cents) == ("CV", "CP", -127)
    assert r.payment.handling_code == "C" and r.payment.method == "ACH"
    assert r.payment.payment_date == date(2002, 9, 13)
    assert r.payee.identifier == "6543210903" and r.payee.id_qualifier == "XX"
    assert r.payer.address is not None and r.payer.address.city == "TIMBUCKTU"


def test_02_lenient_parse_keeps_the_impossible_bpr16_as_an_issue() -> None:
    r = _one("02_lfh_managed_care_two_claims.835", strict=False)
    assert r.payment.payment_date is None
    assert r.payment.elements[15] == "20002316"
    line = r.claims[0].lines[0]
    assert (line.service_date, line.service_end) == (date(2002, 3, 1), date(2002, 3, 4))
    assert [(a.group, a.reason, a.cents) for a in r.claims[1].lines[0].adjustments] == [
        ("PR", "1", 60000),
        ("CO", "45", 5000),
    ]


def test_03_denial_with_remarks() -> None:
    r = _one("03_pyx12_denials_mult_svc_loops.835")
    assert r.payment.handling_code == "H" and r.payment.method == "NON"
    assert [(line.units, [m.code for m in line.remarks]) for line in r.claims[0].lines] == [
        (68, ["N14"]),
        (16, ["N14"]),
        (36, ["N14"]),
    ]
    assert r.claims[0].name("82") is not None


def test_04_4010_reversal_pair_and_three_plb_pairs() -> None:
    r = _one("04_pyx12_4010_reversal_correction_plb.835")
    assert r.envelope is not None and r.envelope.separators.repetition is None  # ISA11 is U
    assert [(c.status_code, c.charge_cents, c.paid_cents, c.is_reversal) for c in r.claims] == [
        ("22", -31000, -21000, True),
        ("1", 30000, 20000, False),
        ("22", -50025, -50025, True),
    ]
    assert r.claims[0].lines[0].adjustments[0].cents == -10000
    assert r.claims[2].lines[0].procedure.modifiers == ("TG",)
    assert [(p.position, p.reason, p.cents) for p in r.provider_adjustments] == [
        (1, "CS", -100810),
        (2, "CS", 2421),
        (3, "CS", 595),
    ]


def test_06_two_triplets_and_unusual_repetition_separator() -> None:
    r = _one("06_badx12_secondary_payments_cob.835")
    assert r.envelope is not None and r.envelope.separators.repetition == ">"
    line = r.claims[1].lines[1]
    assert [(a.segment, a.position, a.group, a.reason, a.cents) for a in line.adjustments] == [
        (37, 1, "PR", "1", 15000),
        (37, 2, "PR", "2", 7000),
        (38, 1, "CO", "42", 8500),
    ]
    assert r.claims[1].lines[0].procedure.modifiers == ("26",)
    assert [a.cents for a in line.amounts if a.qualifier == "B6"] == [50000]


def test_07_negative_cas_balances() -> None:
    r = _one("07_badx12_secondary_negative_cas_oa94.835")
    assert [(a.group, a.reason, a.cents) for a in r.claims[0].lines[0].adjustments] == [
        ("OA", "23", 51600),
        ("OA", "94", -900),
    ]
    assert check_remittance(r).balanced


def test_08_gt_component_separator_and_empty_corrected_name() -> None:
    r = _one("08_edi835parser_uhc_gt_component_sep.835")
    assert r.envelope is not None and r.envelope.separators.component == ">"
    line = r.claims[0].lines[0]
    assert (line.procedure.qualifier, line.procedure.code) == ("HC", "B4152")
    assert line.control_number == "800941258001" and line.service_date == date(2020, 12, 21)
    corrected = r.claims[0].name("74")
    assert (
        corrected is not None and corrected.last_or_organization == "" and corrected.middle == "C"
    )


def test_09_no_envelope_and_adjudicated_procedure() -> None:
    r = _one("09_edi835parser_bcbsnc_no_envelope.835", strict=False)
    assert r.envelope is None and r.start_segment == 1
    lines = r.claims[0].lines
    assert lines[0].original_procedure is not None and lines[0].original_procedure.code == "59410"
    assert (lines[2].charge_cents, lines[2].paid_cents) == (0, 0)  # SVC02/SVC03 empty: issues
    assert [line.control_number for line in lines] == ["0001", "0002", "0003"]


def test_10_newline_terminated() -> None:
    r = _one("10_tastypackets_emedny_newline_terminated.835")
    assert r.envelope is not None and r.envelope.separators.segment == "\n"
    assert r.claims[2].lines[1].service_date == date(2013, 9, 17)
    assert r.claims[0].name("74") is not None


def test_11_pipes_and_terminator_at_line_start() -> None:
    r = _one("11_tigershark_pipe_delimited_plb_wo.835", strict=False)
    assert r.envelope is not None
    separators = r.envelope.separators
    assert (separators.element, separators.component, separators.segment) == ("|", "^", "~")
    (plb,) = r.provider_adjustments
    assert (plb.reason, plb.reference, plb.cents) == (
        "WO",
        "12104411559120820 001GAL295513",
        -36119,
    )
    assert [m.code for m in r.claims[1].lines[0].remarks] == ["N220", "M68"]


def test_12_bom_crlf_indentation_negative_units_three_triplets() -> None:
    r = _one("12_oopfactory_reversals_cr_group_bom_indented.835", strict=False)
    assert [c.status_code for c in r.claims] == [
        "1",
        "4",
        "4",
        "2",
        "4",
        "1",
        "25",
        "22",
        "22",
        "22",
    ]
    line = r.claims[7].lines[0]
    assert (line.charge_cents, line.paid_cents, line.units) == (-4258, -4258, -2)
    assert line.procedure.modifiers == ("GT", "UK")
    assert [(a.position, a.reason) for a in line.adjustments[:3]] == [
        (1, "141"),
        (2, "42"),
        (3, "22"),
    ]
    last = r.claims[-1]
    assert (last.segment, last.elements, last.lines) == (98, ("090909", "22"), ())
    assert r.payee.name == "LAKE AREA RECOVERY CENTER "


def test_13_three_interchanges() -> None:
    remittances = parse_835(sample("13_oopfactory_deident_medicaid_3_interchanges.835"))
    assert [(r.control_number, r.start_segment, r.end_segment) for r in remittances] == [
        ("8001", 3, 289),
        ("9001", 294, 558),
        ("10001", 563, 787),
    ]
    controls = [r.envelope.interchange_control for r in remittances if r.envelope]
    assert controls == ["000000031", "000000032", "000000033"]
    assert remittances[0].claims[0].lines[0].procedure.qualifier == "XX"


def test_14_unknown_version_still_parses() -> None:
    r = _one("14_oopfactory_deident_4010_96_claims_reversals.835")
    assert r.release is None and r.envelope is not None
    assert r.envelope.interchange_version == "99999"
    assert sum(c.is_reversal for c in r.claims) == 19
