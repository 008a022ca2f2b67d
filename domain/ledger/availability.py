"""Why an action is unavailable on a line or visit, so a front end can grey it out and say why.

The same rules judge a command under lock (`domain.writeoffs.rules`,
`domain.adjustments.rules`); here they are read without a lock, as
advice. `None` means the action is available.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from domain.errors import DomainError
from domain.tenants.policy import TenantPolicy

WRITE_OFF_SCOPE = "billing.payment.write"
ADJUSTMENT_SCOPE = "billing.adjustment.write"


@dataclass(frozen=True)
class Blocked:
    """A stable code and a sentence for people."""

    code: str
    message: str

    def error(self, field: str | None) -> DomainError:
        return DomainError.of(field, self.code, self.message)


def missing_scope(scope: str, scopes: frozenset[str] | set[str]) -> Blocked | None:
    if scope in scopes:
        return None
    return Blocked("MISSING_SCOPE", f"Your access lacks the scope {scope}; ask an admin.")


def visit_state_blocks_writeoff(policy: TenantPolicy, state: str) -> Blocked | None:
    if state not in policy.blocking_visit_states:
        return None
    return Blocked("VISIT_STATE_BLOCKS_WRITEOFF", f"The visit is {state}, which blocks write-offs.")


def line_writeoff_blocked(
    policy: TenantPolicy, *, protected: bool, visit_state: str, balance_cents: int
) -> Blocked | None:
    """Why this line cannot be written off now, or None."""
    if protected:
        return Blocked("LINE_PROTECTED", "This line is protected.")
    if blocked := visit_state_blocks_writeoff(policy, visit_state):
        return blocked
    if balance_cents <= 0:
        return Blocked("NO_BALANCE", "The line has no balance to write off.")
    return None


def visit_writeoff_blocked(
    policy: TenantPolicy, *, state: str, lines: Sequence[tuple[bool, int]]
) -> Blocked | None:
    """Why no line of this visit can be written off now, or None. `lines`: (protected, balance)."""
    if blocked := visit_state_blocks_writeoff(policy, state):
        return blocked
    open_lines = [protected for protected, balance in lines if balance > 0]
    if not open_lines:
        return Blocked("NO_BALANCE", "The visit has no balance to write off.")
    if all(open_lines):
        return Blocked("LINE_PROTECTED", "Every line with a balance is protected.")
    return None


def adjustment_blocked(policy: TenantPolicy, *, balance_cents: int) -> Blocked | None:
    """Why no adjustment can be applied here now, or None.

    With a zero or credit balance only informational categories remain available.
    """
    categories = policy.active_categories
    if not categories:
        return Blocked("NO_ADJUSTMENT_CATEGORIES", "The tenant has no adjustment categories.")
    if balance_cents <= 0 and all(c.reduces_balance for c in categories):
        return Blocked("NO_BALANCE", "There is no balance to adjust.")
    return None
