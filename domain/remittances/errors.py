"""Typed errors and non-fatal issues of the 835 reader; every message names the segment."""

from __future__ import annotations

from dataclasses import dataclass

from domain.errors import DomainError, Problem

FIELD = "file"

NOT_835 = "REMITTANCE_NOT_835"
TRUNCATED = "REMITTANCE_TRUNCATED"
BAD_COUNT = "REMITTANCE_BAD_COUNT"
BAD_CONTROL_NUMBER = "REMITTANCE_BAD_CONTROL_NUMBER"
BAD_SEPARATORS = "REMITTANCE_BAD_SEPARATORS"
MALFORMED = "REMITTANCE_MALFORMED"
TOO_LARGE = "REMITTANCE_TOO_LARGE"


def where(number: int, tag: str) -> str:
    """The prefix every message starts with, e.g. `segment 17 (SE)`."""
    return f"segment {number} ({tag})"


@dataclass(frozen=True, slots=True)
class ParseIssue:
    """A defect kept on a remittance parsed with `strict=False` (it would have raised)."""

    segment: int
    tag: str
    code: str
    message: str

    def problem(self) -> Problem:
        """The issue as a `Problem` (field `file`) for the API's userErrors."""
        return Problem(FIELD, self.code, self.message)


class RemittanceError(DomainError):
    """An 835 the reader refuses. `segment`/`tag` locate it (None when the file as a whole)."""

    def __init__(self, code: str, message: str, segment: int | None = None, tag: str = "") -> None:
        super().__init__(Problem(FIELD, code, message))
        self.segment = segment
        self.tag = tag

    @classmethod
    def at(cls, number: int, tag: str, code: str, what: str) -> RemittanceError:
        """An error about one segment: the message reads `segment N (TAG): what`."""
        return cls(code, f"{where(number, tag)}: {what}", number, tag)

    @classmethod
    def from_issue(cls, issue: ParseIssue) -> RemittanceError:
        """The error a strict parse raises for an issue a lenient one would keep."""
        return cls(issue.code, issue.message, issue.segment, issue.tag)


class Issues:
    """Collects issues; in strict mode the first one raises instead."""

    def __init__(self, *, strict: bool) -> None:
        self.strict = strict
        self.items: list[ParseIssue] = []

    def add(self, number: int, tag: str, code: str, what: str) -> None:
        """Raise (strict) or keep (lenient) the issue `segment N (TAG): what`."""
        issue = ParseIssue(number, tag, code, f"{where(number, tag)}: {what}")
        if self.strict:
            raise RemittanceError.from_issue(issue)
        self.items.append(issue)
