"""What the locks of `domain.locks` return: rows as read under their lock, and claimed commands."""

from dataclasses import dataclass, field
from typing import Any


@dataclass
class LockedLine:
    """A charge line's state as read under its row lock."""

    id: int
    visit_id: int
    account_id: int
    balance_cents: int
    protected: bool


@dataclass
class LockedVisit:
    """A visit's state as read under its row lock."""

    id: int
    account_id: int
    state: str
    balance_cents: int


@dataclass
class LockedAccount:
    """An account's state as read under its row lock."""

    id: int
    balance_cents: int
    version: int
    ledger_chain_hash: bytes
    """The head of its hash chain (`domain.ledger.chain`); the batch moves it as it posts."""


@dataclass
class LockedEntry:
    """A ledger entry on a locked line, and the reversal it already has (if any).

    No reversal can be written while its line is locked, so `reversed_by` stays true for the
    transaction; the batch sets it to -1 when it reverses the entry itself.
    """

    id: int
    line_id: int
    kind: str
    amount_cents: int
    memo_amount_cents: int | None
    reason: str | None
    category: str | None
    carc_group: str | None
    carc_reason: str | None
    transaction_code_id: int | None
    reverses_entry_id: int | None
    reversed_by: int | None
    transaction_id: int | None = None


@dataclass
class LockedBalances:
    """The balance rows one command may change, all locked by this transaction."""

    accounts: dict[int, LockedAccount]
    visits: dict[int, LockedVisit]
    lines: dict[int, LockedLine]
    entries: dict[int, LockedEntry] = field(default_factory=dict)


@dataclass(frozen=True)
class ClaimedCommand:
    """A PENDING command this transaction holds (row-locked): what applying it needs."""

    id: int
    tenant_id: int
    kind: str
    payload: dict[str, Any]
    actor: str
    request_id: str | None
    scopes: list[str] | None
    account_ids: list[int]
    """The accounts it names (stored with it): the drain's claim keeps them apart."""
