"""What a remittance's claims came to, counted per remittance in one query (read only).

The API shows it as `Remittance.claimSummary`; `arledger remit import` prints it per file.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.remittances.models import RemittanceClaim


@dataclass(frozen=True)
class ClaimCounts:
    """Claims of one remittance by what matching and posting did with them."""

    claims: int = 0
    matched: int = 0
    """Matched to a visit (a payer reversal: to the visit of the claim it reverses)."""
    unmatched: int = 0
    """UNMATCHED: no visit with the claim number, or no earlier posting to reverse."""
    posted: int = 0
    """Posted payments and adjustments (POSTED, or REVERSED later by a payer reversal);
    payer reversals are counted in `reversed`, denials in `denied`."""
    denied: int = 0
    reversed: int = 0
    """Payer reversals (CLP02 22) of this remittance that undid an earlier posting."""
    skipped: int = 0
    """Matched but not posted: refused under lock, or not attempted (SKIPPED)."""
    unapplied: int = 0
    """Claims with money left unapplied (unmatched, skipped, or with unmatched lines)."""


async def claim_counts(
    session: AsyncSession, tenant_id: int, remittance_ids: Iterable[int]
) -> dict[int, ClaimCounts]:
    """The counts of each remittance (one with no claims is absent: all zero)."""
    c = RemittanceClaim
    outcome = c.outcome
    original = c.reverses_claim_id.is_(None)
    rows = await session.execute(
        select(
            c.remittance_id,
            func.count(),
            func.count(c.visit_id),
            func.count().filter(outcome == "UNMATCHED"),
            func.count().filter(outcome.in_(("POSTED", "REVERSED")), original),
            func.count().filter(outcome == "DENIED"),
            func.count().filter(outcome == "POSTED", c.reverses_claim_id.is_not(None)),
            func.count().filter(outcome == "SKIPPED"),
            func.count().filter(c.unapplied_cents != 0),
        )
        .where(c.tenant_id == tenant_id, c.remittance_id.in_(list(remittance_ids)))
        .group_by(c.remittance_id)
    )
    return {row[0]: ClaimCounts(*(int(n) for n in row[1:])) for row in rows}


def total(counts: Iterable[ClaimCounts]) -> ClaimCounts:
    """The counts of several remittances added up (a file's)."""
    found = list(counts)
    fields = ClaimCounts.__dataclass_fields__
    return ClaimCounts(**{name: sum(getattr(c, name) for c in found) for name in fields})
