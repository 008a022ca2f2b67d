"""AR aging: balances by age bucket, as the ledger stood at the end of any day.

The unit aged is the visit (claim): its balance as of the day (`domain.reports.balances`), aged
in whole days from its aging date to that day — the date of service, or by FIRST_BILLED the
date the claim was first sent to its payer when that is known and not after the day (else the
date of service). A visit whose balance is below zero is a credit balance: it is reported apart
(`credits`), never netted into a bucket; `net` is debits plus credits.

Payer class: a visit of the self-pay payer (code `1`) is SELF_PAY. On an insurance visit the
patient's share is what remittances recorded as patient responsibility — the informational
(memo) PR entries posted by the day, net of their reversals — up to the visit's balance; that
share is SELF_PAY and the rest INSURANCE. A credit belongs to the class of its visit's payer.
Grouping by payer uses each visit's payer as it is now (the ledger keeps no payer history).
"""

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.reports.balances import SOURCES, Source, Strategy, choose, tune
from domain.reports.buckets import Bucket, buckets_of, thresholds, validate_edges
from domain.reports.periods import ReportingSettings, load_reporting, resolve_as_of

SELF_PAY_CODE = "1"


class Basis(StrEnum):
    DATE_OF_SERVICE = "DATE_OF_SERVICE"
    FIRST_BILLED = "FIRST_BILLED"


class GroupBy(StrEnum):
    NONE = "NONE"
    PAYER = "PAYER"
    PAYER_CLASS = "PAYER_CLASS"


class PayerClass(StrEnum):
    INSURANCE = "INSURANCE"
    SELF_PAY = "SELF_PAY"


@dataclass
class Amount:
    """Cents and how many visits they come from."""

    cents: int = 0
    visits: int = 0


@dataclass
class AgingRow:
    """One group's debit balances per bucket (in bucket order) and its credit balances."""

    payer_id: int | None
    payer_class: PayerClass | None
    buckets: list[Amount]
    credits: Amount = field(default_factory=Amount)
    debit_visits: int = 0
    """Visits with a debit balance in this row (a visit split between classes counts once
    in each class, once in the total)."""

    @property
    def debit_cents(self) -> int:
        return sum(b.cents for b in self.buckets)

    @property
    def net_cents(self) -> int:
        return self.debit_cents + self.credits.cents


@dataclass(frozen=True)
class AgingReport:
    as_of: date
    basis: Basis
    group_by: GroupBy
    buckets: tuple[Bucket, ...]
    rows: list[AgingRow]
    total: AgingRow
    strategy: Strategy


def aging_date_sql(basis: Basis) -> str:
    """SQL for a visit `v`'s aging date on the day `:as_of`."""
    if basis is Basis.FIRST_BILLED:
        return (
            "CASE WHEN v.first_billed_on <= :as_of THEN v.first_billed_on "
            "ELSE v.date_of_service END"
        )
    return "v.date_of_service"


def age_sql(basis: Basis) -> str:
    """SQL for a visit `v`'s age in whole days on `:as_of` (0 for a later aging date)."""
    return f"greatest(:as_of - {aging_date_sql(basis)}, 0)"


PATIENT_RESPONSIBILITY = """pr AS MATERIALIZED (
    SELECT e.visit_id, -sum(e.memo_amount_cents)::bigint AS owed FROM ledger_entries e
    WHERE e.tenant_id = :t AND e.carc_group = 'PR' AND e.amount_cents = 0
      AND e.created_at < :cutoff
    GROUP BY e.visit_id)"""
"""The patient responsibility each visit's remittances recorded by `:cutoff` (informational PR
entries, net of their reversals), read through `ix_ledger_entries_patient_responsibility`."""


def patient_share_sql(visit: str, bal: str, self_pay: str, lookup: bool = False) -> tuple[str, str]:
    """(join, expression): the SELF_PAY part of a visit's balance `bal`; the rest is INSURANCE.
    The join reaches `pr.owed`: from the `pr` CTE (`PATIENT_RESPONSIBILITY`), or with `lookup`
    by an index lookup per insurance visit with a debit balance (for few visits)."""
    if lookup:
        join = f"""LEFT JOIN LATERAL (
            SELECT -sum(e.memo_amount_cents)::bigint AS owed FROM ledger_entries e
            WHERE NOT {self_pay} AND {bal} > 0 AND e.tenant_id = :t AND e.visit_id = {visit}
              AND e.carc_group = 'PR' AND e.amount_cents = 0 AND e.created_at < :cutoff
        ) pr ON true"""
    else:
        join = f"LEFT JOIN pr ON pr.visit_id = {visit}"
    share = f"""CASE WHEN {self_pay} THEN {bal} WHEN {bal} <= 0 THEN 0
        ELSE least(greatest(coalesce(pr.owed, 0), 0), {bal}) END"""
    return join, share


def _sql(strategy: Strategy, basis: Basis, group_by: GroupBy) -> str:
    return aging_sql(SOURCES[strategy], basis, group_by)


def aging_sql(
    source: Source,
    basis: Basis,
    group_by: GroupBy,
    pr: str = PATIENT_RESPONSIBILITY,
    thresholds: str = ":thresholds",
) -> str:
    """One statement over the visits `source` reads: rows of (payer id, payer class, bucket,
    debit?, cents, visits, visits counted once in the total); `pr` is the CTE giving `owed`
    per visit for the payer-class split (`PATIENT_RESPONSIBILITY`); `thresholds` the bind of
    the bucket thresholds."""
    aged = f"""
        SELECT v.id, v.payer_id, p.code = '{SELF_PAY_CODE}' AS self_pay, {source.bal} AS bal,
               width_bucket({age_sql(basis)}, CAST({thresholds} AS integer[])) AS bucket
        FROM {source.from_} JOIN payers p ON p.id = v.payer_id
        WHERE v.tenant_id = :t AND {source.where}"""
    if group_by is GroupBy.PAYER_CLASS:
        return _by_class_sql(source.cte, aged, pr)
    key = "payer_id" if group_by is GroupBy.PAYER else "NULL::bigint"
    ctes = [c for c in (source.cte, f"aged AS ({aged})") if c]
    return f"""
        WITH {", ".join(ctes)}
        SELECT {key}, NULL::text, bucket, bal > 0 AS debit, sum(bal)::bigint AS cents,
               count(*) AS visits, count(*) AS once
        FROM aged GROUP BY 1, 2, 3, 4"""


def _by_class_sql(balances: str | None, aged: str, pr: str) -> str:
    """Each visit's balance split once into its SELF_PAY and INSURANCE parts, summed per
    bucket in one pass (a split visit counts once in the total: under SELF_PAY)."""
    join, share = patient_share_sql("a.id", "a.bal", "a.self_pay")
    split = f"SELECT a.bal, a.self_pay, a.bucket, {share} AS sp FROM aged a {join}"
    ctes = [c for c in (balances, pr, f"aged AS ({aged})") if c]
    return f"""
        WITH {", ".join(ctes)}, split AS ({split}),
        sums AS (
          SELECT bucket,
            coalesce(sum(sp) FILTER (WHERE sp > 0), 0) AS sp_cents,
            count(*) FILTER (WHERE sp > 0) AS sp_visits,
            coalesce(sum(bal - sp) FILTER (WHERE bal > 0 AND bal > sp), 0) AS ins_cents,
            count(*) FILTER (WHERE bal > 0 AND bal > sp) AS ins_visits,
            count(*) FILTER (WHERE bal > 0 AND sp = 0) AS ins_once,
            coalesce(sum(bal) FILTER (WHERE bal < 0 AND self_pay), 0) AS sp_credit,
            count(*) FILTER (WHERE bal < 0 AND self_pay) AS sp_credits,
            coalesce(sum(bal) FILTER (WHERE bal < 0 AND NOT self_pay), 0) AS ins_credit,
            count(*) FILTER (WHERE bal < 0 AND NOT self_pay) AS ins_credits
          FROM split GROUP BY bucket)
        SELECT NULL::bigint, x.payer_class, s.bucket, x.debit, x.cents::bigint, x.visits, x.once
        FROM sums s CROSS JOIN LATERAL (VALUES
          ('SELF_PAY', true, s.sp_cents, s.sp_visits, s.sp_visits),
          ('INSURANCE', true, s.ins_cents, s.ins_visits, s.ins_once),
          ('SELF_PAY', false, s.sp_credit, s.sp_credits, s.sp_credits),
          ('INSURANCE', false, s.ins_credit, s.ins_credits, s.ins_credits)
        ) AS x(payer_class, debit, cents, visits, once)
        WHERE x.visits > 0"""


async def ar_aging(
    session: AsyncSession,
    tenant_id: int,
    *,
    as_of: date | None = None,
    basis: Basis = Basis.DATE_OF_SERVICE,
    group_by: GroupBy = GroupBy.NONE,
    edges: list[int] | None = None,
    strategy: Strategy | None = None,
    settings: ReportingSettings | None = None,
) -> AgingReport:
    """The tenant's AR aging as of the end of `as_of` (default today, tenant time), in the
    tenant's buckets unless `edges` are given. `strategy` forces how balances are read (tests
    prove the three agree); by default the cheapest is chosen."""
    settings = settings or await load_reporting(session, tenant_id)
    day = resolve_as_of(settings, as_of)
    bucket_edges = validate_edges(edges) if edges is not None else settings.aging_bucket_edges
    cutoff = settings.end_of(day)
    strategy = strategy or await choose(session, tenant_id, cutoff)
    await tune(session)
    result = await session.execute(
        text(_sql(strategy, basis, group_by)),
        {"t": tenant_id, "cutoff": cutoff, "as_of": day, "thresholds": thresholds(bucket_edges)},
    )
    buckets = buckets_of(bucket_edges)
    rows, total = _rows(list(result.all()), len(buckets), group_by)
    if group_by is GroupBy.PAYER:
        rows = await _in_payer_order(session, rows)
    return AgingReport(day, basis, group_by, buckets, rows, total, strategy)


Groups = dict[tuple[int | None, str | None], AgingRow]


def _rows(found: list[Any], size: int, group_by: GroupBy) -> tuple[list[AgingRow], AgingRow]:
    groups: Groups = {}
    if group_by is GroupBy.PAYER_CLASS:  # both classes always, in this order
        for member in PayerClass:
            groups[(None, member.value)] = AgingRow(None, member, [Amount() for _ in range(size)])
    total = AgingRow(None, None, [Amount() for _ in range(size)])
    add_rows(groups, total, found, size)
    rows = list(groups.values())
    if group_by is GroupBy.NONE:
        rows = [total]
    return rows, total


def add_rows(groups: Groups, total: AgingRow, found: list[Any], size: int, sign: int = 1) -> None:
    """Add (`sign` 1) or take away (-1) the statement's rows (`aging_sql`) to their groups
    (made when missing) and to `total`."""
    for payer_id, payer_class, bucket, debit, cents, visits, once in found:
        key = (payer_id, payer_class)
        row = groups.get(key)
        if row is None:
            cls = None if payer_class is None else PayerClass(payer_class)
            row = groups[key] = AgingRow(payer_id, cls, [Amount() for _ in range(size)])
        for target, count in ((row, visits), (total, once)):
            amount = target.buckets[bucket] if debit else target.credits
            amount.cents += sign * cents
            amount.visits += sign * count
            if debit:
                target.debit_visits += sign * count


async def _in_payer_order(session: AsyncSession, rows: list[AgingRow]) -> list[AgingRow]:
    """Rows ordered by payer name, then payer id."""
    ids = [r.payer_id for r in rows if r.payer_id is not None]
    if not ids:
        return rows
    found = await session.execute(
        text("SELECT id, name FROM payers WHERE id = ANY(CAST(:ids AS bigint[]))"), {"ids": ids}
    )
    return by_payer_name(rows, {row.id: row.name for row in found})


def by_payer_name(rows: list[AgingRow], names: dict[int, str]) -> list[AgingRow]:
    """Rows ordered by payer name, then payer id."""
    return sorted(rows, key=lambda r: (names.get(r.payer_id or 0, ""), r.payer_id or 0))
