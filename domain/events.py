"""Facts that committed work announces. Published only after the transaction commits."""

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class LineBalance:
    """A line's balance after a change."""

    line_id: int
    visit_id: int
    balance_cents: int


@dataclass(frozen=True)
class EntryPosted:
    """What one new ledger entry did: kind, signed effect (0 when informational), link."""

    entry_id: int
    line_id: int
    kind: str
    amount_cents: int
    memo_amount_cents: int | None = None
    reverses_entry_id: int | None = None


@dataclass(frozen=True)
class AccountChanged:
    """An account's balance changed; `version` rises by exactly one per change."""

    tenant_id: int
    account_id: int
    version: int
    balance_cents: int
    command_id: int | None
    entry_ids: list[int]
    lines: list[LineBalance] = field(default_factory=list)
    entries: list[EntryPosted] = field(default_factory=list)

    @property
    def channel(self) -> str:
        return f"{self.tenant_id}:account:{self.account_id}"


@dataclass(frozen=True)
class CommandFinished:
    """A command reached a final status."""

    tenant_id: int
    command_id: int
    status: str
    error_code: str | None
    error_message: str | None

    @property
    def channel(self) -> str:
        return f"{self.tenant_id}:command:{self.command_id}"


@dataclass(frozen=True)
class BulkJobProgress:
    """A bulk job moved: a chunk finished, or the job was planned, cancelled or failed."""

    tenant_id: int
    job_id: int
    status: str
    total: int | None
    applied: int
    skipped: int
    cancelled: int
    finished: bool

    @property
    def channel(self) -> str:
        return f"{self.tenant_id}:bulkjob:{self.job_id}"


Event = AccountChanged | CommandFinished | BulkJobProgress


def to_message(event: Event) -> dict[str, Any]:
    """A JSON-ready dict with a `type` tag: `asdict` with the tag first, built by hand.

    `asdict` deep-copies every value through recursion; the worker encodes two events per
    command, where that was a quarter of its time (the result is the same, tests prove it).
    """
    message = {"type": type(event).__name__, **vars(event)}
    if isinstance(event, AccountChanged):
        message["entry_ids"] = list(event.entry_ids)
        message["lines"] = [dict(vars(line)) for line in event.lines]
        message["entries"] = [dict(vars(entry)) for entry in event.entries]
    return message


def from_message(message: dict[str, Any]) -> Event:
    """Inverse of `to_message`."""
    data = dict(message)
    kind = data.pop("type")
    if kind == "AccountChanged":
        data["lines"] = [LineBalance(**line) for line in data["lines"]]
        data["entries"] = [EntryPosted(**entry) for entry in data.get("entries", [])]
        return AccountChanged(**data)
    if kind == "BulkJobProgress":
        return BulkJobProgress(**data)
    return CommandFinished(**data)
