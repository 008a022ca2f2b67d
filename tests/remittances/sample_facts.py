"""What each of the 14 third-party 835 samples gives, checked by hand against the files and
against the table in shared/x12/POSTING.md (CLP/SVC/PLB counts, Σ BPR02 / Σ CLP04 / Σ PLB,
claims not balancing). Four samples are refused by a strict parse (the TR3's own typo in 02,
wrong SE01 in 09 and 11, a truncated CLP in 12); a lenient parse keeps them with those defects
as `issues`.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.remittances.errors import BAD_COUNT, MALFORMED

SE01 = "SE01 says {} segments, the transaction set has {}"
ClaimFields = tuple[int, str, str, int, int, int | None, str, str]
Row = tuple[str, str, int, int, int]


@dataclass(frozen=True)
class Expected:
    """What one sample gives. `imbalances` lists (level, reference, segment, expected, actual)."""

    name: str
    sets: int
    claims: int
    lines: int
    cas_segments: int
    adjustments: int
    plb_segments: int
    plb_pairs: int
    trace: str
    payer_id: str
    bpr_cents: tuple[int, ...]
    version: str | None
    release: str | None
    first_claim: ClaimFields  # segment, CLP01, CLP02, CLP03, CLP04, CLP05, CLP06, CLP07
    strict_error: tuple[str, str] | None = None
    issues: tuple[tuple[int, str], ...] = ()
    imbalances: tuple[Row, ...] = ()


SAMPLES = [
    Expected(
        "01_lfh_medicare_part_a_institutional.835", 1, 2, 0, 2, 2, 1, 1, "12345", "1512345678",
        (15000000,), "005010X221A1", "5010",
        (15, "666123", "1", 21136697, 13801840, None, "MA", "1999999444444"),
    ),
    Expected(
        "02_lfh_managed_care_two_claims.835", 1, 2, 2, 5, 5, 0, 0, "7170066655", "1935665544",
        (94500,), "005010X221A1", "5010",
        (13, "5554555444", "1", 80000, 45000, 30000, "12", "94060555410000"),
        strict_error=(MALFORMED, "segment 4 (BPR): BPR16 '20002316' is not a calendar date"),
        issues=((4, MALFORMED),),
    ),
    Expected(
        "03_pyx12_denials_mult_svc_loops.835", 1, 1, 3, 3, 3, 0, 0, "000000000", "1386000134",
        (0,), "005010X221A1", "5010",
        (15, "2005555A", "4", 91539, 0, None, "MC", "4276512332"),
    ),
    Expected(
        "04_pyx12_4010_reversal_correction_plb.835", 1, 3, 3, 2, 2, 1, 3, "0004926",
        "1382999999", (595021,), "004010X091A1", "4010",
        (14, "123839-24635", "22", -31000, -21000, 0, "HM", "6363451"),
        imbalances=(("transaction", "0004926", 4, 595021, 46769),),
    ),
    Expected(
        "05_badx12_dental_multiple_claims_single_check.835", 1, 9, 33, 39, 39, 0, 0, "12345",
        "1512345678", (81080,), "005010X221A1", "5010",
        (13, "7722337", "1", 22600, 13200, None, "12", "119932404007801"),
    ),
    Expected(
        "06_badx12_secondary_payments_cob.835", 1, 2, 2, 4, 5, 0, 0, "0012524965", "1559123456",
        (122200,), "005010X221A1", "5010",
        (17, "L0004828311", "2", 1032364, 91200, None, "12", "05090256390"),
    ),
    Expected(
        "07_badx12_secondary_negative_cas_oa94.835", 1, 1, 1, 2, 2, 0, 0, "0063158ABC",
        "1566339911", (3400,), "005010X221A1", "5010",
        (17, "0001000055", "2", 54100, 3400, None, "12", "50650619501"),
    ),
    Expected(
        "08_edi835parser_uhc_gt_component_sep.835", 1, 2, 5, 6, 7, 0, 0, "1234567890",
        "1234567890", (34999,), "005010X221A1", "5010",
        (19, "001-18573-358", "1", 34128, 8892, 10526, "16", "ATL2819897200"),
    ),
    Expected(
        "09_edi835parser_bcbsnc_no_envelope.835", 1, 1, 3, 3, 3, 0, 0, "02790758", "560894904",
        (192286,), None, None,
        (15, "200200964A52", "1", 210000, 192286, 14254, "15", "94151100100"),
        strict_error=(BAD_COUNT, "segment 32 (SE): " + SE01.format(33, 32)),
        issues=((32, BAD_COUNT), (28, MALFORMED), (28, MALFORMED)),
    ),
    Expected(
        "10_tastypackets_emedny_newline_terminated.835", 1, 3, 10, 4, 4, 0, 0, "10100000000",
        "1000000000", (4575,), "005010X221A1", "5010",
        (15, "PATIENT ACCOUNT NUMBER", "1", 3425, 3425, None, "MC", "1000210000000030"),
    ),
    Expected(
        "11_tigershark_pipe_delimited_plb_wo.835", 1, 2, 2, 2, 2, 1, 1, "1QG11111111",
        "1111111111", (1234567,), "004010X091A1", "4010",
        (18, "001-DDDDDDDDDD", "1", 20002, 20002, None, "13", "1234567890 0987654321"),
        strict_error=(BAD_COUNT, "segment 49 (SE): " + SE01.format(43, 47)),
        issues=((49, BAD_COUNT),),
        imbalances=(("transaction", "1QG11111111", 4, 1234567, 1256186),),
    ),
    Expected(
        "12_oopfactory_reversals_cr_group_bom_indented.835", 1, 10, 9, 16, 21, 1, 1,
        "A04B001017.07504", "1346000128", (575,), "5010", "5010",
        (15, "444444", "1", 5670, 5652, 0, "MC", "0000000655555555"),
        strict_error=(MALFORMED, "segment 98 (CLP): CLP03 is required"),
        issues=((98, MALFORMED), (98, MALFORMED)),
        imbalances=(("transaction", "A04B001017.07504", 4, 575, 702),),
    ),
    Expected(
        "13_oopfactory_deident_medicaid_3_interchanges.835", 3, 56, 91, 91, 97, 0, 0,
        "999999999", "9999999999", (99999, 999999, 48213), "005010X221A1", "5010",
        (18, "9999999999-999", "4", 99999, 0, 0, "MC", "99999999999"),
    ),
    Expected(
        "14_oopfactory_deident_4010_96_claims_reversals.835", 1, 96, 365, 377, 378, 0, 0,
        "99999999", "9999999999", (9999999,), "999999X999X9", None,
        (18, "9999999999-999", "2", 48800, 0, 48800, "12", "999999999999"),
    ),
]  # fmt: skip

# The de-identified files 13 and 14 have too many imbalances to list: counts per level, the
# sum of the differences, the first three, and a digest of the whole list.
BIG = {
    "13_oopfactory_deident_medicaid_3_interchanges.835": (
        {"transaction": 3, "claim": 51, "line": 50},
        1024589,
        (
            ("transaction", "999999999", 4, 99999, 77606),
            ("claim", "9999999999-999", 18, 99999, 109998),
            ("claim", "9999999999-999", 34, 99999, 109998),
        ),
        "cc86866f445b2498",
    ),
    "14_oopfactory_deident_4010_96_claims_reversals.835": (
        {"transaction": 1, "claim": 86, "line": 185},
        -10407667,
        (
            ("transaction", "99999999", 4, 9999999, 6641762),
            ("claim", "9999999999-999", 58, 9378, 13499),
            ("line", "9999999999-999 line 1", 61, 9378, 13499),
        ),
        "48bb5b4d402f69ed",
    ),
}
