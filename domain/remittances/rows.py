"""The rows a parsed, balanced and matched remittance is stored as (one insert per table)."""

from dataclasses import dataclass, field
from typing import Any

from domain.remittances.balance import BalanceResult
from domain.remittances.matching import ClaimMatch
from domain.remittances.parsed import Adjustment, Claim, Remittance

CLAIM_COLUMNS = {
    "id": "BIGINT",
    "tenant_id": "BIGINT",
    "remittance_id": "BIGINT",
    "seq": "INTEGER",
    "segment": "INTEGER",
    "patient_control_number": "TEXT",
    "status_code": "TEXT",
    "charge_cents": "BIGINT",
    "paid_cents": "BIGINT",
    "patient_responsibility_cents": "BIGINT",
    "payer_claim_control_number": "TEXT",
    "filing_indicator": "TEXT",
    "patient_name": "TEXT",
    "service_date": "DATE",
    "account_id": "BIGINT",
    "visit_id": "BIGINT",
    "reverses_claim_id": "BIGINT",
    "outcome": "TEXT",
    "code": "TEXT",
    "message": "TEXT",
    "unapplied_cents": "BIGINT",
}
LINE_COLUMNS = {
    "id": "BIGINT",
    "tenant_id": "BIGINT",
    "claim_id": "BIGINT",
    "seq": "INTEGER",
    "segment": "INTEGER",
    "procedure_qualifier": "TEXT",
    "procedure_code": "TEXT",
    "modifiers": "TEXT[]",
    "service_date": "DATE",
    "charge_cents": "BIGINT",
    "paid_cents": "BIGINT",
    "units": "NUMERIC",
    "control_number": "TEXT",
    "remarks": "TEXT[]",
    "charge_line_id": "BIGINT",
    "unmatched_code": "TEXT",
    "unmatched_message": "TEXT",
}
ADJUSTMENT_COLUMNS = {
    "tenant_id": "BIGINT",
    "claim_id": "BIGINT",
    "line_id": "BIGINT",
    "segment": "INTEGER",
    "group_code": "TEXT",
    "reason_code": "TEXT",
    "amount_cents": "BIGINT",
    "quantity": "NUMERIC",
    "effect": "TEXT",
}
PROVIDER_ADJUSTMENT_COLUMNS = {
    "tenant_id": "BIGINT",
    "remittance_id": "BIGINT",
    "segment": "INTEGER",
    "provider_identifier": "TEXT",
    "fiscal_period_end": "DATE",
    "reason_code": "TEXT",
    "reference": "TEXT",
    "amount_cents": "BIGINT",
}


def effect_of(group: str, claim: Claim, memo_groups: frozenset[str]) -> str:
    """REDUCE or MEMO. A denial's adjustments and patient responsibility (PR) are memo; CO
    (and 4010's CR) reduce; OA and PI reduce unless the tenant's policy makes them memo."""
    if claim.status_code == "4" or group == "PR" or group in memo_groups:
        return "MEMO"
    return "REDUCE"


@dataclass
class Rows:
    """Every row of one file's remittances, ready to insert."""

    remittances: list[dict[str, Any]] = field(default_factory=list)
    claims: list[dict[str, Any]] = field(default_factory=list)
    lines: list[dict[str, Any]] = field(default_factory=list)
    adjustments: list[dict[str, Any]] = field(default_factory=list)
    provider_adjustments: list[dict[str, Any]] = field(default_factory=list)

    def add_claim(
        self,
        tenant_id: int,
        remittance_id: int,
        ids: tuple[int, list[int]],
        seq: int,
        claim: Claim,
        match: ClaimMatch,
        memo_groups: frozenset[str],
    ) -> None:
        """The claim, its service lines and every CAS triplet, with what each matched."""
        claim_id, line_ids = ids
        unmatched_lines = sum(
            line.paid_cents
            for line, found in zip(claim.lines, match.lines, strict=True)
            if found.charge_line_id is None
        )
        self.claims.append(
            {
                "id": claim_id,
                "tenant_id": tenant_id,
                "remittance_id": remittance_id,
                "seq": seq,
                "segment": claim.segment,
                "patient_control_number": claim.patient_control_number,
                "status_code": claim.status_code,
                "charge_cents": claim.charge_cents,
                "paid_cents": claim.paid_cents,
                "patient_responsibility_cents": claim.patient_responsibility_cents,
                "payer_claim_control_number": claim.payer_claim_control_number,
                "filing_indicator": claim.filing_indicator,
                "patient_name": _patient(claim),
                "service_date": claim.date_of("232") or _first_line_date(claim),
                "account_id": match.account_id,
                "visit_id": match.visit_id,
                "reverses_claim_id": match.reverses_claim_id,
                "outcome": match.outcome,
                "code": match.code,
                "message": match.message,
                "unapplied_cents": claim.paid_cents
                if match.outcome == "UNMATCHED"
                else (0 if claim.is_reversal else unmatched_lines),
            }
        )
        self._adjustments(tenant_id, claim_id, None, claim, claim.adjustments, memo_groups)
        for index, (line, found, line_id) in enumerate(
            zip(claim.lines, match.lines, line_ids, strict=True), start=1
        ):
            self.lines.append(
                {
                    "id": line_id,
                    "tenant_id": tenant_id,
                    "claim_id": claim_id,
                    "seq": index,
                    "segment": line.segment,
                    "procedure_qualifier": line.procedure.qualifier,
                    "procedure_code": line.procedure.code,
                    "modifiers": [m for m in line.procedure.modifiers if m],
                    "service_date": line.service_date,
                    "charge_cents": line.charge_cents,
                    "paid_cents": line.paid_cents,
                    "units": line.units,
                    "control_number": line.control_number,
                    "remarks": [r.code for r in line.remarks],
                    "charge_line_id": found.charge_line_id,
                    "unmatched_code": found.code,
                    "unmatched_message": found.message,
                }
            )
            self._adjustments(tenant_id, claim_id, line_id, claim, line.adjustments, memo_groups)

    def _adjustments(
        self,
        tenant_id: int,
        claim_id: int,
        line_id: int | None,
        claim: Claim,
        adjustments: tuple[Adjustment, ...],
        memo_groups: frozenset[str],
    ) -> None:
        for a in adjustments:
            self.adjustments.append(
                {
                    "tenant_id": tenant_id,
                    "claim_id": claim_id,
                    "line_id": line_id,
                    "segment": a.segment,
                    "group_code": a.group,
                    "reason_code": a.reason,
                    "amount_cents": a.cents,
                    "quantity": a.quantity,
                    "effect": effect_of(a.group, claim, memo_groups),
                }
            )

    def add_provider_adjustments(
        self, tenant_id: int, remittance_id: int, remittance: Remittance
    ) -> None:
        for p in remittance.provider_adjustments:
            self.provider_adjustments.append(
                {
                    "tenant_id": tenant_id,
                    "remittance_id": remittance_id,
                    "segment": p.segment,
                    "provider_identifier": p.provider_id,
                    "fiscal_period_end": p.fiscal_period_end,
                    "reason_code": p.reason,
                    "reference": p.reference,
                    "amount_cents": p.cents,
                }
            )


def imbalance_rows(result: BalanceResult) -> list[dict[str, Any]]:
    """The balancing result as stored (JSON): one object per equation that does not hold."""
    return [
        {
            "level": i.level,
            "reference": i.reference,
            "segment": i.segment,
            "claim": i.claim_index,
            "line": i.line_index,
            "expected": i.expected_cents,
            "actual": i.actual_cents,
            "message": i.describe(),
        }
        for i in result.imbalances
    ]


def _patient(claim: Claim) -> str | None:
    name = claim.name("QC") or claim.name("IL")
    if name is None:
        return None
    return ", ".join(p for p in (name.last_or_organization, name.first) if p) or None


def _first_line_date(claim: Claim) -> Any:
    return next((line.service_date for line in claim.lines if line.service_date), None)
