"""An in-memory model of one tenant's balances, for the model-based test.

It predicts what the real system does with a request, from the documented rules alone: the
ledger entries a command writes (line, kind, amount, memo, reversed entry) or the code it is
refused with, and whether that refusal is synchronous (a userError, nothing stored) or comes
from the worker (the command ends REJECTED). It knows nothing of the implementation.
"""

from dataclasses import dataclass, field

REVERSIBLE_KINDS = {"WRITEOFF", "PAYMENT", "ADJUSTMENT", "FINANCE_CHARGE", "ADDITIONAL_CHARGE"}
REVERSIBLE_KINDS |= {"REFUND"}
# type: (sign, ledger kind, may leave a credit)
TRANSACTION_EFFECTS = {
    "PY": (-1, "PAYMENT", True),
    "CW": (-1, "ADJUSTMENT", False),
    "BD": (-1, "WRITEOFF", False),
    "AD": (-1, "ADJUSTMENT", False),
    "FC": (1, "FINANCE_CHARGE", True),
    "AC": (1, "ADDITIONAL_CHARGE", True),
    "RF": (1, "REFUND", True),
}

Posting = tuple[int, str, int, int | None, int | None]
"""(line, kind, amount, memo amount, reversed entry) of a ledger entry."""
Row = tuple[int, int, str, int, int | None, int | None]
"""(id, line, kind, amount, memo amount, reversed entry) of a ledger entry as stored."""


@dataclass
class Line:
    id: int
    visit_id: int
    account_id: int
    balance: int
    protected: bool = False


@dataclass
class Entry:
    id: int
    line_id: int
    kind: str
    amount: int
    memo: int | None
    reverses: int | None
    transaction: str | None
    reversed_by: int | None = None


@dataclass(frozen=True)
class Outcome:
    """What the system should do: refuse (`sync` or by the worker) with `code`, or post."""

    code: str | None = None
    sync: bool = False
    postings: tuple[Posting, ...] = ()


@dataclass
class Model:
    threshold: int
    lines: dict[int, Line] = field(default_factory=dict)  # in line order within each visit
    entries: dict[int, Entry] = field(default_factory=dict)
    transactions: dict[str, str] = field(default_factory=dict)  # global id → status
    commands: int = 0

    def visit_lines(self, visit_id: int) -> list[Line]:
        return [line for line in self.lines.values() if line.visit_id == visit_id]

    def visit_balances(self) -> dict[int, int]:
        totals: dict[int, int] = {}
        for line in self.lines.values():
            totals[line.visit_id] = totals.get(line.visit_id, 0) + line.balance
        return totals

    def account_balances(self) -> dict[int, int]:
        totals: dict[int, int] = {}
        for line in self.lines.values():
            totals[line.account_id] = totals.get(line.account_id, 0) + line.balance
        return totals

    def write_off(self, items: list[tuple[int, int]], reason: str) -> Outcome:
        """All lines or none; judged line by line in request order."""
        visits = self.visit_balances()
        for line_id, cents in items:
            line = self.lines[line_id]
            if line.protected:
                return Outcome("LINE_PROTECTED")
            if cents > line.balance:
                return Outcome("EXCEEDS_BALANCE")
            if reason == "small-balance" and visits[line.visit_id] > self.threshold:
                return Outcome("SMALL_BALANCE_OVER_THRESHOLD")
        return Outcome(postings=tuple((i, "WRITEOFF", -c, None, None) for i, c in items))

    def adjust(self, line_ids: list[int], reduces: bool, cents: int) -> Outcome:
        """A reduction spread in line order, each line up to its balance; a memo otherwise."""
        if not reduces:
            return Outcome(postings=((line_ids[0], "ADJUSTMENT", 0, -cents, None),))
        balances = [(i, max(self.lines[i].balance, 0)) for i in line_ids]
        if cents > sum(b for _, b in balances):
            return Outcome("EXCEEDS_BALANCE")
        postings, remaining = [], cents
        for line_id, room in balances:
            if share := min(remaining, room):
                postings.append((line_id, "ADJUSTMENT", -share, None, None))
                remaining -= share
        return Outcome(postings=tuple(postings))

    def reverse(self, entry_id: int) -> Outcome:
        entry = self.entries[entry_id]
        if entry.transaction is not None and entry.reverses is None:
            return Outcome("ENTRY_IN_TRANSACTION", sync=True)
        if entry.reverses is not None:
            return Outcome("REVERSAL_NOT_REVERSIBLE", sync=True)
        if entry.reversed_by is not None:
            return Outcome("ALREADY_REVERSED", sync=True)
        if entry.kind not in REVERSIBLE_KINDS:
            return Outcome("ENTRY_NOT_REVERSIBLE", sync=True)
        return Outcome(postings=(negation(entry),))

    def post(self, type_: str, applications: list[tuple[int, int]]) -> Outcome:
        """Every application or none; reductions in line order, increases on credits first."""
        sign, kind, may_credit = TRANSACTION_EFFECTS[type_]
        working = {i: line.balance for i, line in self.lines.items()}
        postings: list[Posting] = []
        for visit_id, cents in applications:
            lines = [line.id for line in self.visit_lines(visit_id)]
            shares: dict[int, int] = {}
            remaining = cents
            for line_id in lines:
                room = max(-sign * working[line_id], 0)
                if share := min(remaining, room):
                    shares[line_id] = share
                    remaining -= share
            if remaining and sign < 0 and not may_credit:
                return Outcome("EXCEEDS_BALANCE")
            if remaining:
                shares[lines[-1]] = shares.get(lines[-1], 0) + remaining
            for line_id, share in shares.items():
                working[line_id] += sign * share
                postings.append((line_id, kind, sign * share, None, None))
        return Outcome(postings=tuple(postings))

    def void(self, transaction: str) -> Outcome:
        if self.transactions.get(transaction) != "POSTED":
            return Outcome("TRANSACTION_NOT_POSTED", sync=True)
        originals = [
            e
            for e in self.entries.values()
            if e.transaction == transaction and e.reverses is None and e.reversed_by is None
        ]
        return Outcome(postings=tuple(negation(e) for e in originals))

    def record(self, rows: list[Row], txn: str | None) -> None:
        """Apply the entries the system wrote: (id, line, kind, amount, memo, reverses)."""
        for entry_id, line_id, kind, amount, memo, reverses in rows:
            self.entries[entry_id] = Entry(entry_id, line_id, kind, amount, memo, reverses, txn)
            self.lines[line_id].balance += amount
            if reverses is not None:
                self.entries[reverses].reversed_by = entry_id

    def pick(self, wanted: str) -> list[int]:
        """Entry ids by what reversing them should do (None: a reversible one)."""
        return [i for i in self.entries if (self.reverse(i).code or "OK") == wanted]


def negation(entry: Entry) -> Posting:
    memo = None if entry.memo is None else -entry.memo
    return (entry.line_id, entry.kind, -entry.amount, memo, entry.id)
