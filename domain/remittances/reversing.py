"""Reversing what a remittance posted: every entry its posting job wrote is negated, with the
transaction it belongs to, and paired audit rows; payer reversals it posted are not (a
reversal is never reversed) and are listed as skipped."""

from domain.bulk.chunks import Chunk, Result
from domain.ledger.batch import LedgerBatch, Posting
from domain.locks import lock_lines, read_entries_under_lock
from domain.reversals.rules import negation


async def reverse_entries(chunk: Chunk) -> list[Result]:
    """Negate each selected entry, or skip it with the reason."""
    session, tenant = chunk.uow.session, chunk.tenant_id
    locked = await lock_lines(session, tenant, [i.line_id or 0 for i in chunk.items])
    await read_entries_under_lock(
        session, tenant, locked, [i.target_entry_id or 0 for i in chunk.items]
    )
    batch, postings, results = LedgerBatch(tenant, locked), list[Posting](), list[Result]()
    applied: list[tuple[int, int, int]] = []  # (item id, posting index, |amount|)
    for group in chunk.by_account():
        start = len(postings)
        for item in group:
            entry = locked.entries.get(item.target_entry_id or 0)
            if entry is None:
                results.append(Result(item.id, "SKIPPED", "ENTRY_NOT_FOUND", "No such entry."))
            elif entry.reverses_entry_id is not None:
                results.append(
                    Result(
                        item.id,
                        "SKIPPED",
                        "REVERSAL_NOT_REVERSIBLE",
                        "A payer reversal is not itself reversed.",
                    )
                )
            elif entry.reversed_by is not None:
                results.append(
                    Result(
                        item.id, "SKIPPED", "ALREADY_REVERSED", "This entry is already reversed."
                    )
                )
            else:
                applied.append((item.id, len(postings), abs(entry.amount_cents)))
                postings.append(negation(entry, chunk.params["reason"], entry.transaction_id))
        batch.add(postings[start:], chunk.actor, chunk.command_id, chunk.provenance)
    await batch.write(session)
    chunk.uow.record_later(batch.events)
    ids = batch.entry_ids
    results += [
        Result(item, "APPLIED", amount_cents=cents, entry_id=ids[index])
        for item, index, cents in applied
    ]
    return results
