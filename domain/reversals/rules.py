"""Reversals: a new entry that exactly negates an earlier one, linked both ways.

An entry is reversed at most once and a reversal is never itself reversed (re-apply instead).
Reversing needs the scope that posting the original kind needs. The original and the reversal
each get an audit row, paired with each other.
"""

from dataclasses import dataclass
from typing import Any

from domain.errors import DomainError
from domain.ledger.batch import Posting
from domain.locked import LockedBalances, LockedEntry
from domain.tenants.policy import TenantPolicy

SCOPE_TO_REVERSE = {
    "WRITEOFF": "billing.payment.write",
    "PAYMENT": "billing.payment.write",
    "ADJUSTMENT": "billing.adjustment.write",
    "FINANCE_CHARGE": "billing.payment.write",
    "ADDITIONAL_CHARGE": "billing.payment.write",
    "REFUND": "billing.payment.write",
}
"""Entry kinds a reversal may negate, and the scope each needs. Charges are never reversed."""
MAX_REASON = 500


@dataclass(frozen=True)
class ReversalRequest:
    entry_id: int
    line_id: int
    reason: str

    def to_payload(self) -> dict[str, Any]:
        return {"entry": self.entry_id, "line": self.line_id, "reason": self.reason}

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> "ReversalRequest":
        return cls(int(payload["entry"]), int(payload["line"]), payload["reason"])


def parse_reason(reason: str) -> str:
    """The reversal's reason, trimmed; required, at most `MAX_REASON` characters."""
    text = (reason or "").strip()
    if not text:
        raise DomainError.of("reason", "REASON_REQUIRED", "Say why the entry is reversed.")
    if len(text) > MAX_REASON:
        raise DomainError.of(
            "reason", "REASON_TOO_LONG", f"Reason is limited to {MAX_REASON} characters."
        )
    return text


def reversal_refusal(
    kind: str,
    reverses_entry_id: int | None,
    reversed_by: int | None,
    transaction_id: int | None = None,
) -> DomainError | None:
    """Why this entry cannot be reversed, or None. Shared by submission and the worker."""
    if transaction_id is not None and reverses_entry_id is None:
        return DomainError.of(
            "entryId",
            "ENTRY_IN_TRANSACTION",
            "This entry was posted by a transaction; void the transaction instead.",
        )
    if reverses_entry_id is not None:
        return DomainError.of(
            "entryId",
            "REVERSAL_NOT_REVERSIBLE",
            "A reversal cannot be reversed; apply the original change again instead.",
        )
    if reversed_by is not None:
        return DomainError.of("entryId", "ALREADY_REVERSED", "This entry is already reversed.")
    if kind not in SCOPE_TO_REVERSE:
        return DomainError.of(
            "entryId", "ENTRY_NOT_REVERSIBLE", f"{kind} entries cannot be reversed."
        )
    return None


def decide_reversal(
    policy: TenantPolicy, locked: LockedBalances, request: ReversalRequest
) -> list[Posting]:
    """The negating posting, judged under the line lock."""
    entry = locked.entries.get(request.entry_id)
    if entry is None:
        raise DomainError.of("entryId", "ENTRY_NOT_FOUND", "No such ledger entry.")
    refusal = reversal_refusal(
        entry.kind, entry.reverses_entry_id, entry.reversed_by, entry.transaction_id
    )
    if refusal:
        raise refusal
    return [negation(entry, request.reason)]


def negation(entry: LockedEntry, reason: str, transaction_id: int | None = None) -> Posting:
    """The posting that exactly negates `entry`, with its audit row paired to the original's."""
    memo = None if entry.memo_amount_cents is None else -entry.memo_amount_cents
    return Posting(
        line_id=entry.line_id,
        amount_cents=-entry.amount_cents,
        memo_amount_cents=memo,
        kind=entry.kind,
        action=f"{entry.kind}_REVERSAL",
        reason=reason,
        category=entry.category,
        carc_group=entry.carc_group,
        carc_reason=entry.carc_reason,
        transaction_code_id=entry.transaction_code_id,
        reverses_entry_id=entry.id,
        paired_action=f"{entry.kind}_REVERSED",
        transaction_id=transaction_id,
    )
