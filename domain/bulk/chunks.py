"""Applying one chunk of a bulk job, by kind: write-offs, self-pay transactions, reversals.

Each applier locks the chunk's balance rows (`domain.locks`, primary-key order), judges every
row on what it finds under the lock, posts the applied rows through one `LedgerBatch` (one
version bump and one event per account) and returns a result per row.
"""

from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from itertools import groupby
from typing import Any

from sqlalchemy import select

from domain.bulk.rules import SelfPayRule, Skip, changed, judge_writeoff_line
from domain.errors import DomainError
from domain.ledger.batch import LedgerBatch, Posting, Provenance
from domain.ledger.sql_rows import among, insert_rows, next_ids
from domain.locks import lock_lines, read_entries_under_lock, void_posted_transactions
from domain.models import ChargeLine, LedgerEntry
from domain.reversals.rules import ReversalRequest, decide_reversal
from domain.tenants.policy import TenantPolicy
from domain.transactions.rules import (
    Application,
    PostingRequest,
    VoidRequest,
    decide_posting,
    decide_void,
)
from domain.uow import UnitOfWork


@dataclass(frozen=True)
class Item:
    """A PENDING row of the chunk, in job order (account, visit, line)."""

    id: int
    account_id: int
    visit_id: int
    line_id: int | None
    target_entry_id: int | None
    target_transaction_id: int | None
    expected_balance_cents: int | None
    remittance_claim_id: int | None = None


@dataclass(frozen=True)
class Result:
    """What happened to one row."""

    id: int
    status: str
    code: str | None = None
    message: str | None = None
    amount_cents: int | None = None
    entry_id: int | None = None
    transaction_id: int | None = None

    @classmethod
    def skipped(cls, item: Item, skip: Skip) -> "Result":
        return cls(item.id, "SKIPPED", skip.code, skip.message)

    @classmethod
    def refused(cls, item: Item, error: DomainError) -> "Result":
        return cls(item.id, "SKIPPED", error.code, error.problems[0].message)


@dataclass
class Chunk:
    """Everything an applier needs: the unit of work, the job and its command, the rows."""

    uow: UnitOfWork
    tenant_id: int
    command_id: int
    actor: str
    params: dict[str, Any]
    policy: TenantPolicy
    items: list[Item]
    provenance: Provenance
    """The chunk command's request id and scopes (the submitting request's), for audit rows."""

    def by_account(self) -> Iterator[list[Item]]:
        for _, group in groupby(self.items, key=lambda item: item.account_id):
            yield list(group)


@dataclass
class _Applied:
    """Applied rows of a chunk waiting for their entry ids, with their postings."""

    rows: list[tuple[Item, int, int]]  # (item, first entry index, entry count)
    postings: list[Posting]

    def take(self, item: Item, postings: list[Posting]) -> None:
        self.rows.append((item, len(self.postings), len(postings)))
        self.postings.extend(postings)


async def _post(chunk: Chunk, batch: LedgerBatch, applied: _Applied) -> list[tuple[Item, int, int]]:
    """Write the batch; (item, first entry id, |amount|) per applied row."""
    await batch.write(chunk.uow.session)
    chunk.uow.record_later(batch.events)
    ids = batch.entry_ids
    return [
        (
            item,
            ids[start] if n else 0,
            abs(sum(p.amount_cents for p in applied.postings[start : start + n])),
        )
        for item, start, n in applied.rows
    ]


async def apply_writeoffs(chunk: Chunk) -> list[Result]:
    """Write off each selected line's whole balance, or skip it with the reason."""
    locked = await lock_lines(
        chunk.uow.session, chunk.tenant_id, [i.line_id or 0 for i in chunk.items]
    )
    batch, applied, results = LedgerBatch(chunk.tenant_id, locked), _Applied([], []), []
    reason, note = chunk.params["reason"], chunk.params["note"]
    for group in chunk.by_account():
        start, visit_delta = len(applied.postings), {}  # type: ignore[var-annotated]
        for item in group:
            assert item.line_id is not None
            outcome = judge_writeoff_line(
                chunk.policy, locked, item.line_id, item.expected_balance_cents, reason, visit_delta
            )
            if isinstance(outcome, Skip):
                results.append(Result.skipped(item, outcome))
            else:
                applied.take(item, [replace(outcome, note=note)])
        batch.add(applied.postings[start:], chunk.actor, chunk.command_id, chunk.provenance)
    for item, entry_id, cents in await _post(chunk, batch, applied):
        results.append(Result(item.id, "APPLIED", amount_cents=cents, entry_id=entry_id))
    return results


async def apply_self_pay(chunk: Chunk) -> list[Result]:
    """Post one transaction of the job's type on each selected visit, or skip it."""
    session, p = chunk.uow.session, chunk.params
    lines = await _lines_of_visits(chunk)
    locked = await lock_lines(session, chunk.tenant_id, [i for ids in lines.values() for i in ids])
    rule = SelfPayRule(
        p["type"], p["amount"], None if p["percent"] is None else Decimal(p["percent"])
    )
    txn_ids = iter(await next_ids(session, "transactions_id_seq", len(chunk.items)))
    batch, applied, results = LedgerBatch(chunk.tenant_id, locked), _Applied([], []), []
    txn_of: dict[int, tuple[int, int]] = {}
    for group in chunk.by_account():
        start = len(applied.postings)
        for item in group:
            visit = locked.visits.get(item.visit_id)
            if visit is None or not lines.get(item.visit_id):
                results.append(Result.skipped(item, Skip("VISIT_NOT_FOUND", "No such visit.")))
                continue
            amount = changed(item.expected_balance_cents, visit.balance_cents) or rule.amount(
                visit.balance_cents
            )
            if isinstance(amount, Skip):
                results.append(Result.skipped(item, amount))
                continue
            txn_id = next(txn_ids)
            request = PostingRequest(
                txn_id,
                p["type"],
                p["code"],
                None,
                date.fromisoformat(p["date"]),
                (Application(visit.id, tuple(lines[visit.id]), amount, 0),),
            )
            try:
                postings = decide_posting(chunk.policy, locked, request)
            except DomainError as error:
                results.append(Result.refused(item, error))
                continue
            applied.take(item, postings)
            txn_of[item.id] = (txn_id, amount)
        batch.add(applied.postings[start:], chunk.actor, chunk.command_id, chunk.provenance)
    posted = await _post(chunk, batch, applied)
    await _write_transactions(chunk, [(item, *txn_of[item.id]) for item, _, _ in posted])
    for item, _, _ in posted:
        txn_id, amount = txn_of[item.id]
        results.append(Result(item.id, "APPLIED", amount_cents=amount, transaction_id=txn_id))
    return results


async def _lines_of_visits(chunk: Chunk) -> dict[int, list[int]]:
    """Each visit's line ids in line order (membership never changes, so no lock needed)."""
    rows = await chunk.uow.session.execute(
        select(ChargeLine.visit_id, ChargeLine.id)
        .where(
            among(ChargeLine.visit_id, [i.visit_id for i in chunk.items]),
            ChargeLine.tenant_id == chunk.tenant_id,
        )
        .order_by(ChargeLine.visit_id, ChargeLine.line_number)
    )
    lines: dict[int, list[int]] = defaultdict(list)
    for visit_id, line_id in rows:
        lines[visit_id].append(line_id)
    return lines


async def _write_transactions(chunk: Chunk, posted: list[tuple[Item, int, int]]) -> None:
    """The POSTED transactions and their one application each, as the single form leaves them."""
    if not posted:
        return
    p, now = chunk.params, datetime.now(UTC)
    await insert_rows(
        chunk.uow.session,
        "transactions",
        TRANSACTION_COLUMNS,
        [
            {
                "id": txn_id,
                "tenant_id": chunk.tenant_id,
                "payer_id": p["payer"],
                "type": p["type"],
                "transaction_code_id": p["code"],
                "transaction_date": date.fromisoformat(p["date"]),
                "amount_cents": amount,
                "status": "POSTED",
                "created_by": chunk.actor,
                "post_command_id": chunk.command_id,
                "posted_at": now,
            }
            for _, txn_id, amount in posted
        ],
    )
    await insert_rows(
        chunk.uow.session,
        "transaction_applications",
        APPLICATION_COLUMNS,
        [
            {
                "tenant_id": chunk.tenant_id,
                "transaction_id": txn_id,
                "account_id": item.account_id,
                "visit_id": item.visit_id,
                "amount_cents": amount,
            }
            for item, txn_id, amount in posted
        ],
    )


TRANSACTION_COLUMNS = {
    "id": "BIGINT",
    "tenant_id": "BIGINT",
    "payer_id": "BIGINT",
    "type": "TEXT",
    "transaction_code_id": "BIGINT",
    "transaction_date": "DATE",
    "amount_cents": "BIGINT",
    "status": "TEXT",
    "created_by": "TEXT",
    "post_command_id": "BIGINT",
    "posted_at": "TIMESTAMPTZ",
}
APPLICATION_COLUMNS = {
    "tenant_id": "BIGINT",
    "transaction_id": "BIGINT",
    "account_id": "BIGINT",
    "visit_id": "BIGINT",
    "amount_cents": "BIGINT",
}


async def apply_reversals(chunk: Chunk) -> list[Result]:
    """Reverse what the original job applied: its entries, or void its transactions."""
    if chunk.params["of"] == "WRITEOFF":
        return await _reverse_entries(chunk)
    return await _void_transactions(chunk)


async def _reverse_entries(chunk: Chunk) -> list[Result]:
    session, reason = chunk.uow.session, chunk.params["reason"]
    locked = await lock_lines(session, chunk.tenant_id, [i.line_id or 0 for i in chunk.items])
    await read_entries_under_lock(
        session, chunk.tenant_id, locked, [i.target_entry_id or 0 for i in chunk.items]
    )
    batch, applied, results = LedgerBatch(chunk.tenant_id, locked), _Applied([], []), []
    for group in chunk.by_account():
        start = len(applied.postings)
        for item in group:
            assert item.target_entry_id is not None and item.line_id is not None
            request = ReversalRequest(item.target_entry_id, item.line_id, reason)
            try:
                applied.take(item, decide_reversal(chunk.policy, locked, request))
            except DomainError as error:
                results.append(Result.refused(item, error))
        batch.add(applied.postings[start:], chunk.actor, chunk.command_id, chunk.provenance)
    for item, entry_id, cents in await _post(chunk, batch, applied):
        results.append(Result(item.id, "APPLIED", amount_cents=cents, entry_id=entry_id))
    return results


async def _void_transactions(chunk: Chunk) -> list[Result]:
    session, reason = chunk.uow.session, chunk.params["reason"]
    txn_ids = [i.target_transaction_id or 0 for i in chunk.items]
    entries = await session.execute(
        select(LedgerEntry.id, LedgerEntry.line_id, LedgerEntry.transaction_id).where(
            among(LedgerEntry.transaction_id, txn_ids),
            LedgerEntry.tenant_id == chunk.tenant_id,
            LedgerEntry.reverses_entry_id.is_(None),
        )
    )
    posted: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for entry_id, line_id, txn_id in entries:
        posted[txn_id or 0].append((entry_id, line_id))
    all_entries = [e for pairs in posted.values() for e in pairs]
    locked = await lock_lines(session, chunk.tenant_id, [line for _, line in all_entries])
    await read_entries_under_lock(session, chunk.tenant_id, locked, [e for e, _ in all_entries])
    voided = await void_posted_transactions(
        session, chunk.tenant_id, txn_ids, chunk.command_id, reason
    )
    batch, applied, results = LedgerBatch(chunk.tenant_id, locked), _Applied([], []), []
    for group in chunk.by_account():
        start = len(applied.postings)
        for item in group:
            txn_id = item.target_transaction_id or 0
            if txn_id not in voided:
                skip = Skip(
                    "TRANSACTION_NOT_POSTED", "The transaction is already voided or voiding."
                )
                results.append(Result.skipped(item, skip))
                continue
            pairs = posted[txn_id]
            request = VoidRequest(
                txn_id, tuple(e for e, _ in pairs), tuple(line for _, line in pairs), reason
            )
            applied.take(item, decide_void(chunk.policy, locked, request))
        batch.add(applied.postings[start:], chunk.actor, chunk.command_id, chunk.provenance)
    for item, _, cents in await _post(chunk, batch, applied):
        results.append(
            Result(
                item.id, "APPLIED", amount_cents=cents, transaction_id=item.target_transaction_id
            )
        )
    return results


Applier = Callable[[Chunk], Awaitable[list[Result]]]
