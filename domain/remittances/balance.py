"""Balancing an 835 at its three levels (pure functions, integer cents).

- transaction: BPR02 = Σ CLP04 - Σ PLB amounts (a PLB is positive when money is withheld);
- claim: CLP03 - CLP04 = Σ claim-level CAS + Σ CAS of its service lines;
- service line: SVC02 - SVC03 = Σ CAS of the line.
CAS amounts are signed. Every imbalance found is listed; none is ever "fixed".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from domain.remittances.parsed import Claim, Remittance, ServiceLine

Level = Literal["transaction", "claim", "line"]


@dataclass(frozen=True, slots=True)
class Imbalance:
    """One equation that does not hold: `expected` (left side) vs `actual` (right side)."""

    level: Level
    reference: str  # the trace number, the claim's CLP01, or CLP01 + " line n"
    segment: int  # the BPR, CLP or SVC the equation is about
    claim_index: int | None  # 1-based within the remittance (claim and line levels)
    line_index: int | None  # 1-based within the claim (line level)
    expected_cents: int
    actual_cents: int

    @property
    def difference_cents(self) -> int:
        """expected - actual."""
        return self.expected_cents - self.actual_cents

    def describe(self) -> str:
        """A sentence for people, e.g. `claim 123 (segment 14): CLP03 - CLP04 is …`."""
        sides = _SIDES[self.level]
        return (
            f"{self.level} {self.reference} (segment {self.segment}): {sides[0]} is "
            f"{_money(self.expected_cents)} but {sides[1]} is {_money(self.actual_cents)} "
            f"(off by {_money(self.difference_cents)})"
        )


@dataclass(frozen=True, slots=True)
class BalanceResult:
    """Every imbalance of one remittance, transaction level first, then in file order."""

    imbalances: tuple[Imbalance, ...]

    @property
    def balanced(self) -> bool:
        return not self.imbalances

    def at(self, level: Level) -> tuple[Imbalance, ...]:
        """The imbalances of one level."""
        return tuple(i for i in self.imbalances if i.level == level)


_SIDES: dict[str, tuple[str, str]] = {
    "transaction": ("BPR02", "Σ CLP04 - Σ PLB"),
    "claim": ("CLP03 - CLP04", "Σ claim and line CAS"),
    "line": ("SVC02 - SVC03", "Σ line CAS"),
}


def check_remittance(remittance: Remittance) -> BalanceResult:
    """Check all three levels of one remittance."""
    found: list[Imbalance] = []
    payment = check_payment(remittance)
    if payment is not None:
        found.append(payment)
    for index, claim in enumerate(remittance.claims, start=1):
        found.extend(check_claim(claim, index))
    return BalanceResult(tuple(found))


def check_payment(remittance: Remittance) -> Imbalance | None:
    """BPR02 = Σ CLP04 - Σ PLB, or the imbalance."""
    paid = sum(claim.paid_cents for claim in remittance.claims)
    withheld = sum(plb.cents for plb in remittance.provider_adjustments)
    actual = paid - withheld
    payment = remittance.payment
    if payment.cents == actual:
        return None
    reference = remittance.trace.number
    return Imbalance("transaction", reference, payment.segment, None, None, payment.cents, actual)


def check_claim(claim: Claim, index: int) -> list[Imbalance]:
    """The claim's own equation, then each of its lines'."""
    found: list[Imbalance] = []
    expected = claim.charge_cents - claim.paid_cents
    actual = adjusted_cents(claim)
    if expected != actual:
        reference = claim.patient_control_number
        found.append(Imbalance("claim", reference, claim.segment, index, None, expected, actual))
    for line_index, line in enumerate(claim.lines, start=1):
        imbalance = check_line(claim, index, line, line_index)
        if imbalance is not None:
            found.append(imbalance)
    return found


def check_line(claim: Claim, index: int, line: ServiceLine, line_index: int) -> Imbalance | None:
    """SVC02 - SVC03 = Σ line CAS, or the imbalance."""
    expected = line.charge_cents - line.paid_cents
    actual = sum(a.cents for a in line.adjustments)
    if expected == actual:
        return None
    reference = f"{claim.patient_control_number} line {line_index}"
    return Imbalance("line", reference, line.segment, index, line_index, expected, actual)


def adjusted_cents(claim: Claim) -> int:
    """Σ claim-level CAS + Σ CAS of every service line."""
    own = sum(a.cents for a in claim.adjustments)
    return own + sum(a.cents for line in claim.lines for a in line.adjustments)


def _money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{whole}.{frac:02d}"
