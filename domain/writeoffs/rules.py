"""Write-offs: a human decision to stop collecting, always with a reason.

`parse_writeoff` validates a request before anything is stored; `decide_writeoff` judges it
against balances read under lock and returns the postings, or raises `DomainError`.
"""

from dataclasses import dataclass
from typing import Any

from domain.errors import DomainError, Problem
from domain.ledger.availability import visit_state_blocks_writeoff
from domain.ledger.batch import Posting
from domain.locked import LockedBalances
from domain.models import WRITE_OFF_REASONS
from domain.money import format_cents, positive_cents
from domain.tenants.policy import TenantPolicy

MAX_LINES = 500
MAX_NOTE = 2000


@dataclass(frozen=True)
class WriteOffLine:
    line_id: int
    amount_cents: int


@dataclass(frozen=True)
class WriteOffRequest:
    """A validated write-off: positive cents per distinct line, a known reason."""

    lines: tuple[WriteOffLine, ...]
    reason: str
    note: str | None

    @property
    def line_ids(self) -> list[int]:
        return [line.line_id for line in self.lines]

    def to_payload(self) -> dict[str, Any]:
        return {
            "lines": [[x.line_id, x.amount_cents] for x in self.lines],
            "reason": self.reason,
            "note": self.note,
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> "WriteOffRequest":
        lines = tuple(WriteOffLine(int(i), int(c)) for i, c in payload["lines"])
        return cls(lines, payload["reason"], payload.get("note"))


def parse_writeoff(
    lines: list[tuple[int | None, str]], reason: str, note: str | None
) -> WriteOffRequest:
    """Validate raw input; raise `DomainError` listing every problem found."""
    problems: list[Problem] = []
    if not lines:
        problems.append(Problem("lines", "NO_LINES", "Pick at least one line to write off."))
    if len(lines) > MAX_LINES:
        problems.append(Problem("lines", "TOO_MANY_LINES", f"At most {MAX_LINES} lines."))
    parsed, seen = [], set()
    for index, (line_id, amount_text) in enumerate(lines):
        if line_id is None:
            problems.append(Problem(f"lines.{index}.lineId", "LINE_NOT_FOUND", "No such line."))
        elif line_id in seen:
            problems.append(
                Problem(f"lines.{index}.lineId", "DUPLICATE_LINE", "A line appears twice.")
            )
        seen.add(line_id)
        cents = positive_cents(f"lines.{index}.amount", amount_text, problems)
        if line_id is not None and cents is not None:
            parsed.append(WriteOffLine(line_id, cents))
    note = (note or "").strip() or None
    problems.extend(reason_problems(reason, note))
    if problems:
        raise DomainError(*problems)
    return WriteOffRequest(tuple(parsed), reason, note)


def reason_problems(reason: str, note: str | None) -> list[Problem]:
    if reason not in WRITE_OFF_REASONS:
        return [
            Problem(
                "reason",
                "UNKNOWN_REASON",
                f"Reason must be one of: {', '.join(WRITE_OFF_REASONS)}.",
            )
        ]
    if reason == "other" and not note:
        return [Problem("note", "NOTE_REQUIRED", "Reason 'other' needs a note saying why.")]
    if note and len(note) > MAX_NOTE:
        return [Problem("note", "NOTE_TOO_LONG", f"Note is limited to {MAX_NOTE} characters.")]
    return []


def exceeds_balance(field: str, balance_cents: int, what: str) -> DomainError:
    """The refusal for an amount that would take a balance below zero."""
    return DomainError.of(
        field,
        "EXCEEDS_BALANCE",
        f"Amount exceeds the {what} balance of {format_cents(max(balance_cents, 0))}.",
    )


def decide_writeoff(
    policy: TenantPolicy, locked: LockedBalances, request: WriteOffRequest
) -> list[Posting]:
    """The postings for `request`, judged on locked balances; all lines or none."""
    if request.reason not in policy.writeoff_reasons:
        raise DomainError.of(
            "reason", "REASON_DISABLED", f"The reason '{request.reason}' is not enabled."
        )
    for index, item in enumerate(request.lines):
        field = f"lines.{index}"
        line = locked.lines.get(item.line_id)
        if line is None:
            raise DomainError.of(f"{field}.lineId", "LINE_NOT_FOUND", "No such line.")
        visit = locked.visits[line.visit_id]
        if line.protected:
            raise DomainError.of(field, "LINE_PROTECTED", "This line is protected.")
        if blocked := visit_state_blocks_writeoff(policy, visit.state):
            raise blocked.error(field)
        if item.amount_cents > line.balance_cents:
            raise exceeds_balance(f"{field}.amount", line.balance_cents, "line")
        if request.reason == "small-balance" and (
            visit.balance_cents > policy.small_balance_threshold_cents
        ):
            raise DomainError.of(
                "reason",
                "SMALL_BALANCE_OVER_THRESHOLD",
                f"Small-balance write-offs need a visit balance at or under "
                f"{format_cents(policy.small_balance_threshold_cents)}.",
            )
    return [
        Posting(
            line_id=item.line_id,
            amount_cents=-item.amount_cents,
            kind="WRITEOFF",
            action="WRITEOFF_APPLIED",
            reason=request.reason,
            note=request.note,
        )
        for item in request.lines
    ]
