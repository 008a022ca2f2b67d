"""Report types: aging, write-off and adjustment summaries, KPIs, and the worklist's inputs.

Money is the `Money` scalar (integer cents inside); ratios are `Decimal` strings with two
places, computed exactly from cents and rounded once, half-up (away from zero): 12.345 → 12.35.
"""

from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any, Self

import strawberry
from graphql import GraphQLError

from api.context import Info
from api.enums import CarcGroup, WriteOffReason, described, optional
from api.scalars import Money
from api.transactions.payers import Payer
from domain.errors import DomainError
from domain.reports import aging, kpis, summaries
from domain.reports.buckets import Bucket
from domain.reports.figures import percent

AS_OF = (
    "The ledger as it stood at the end of this day in the tenant's time zone: entries posted "
    "after it are ignored (an entry belongs to the local day it was posted, whatever its "
    "transaction date). Default today; a later day is refused (AS_OF_IN_FUTURE)."
)
RANGE = (
    "Entries posted from the start of `from` to the end of `to` (both days included, tenant "
    "time zone); `to` is cut at `asOf`."
)


@contextmanager
def refused_as_errors() -> Any:
    """A domain refusal as one GraphQL error: the first problem's code and field, every
    problem under `extensions.problems`."""
    try:
        yield
    except DomainError as error:
        first = error.problems[0]
        raise GraphQLError(
            first.message,
            extensions={
                "code": first.code,
                "field": first.field,
                "problems": [
                    {"field": p.field, "code": p.code, "message": p.message} for p in error.problems
                ],
            },
        ) from error


# --- enums -------------------------------------------------------------------------------------


@described(
    DATE_OF_SERVICE="Age from the visit's date of service.",
    FIRST_BILLED="Age from the date the claim was first sent to its payer when known (and not "
    "after asOf); otherwise from the date of service.",
)
@strawberry.enum(description="What a visit's age is counted from.")
class AgingBasis(StrEnum):
    DATE_OF_SERVICE = aging.Basis.DATE_OF_SERVICE.value
    FIRST_BILLED = aging.Basis.FIRST_BILLED.value


@described(
    NONE="One row: everything.",
    PAYER="One row per payer (each visit's current payer).",
    PAYER_CLASS="Two rows: INSURANCE and SELF_PAY (see PayerClass).",
)
@strawberry.enum(description="How aging rows are grouped.")
class AgingGroupBy(StrEnum):
    NONE = aging.GroupBy.NONE.value
    PAYER = aging.GroupBy.PAYER.value
    PAYER_CLASS = aging.GroupBy.PAYER_CLASS.value


@described(
    INSURANCE="Owed by an insurance payer: balances of visits whose payer is not self-pay, "
    "less the patient's share.",
    SELF_PAY="Owed by the patient: balances of self-pay visits (payer code 1), and on "
    "insurance visits the patient responsibility the payer's remittances recorded (PR memo "
    "entries, net of reversals) up to the visit's balance.",
)
@strawberry.enum(
    description="Who owes a balance: insurance, or self-pay / patient "
    "responsibility. A credit balance belongs to its visit payer's class."
)
class PayerClass(StrEnum):
    INSURANCE = aging.PayerClass.INSURANCE.value
    SELF_PAY = aging.PayerClass.SELF_PAY.value


@described(
    REASON="By write-off reason.",
    PAYER="By the visit's payer.",
    USER="By who wrote it off (a reversal counts against the original's user).",
)
@strawberry.enum(description="How write-off summary rows are grouped.")
class WriteOffGroupBy(StrEnum):
    REASON = summaries.WriteOffGroupBy.REASON.value
    PAYER = summaries.WriteOffGroupBy.PAYER.value
    USER = summaries.WriteOffGroupBy.USER.value


@described(
    CATEGORY="By adjustment category (e.g. contractual, contract-correction, memo).",
    CARC="By CARC group and reason code (e.g. CO-45).",
    REASON="By adjustment reason.",
    PAYER="By the visit's payer.",
)
@strawberry.enum(description="How adjustment summary rows are grouped.")
class AdjustmentGroupBy(StrEnum):
    CATEGORY = summaries.AdjustmentGroupBy.CATEGORY.value
    CARC = summaries.AdjustmentGroupBy.CARC.value
    REASON = summaries.AdjustmentGroupBy.REASON.value
    PAYER = summaries.AdjustmentGroupBy.PAYER.value


@described(
    ID="Account creation order (default direction ASC).",
    BALANCE="The account's balance (default DESC: largest first).",
    AGE="The age of the account's oldest visit with a debit balance (default DESC: oldest "
    "first); accounts without one come last.",
    NAME="Patient name, case-insensitive (default ASC).",
)
@strawberry.enum(description="What the accounts worklist is ordered by (ties by account id).")
class AccountOrderField(StrEnum):
    ID = "ID"
    BALANCE = "BALANCE"
    AGE = "AGE"
    NAME = "NAME"


@described(ASC="Smallest, oldest-id or A first.", DESC="Largest or Z first.")
@strawberry.enum(description="A sort direction.")
class SortDirection(StrEnum):
    ASC = "ASC"
    DESC = "DESC"


# --- aging -------------------------------------------------------------------------------------


@strawberry.type(description="A range of ages in whole days.")
class AgingBucket:
    label: str = strawberry.field(description="e.g. 0-30, 121+.")
    min_days: int
    max_days: int | None = strawberry.field(description="Null for the open-ended last bucket.")

    @classmethod
    def of(cls, bucket: Bucket) -> Self:
        return cls(label=bucket.label, min_days=bucket.min_days, max_days=bucket.max_days)


@strawberry.type(description="Debit balances of one bucket.")
class AgingCell:
    bucket: AgingBucket
    amount: Money
    visits: int
    percent: Decimal | None = strawberry.field(
        description="amount / the row's debitTotal x 100, two places, half-up; null when the "
        "row has no debit balance."
    )


@strawberry.type(description="An amount and how many visits it comes from.")
class AgingAmount:
    amount: Money
    visits: int


@strawberry.type(description="One group's aging: debit balances per bucket, credits apart.")
class AgingRow:
    payer_pk: strawberry.Private[int | None]
    payer_class: PayerClass | None = strawberry.field(description="Set when grouped by class.")
    buckets: list[AgingCell]
    debit_total: Money = strawberry.field(description="Sum of the buckets (debit balances).")
    debit_visits: int
    credits: AgingAmount = strawberry.field(
        description="Credit balances (visits below zero), negative; never inside a bucket."
    )
    net: Money = strawberry.field(description="debitTotal + credits.")
    known_payers: strawberry.Private[dict[int, Payer] | None] = None
    """Payers resolved beforehand (a pushed dashboard must not read per client), or None."""

    @classmethod
    def of(
        cls,
        row: aging.AgingRow,
        buckets: tuple[Bucket, ...],
        payers: dict[int, Payer] | None = None,
    ) -> Self:
        debit = row.debit_cents
        return cls(
            known_payers=payers,
            payer_pk=row.payer_id,
            payer_class=optional(PayerClass, row.payer_class),
            buckets=[
                AgingCell(
                    bucket=AgingBucket.of(bucket),
                    amount=cell.cents,
                    visits=cell.visits,
                    percent=percent(cell.cents, debit),
                )
                for bucket, cell in zip(buckets, row.buckets, strict=True)
            ],
            debit_total=debit,
            debit_visits=row.debit_visits,
            credits=AgingAmount(amount=row.credits.cents, visits=row.credits.visits),
            net=row.net_cents,
        )

    @strawberry.field(description="Set when grouped by payer.")
    async def payer(self, info: Info) -> Payer | None:
        if self.payer_pk is None:
            return None
        if self.known_payers is not None:
            return self.known_payers.get(self.payer_pk)
        row = await info.context.loaders.payer.load(self.payer_pk)
        return None if row is None else Payer.from_row(row)


@strawberry.type(description="AR aging as of the end of a day.")
class ArAging:
    as_of: date
    basis: AgingBasis
    group_by: AgingGroupBy
    buckets: list[AgingBucket]
    rows: list[AgingRow] = strawberry.field(
        description="One per group (PAYER: payers with a balance, by name; PAYER_CLASS: "
        "INSURANCE then SELF_PAY; NONE: one row)."
    )
    total: AgingRow = strawberry.field(
        description="Every group together (a visit split between classes counts once)."
    )

    @classmethod
    def of(cls, report: aging.AgingReport, payers: dict[int, Payer] | None = None) -> Self:
        """The report; with `payers` (every payer its rows name) it reads nothing more."""
        return cls(
            as_of=report.as_of,
            basis=AgingBasis(report.basis.value),
            group_by=AgingGroupBy(report.group_by.value),
            buckets=[AgingBucket.of(b) for b in report.buckets],
            rows=[AgingRow.of(r, report.buckets, payers) for r in report.rows],
            total=AgingRow.of(report.total, report.buckets, payers),
        )


# --- summaries ---------------------------------------------------------------------------------


@strawberry.type
class SummaryAmounts:
    amount: Money = strawberry.field(
        description="Net reduction: gross - reversed (balance-reducing entries only)."
    )
    gross: Money = strawberry.field(description="What the period's original entries reduced.")
    reversed: Money = strawberry.field(
        description="What the period's reversals put back (their originals may be older)."
    )
    memo_amount: Money = strawberry.field(
        description="Informational entries (balance unchanged), net of their reversals; "
        "never part of amount."
    )
    entries: int = strawberry.field(description="Original entries posted in the period.")
    reversals: int = strawberry.field(description="Reversals posted in the period.")

    @staticmethod
    def amounts(row: summaries.SummaryRow) -> dict[str, Any]:
        return {
            "amount": row.net_cents,
            "gross": row.gross_cents,
            "reversed": row.reversed_cents,
            "memo_amount": row.memo_cents,
            "entries": row.entries,
            "reversals": row.reversals,
        }


@strawberry.type(description="Totals of a summary.")
class SummaryTotal(SummaryAmounts):
    pass


async def _payer(info: Info, pk: int | None) -> Payer | None:
    if pk is None:
        return None
    row = await info.context.loaders.payer.load(pk)
    return None if row is None else Payer.from_row(row)


@strawberry.type(description="One group of write-offs.")
class WriteOffSummaryRow(SummaryAmounts):
    payer_pk: strawberry.Private[int | None]
    reason: WriteOffReason | None = strawberry.field(description="Set when grouped by reason.")
    user: str | None = strawberry.field(description="Set when grouped by user (the actor).")

    @strawberry.field(description="Set when grouped by payer.")
    async def payer(self, info: Info) -> Payer | None:
        return await _payer(info, self.payer_pk)


@strawberry.type(description="One group of adjustments.")
class AdjustmentSummaryRow(SummaryAmounts):
    payer_pk: strawberry.Private[int | None]
    category: str | None = strawberry.field(description="Set when grouped by category.")
    carc_group: CarcGroup | None = strawberry.field(description="Set when grouped by CARC.")
    carc_reason: str | None = strawberry.field(description="Set when grouped by CARC.")
    carc: str | None = strawberry.field(description="Group and reason, e.g. CO-45.")
    reason: str | None = strawberry.field(description="Set when grouped by reason.")

    @strawberry.field(description="Set when grouped by payer.")
    async def payer(self, info: Info) -> Payer | None:
        return await _payer(info, self.payer_pk)


def _key(summary: summaries.Summary, row: summaries.SummaryRow, name: str) -> Any:
    return row.key[0] if summary.group_by == name else None


@strawberry.type(description="Write-offs posted in a period: decisions to stop collecting.")
class WriteOffSummary:
    from_: date = strawberry.field(name="from")
    to: date = strawberry.field(description="The last day counted (cut at asOf).")
    as_of: date
    group_by: WriteOffGroupBy
    rows: list[WriteOffSummaryRow]
    total: SummaryTotal

    @classmethod
    def of(cls, s: summaries.Summary) -> Self:
        return cls(
            from_=s.first,
            to=s.last,
            as_of=s.as_of,
            group_by=WriteOffGroupBy(s.group_by),
            rows=[
                WriteOffSummaryRow(
                    payer_pk=_key(s, r, "PAYER"),
                    reason=optional(WriteOffReason, _key(s, r, "REASON")),
                    user=_key(s, r, "USER"),
                    **SummaryAmounts.amounts(r),
                )
                for r in s.rows
            ],
            total=SummaryTotal(**SummaryAmounts.amounts(s.total)),
        )


@strawberry.type(
    description="Adjustments posted in a period: reductions to the contract or "
    "rule amount (remittance CARCs, CW/AD transactions, manual adjustments)."
)
class AdjustmentSummary:
    from_: date = strawberry.field(name="from")
    to: date = strawberry.field(description="The last day counted (cut at asOf).")
    as_of: date
    group_by: AdjustmentGroupBy
    rows: list[AdjustmentSummaryRow]
    total: SummaryTotal

    @classmethod
    def of(cls, s: summaries.Summary) -> Self:
        rows = []
        for r in s.rows:
            group, reason_code = r.key if s.group_by == "CARC" else (None, None)
            rows.append(
                AdjustmentSummaryRow(
                    payer_pk=_key(s, r, "PAYER"),
                    category=_key(s, r, "CATEGORY"),
                    carc_group=optional(CarcGroup, group),
                    carc_reason=reason_code,
                    carc=f"{group}-{reason_code}" if group and reason_code else None,
                    reason=_key(s, r, "REASON"),
                    **SummaryAmounts.amounts(r),
                )
            )
        return cls(
            from_=s.first,
            to=s.last,
            as_of=s.as_of,
            group_by=AdjustmentGroupBy(s.group_by),
            rows=rows,
            total=SummaryTotal(**SummaryAmounts.amounts(s.total)),
        )


# --- KPIs --------------------------------------------------------------------------------------

PCT = " As a percentage, two places, half-up; null when the denominator is zero."


@strawberry.type(
    description="AR KPIs of a period. Balances at the end of `to` (as the ledger stood then), "
    "activity = entries posted from `from` to `to`, each kind net of its reversals."
)
class ArKpis:
    from_: date = strawberry.field(name="from")
    to: date = strawberry.field(description="The last day counted (cut at asOf).")
    as_of: date
    days: int = strawberry.field(description="Days in the period: to - from + 1.")
    total_ar: Money = strawberry.field(
        description="Total AR: every visit balance at the end of `to`, credits included."
    )
    debit_ar: Money = strawberry.field(description="Debit balances only (the aging buckets).")
    credit_balances: Money = strawberry.field(description="Credit balances (negative).")
    charges: Money = strawberry.field(
        description="CHARGE entries posted in the period (billed procedures; finance and "
        "additional charges excluded)."
    )
    average_daily_charges: Money = strawberry.field(
        description="charges / days, rounded half-up to the cent (daysInAr uses the exact "
        "quotient)."
    )
    days_in_ar: Decimal | None = strawberry.field(
        description="Days in AR = totalAr / (charges / days) = totalAr x days / charges; two "
        "places, half-up; null without charges."
    )
    ar_over_90: Money = strawberry.field(
        description="Debit balances aged over 90 days (91+) by date of service."
    )
    ar_over_120: Money = strawberry.field(
        description="Debit balances aged over 120 days (121+) by date of service."
    )
    percent_over_90: Decimal | None = strawberry.field(
        description="% of AR over 90 days = arOver90 / debitAr x 100." + PCT
    )
    percent_over_120: Decimal | None = strawberry.field(
        description="% of AR over 120 days = arOver120 / debitAr x 100." + PCT
    )
    payments: Money = strawberry.field(description="PAYMENT entries, net of reversals.")
    contractual_adjustments: Money = strawberry.field(
        description="Contractual adjustments, net of reversals: category contractual (CW, "
        "remittance CO-45), CARC group CO, or the CONTRACTUAL kind."
    )
    net_collection_rate: Decimal | None = strawberry.field(
        description="Net collection rate = payments / (charges - contractualAdjustments) x "
        "100." + PCT
    )
    write_offs: Money = strawberry.field(
        description="Write-offs (WRITEOFF, BAD_DEBT), net of reversals."
    )
    adjustments: Money = strawberry.field(
        description="Balance-reducing adjustments (ADJUSTMENT, CONTRACTUAL), net of reversals."
    )
    write_off_percent_of_charges: Decimal | None = strawberry.field(
        description="writeOffs / charges x 100." + PCT
    )
    adjustment_percent_of_charges: Decimal | None = strawberry.field(
        description="adjustments / charges x 100." + PCT
    )

    @classmethod
    def of(cls, k: kpis.Kpis) -> Self:
        return cls(
            from_=k.period.first,
            to=k.period.last,
            as_of=k.period.as_of,
            days=k.period.days,
            total_ar=k.total_ar_cents,
            debit_ar=k.debit_ar_cents,
            credit_balances=k.credit_cents,
            charges=k.charges_cents,
            average_daily_charges=k.average_daily_charges_cents,
            days_in_ar=k.days_in_ar,
            ar_over_90=k.ar_over_90_cents,
            ar_over_120=k.ar_over_120_cents,
            percent_over_90=k.percent_over_90,
            percent_over_120=k.percent_over_120,
            payments=k.payments_cents,
            contractual_adjustments=k.contractual_cents,
            net_collection_rate=k.net_collection_rate,
            write_offs=k.write_off_cents,
            adjustments=k.adjustment_cents,
            write_off_percent_of_charges=k.write_off_percent,
            adjustment_percent_of_charges=k.adjustment_percent,
        )


# --- worklist inputs ---------------------------------------------------------------------------


@strawberry.input(description="Ages from minDays to maxDays inclusive (an AgingBucket's range).")
class AgingBucketInput:
    min_days: int = 0
    max_days: int | None = strawberry.field(default=None, description="Null: no upper bound.")


@strawberry.input(
    description="Worklist filters, all optional and combined with AND. The visit conditions "
    "(payerId, payerClass, agedOverDays, agingBucket, visitStates) must all hold for one visit "
    "of the account with a debit balance — or a credit balance when creditBalance is true — "
    "so an aging cell drills down to exactly its accounts."
)
class AccountFilter:
    search: str | None = strawberry.field(
        default=None,
        description="Account number prefix, or words all found in the name (any case).",
    )
    payer_id: strawberry.ID | None = None
    payer_class: PayerClass | None = None
    balance_min: Money | None = strawberry.field(
        default=None, description="The account balance is at least this."
    )
    balance_max: Money | None = strawberry.field(
        default=None, description="The account balance is at most this."
    )
    aged_over_days: int | None = strawberry.field(
        default=None, description="A visit is older than this many days (age > N)."
    )
    aging_bucket: AgingBucketInput | None = None
    basis: AgingBasis = strawberry.field(
        default=AgingBasis.DATE_OF_SERVICE, description="What ages are counted from."
    )
    credit_balance: bool | None = strawberry.field(
        default=None,
        description="true: accounts with a visit in credit (and the visit conditions apply to "
        "credit visits); false: accounts without one.",
    )
    visit_states: list[str] | None = None


@strawberry.input(description="Worklist order; ties are broken by account id.")
class AccountOrder:
    field: AccountOrderField
    direction: SortDirection | None = strawberry.field(
        default=None, description="Null: the field's natural direction."
    )
