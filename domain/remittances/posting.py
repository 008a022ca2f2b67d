"""Posting a remittance's claims, one bulk chunk at a time, under the usual locks.

Each chunk locks its claims' lines (accounts → visits → lines, primary-key order), judges
every claim on what the lock shows (`claim_rules`), posts through one `LedgerBatch` (entries,
paired audit rows for reversals, projections, one event per account) and records each claim's
outcome, all in the chunk's transaction. A payer reversal (CLP02=22) negates what the earlier
posting of the same claim wrote. When the job closes, `finishing` books the payment
transaction and closes the remittance.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select, text

from domain.bulk.chunks import Chunk, Item, Result
from domain.bulk.rules import Skip
from domain.ledger.batch import LedgerBatch, Posting
from domain.ledger.sql_rows import among, update_rows
from domain.locked import LockedBalances
from domain.locks import lock_lines, read_entries_under_lock
from domain.models import ChargeLine
from domain.remittances import codes
from domain.remittances.claim_rules import ClaimToPost, Context, Decision, decide_claim
from domain.remittances.claim_store import load_claims
from domain.reversals.rules import negation

CLAIM_RESULT_COLUMNS = {
    "outcome": "TEXT",
    "code": "TEXT",
    "message": "TEXT",
    "posted_cents": "BIGINT",
    "unapplied_cents": "BIGINT",
    "command_id": "BIGINT",
    "first_entry_id": "BIGINT",
    "last_entry_id": "BIGINT",
}
DENIAL_COLUMNS = {"state": "TEXT", "follow_up": "TEXT"}


@dataclass
class _Outcome:
    """One claim's result before its entry ids are known."""

    item: Item
    outcome: str
    start: int = 0
    count: int = 0
    payment_cents: int = 0
    unapplied_cents: int = 0
    code: str | None = None
    message: str | None = None


async def apply_claims(chunk: Chunk) -> list[Result]:
    """Post each claim of the chunk, or skip it with the reason."""
    session, tenant = chunk.uow.session, chunk.tenant_id
    claims = await load_claims(session, tenant, [i.remittance_claim_id or 0 for i in chunk.items])
    lines = await _lines_of_visits(chunk)
    originals = await _original_entries(chunk, claims.values())
    wanted = [i for ids in lines.values() for i in ids] + [line for _, line in originals.values()]
    locked = await lock_lines(session, tenant, wanted)
    await read_entries_under_lock(session, tenant, locked, list(originals))
    context = _context(chunk.params)
    balances = {i: line.balance_cents for i, line in locked.lines.items()}
    batch, postings, outcomes = LedgerBatch(tenant, locked), list[Posting](), list[_Outcome]()
    for group in chunk.by_account():
        start = len(postings)
        for item in group:
            claim = claims[item.remittance_claim_id or 0]
            if claim.reverses is not None:
                decided = _reverse(claim, originals, locked, context.trace)
            else:
                decided = decide_claim(claim.claim, lines[item.visit_id], balances, context)
            outcomes.append(_record(item, claim.claim, decided, postings))
        batch.add(postings[start:], chunk.actor, chunk.command_id, chunk.provenance)
    await batch.write(session)
    chunk.uow.record_later(batch.events)
    entry_ids = batch.entry_ids  # a fresh list each time it is read
    await _store_outcomes(chunk, claims, outcomes, entry_ids)
    return [_result(o, entry_ids, context.transaction_id) for o in outcomes]


def _context(p: dict[str, Any]) -> Context:
    return Context(
        p["trace"], p["code"], p["cw_code"], date.fromisoformat(p["date"]), p["transaction"]
    )


def _record(
    item: Item, claim: ClaimToPost, decided: Decision | Skip, postings: list[Posting]
) -> _Outcome:
    if isinstance(decided, Skip):
        return _Outcome(
            item,
            "SKIPPED",
            code=decided.code,
            message=decided.message,
            unapplied_cents=claim.paid_cents,
        )
    if not decided.postings:
        return _Outcome(
            item,
            "NOTHING_TO_POST",
            code="NOTHING_TO_POST",
            message="No payment or adjustment to post.",
            unapplied_cents=decided.unapplied_cents,
        )
    outcome = _Outcome(
        item,
        "DENIED" if claim.status_code == "4" else "POSTED",
        len(postings),
        len(decided.postings),
        decided.payment_cents,
        decided.unapplied_cents,
    )
    postings.extend(decided.postings)
    return outcome


def _reverse(
    claim: Any, originals: dict[int, tuple[int, int]], locked: LockedBalances, trace: str
) -> Decision | Skip:
    """Negate every entry the original posting wrote that is not reversed yet."""
    decision = Decision()
    for entry_id, (claim_id, _) in originals.items():
        entry = locked.entries.get(entry_id)
        if claim_id != claim.reverses or entry is None or entry.reversed_by is not None:
            continue
        reason = f"Payer reversal (CLP02 22), 835 trace {trace}"
        decision.postings.append(negation(entry, reason, entry.transaction_id))
        if entry.kind == "PAYMENT":
            decision.payment_cents += entry.amount_cents
    if not decision.postings:
        return Skip("ALREADY_REVERSED", "The original posting of this claim is already reversed.")
    return decision


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


async def _original_entries(chunk: Chunk, claims: Any) -> dict[int, tuple[int, int]]:
    """entry id → (original claim id, line id) of the postings the chunk's reversals undo."""
    wanted = [c.reverses for c in claims if c.reverses is not None]
    if not wanted:
        return {}
    rows = await chunk.uow.session.execute(
        text(
            "SELECT e.id, c.id, e.line_id FROM remittance_claims c "
            "JOIN ledger_entries e ON e.command_id = c.command_id "
            " AND e.id BETWEEN c.first_entry_id AND c.last_entry_id "
            "WHERE c.id = ANY(CAST(:ids AS BIGINT[])) AND c.tenant_id = :tenant "
            " AND e.reverses_entry_id IS NULL ORDER BY e.id"
        ),
        {"ids": wanted, "tenant": chunk.tenant_id},
    )
    return {entry_id: (claim_id, line_id) for entry_id, claim_id, line_id in rows}


async def _store_outcomes(
    chunk: Chunk, claims: dict[int, Any], outcomes: list[_Outcome], entry_ids: list[int]
) -> None:
    rows = []
    reversed_originals = []
    for o in outcomes:
        claim = claims[o.item.remittance_claim_id or 0]
        posted = o.count > 0
        rows.append(
            {
                "id": claim.claim.id,
                "outcome": o.outcome,
                "code": o.code,
                "message": o.message,
                "posted_cents": o.payment_cents,
                "unapplied_cents": o.unapplied_cents,
                "command_id": chunk.command_id if posted else None,
                "first_entry_id": entry_ids[o.start] if posted else None,
                "last_entry_id": entry_ids[o.start + o.count - 1] if posted else None,
            }
        )
        if posted and claim.reverses is not None:
            reversed_originals.append(claim.reverses)
    await update_rows(chunk.uow.session, "remittance_claims", "id", CLAIM_RESULT_COLUMNS, rows)
    if reversed_originals:
        await chunk.uow.session.execute(
            text(
                "UPDATE remittance_claims SET outcome = 'REVERSED' "
                "WHERE id = ANY(CAST(:ids AS BIGINT[]))"
            ),
            {"ids": reversed_originals},
        )
    denied = [
        {
            "id": o.item.visit_id,
            "state": "denied",
            "follow_up": _denial(claims[o.item.remittance_claim_id or 0], chunk.params["trace"]),
        }
        for o in outcomes
        if o.outcome == "DENIED"
    ]
    if denied:
        await update_rows(
            chunk.uow.session, "visits", "id", DENIAL_COLUMNS, denied, "follow_up_at = now()"
        )


def _denial(claim: Any, trace: str) -> str:
    """The follow-up note of a denied claim: the payer's reasons, with their CARC text."""
    reasons = "; ".join(
        f"{a.group}-{a.reason} {codes.carc_text(a.reason) or ''}".strip()
        for a in claim.claim.adjustments
    )
    number = claim.claim.patient_control_number
    return f"Denied by the payer (835 trace {trace}, claim {number}): {reasons or 'no reason'}."


def _result(o: _Outcome, entry_ids: list[int], transaction_id: int) -> Result:
    if o.count == 0:
        return Result(o.item.id, "SKIPPED", o.code, o.message)
    in_transaction = o.payment_cents > 0 and o.outcome == "POSTED"
    return Result(
        o.item.id,
        "APPLIED",
        amount_cents=abs(o.payment_cents),
        entry_id=entry_ids[o.start],
        transaction_id=transaction_id if in_transaction else None,
    )
