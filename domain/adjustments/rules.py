"""Manual adjustments: the balance brought to the true allowed amount, by contract or rule.

An adjustment targets a visit (claim) or one charge line, picks a category from the tenant's
picklist and a reason. The category decides whether the balance is reduced or the entry is
informational (posted, balance unchanged), and which CARC is written. What the category said
when the adjustment was submitted is stored with the command, so the API's answer ("this will
not reduce the balance") is what the worker applies.
"""

from dataclasses import dataclass
from typing import Any, Literal

from domain.errors import DomainError, Problem
from domain.ledger.batch import Posting
from domain.locked import LockedBalances, LockedLine
from domain.money import positive_cents
from domain.tenants.policy import Category, TenantPolicy
from domain.writeoffs.rules import MAX_NOTE, exceeds_balance

TargetKind = Literal["VISIT", "LINE"]


@dataclass(frozen=True)
class AdjustmentRequest:
    """A validated adjustment with its category's effect and CARC resolved."""

    target_kind: TargetKind
    target_id: int
    line_ids: tuple[int, ...]
    category: str
    reduces_balance: bool
    carc_group: str
    carc_reason: str
    reason: str
    amount_cents: int
    note: str | None

    def to_payload(self) -> dict[str, Any]:
        return {
            "target": [self.target_kind, self.target_id],
            "lines": list(self.line_ids),
            "category": self.category,
            "reduces": self.reduces_balance,
            "carc": [self.carc_group, self.carc_reason],
            "reason": self.reason,
            "amount": self.amount_cents,
            "note": self.note,
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> "AdjustmentRequest":
        kind, target_id = payload["target"]
        group, reason = payload["carc"]
        return cls(
            kind,
            int(target_id),
            tuple(int(i) for i in payload["lines"]),
            payload["category"],
            bool(payload["reduces"]),
            group,
            reason,
            payload["reason"],
            int(payload["amount"]),
            payload.get("note"),
        )


def parse_adjustment(
    policy: TenantPolicy,
    *,
    target: tuple[TargetKind, int, tuple[int, ...]] | None,
    category: str,
    reason: str,
    amount: str,
    note: str | None,
) -> AdjustmentRequest:
    """Validate raw input against the tenant's picklists; raise listing every problem."""
    problems: list[Problem] = []
    if target is None or not target[2]:
        problems.append(Problem("target", "TARGET_NOT_FOUND", "No such visit or charge line."))
    picked = policy.category(category)
    if picked is None:
        known = ", ".join(c.code for c in policy.active_categories) or "none configured"
        problems.append(
            Problem("category", "UNKNOWN_CATEGORY", f"Category must be one of: {known}.")
        )
    if reason not in policy.adjustment_reasons:
        problems.append(
            Problem(
                "reason",
                "UNKNOWN_REASON",
                f"Reason must be one of: {', '.join(policy.adjustment_reasons)}.",
            )
        )
    cents = positive_cents("amount", amount, problems)
    note = (note or "").strip() or None
    if note and len(note) > MAX_NOTE:
        problems.append(
            Problem("note", "NOTE_TOO_LONG", f"Note is limited to {MAX_NOTE} characters.")
        )
    if problems:
        raise DomainError(*problems)
    assert target is not None and picked is not None and cents is not None
    return _request(target, picked, reason, cents, note)


def _request(
    target: tuple[TargetKind, int, tuple[int, ...]],
    category: Category,
    reason: str,
    cents: int,
    note: str | None,
) -> AdjustmentRequest:
    kind, target_id, line_ids = target
    return AdjustmentRequest(
        kind,
        target_id,
        line_ids,
        category.code,
        category.reduces_balance,
        category.carc_group,
        category.carc_reason,
        reason,
        cents,
        note,
    )


def decide_adjustment(
    policy: TenantPolicy, locked: LockedBalances, request: AdjustmentRequest
) -> list[Posting]:
    """The postings for `request` on locked balances; never takes a line below zero.

    A visit-level reduction is spread over the visit's lines in line order, each up to its
    balance. An informational adjustment is one memo entry (on the target line, or the visit's
    first line).
    """
    lines = [locked.lines[i] for i in request.line_ids if i in locked.lines]  # line order
    if not lines:
        raise DomainError.of("target", "TARGET_NOT_FOUND", "No such visit or charge line.")
    if not request.reduces_balance:
        return [_posting(request, lines[0].id, 0, memo=-request.amount_cents)]
    available = sum(max(line.balance_cents, 0) for line in lines)
    if request.amount_cents > available:
        what = "line" if request.target_kind == "LINE" else "visit"
        raise exceeds_balance("amount", available, what)
    return [_posting(request, line_id, -cents) for line_id, cents in _spread(request, lines)]


def _spread(request: AdjustmentRequest, lines: list[LockedLine]) -> list[tuple[int, int]]:
    remaining, shares = request.amount_cents, []
    for line in lines:
        share = min(remaining, max(line.balance_cents, 0))
        if share:
            shares.append((line.id, share))
            remaining -= share
    return shares


def _posting(
    request: AdjustmentRequest, line_id: int, amount_cents: int, memo: int | None = None
) -> Posting:
    return Posting(
        line_id=line_id,
        amount_cents=amount_cents,
        memo_amount_cents=memo,
        kind="ADJUSTMENT",
        action="ADJUSTMENT_APPLIED" if memo is None else "ADJUSTMENT_POSTED_INFORMATIONAL",
        reason=request.reason,
        note=request.note,
        category=request.category,
        carc_group=request.carc_group,
        carc_reason=request.carc_reason,
    )
