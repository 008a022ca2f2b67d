"""Optional TR3 validation with pyx12 (BSD): findings by segment number, never an exception.

pyx12 checks what the typed parser does not: segment order and loop repeats against the
005010X221A1 / 004010X091A1 maps, mandatory segments (e.g. a missing PER*BL), code values
(RARCs, state codes, but not CARCs), element lengths and dates. It is slow (~10k segments/s, so
~18 s for 10,000 claims / 30,000 lines on the project's 2-core machine): run it on demand or in
a background job, never on the import path. Files pyx12 refuses (no ISA envelope, an unknown
version in GS08/ISA12, `\\n~` terminators) give one `validator` finding saying so.
`segment` is the 1-based ordinal of the segment in the file (ISA is 1), as in the parser.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from domain.remittances.errors import RemittanceError
from domain.remittances.x12 import MAX_BYTES, Tokens, decode, tokenize

REFUSED = "VALIDATOR_REFUSED"
UNAVAILABLE = "VALIDATOR_UNAVAILABLE"


@dataclass(frozen=True, slots=True)
class Finding:
    """One validation problem. `code` is pyx12's error code (or a VALIDATOR_* code)."""

    level: str  # interchange, group, transaction, segment, element or validator
    segment: int | None
    tag: str
    element: str  # e.g. BPR16, SVC01-2; "" above element level
    code: str
    message: str
    value: str | None = None


def validate_835(
    data: bytes | str, *, normalize: bool = True, max_bytes: int = MAX_BYTES
) -> list[Finding]:
    """Validate with pyx12; every problem, pyx12's refusal included, comes back as a Finding.

    `normalize` re-writes the file one segment per line without indentation first (segment
    numbers do not change), so pyx12 neither reports every indented segment nor trips over a
    `\n~` terminator; pass False to validate the bytes as sent."""
    try:
        text = normalized(tokenize(data, max_bytes)) if normalize else decode(data, max_bytes)
    except RemittanceError as error:
        return [Finding("validator", error.segment, error.tag, "", error.code, str(error))]
    try:
        import pyx12.params
        import pyx12.x12n_document
    except ImportError:
        return [_validator(UNAVAILABLE, "pyx12 is not installed (pip install pyx12==4.0.0)")]
    report = io.StringIO()
    try:
        with _quiet("pyx12"):
            pyx12.x12n_document.x12n_document(
                pyx12.params.params(), io.StringIO(text, newline=""), None, None, fd_json=report
            )
    except Exception as error:  # pyx12 raises EngineError and others on files it cannot map
        return [_validator(REFUSED, f"pyx12 could not validate the file: {error}")]
    if not report.getvalue():
        why = "no ISA, or an ISA12 version it lacks"
        return [_validator(REFUSED, f"pyx12 does not read this as X12 ({why})")]
    return findings_of(json.loads(report.getvalue()))


def normalized(tokens: Tokens) -> str:
    """The segments re-joined with their own separators, one per line, nothing around them."""
    separators = tokens.separators
    end = separators.segment + ("" if separators.segment == "\n" else "\n")
    join = separators.element.join
    return "".join(join((s.tag, *s.elements)) + end for s in tokens.segments)


@contextmanager
def _quiet(name: str) -> Iterator[None]:
    """pyx12 logs every finding at ERROR; they are returned instead, so mute it meanwhile."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        logger.setLevel(level)


def findings_of(document: dict[str, Any]) -> list[Finding]:
    """Flatten pyx12's JSON error tree (interchange → group → set → segment → element)."""
    found: list[Finding] = []
    for isa in document.get("interchanges", []):
        found += _node_errors("interchange", isa, "ISA")
        for gs in isa.get("groups", []):
            found += _node_errors("group", gs, "GS")
            for st in gs.get("transactions", []):
                found += _node_errors("transaction", st, "ST")
                for segment in st.get("segments", []):
                    found += _segment_findings(segment)
    return found


def _node_errors(level: str, node: dict[str, Any], tag: str) -> list[Finding]:
    line = node.get("cur_line")
    return [
        Finding(level, line, tag, "", str(e.get("err_cde")), str(e.get("err_str")))
        for e in node.get("errors", [])
    ]


def _segment_findings(segment: dict[str, Any]) -> list[Finding]:
    tag, line = str(segment.get("seg_id") or ""), segment.get("cur_line")
    found = [
        Finding("segment", line, tag, "", str(e.get("err_cde")), str(e.get("err_str")), _val(e))
        for e in segment.get("errors", [])
    ]
    for element in segment.get("elements", []):
        name = f"{tag}{int(element.get('ele_pos') or 0):02d}"
        if element.get("subele_pos"):
            name += f"-{element['subele_pos']}"
        for e in element.get("errors", []):
            code, message = str(e.get("err_cde")), str(e.get("err_str"))
            found.append(Finding("element", line, tag, name, code, message, _val(e)))
    return found


def _val(error: dict[str, Any]) -> str | None:
    value = error.get("err_val")
    return None if value is None else str(value)


def _validator(code: str, message: str) -> Finding:
    return Finding("validator", None, "", "", code, message)
