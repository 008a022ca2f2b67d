"""The rows a parsed, balanced and matched remittance is stored as (one insert per table).

The column dicts name each table's columns (and SQL types) in the order of the row tuples."""

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


Row = tuple[Any, ...]


@dataclass
class Rows:
    """Every row of one file's remittances, ready to insert: tuples in the order of
    `CLAIM_COLUMNS`, `LINE_COLUMNS`, … (remittances as dicts: one per transaction set)."""

    remittances: list[dict[str, Any]] = field(default_factory=list)
    claims: list[Row] = field(default_factory=list)
    lines: list[Row] = field(default_factory=list)
    adjustments: list[Row] = field(default_factory=list)
    provider_adjustments: list[Row] = field(default_factory=list)

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
        if match.outcome == "UNMATCHED":
            unapplied = claim.paid_cents
        else:
            unapplied = 0 if claim.is_reversal else unmatched_lines
        self.claims.append(
            (
                claim_id,
                tenant_id,
                remittance_id,
                seq,
                claim.segment,
                claim.patient_control_number,
                claim.status_code,
                claim.charge_cents,
                claim.paid_cents,
                claim.patient_responsibility_cents,
                claim.payer_claim_control_number,
                claim.filing_indicator,
                _patient(claim),
                claim.date_of("232") or _first_line_date(claim),
                match.account_id,
                match.visit_id,
                match.reverses_claim_id,
                match.outcome,
                match.code,
                match.message,
                unapplied,
            )
        )
        effect = _effects(claim, memo_groups)
        self._adjustments(tenant_id, claim_id, None, claim.adjustments, effect)
        for index, (line, found, line_id) in enumerate(
            zip(claim.lines, match.lines, line_ids, strict=True), start=1
        ):
            self.lines.append(
                (
                    line_id,
                    tenant_id,
                    claim_id,
                    index,
                    line.segment,
                    line.procedure.qualifier,
                    line.procedure.code,
                    [m for m in line.procedure.modifiers if m],
                    line.service_date,
                    line.charge_cents,
                    line.paid_cents,
                    line.units,
                    line.control_number,
                    [r.code for r in line.remarks],
                    found.charge_line_id,
                    found.code,
                    found.message,
                )
            )
            self._adjustments(tenant_id, claim_id, line_id, line.adjustments, effect)

    def _adjustments(
        self,
        tenant_id: int,
        claim_id: int,
        line_id: int | None,
        adjustments: tuple[Adjustment, ...],
        effect: dict[str, str],
    ) -> None:
        self.adjustments.extend(
            (
                tenant_id,
                claim_id,
                line_id,
                a.segment,
                a.group,
                a.reason,
                a.cents,
                a.quantity,
                effect.get(a.group, "REDUCE"),
            )
            for a in adjustments
        )

    def add_provider_adjustments(
        self, tenant_id: int, remittance_id: int, remittance: Remittance
    ) -> None:
        self.provider_adjustments.extend(
            (
                tenant_id,
                remittance_id,
                p.segment,
                p.provider_id,
                p.fiscal_period_end,
                p.reason,
                p.reference,
                p.cents,
            )
            for p in remittance.provider_adjustments
        )


def _effects(claim: Claim, memo_groups: frozenset[str]) -> dict[str, str]:
    """`effect_of` for every group code the claim uses (absent: REDUCE)."""
    groups = {a.group for a in claim.adjustments}
    groups.update(a.group for line in claim.lines for a in line.adjustments)
    return {group: effect_of(group, claim, memo_groups) for group in groups}


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
