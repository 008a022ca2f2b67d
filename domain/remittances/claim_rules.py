"""How one matched claim posts, judged on the balances read under lock (pure).

Adjustments first, in file order, then payments: a reduction that the locked balances cannot
take skips the whole claim (`EXCEEDS_BALANCE`; nothing of it posts, its money stays
unapplied), so no adjustment ever takes a line below zero, while a payment may leave a credit.
- CO (and 4010's CR), and OA/PI unless the tenant makes them memo: ADJUSTMENT entries carrying
  the CARC group and reason; CO-45 is the contractual write-off (category `contractual`, the
  payer's CW code). A negative amount increases the balance.
- PR (deductible, coinsurance, copay) and every adjustment of a denial: memo entries (amount 0,
  the CAS amount as memo, signed as a reduction would be, like a manual informational
  adjustment) that record it without moving the balance.
- Payments add up to the money the payer sent for the claim, CLP04: each matched service
  line's SVC03 on its charge line, less the line's share (in line order) of what claim-level
  adjustments took off the claim's payment (Σ SVC03 - CLP04; the claim-level CAS reduce the
  same lines, so each line ends at SVC02 - SVC03 - its own reducing CAS). A claim without
  service lines spreads CLP04 over the visit's lines in line order (the last takes any credit).
  An unmatched line's SVC03 stays unapplied.
"""

from dataclasses import dataclass, field
from datetime import date

from domain.bulk.rules import Skip
from domain.ledger.batch import Posting
from domain.money import format_cents


@dataclass(frozen=True)
class StoredAdjustment:
    line_id: int | None  # the remittance line, None at claim level
    group: str
    reason: str
    cents: int
    effect: str


@dataclass(frozen=True)
class StoredLine:
    id: int
    charge_line_id: int | None
    paid_cents: int


@dataclass(frozen=True)
class ClaimToPost:
    """A matched claim as stored at import."""

    id: int
    visit_id: int
    patient_control_number: str
    status_code: str
    paid_cents: int
    lines: tuple[StoredLine, ...]
    adjustments: tuple[StoredAdjustment, ...]


@dataclass(frozen=True)
class Context:
    """What every posting of the job shares."""

    trace: str
    code_id: int | None
    contractual_code_id: int | None
    transaction_date: date
    transaction_id: int


@dataclass
class Decision:
    postings: list[Posting] = field(default_factory=list)
    payment_cents: int = 0
    unapplied_cents: int = 0


def decide_claim(
    claim: ClaimToPost,
    visit_lines: list[int],
    balances: dict[int, int],
    context: Context,
) -> Decision | Skip:
    """The claim's postings under lock, or why it is skipped. `balances` is moved as it goes
    (line id → balance), so the claims of one chunk see each other's effects."""
    working = dict(balances)
    decision = Decision()
    charge_line_of = {line.id: line.charge_line_id for line in claim.lines}
    matched = [c for c in charge_line_of.values() if c is not None]
    in_transaction = claim.paid_cents > 0 and claim.status_code != "4"
    txn = context.transaction_id if in_transaction else None
    for adjustment in claim.adjustments:
        if adjustment.cents == 0:
            continue
        if adjustment.line_id is None:
            targets = matched if claim.lines else visit_lines
            if not targets:
                continue  # every line unmatched: nothing of the claim posts
        else:
            charge_line = charge_line_of[adjustment.line_id]
            if charge_line is None:
                continue  # an unmatched line: nothing of it posts
            targets = [charge_line]
        outcome = _adjust(adjustment, targets, working, context, txn)
        if isinstance(outcome, Skip):
            return outcome
        decision.postings += outcome
    for line_id, cents in _payments(claim, visit_lines, charge_line_of, working):
        decision.postings.append(_payment(line_id, cents, context, txn))
        decision.payment_cents += cents
    decision.unapplied_cents = sum(
        line.paid_cents for line in claim.lines if line.charge_line_id is None
    )
    balances.update(working)
    return decision


def _adjust(
    a: StoredAdjustment,
    targets: list[int],
    working: dict[int, int],
    context: Context,
    txn: int | None,
) -> list[Posting] | Skip:
    carc = (a.group, a.reason)
    if a.effect == "MEMO":
        # memo carries the effect it would have had (a reduction is negative), as manual
        # informational adjustments do
        return [_adjustment(targets[0], 0, -a.cents, carc, context, txn)]
    if a.cents < 0:
        working[targets[0]] -= a.cents
        return [_adjustment(targets[0], -a.cents, None, carc, context, txn)]
    available = sum(max(working[i], 0) for i in targets)
    if a.cents > available:
        return Skip(
            "EXCEEDS_BALANCE",
            f"{a.group}-{a.reason} of {format_cents(a.cents)} exceeds the balance of "
            f"{format_cents(available)}.",
        )
    return [
        _adjustment(line_id, -share, None, carc, context, txn)
        for line_id, share in spread(a.cents, targets, working)
    ]


def _payments(
    claim: ClaimToPost,
    visit_lines: list[int],
    charge_line_of: dict[int, int | None],
    working: dict[int, int],
) -> list[tuple[int, int]]:
    """(charge line, cents) of each payment: per matched service line, or CLP04 spread over
    the visit's lines. Moves `working`."""
    if claim.status_code == "4":
        return []
    if claim.paid_cents > 0 and not claim.lines:
        return spread(claim.paid_cents, visit_lines, working, credit=True)
    if not claim.lines:
        payments = [(visit_lines[0], claim.paid_cents)] if claim.paid_cents else []
    else:
        payments = _line_payments(claim, charge_line_of)
    for line_id, cents in payments:
        working[line_id] -= cents
    return [(line_id, cents) for line_id, cents in payments if cents]


def _line_payments(
    claim: ClaimToPost, charge_line_of: dict[int, int | None]
) -> list[tuple[int, int]]:
    """Each matched line's SVC03, less its share of Σ SVC03 - CLP04 (taken in line order)."""
    taken_back = sum(line.paid_cents for line in claim.lines) - claim.paid_cents
    payments: list[tuple[int, int]] = []
    for line in claim.lines:
        charge_line = charge_line_of[line.id]
        if charge_line is None:
            continue
        share = min(max(taken_back, 0), max(line.paid_cents, 0))
        taken_back -= share
        payments.append((charge_line, line.paid_cents - share))
    if taken_back and payments:  # more taken back than the matched lines were paid
        line_id, cents = payments[-1]
        payments[-1] = (line_id, cents - taken_back)
    return payments


def spread(
    cents: int, line_ids: list[int], working: dict[int, int], credit: bool = False
) -> list[tuple[int, int]]:
    """Shares of a reduction over lines in line order, each up to its balance; with `credit`
    the last line takes what is left. Moves `working`."""
    shares: dict[int, int] = {}
    remaining = cents
    for line_id in line_ids:
        share = min(remaining, max(working[line_id], 0))
        if share:
            shares[line_id] = share
            remaining -= share
    if remaining and credit:
        shares[line_ids[-1]] = shares.get(line_ids[-1], 0) + remaining
    for line_id, share in shares.items():
        working[line_id] -= share
    return list(shares.items())


def _adjustment(
    line_id: int,
    amount: int,
    memo: int | None,
    carc: tuple[str, str],
    context: Context,
    txn: int | None,
) -> Posting:
    contractual = carc == ("CO", "45")
    return Posting(
        line_id=line_id,
        amount_cents=amount,
        memo_amount_cents=memo,
        kind="ADJUSTMENT",
        action="REMITTANCE_MEMO_POSTED" if memo is not None else "REMITTANCE_ADJUSTMENT_POSTED",
        category="contractual" if contractual else None,
        carc_group=carc[0],
        carc_reason=carc[1],
        note=f"835 trace {context.trace}",
        transaction_code_id=context.contractual_code_id if contractual else None,
        transaction_date=context.transaction_date,
        transaction_id=txn,
    )


def _payment(line_id: int, cents: int, context: Context, txn: int | None) -> Posting:
    return Posting(
        line_id=line_id,
        amount_cents=-cents,
        kind="PAYMENT",
        action="REMITTANCE_PAYMENT_POSTED",
        note=f"835 trace {context.trace}",
        transaction_code_id=context.code_id,
        transaction_date=context.transaction_date,
        transaction_id=txn,
    )
