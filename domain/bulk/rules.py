"""How one row of a bulk job is judged under lock: applied, or skipped with a reason.

The rules are the single forms' rules (`domain.ledger.availability`, `domain.writeoffs.rules`,
`domain.transactions.rules`); a bulk job adds "changed since selection" and never refuses the whole
job for one row.
"""

import re
from dataclasses import dataclass
from decimal import Decimal

from domain.errors import DomainError
from domain.ledger.availability import visit_state_blocks_writeoff
from domain.ledger.batch import Posting
from domain.locked import LockedBalances
from domain.money import format_cents
from domain.tenants.policy import TenantPolicy

SELF_PAY_TYPES = ("BD", "FC", "AC", "AD", "RF")
_PERCENT = re.compile(r"^\d{1,3}(\.\d{1,4})?$", re.ASCII)
_PERCENT_SCALE = 10_000  # a percent has at most four decimals


@dataclass(frozen=True)
class Skip:
    """Why a row was not applied: a stable code and a sentence for people."""

    code: str
    message: str


def changed(expected: int | None, actual: int) -> Skip | None:
    """A skip when the balance moved since the job selected the row."""
    if expected is None or expected == actual:
        return None
    return Skip(
        "CHANGED_SINCE_SELECTION",
        f"The balance changed from {format_cents(expected)} to {format_cents(actual)} "
        "since the job selected it.",
    )


def judge_writeoff_line(
    policy: TenantPolicy,
    locked: LockedBalances,
    line_id: int,
    expected: int | None,
    reason: str,
    visit_delta: dict[int, int],
) -> Posting | Skip:
    """Write off the line's whole balance, or say why not.

    `visit_delta` holds what earlier rows of this account moved their visits by, so the
    small-balance threshold sees the visit as one-at-a-time application would.
    """
    line = locked.lines[line_id]
    visit = locked.visits[line.visit_id]
    if reason not in policy.writeoff_reasons:
        return Skip("REASON_DISABLED", f"The reason '{reason}' is not enabled.")
    if line.protected:
        return Skip("LINE_PROTECTED", "This line is protected.")
    if blocked := visit_state_blocks_writeoff(policy, visit.state):
        return Skip(blocked.code, blocked.message)
    if line.balance_cents == 0:
        return Skip("NO_BALANCE", "The line has no balance to write off.")
    if line.balance_cents < 0:
        return Skip("CREDIT_BALANCE", "The line has a credit balance; refund it instead.")
    if moved := changed(expected, line.balance_cents):
        return moved
    visit_balance = visit.balance_cents + visit_delta.get(visit.id, 0)
    if reason == "small-balance" and visit_balance > policy.small_balance_threshold_cents:
        return Skip(
            "SMALL_BALANCE_OVER_THRESHOLD",
            f"The visit balance {format_cents(visit_balance)} is over the small-balance "
            f"threshold of {format_cents(policy.small_balance_threshold_cents)}.",
        )
    visit_delta[visit.id] = visit_delta.get(visit.id, 0) - line.balance_cents
    return Posting(
        line_id=line_id,
        amount_cents=-line.balance_cents,
        kind="WRITEOFF",
        action="WRITEOFF_APPLIED",
        reason=reason,
    )


def parse_percent(text: str) -> Decimal:
    """A finance-charge percentage: more than 0, at most 100, at most four decimals."""
    cleaned = (text or "").strip()
    if not _PERCENT.match(cleaned) or not 0 < Decimal(cleaned) <= 100:
        raise DomainError.of(
            "percent",
            "INVALID_PERCENT",
            "Percent is a number above 0 and at most 100 with up to four decimals, e.g. 1.5.",
        )
    return Decimal(cleaned)


def percent_of(balance_cents: int, percent: Decimal) -> int:
    """`percent` % of a positive balance in cents, rounded half-up to the cent.

    Integer arithmetic only: the percentage is scaled to an integer (four decimals), so
    1.5 % of 0.33 is 0.495 cents → 0 cents and 1.5 % of 1.00 is 1.5 cents → 2 cents.
    """
    scaled = int(percent * _PERCENT_SCALE)
    denominator = 100 * _PERCENT_SCALE
    return (2 * balance_cents * scaled + denominator) // (2 * denominator)


@dataclass(frozen=True)
class SelfPayRule:
    """What a bulk self-pay run posts on each visit: a type and a fixed amount or a percent."""

    type: str
    amount_cents: int | None = None
    percent: Decimal | None = None

    def amount(self, balance_cents: int) -> int | Skip:
        """The transaction amount for a visit with this balance, or why it gets none."""
        if self.type == "RF":
            if balance_cents >= 0:
                return Skip("NO_CREDIT", "The visit has no credit balance to refund.")
            return -balance_cents
        if self.type == "AC":
            assert self.amount_cents is not None
            return self.amount_cents
        if balance_cents <= 0:
            return Skip("NO_BALANCE", "The visit has no balance.")
        if self.type == "BD":
            return balance_cents
        if self.percent is not None:
            cents = percent_of(balance_cents, self.percent)
            return cents or Skip("ZERO_AMOUNT", "The percentage rounds to 0.00 on this balance.")
        assert self.amount_cents is not None
        if self.type == "AD" and self.amount_cents > balance_cents:
            return Skip(
                "EXCEEDS_BALANCE",
                f"Amount exceeds the visit balance of {format_cents(balance_cents)}.",
            )
        return self.amount_cents
