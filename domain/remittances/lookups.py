"""What an import matches against, read in a few round trips: visits by claim number with
their lines, and the posted claims a payer reversal may undo."""

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.db import driver_connection
from domain.remittances.matching import LedgerLine, LedgerVisit, PriorClaim
from domain.remittances.models import RemittanceClaim
from domain.remittances.parsed import Claim

VISITS_WITH_LINES = (
    "SELECT v.id, v.account_id, v.payer_id, v.claim_number, l.id, l.line_number, "
    "  l.procedure_code, l.modifiers, COALESCE(l.service_date, v.date_of_service), "
    "  l.billed_cents, l.control_number "
    "FROM visits v LEFT JOIN charge_lines l ON l.visit_id = v.id "
    "WHERE v.tenant_id = $1 AND v.claim_number = ANY($2::text[]) "
    "ORDER BY v.id, l.line_number"
)


async def visits_by_claim_number(
    session: AsyncSession, tenant_id: int, claim_numbers: Iterable[str]
) -> dict[str, LedgerVisit]:
    """The visits these claim numbers name, with their lines in line order (one query, read
    straight from the driver: tens of thousands of rows)."""
    raw = await driver_connection(session)
    rows = await raw.fetch(VISITS_WITH_LINES, tenant_id, sorted(claim_numbers))
    heads: dict[int, tuple[Any, ...]] = {}
    lines: dict[int, list[LedgerLine]] = {}
    for visit_id, account_id, payer_id, number, line_id, *line in rows:
        heads.setdefault(visit_id, (account_id, payer_id, number))
        found = lines.setdefault(visit_id, [])
        if line_id is not None:
            k, code, modifiers, served, billed, control = line
            found.append(LedgerLine(line_id, k, code, tuple(modifiers), served, billed, control))
    return {
        number: LedgerVisit(visit_id, account_id, payer_id, number, tuple(lines[visit_id]))
        for visit_id, (account_id, payer_id, number) in heads.items()
    }


async def posted_claims(
    session: AsyncSession, tenant_id: int, reversals: list[Claim]
) -> list[PriorClaim]:
    """Posted claims a payer reversal in this file may undo, newest first."""
    if not reversals:
        return []
    c = RemittanceClaim
    numbers = {r.patient_control_number for r in reversals}
    payer_numbers = {
        r.payer_claim_control_number for r in reversals if r.payer_claim_control_number
    }
    rows = await session.execute(
        select(
            c.id,
            c.account_id,
            c.visit_id,
            c.patient_control_number,
            c.payer_claim_control_number,
        )
        .where(
            c.tenant_id == tenant_id,
            c.outcome.in_(("POSTED", "DENIED")),
            c.reverses_claim_id.is_(None),
            c.patient_control_number.in_(sorted(numbers))
            | c.payer_claim_control_number.in_(sorted(payer_numbers)),
        )
        .order_by(c.id.desc())
    )
    return [
        PriorClaim(
            r.id,
            r.account_id or 0,
            r.visit_id or 0,
            r.patient_control_number,
            r.payer_claim_control_number,
        )
        for r in rows
    ]
