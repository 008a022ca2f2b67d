"""Posting to the ledger: entries, audit rows and the balance projection, together.

A `LedgerBatch` is the only thing that changes a balance. It works on rows already locked (see
`domain.locks`): `add` judges nothing, it moves the locked snapshot in memory, one command at a
time, so each command sees the balances its predecessors left; `write` writes every entry,
audit row and balance of the batch in a handful of statements. Entries join their accounts' hash
chains there (`domain.ledger.chain.link`): ids are reserved under the account locks, entries
hashed in id order, and each account's new head rides on its balance UPDATE.
"""

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain.events import AccountChanged, EntryPosted, LineBalance
from domain.ledger.chain import link
from domain.ledger.sql_rows import (
    AUDIT_COLUMNS,
    ENTRY_COLUMNS,
    PAIRED_AUDIT_COLUMNS,
    PROVENANCE_COLUMNS,
    Writes,
    next_ids,
)
from domain.locked import LockedBalances


@dataclass(frozen=True)
class Posting:
    """One intended entry: `amount_cents` is the signed effect on the line's balance."""

    line_id: int
    amount_cents: int
    kind: str
    action: str
    reason: str | None = None
    note: str | None = None
    category: str | None = None
    carc_group: str | None = None
    carc_reason: str | None = None
    transaction_code_id: int | None = None
    transaction_date: date | None = None
    reverses_entry_id: int | None = None
    memo_amount_cents: int | None = None
    transaction_id: int | None = None
    paired_action: str | None = None
    """For a reversal: the action of the audit row written for the original, paired with it."""


@dataclass(frozen=True)
class Provenance:
    """The request and scopes a command was stored with, for its audit rows."""

    request_id: str | None
    scopes: list[str] | None


@dataclass
class _Change:
    """One command's change to one account, before its entry ids are known."""

    account_id: int
    version: int
    balance_cents: int
    command_id: int | None
    entry_indexes: list[int] = field(default_factory=list)
    lines: list[LineBalance] = field(default_factory=list)


class LedgerBatch:
    """Postings of many commands over one set of locked rows, written in one go."""

    def __init__(self, tenant_id: int, locked: LockedBalances) -> None:
        self._tenant_id = tenant_id
        self._locked = locked
        self._entries: list[dict[str, Any]] = []
        self._audits: list[dict[str, Any]] = []
        self._changes: list[_Change] = []
        self._lines: set[int] = set()

    def add(
        self,
        postings: list[Posting],
        actor: str,
        command_id: int | None,
        provenance: Provenance | None = None,
    ) -> None:
        """Move the locked balances by `postings`; one version bump per account touched.

        With `provenance` (read with the claim) the audit rows carry it as written. If any
        command of the batch comes without it, every row of the batch gets its request id and
        scopes from the database instead (`PROVENANCE_COLUMNS`: defaults, then the trigger)."""
        changes: dict[int, _Change] = {}
        for p in postings:
            line = self._locked.lines[p.line_id]
            before = line.balance_cents
            line.balance_cents += p.amount_cents
            self._locked.visits[line.visit_id].balance_cents += p.amount_cents
            self._locked.accounts[line.account_id].balance_cents += p.amount_cents
            self._lines.add(p.line_id)
            if p.reverses_entry_id in self._locked.entries:
                self._locked.entries[p.reverses_entry_id].reversed_by = -1
            change = changes.setdefault(line.account_id, _Change(line.account_id, 0, 0, command_id))
            change.entry_indexes.append(len(self._entries))
            self._entries.append(self._entry(line.account_id, line.visit_id, p, actor, command_id))
            audit = self._audit(
                line.account_id, line.visit_id, p, actor, command_id, before, line.balance_cents
            )
            if provenance is not None:
                audit["request_id"], audit["scopes"] = provenance.request_id, provenance.scopes
            self._audits.append(audit)
            if p.paired_action:
                original = {**audit, "action": p.paired_action, "entry_id": p.reverses_entry_id}
                audit["pair"] = len(self._audits)
                self._audits.append(original)
        for account_id, change in sorted(changes.items()):
            account = self._locked.accounts[account_id]
            account.version += 1
            change.version, change.balance_cents = account.version, account.balance_cents
            seen = dict.fromkeys(self._entries[i]["line_id"] for i in change.entry_indexes)
            change.lines = [self._line_balance(line_id) for line_id in seen]
            self._changes.append(change)

    @property
    def entry_ids(self) -> list[int]:
        """The ids `write` gave the entries, in the order their postings were added."""
        return [entry["id"] for entry in self._entries]

    async def write(self, session: AsyncSession) -> None:
        """Write everything added: entries, audit rows and balances, as one statement (after
        the entry ids are reserved: the hash chain and the audit rows need them)."""
        if not self._entries:
            return
        entry_ids = await next_ids(session, "ledger_entries_id_seq", len(self._entries))
        audits = iter(a for a in self._audits if "entry_id" not in a)
        for entry, audit, entry_id in zip(self._entries, audits, entry_ids, strict=True):
            entry["id"] = audit["entry_id"] = entry_id
        self._chain()
        writes = Writes()
        writes.insert("ledger_entries", ENTRY_COLUMNS, self._entries)
        await self._list_audits(session, writes)
        self._list_projection(writes)
        await writes.send(session)

    def events(self) -> list[AccountChanged]:
        """One event per (command, account), in order; once written (a unit of work builds
        them after its commit: `UnitOfWork.record_later`, out from under the locks)."""
        return [
            AccountChanged(
                tenant_id=self._tenant_id,
                account_id=c.account_id,
                version=c.version,
                balance_cents=c.balance_cents,
                command_id=c.command_id,
                entry_ids=[self._entries[i]["id"] for i in c.entry_indexes],
                lines=c.lines,
                entries=[self._posted(self._entries[i]) for i in c.entry_indexes],
            )
            for c in self._changes
        ]

    def _chain(self) -> None:
        """Hash the entries onto their accounts' chains; the heads move in the locked rows."""
        heads = {i: a.ledger_chain_hash for i, a in self._locked.accounts.items()}
        link(self._entries, heads)
        for account_id, head in heads.items():
            self._locked.accounts[account_id].ledger_chain_hash = head

    async def _list_audits(self, session: AsyncSession, writes: Writes) -> None:
        """List the audit rows' insert; a reversal's pair of rows name each other (their ids
        are reserved first)."""
        given = all("request_id" in audit for audit in self._audits)
        provenance = PROVENANCE_COLUMNS if given else {}
        if not any("pair" in a for a in self._audits):
            writes.insert("audit_rows", AUDIT_COLUMNS | provenance, self._audits)
            return
        audit_ids = await next_ids(session, "audit_rows_id_seq", len(self._audits))
        for audit, audit_id in zip(self._audits, audit_ids, strict=True):
            audit["id"] = audit_id
        for audit in self._audits:
            if "pair" in audit:
                partner = self._audits[audit["pair"]]
                audit["paired_audit_id"], partner["paired_audit_id"] = partner["id"], audit["id"]
        writes.insert("audit_rows", PAIRED_AUDIT_COLUMNS | provenance, self._audits)

    @staticmethod
    def _posted(entry: dict[str, Any]) -> EntryPosted:
        return EntryPosted(
            entry["id"],
            entry["line_id"],
            entry["kind"],
            entry["amount_cents"],
            entry["memo_amount_cents"],
            entry["reverses_entry_id"],
        )

    def _line_balance(self, line_id: int) -> LineBalance:
        line = self._locked.lines[line_id]
        return LineBalance(line_id, line.visit_id, line.balance_cents)

    def _entry(
        self, account_id: int, visit_id: int, p: Posting, actor: str, command_id: int | None
    ) -> dict[str, Any]:
        return {
            "tenant_id": self._tenant_id,
            "account_id": account_id,
            "visit_id": visit_id,
            "line_id": p.line_id,
            "command_id": command_id,
            "kind": p.kind,
            "amount_cents": p.amount_cents,
            "memo_amount_cents": p.memo_amount_cents,
            "reason": p.reason,
            "note": p.note,
            "category": p.category,
            "carc_group": p.carc_group,
            "carc_reason": p.carc_reason,
            "transaction_code_id": p.transaction_code_id,
            "actor": actor,
            "transaction_date": p.transaction_date or date.today(),
            "reverses_entry_id": p.reverses_entry_id,
            "transaction_id": p.transaction_id,
        }

    def _audit(
        self,
        account_id: int,
        visit_id: int,
        p: Posting,
        actor: str,
        command_id: int | None,
        before: int,
        after: int,
    ) -> dict[str, Any]:
        return {
            "tenant_id": self._tenant_id,
            "command_id": command_id,
            "account_id": account_id,
            "visit_id": visit_id,
            "line_id": p.line_id,
            "actor": actor,
            "action": p.action,
            "reason": p.reason,
            "note": p.note,
            "balance_before_cents": before,
            "balance_after_cents": after,
        }

    def _list_projection(self, writes: Writes) -> None:
        """List every moved line, visit and account: an UPDATE per table (arrays, unnested)."""
        locked = self._locked
        line_ids = sorted(self._lines)
        visit_ids = sorted({locked.lines[i].visit_id for i in line_ids})
        account_ids = sorted({locked.lines[i].account_id for i in line_ids})
        balance = {"balance_cents": "BIGINT"}
        writes.update(
            "charge_lines",
            "id",
            balance,
            [{"id": i, "balance_cents": locked.lines[i].balance_cents} for i in line_ids],
        )
        writes.update(
            "visits",
            "id",
            balance,
            [{"id": i, "balance_cents": locked.visits[i].balance_cents} for i in visit_ids],
        )
        writes.update(
            "accounts",
            "id",
            {**balance, "version": "BIGINT", "ledger_chain_hash": "BYTEA"},
            [
                {
                    "id": i,
                    "balance_cents": locked.accounts[i].balance_cents,
                    "version": locked.accounts[i].version,
                    "ledger_chain_hash": locked.accounts[i].ledger_chain_hash,
                }
                for i in account_ids
            ],
        )


async def post(
    session: AsyncSession,
    tenant_id: int,
    locked: LockedBalances,
    postings: list[Posting],
    actor: str,
    command_id: int | None,
) -> list[AccountChanged]:
    """Post one set of postings and write them at once (a batch of one)."""
    batch = LedgerBatch(tenant_id, locked)
    batch.add(postings, actor, command_id)
    await batch.write(session)
    return batch.events()
