"""A small, valid 835 (the generator's layout, one claim, one line) and helpers to break it."""

from __future__ import annotations

import pytest

from domain.remittances.errors import RemittanceError
from domain.remittances.parser import parse_835
from domain.remittances.x12 import MAX_BYTES

# Segment numbers: ISA 1, GS 2, ST 3, BPR 4, TRN 5, DTM 6, N1 7, N3 8, N4 9, PER 10, N1 11,
# LX 12, CLP 13, NM1 14, SVC 15, DTM 16, CAS 17, REF 18, SE 19, GE 20, IEA 21.
BASE = (
    "ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       "
    "*260115*1200*^*00501*000000001*0*T*:~\n"
    "GS*HP*SENDER*RECEIVER*20260115*1200*1*X*005010X221A1~\n"
    "ST*835*0001~\n"
    "BPR*I*80*C*ACH*CCP***********20260115~\n"
    "TRN*1*TRACE1*1999999999~\n"
    "DTM*405*20260115~\n"
    "N1*PR*ACME HEALTH PLAN~\n"
    "N3*1 MAIN STREET~\n"
    "N4*SPRINGFIELD*IL*62701~\n"
    "PER*BL*PROVIDER SERVICES*TE*8005551212~\n"
    "N1*PE*GOOD CLINIC*XX*1234567893~\n"
    "LX*1~\n"
    "CLP*CLAIM1*1*100*80**12*PCN1~\n"
    "NM1*QC*1*DOE*JANE****MI*M123456~\n"
    "SVC*HC:99213*100*80~\n"
    "DTM*472*20260105~\n"
    "CAS*CO*45*20~\n"
    "REF*6R*L1~\n"
    "SE*17*0001~\n"
    "GE*1*1~\n"
    "IEA*1*000000001~\n"
)


def refused(
    data: bytes | str, *, strict: bool = True, max_bytes: int = MAX_BYTES
) -> tuple[str, str]:
    """The (code, message) a parse raises; fails the test when it does not raise."""
    with pytest.raises(RemittanceError) as raised:
        parse_835(data, strict=strict, max_bytes=max_bytes)
    error = raised.value
    assert error.problems[0].field == "file"
    return error.code, str(error)


def edit(old: str, new: str, text: str = BASE) -> str:
    """`text` with the one occurrence of `old` replaced."""
    assert text.count(old) == 1, old
    return text.replace(old, new)
