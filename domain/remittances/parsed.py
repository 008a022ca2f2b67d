"""The typed model of a parsed 835. Money is integer cents, quantities are Decimal, never float.

Every record keeps `segment`: the 1-based ordinal, in the file, of the segment it was read from
(ISA is 1), so storage, matching and posting can name where a value came from.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from domain.remittances.envelope import Envelope
from domain.remittances.errors import ParseIssue


@dataclass(frozen=True, slots=True)
class RawSegment:
    """A segment kept as it came (MIA, MOA, TS3, TS2, PER, unrecognised ones)."""

    segment: int
    tag: str
    elements: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Reference:
    """REF: qualifier (REF01, e.g. 6R, 1L, EV, TJ) and value (REF02)."""

    segment: int
    qualifier: str
    value: str


@dataclass(frozen=True, slots=True)
class DateValue:
    """DTM: qualifier (e.g. 405, 232, 233, 050, 036, 472, 150, 151) and the date.

    `value` is None only when a lenient parse met an impossible day (`raw` keeps the text)."""

    segment: int
    qualifier: str
    value: dt.date | None
    raw: str


@dataclass(frozen=True, slots=True)
class MonetaryAmount:
    """AMT: qualifier (e.g. AU coverage amount, B6 allowed, I interest) and cents."""

    segment: int
    qualifier: str
    cents: int


@dataclass(frozen=True, slots=True)
class Quantity:
    """QTY: qualifier (e.g. CA covered days) and the quantity."""

    segment: int
    qualifier: str
    quantity: Decimal


@dataclass(frozen=True, slots=True)
class Remark:
    """LQ: qualifier (HE = RARC) and the remark code."""

    segment: int
    qualifier: str
    code: str


@dataclass(frozen=True, slots=True)
class Adjustment:
    """One CAS reason triplet; `position` is 1..6 within its CAS segment. Amounts are signed."""

    segment: int
    position: int
    group: str  # CAS01: CO, PR, OA, PI (CR in 4010)
    reason: str  # CARC, e.g. 45
    cents: int
    quantity: Decimal | None


@dataclass(frozen=True, slots=True)
class Name:
    """NM1: entity (QC patient, IL insured, 74 corrected patient, 82 rendering, TT crossover…)."""

    segment: int
    entity: str  # NM101
    entity_type: str  # NM102: 1 person, 2 organisation
    last_or_organization: str  # NM103
    first: str  # NM104
    middle: str  # NM105
    suffix: str  # NM107
    id_qualifier: str  # NM108
    identifier: str  # NM109


@dataclass(frozen=True, slots=True)
class Address:
    """N3/N4 of a party loop."""

    segment: int  # the N3 (or N4 when there is no N3)
    lines: tuple[str, ...]
    city: str
    state: str
    postal_code: str
    country: str


@dataclass(frozen=True, slots=True)
class Party:
    """An N1 loop: the payer (N1*PR) or the payee (N1*PE)."""

    segment: int
    entity: str  # N101: PR or PE
    name: str  # N102
    id_qualifier: str  # N103: XV, XX (NPI), FI (tax id), PI …
    identifier: str  # N104
    address: Address | None
    references: tuple[Reference, ...]
    contacts: tuple[RawSegment, ...]  # PER


@dataclass(frozen=True, slots=True)
class Payment:
    """BPR: the money (or notice) this remittance carries."""

    segment: int
    handling_code: str  # BPR01: C, D, H, I, P, U, X
    cents: int  # BPR02: total actual provider payment
    credit_debit: str  # BPR03: C or D
    method: str  # BPR04: ACH, BOP, CHK, FWT, NON
    format_code: str  # BPR05: CCP, CTX …
    payment_date: dt.date | None  # BPR16: check issue or EFT effective date
    elements: tuple[str, ...]  # all of BPR, bank routing details included


@dataclass(frozen=True, slots=True)
class Trace:
    """TRN: the check or EFT trace number and who issued it."""

    segment: int
    type_code: str  # TRN01, 1 = current transaction trace numbers
    number: str  # TRN02: check or EFT trace number
    payer_id: str  # TRN03: payer identifier (1 + tax id, usually)
    supplemental_id: str  # TRN04


@dataclass(frozen=True, slots=True)
class Procedure:
    """SVC01 / SVC06 composite: qualifier (HC, AD, NU, ZZ…), code, modifiers, description."""

    qualifier: str
    code: str
    modifiers: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True, slots=True)
class ServiceLine:
    """An SVC loop: one adjudicated procedure with its dates, adjustments and remarks."""

    segment: int
    procedure: Procedure
    charge_cents: int  # SVC02
    paid_cents: int  # SVC03
    revenue_code: str  # SVC04 (NUBC, institutional)
    units: Decimal | None  # SVC05 units paid
    original_procedure: Procedure | None  # SVC06 when the payer adjudicated another code
    original_units: Decimal | None  # SVC07
    dates: tuple[DateValue, ...]
    adjustments: tuple[Adjustment, ...]
    control_number: str | None  # REF*6R, the provider's line item control number
    references: tuple[Reference, ...]
    remarks: tuple[Remark, ...]
    amounts: tuple[MonetaryAmount, ...]
    quantities: tuple[Quantity, ...]

    @property
    def service_date(self) -> dt.date | None:
        """DTM*472, else the start of the DTM*150/151 period."""
        return _date_of(self.dates, "472") or _date_of(self.dates, "150")

    @property
    def service_end(self) -> dt.date | None:
        """DTM*151, else the service date."""
        return _date_of(self.dates, "151") or self.service_date


@dataclass(frozen=True, slots=True)
class Claim:
    """A CLP loop: the claim as the payer adjudicated it."""

    segment: int
    patient_control_number: str  # CLP01: the claim number the provider sent
    status_code: str  # CLP02: 1/2/3 processed, 4 denied, 22 reversal, 25 predetermination …
    charge_cents: int  # CLP03
    paid_cents: int  # CLP04
    patient_responsibility_cents: int | None  # CLP05
    filing_indicator: str  # CLP06: MA, MB, MC, 12, HM …
    payer_claim_control_number: str  # CLP07
    facility_code: str  # CLP08
    frequency_code: str  # CLP09
    elements: tuple[str, ...]  # all of CLP (CLP10-CLP14: DRG, weight, discharge fraction…)
    header_number: str | None  # LX01 of the LX group the claim sits in
    adjustments: tuple[Adjustment, ...]  # claim-level CAS
    names: tuple[Name, ...]
    inpatient: RawSegment | None  # MIA
    outpatient: RawSegment | None  # MOA
    dates: tuple[DateValue, ...]
    references: tuple[Reference, ...]
    amounts: tuple[MonetaryAmount, ...]
    quantities: tuple[Quantity, ...]
    lines: tuple[ServiceLine, ...]

    def name(self, entity: str) -> Name | None:
        """The first NM1 of an entity code (QC patient, IL insured, 74, 82, TT…)."""
        return next((n for n in self.names if n.entity == entity), None)

    def date_of(self, qualifier: str) -> dt.date | None:
        """The claim DTM of a qualifier (232 start, 233 end, 050 received, 036 expiry…)."""
        return _date_of(self.dates, qualifier)

    @property
    def is_reversal(self) -> bool:
        """CLP02 = 22: the payer takes back an earlier payment of this claim."""
        return self.status_code == "22"


@dataclass(frozen=True, slots=True)
class ProviderSummary:
    """An LX header group with its TS3/TS2 provider summaries, kept raw."""

    segment: int
    number: str  # LX01
    ts3: RawSegment | None
    ts2: RawSegment | None


@dataclass(frozen=True, slots=True)
class ProviderAdjustment:
    """One PLB adjustment pair; `position` 1..6 within its PLB. Positive = money withheld."""

    segment: int
    position: int
    provider_id: str  # PLB01
    fiscal_period_end: dt.date | None  # PLB02
    reason: str  # PLB03-1: WO, L6, FB, CS, CV, 72 …
    reference: str  # PLB03-2: e.g. the claim or recoupment the adjustment refers to
    cents: int


@dataclass(frozen=True, slots=True)
class Remittance:
    """One 835 transaction set (ST..SE)."""

    index: int  # 1-based position of the transaction set in the file
    control_number: str  # ST02
    version: str | None  # ST03, else GS08: 005010X221A1, 004010X091A1 …
    release: str | None  # "5010" / "4010" when the version says so
    envelope: Envelope | None  # None for a file without ISA/GS
    start_segment: int  # the ST
    end_segment: int  # the SE
    payment: Payment
    trace: Trace
    production_date: dt.date | None  # DTM*405
    references: tuple[Reference, ...]  # header REF (EV receiver, F2 version…)
    payer: Party
    payee: Party
    summaries: tuple[ProviderSummary, ...]
    claims: tuple[Claim, ...]
    provider_adjustments: tuple[ProviderAdjustment, ...]
    other_segments: tuple[RawSegment, ...]  # recognised by no loop (kept, not lost)
    issues: tuple[ParseIssue, ...]  # what a strict parse would have refused

    @property
    def service_lines(self) -> tuple[ServiceLine, ...]:
        """Every service line of every claim, in file order."""
        return tuple(line for claim in self.claims for line in claim.lines)

    @property
    def payer_id(self) -> str:
        """Who the remittance is from: TRN03, else the N1*PR identifier."""
        return self.trace.payer_id or self.payer.identifier


def _date_of(dates: tuple[DateValue, ...], qualifier: str) -> dt.date | None:
    return next((d.value for d in dates if d.qualifier == qualifier), None)
