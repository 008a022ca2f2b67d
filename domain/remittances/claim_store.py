"""Reading stored claims back for posting: each claim with its lines and CAS triplets."""

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.ledger.sql_rows import among
from domain.remittances.claim_rules import ClaimToPost, StoredAdjustment, StoredLine
from domain.remittances.models import RemittanceAdjustment, RemittanceClaim, RemittanceLine


@dataclass(frozen=True)
class StoredClaim:
    claim: ClaimToPost
    reverses: int | None
    """The earlier claim a payer reversal undoes."""


async def load_claims(
    session: AsyncSession, tenant_id: int, claim_ids: list[int]
) -> dict[int, StoredClaim]:
    """The claims, in three queries (claims, lines, adjustments in file order)."""
    c, line, a = RemittanceClaim, RemittanceLine, RemittanceAdjustment
    lines: dict[int, list[StoredLine]] = defaultdict(list)
    for row in await session.execute(
        select(line.claim_id, line.id, line.charge_line_id, line.paid_cents)
        .where(among(line.claim_id, claim_ids), line.tenant_id == tenant_id)
        .order_by(line.claim_id, line.seq)
    ):
        lines[row.claim_id].append(StoredLine(row.id, row.charge_line_id, row.paid_cents))
    adjustments: dict[int, list[StoredAdjustment]] = defaultdict(list)
    for adjustment in await session.execute(
        select(a.claim_id, a.line_id, a.group_code, a.reason_code, a.amount_cents, a.effect)
        .where(among(a.claim_id, claim_ids), a.tenant_id == tenant_id)
        .order_by(a.claim_id, a.segment, a.id)
    ):
        adjustments[adjustment.claim_id].append(
            StoredAdjustment(
                adjustment.line_id,
                adjustment.group_code,
                adjustment.reason_code,
                adjustment.amount_cents,
                adjustment.effect,
            )
        )
    claims = await session.execute(
        select(
            c.id,
            c.visit_id,
            c.patient_control_number,
            c.status_code,
            c.paid_cents,
            c.reverses_claim_id,
        ).where(among(c.id, claim_ids), c.tenant_id == tenant_id)
    )
    return {
        row.id: StoredClaim(
            ClaimToPost(
                row.id,
                row.visit_id or 0,
                row.patient_control_number,
                row.status_code,
                row.paid_cents,
                tuple(lines[row.id]),
                tuple(adjustments[row.id]),
            ),
            row.reverses_claim_id,
        )
        for row in claims
    }
