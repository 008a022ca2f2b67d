"""Matching a remittance to the ledger: claims to visits, service lines to charge lines.

A claim matches the visit whose claim number is its CLP01 (the patient control number the
provider sent). A service line matches the visit's charge line with its REF*6R line control
number, else the one with the same procedure code (SVC06 when the payer adjudicated another
code), modifiers, service date and charge. A payer reversal (CLP02=22) matches the earlier
posted claim with the same payer claim control number (CLP07), else the same CLP01. What does
not match is never guessed: it keeps its reason, and its money stays unapplied.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date

from domain.money import format_cents
from domain.remittances.parsed import Claim, ServiceLine

NO_MONEY_STATUSES = {"23": "not our claim, forwarded", "25": "a predetermination"}


@dataclass(frozen=True)
class LedgerLine:
    """A charge line as matching sees it."""

    id: int
    line_number: int
    procedure_code: str
    modifiers: tuple[str, ...]
    service_date: date
    billed_cents: int
    control_number: str | None


@dataclass(frozen=True)
class LedgerVisit:
    """A visit (claim) and its lines, in line-number order."""

    id: int
    account_id: int
    payer_id: int
    claim_number: str
    lines: tuple[LedgerLine, ...]


@dataclass(frozen=True)
class PriorClaim:
    """An earlier remittance claim that posted, a payer reversal's candidate original."""

    id: int
    account_id: int
    visit_id: int
    patient_control_number: str
    payer_claim_control_number: str


@dataclass(frozen=True)
class LineMatch:
    charge_line_id: int | None
    code: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class ClaimMatch:
    """What a claim matched, and the outcome it starts with (PENDING: to be posted)."""

    outcome: str
    account_id: int | None = None
    visit_id: int | None = None
    payer_id: int | None = None
    reverses_claim_id: int | None = None
    code: str | None = None
    message: str | None = None
    lines: tuple[LineMatch, ...] = field(default=())


def match_claim(
    claim: Claim,
    visits: dict[str, LedgerVisit],
    priors: Iterable[PriorClaim],
    taken: set[int],
) -> ClaimMatch:
    """Match one claim; `visits` by claim number, `priors` newest first, `taken` the charge
    lines earlier claims of the file matched (a line is matched once per file). A claim that
    posts nothing has a `LineMatch` per service line carrying the claim's own reason."""
    found = _match_claim(claim, visits, priors, taken)
    if len(found.lines) == len(claim.lines):
        return found
    reason = LineMatch(None, found.code, found.message)
    return replace(found, lines=tuple(reason for _ in claim.lines))


def _match_claim(
    claim: Claim, visits: dict[str, LedgerVisit], priors: Iterable[PriorClaim], taken: set[int]
) -> ClaimMatch:
    if claim.is_reversal:
        return _match_reversal(claim, priors)
    if claim.status_code in NO_MONEY_STATUSES:
        return ClaimMatch(
            "NOTHING_TO_POST",
            code="NO_POSTING_STATUS",
            message=f"CLP02 {claim.status_code}: {NO_MONEY_STATUSES[claim.status_code]}; "
            "nothing posts.",
        )
    visit = visits.get(claim.patient_control_number)
    if visit is None:
        return ClaimMatch(
            "UNMATCHED",
            code="CLAIM_NOT_FOUND",
            message=f"No visit has claim number {claim.patient_control_number!r}.",
        )
    if not visit.lines:
        return ClaimMatch(
            "UNMATCHED",
            code="VISIT_HAS_NO_LINES",
            message=f"Visit {visit.claim_number!r} has no charge lines to post to.",
        )
    return ClaimMatch(
        "PENDING",
        visit.account_id,
        visit.id,
        visit.payer_id,
        lines=match_lines(claim.lines, visit, taken),
    )


def _match_reversal(claim: Claim, priors: Iterable[PriorClaim]) -> ClaimMatch:
    by_payer_number = claim.payer_claim_control_number
    for prior in priors:
        if (by_payer_number and prior.payer_claim_control_number == by_payer_number) or (
            prior.patient_control_number == claim.patient_control_number
        ):
            return ClaimMatch(
                "PENDING",
                prior.account_id,
                prior.visit_id,
                reverses_claim_id=prior.id,
                lines=tuple(LineMatch(None) for _ in claim.lines),
            )
    return ClaimMatch(
        "UNMATCHED",
        code="REVERSAL_NOT_FOUND",
        message=(
            f"No posted claim {claim.patient_control_number!r} (payer claim "
            f"{by_payer_number or '-'}) to reverse."
        ),
    )


def match_lines(
    lines: Iterable[ServiceLine], visit: LedgerVisit, taken: set[int]
) -> tuple[LineMatch, ...]:
    """Each service line's charge line; a charge line is matched at most once (`taken`)."""
    matches = []
    for line in lines:
        found = _by_control_number(line, visit, taken) or _by_content(line, visit, taken)
        if found is None:
            matches.append(
                LineMatch(
                    None,
                    "LINE_NOT_FOUND",
                    f"No charge line of claim {visit.claim_number!r} matches {_describe(line)}.",
                )
            )
        else:
            taken.add(found.id)
            matches.append(LineMatch(found.id))
    return tuple(matches)


def _by_control_number(line: ServiceLine, visit: LedgerVisit, taken: set[int]) -> LedgerLine | None:
    if not line.control_number:
        return None
    return next(
        (c for c in visit.lines if c.id not in taken and c.control_number == line.control_number),
        None,
    )


def _by_content(line: ServiceLine, visit: LedgerVisit, taken: set[int]) -> LedgerLine | None:
    billed = line.original_procedure or line.procedure
    modifiers = tuple(m for m in billed.modifiers if m)
    when = line.service_date
    return next(
        (
            c
            for c in visit.lines
            if c.id not in taken
            and c.procedure_code == billed.code
            and c.modifiers == modifiers
            and (when is None or c.service_date == when)
            and c.billed_cents == line.charge_cents
        ),
        None,
    )


def _describe(line: ServiceLine) -> str:
    billed = line.original_procedure or line.procedure
    code = ":".join([billed.code, *[m for m in billed.modifiers if m]])
    when = "" if line.service_date is None else f" on {line.service_date.isoformat()}"
    ref = f" (REF*6R {line.control_number})" if line.control_number else ""
    return f"{code}{when} charged {format_cents(line.charge_cents)}{ref}"
