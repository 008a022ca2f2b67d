"""Names of the 835's codes: CARC reasons, CAS group codes, CLP02 statuses, PLB reasons.

The lists live in `codes/` beside this module (sources and licences in `codes/README.md`) and
are read once, on first use. Every lookup returns None for a code the list does not know.
"""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

CODES_DIR = Path(__file__).resolve().parent / "codes"
_PLB_FILE = "plb03_provider_adjustment_reason_codes_5010.txt"


def carc_text(code: str) -> str | None:
    """The CMS text of a claim adjustment reason code (CAS02 etc.), e.g. 45."""
    return _carc().get(code.strip())


def carc_inactive(code: str) -> bool:
    """True when CMS marks the reason code INACTIVE."""
    return code.strip() in _inactive_carcs()


def group_text(code: str) -> str | None:
    """The name of a CAS01 group code: CO, PR, OA, PI, CR."""
    row = _groups().get(code.strip().upper())
    return row["description"] if row else None


def group_valid_in(code: str, release: str) -> bool:
    """Whether a group code may appear in CAS01 of a release ("4010" or "5010")."""
    row = _groups().get(code.strip().upper())
    column = {"4010": "valid_in_4010_X091A1_CAS01", "5010": "valid_in_5010_X221A1_CAS01"}
    return row is not None and release in column and row[column[release]] == "yes"


def claim_status_text(code: str) -> str | None:
    """The name of a CLP02 claim status code, e.g. 22 Reversal of Previous Payment."""
    return _statuses().get(code.strip())


def plb_reason_text(code: str) -> str | None:
    """A short label of a PLB03-1 reason (WO, L6, FB, CS…), "" when valid but unlabelled."""
    labels, valid = _plb()
    code = code.strip().upper()
    if code in labels:
        return labels[code]
    return "" if code in valid else None


def _rows(name: str) -> list[dict[str, str]]:
    with (CODES_DIR / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@cache
def _carc() -> dict[str, str]:
    return {row["code"]: row["description"] for row in _rows("carc_codes_cms_bfd.csv")}


@cache
def _inactive_carcs() -> frozenset[str]:
    rows = _rows("carc_codes_cms_bfd.csv")
    return frozenset(row["code"] for row in rows if row["status_hint"] == "inactive")


@cache
def _groups() -> dict[str, dict[str, str]]:
    return {row["code"]: row for row in _rows("claim_adjustment_group_codes.csv")}


@cache
def _statuses() -> dict[str, str]:
    return {row["code"]: row["description"] for row in _rows("clp02_claim_status_codes.csv")}


@cache
def _plb() -> tuple[dict[str, str], frozenset[str]]:
    """Labels from the header comment (`72 Authorized Return | …`) and the valid codes."""
    labels: dict[str, str] = {}
    valid: set[str] = set()
    text = (CODES_DIR / _PLB_FILE).read_text(encoding="utf-8")
    for line in text.splitlines():
        if line.startswith("#   "):
            for entry in line[1:].split("|"):
                code, _, label = entry.strip().partition(" ")
                labels[code] = label.strip()
        elif line.strip() and not line.startswith("#"):
            valid.add(line.strip())
    return labels, frozenset(valid)
