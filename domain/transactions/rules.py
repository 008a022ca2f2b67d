"""Practice-management transactions: how each type moves a balance, judged under lock.

| type | effect | posts as (ledger kind) | scope |
|---|---|---|---|
| PY payment | reduces; may leave a credit | PAYMENT | payment.write |
| CW contractual | reduces, never below zero | ADJUSTMENT contractual CO-45 | adjustment.write |
| BD bad debt | reduces, never below zero | WRITEOFF bad-debt | payment.write |
| AD adjustment | reduces, never below zero | ADJUSTMENT adjustment <group>-45 | adjustment.write |
| FC finance charge | increases | FINANCE_CHARGE | payment.write |
| AC additional charge | increases | ADDITIONAL_CHARGE | payment.write |
| RF refund (entered positive) | increases (a debit) | REFUND | payment.write |

A reduction is spread over the visit's lines in line order, each up to its balance (a payment's
remainder becomes a credit on the last line); an increase first brings credit lines back to
zero, the remainder on the last line.
"""

from dataclasses import dataclass
from datetime import date
from typing import Any

from domain.errors import DomainError
from domain.ledger.availability import ADJUSTMENT_SCOPE, WRITE_OFF_SCOPE
from domain.ledger.batch import Posting
from domain.locked import LockedBalances, LockedLine
from domain.reversals.rules import negation
from domain.tenants.policy import TenantPolicy
from domain.writeoffs.rules import exceeds_balance


@dataclass(frozen=True)
class Effect:
    sign: int
    kind: str
    may_credit: bool
    scope: str
    reason: str | None = None
    category: str | None = None
    carc_group: str | None = None
    carc_reason: str | None = None


EFFECTS = {
    "PY": Effect(-1, "PAYMENT", True, WRITE_OFF_SCOPE),
    "CW": Effect(-1, "ADJUSTMENT", False, ADJUSTMENT_SCOPE, None, "contractual", "CO", "45"),
    "BD": Effect(-1, "WRITEOFF", False, WRITE_OFF_SCOPE, "bad-debt"),
    "AD": Effect(-1, "ADJUSTMENT", False, ADJUSTMENT_SCOPE, None, "adjustment", None, "45"),
    "FC": Effect(1, "FINANCE_CHARGE", True, WRITE_OFF_SCOPE),
    "AC": Effect(1, "ADDITIONAL_CHARGE", True, WRITE_OFF_SCOPE),
    "RF": Effect(1, "REFUND", True, WRITE_OFF_SCOPE),
}


def contractual_default(billed_cents: int, contract_fee_cents: int | None, applied: int) -> int:
    """Billed - contract fee - contractual write-offs already applied; 0 when none is due."""
    if contract_fee_cents is None:
        return 0
    return max(billed_cents - contract_fee_cents - applied, 0)


@dataclass(frozen=True)
class Application:
    visit_id: int
    line_ids: tuple[int, ...]
    amount_cents: int
    contractual_cents: int


@dataclass(frozen=True)
class PostingRequest:
    """A balanced transaction as snapshotted when posting was asked for."""

    transaction_id: int
    type: str
    code_id: int
    contractual_code_id: int | None
    transaction_date: date
    applications: tuple[Application, ...]

    def to_payload(self) -> dict[str, Any]:
        return {
            "txn": self.transaction_id,
            "type": self.type,
            "code": self.code_id,
            "cw_code": self.contractual_code_id,
            "date": self.transaction_date.isoformat(),
            "apps": [
                [a.visit_id, list(a.line_ids), a.amount_cents, a.contractual_cents]
                for a in self.applications
            ],
        }

    @classmethod
    def from_payload(cls, p: dict[str, Any]) -> "PostingRequest":
        apps = tuple(Application(v, tuple(lines), c, w) for v, lines, c, w in p["apps"])
        return cls(
            p["txn"], p["type"], p["code"], p["cw_code"], date.fromisoformat(p["date"]), apps
        )

    @property
    def line_ids(self) -> list[int]:
        return [i for a in self.applications for i in a.line_ids]


def decide_posting(
    policy: TenantPolicy, locked: LockedBalances, request: PostingRequest
) -> list[Posting]:
    """Every application's postings, or a refusal for the first that breaks a rule."""
    working = {i: line.balance_cents for i, line in locked.lines.items()}
    postings: list[Posting] = []
    for index, app in enumerate(request.applications):
        lines = [locked.lines[i] for i in app.line_ids if i in locked.lines]  # line order
        if not lines:
            raise DomainError.of(f"applications.{index}", "VISIT_NOT_FOUND", "No such visit.")
        parts: list[tuple[Effect, int, int | None, str]] = [
            (EFFECTS[request.type], app.amount_cents, request.code_id, "amount")
        ]
        if app.contractual_cents:
            code = request.contractual_code_id
            parts.append((EFFECTS["CW"], app.contractual_cents, code, "contractualAmount"))
        for effect, cents, code_id, field in parts:
            shares = _allocate(effect, lines, cents, working, f"applications.{index}.{field}")
            postings += [
                _posting(policy, effect, request, line_id, signed, code_id)
                for line_id, signed in shares
            ]
    return postings


def _allocate(
    effect: Effect, lines: list[LockedLine], cents: int, working: dict[int, int], field: str
) -> list[tuple[int, int]]:
    """(line, signed cents) shares of `cents`, moving `working` balances as it goes."""
    shares: dict[int, int] = {}
    remaining = cents
    for line in lines:
        room = max(working[line.id], 0) if effect.sign < 0 else max(-working[line.id], 0)
        share = min(remaining, room)
        if share:
            shares[line.id] = share
            remaining -= share
    if remaining and effect.sign < 0 and not effect.may_credit:
        available = sum(max(working[line.id], 0) for line in lines)
        raise exceeds_balance(field, available, "visit")
    if remaining:
        shares[lines[-1].id] = shares.get(lines[-1].id, 0) + remaining
    for line_id, share in shares.items():
        working[line_id] += effect.sign * share
    return [(line_id, effect.sign * share) for line_id, share in shares.items()]


def _posting(
    policy: TenantPolicy,
    effect: Effect,
    request: PostingRequest,
    line_id: int,
    signed: int,
    code_id: int | None,
) -> Posting:
    return Posting(
        line_id=line_id,
        amount_cents=signed,
        kind=effect.kind,
        action=f"TRANSACTION_{request.type}_POSTED",
        reason=effect.reason,
        category=effect.category,
        carc_group=None
        if effect.carc_reason is None
        else effect.carc_group or policy.synthetic_carc_group,
        carc_reason=effect.carc_reason,
        transaction_code_id=code_id,
        transaction_date=request.transaction_date,
        transaction_id=request.transaction_id,
    )


@dataclass(frozen=True)
class VoidRequest:
    transaction_id: int
    entry_ids: tuple[int, ...]
    line_ids: tuple[int, ...]
    reason: str

    def to_payload(self) -> dict[str, Any]:
        return {
            "txn": self.transaction_id,
            "entries": list(self.entry_ids),
            "lines": list(self.line_ids),
            "reason": self.reason,
        }

    @classmethod
    def from_payload(cls, p: dict[str, Any]) -> "VoidRequest":
        return cls(p["txn"], tuple(p["entries"]), tuple(p["lines"]), p["reason"])


def decide_void(
    policy: TenantPolicy, locked: LockedBalances, request: VoidRequest
) -> list[Posting]:
    """A reversal of every entry the posting wrote (each at most once)."""
    postings = []
    for entry_id in request.entry_ids:
        entry = locked.entries.get(entry_id)
        if entry is None:
            raise DomainError.of("transactionId", "ENTRY_NOT_FOUND", "A posted entry is missing.")
        if entry.reversed_by is None:
            postings.append(negation(entry, request.reason, request.transaction_id))
    return postings
