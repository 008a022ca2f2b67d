"""The accounts worklist: search and filter accounts, ordered by balance, age or name, a page
at a time with keyset cursors that stay stable while balances change.

Stability: the first page fixes an instant (the walk's cutoff) and every page filters and orders
by the balances as they stood then — the live projection less what was posted since
(`ledger_entries` by `created_at`). So a walk through the pages lists every account once, in
one order, however balances move meanwhile; each row shows the balance it has when its page is
read. An account opened during the walk had no balance at the cutoff and is placed as a zero
balance would be. (An entry whose transaction was still in flight when the first page was read,
committing milliseconds later, can still move its account: no reader knows an instant before
which every commit is visible.) The cutoff, the last row's sort key and id, and a fingerprint of
the filter and order ride in the cursor; a cursor used with another filter or order is refused.

Visit conditions (payer, payer class, aged over, aging bucket, visit states) are met by one
visit with a debit balance — or a credit balance when `credit_balance` is true — so a
dashboard cell drills down to exactly the accounts behind it. Ages and payer classes are those
of `domain.reports.aging`, on the cutoff's day in the tenant's time zone.
"""

import base64
import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.errors import DomainError, InvalidMoney, Problem
from domain.models import VISIT_STATES, Account
from domain.money import parse_money
from domain.reports.aging import SELF_PAY_CODE, Basis, PayerClass, age_sql, patient_share_sql
from domain.reports.balances import SOURCES, Strategy, tune
from domain.reports.periods import load_reporting

MAX_SEARCH = 200
MAX_DAYS = 36_500


class OrderField(StrEnum):
    ID = "ID"
    BALANCE = "BALANCE"
    AGE = "AGE"
    NAME = "NAME"


DESCENDING_BY_DEFAULT = {
    OrderField.ID: False,
    OrderField.BALANCE: True,
    OrderField.AGE: True,
    OrderField.NAME: False,
}
"""Account number order, the largest balance first, the oldest first, A to Z."""

KEY_SQL = {
    OrderField.ID: "a.id",
    OrderField.BALANCE: "{balance}",
    OrderField.AGE: "ag.age",
    OrderField.NAME: "lower(a.name)",
}


@dataclass(frozen=True)
class WorklistOrder:
    field: OrderField = OrderField.ID
    descending: bool | None = None
    """None: the field's natural direction (`DESCENDING_BY_DEFAULT`)."""

    @property
    def desc(self) -> bool:
        return DESCENDING_BY_DEFAULT[self.field] if self.descending is None else self.descending


@dataclass(frozen=True)
class WorklistFilter:
    search: str | None = None
    payer_id: int | None = None
    payer_class: PayerClass | None = None
    balance_min_cents: int | None = None
    balance_max_cents: int | None = None
    aged_over_days: int | None = None
    bucket_min_days: int | None = None
    bucket_max_days: int | None = None
    credit_balance: bool | None = None
    visit_states: tuple[str, ...] | None = None
    basis: Basis = Basis.DATE_OF_SERVICE

    @property
    def has_visit_conditions(self) -> bool:
        return any(
            value is not None
            for value in (
                self.payer_id,
                self.payer_class,
                self.aged_over_days,
                self.bucket_min_days,
                self.bucket_max_days,
                self.visit_states,
            )
        )


def parse_filter(
    *,
    search: str | None = None,
    payer_id: int | None = None,
    payer_class: PayerClass | None = None,
    balance_min: str | None = None,
    balance_max: str | None = None,
    aged_over_days: int | None = None,
    bucket_min_days: int | None = None,
    bucket_max_days: int | None = None,
    credit_balance: bool | None = None,
    visit_states: list[str] | None = None,
    basis: Basis = Basis.DATE_OF_SERVICE,
) -> WorklistFilter:
    """A filter from what a client sent; a DomainError names every problem (fields under
    `filter.`)."""
    problems: list[Problem] = []
    term = (search or "").strip() or None
    if term is not None and len(term) > MAX_SEARCH:
        problems.append(
            Problem(
                "filter.search", "SEARCH_TOO_LONG", f"Search is at most {MAX_SEARCH} characters."
            )
        )
    low = _money("filter.balanceMin", balance_min, problems)
    high = _money("filter.balanceMax", balance_max, problems)
    if low is not None and high is not None and low > high:
        problems.append(
            Problem("filter.balanceMax", "RANGE_REVERSED", "balanceMax is below balanceMin.")
        )
    for name, days in (
        ("agedOverDays", aged_over_days),
        ("agingBucket.minDays", bucket_min_days),
        ("agingBucket.maxDays", bucket_max_days),
    ):
        if days is not None and not 0 <= days <= MAX_DAYS:
            problems.append(
                Problem(f"filter.{name}", "INVALID_DAYS", f"Days must be 0 to {MAX_DAYS}.")
            )
    if (
        bucket_min_days is not None
        and bucket_max_days is not None
        and bucket_min_days > bucket_max_days
    ):
        problems.append(
            Problem("filter.agingBucket.maxDays", "RANGE_REVERSED", "maxDays is below minDays.")
        )
    states = None if visit_states is None else tuple(dict.fromkeys(visit_states))
    for index, state in enumerate(states or ()):
        if state not in VISIT_STATES:
            problems.append(
                Problem(
                    f"filter.visitStates.{index}",
                    "UNKNOWN_VALUE",
                    f"Must be one of: {', '.join(VISIT_STATES)}.",
                )
            )
    if problems:
        raise DomainError(*problems)
    return WorklistFilter(
        term,
        payer_id,
        payer_class,
        low,
        high,
        aged_over_days,
        bucket_min_days,
        bucket_max_days,
        credit_balance,
        states,
        basis,
    )


def _money(field: str, value: str | None, problems: list[Problem]) -> int | None:
    if value is None:
        return None
    try:
        return parse_money(value)
    except InvalidMoney as error:
        problems.append(Problem(field, error.code, str(error)))
        return None


@dataclass(frozen=True)
class Cursor:
    cutoff: datetime
    fingerprint: str
    key: int | str | None
    id: int

    def encode(self) -> str:
        data = {"c": self.cutoff.isoformat(), "f": self.fingerprint, "k": self.key, "i": self.id}
        return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode()

    @classmethod
    def decode(cls, cursor: str) -> "Cursor":
        try:
            data = json.loads(base64.urlsafe_b64decode(cursor.encode()))
            cutoff = datetime.fromisoformat(data["c"])
            key, pk = data["k"], data["i"]
            assert cutoff.tzinfo is not None and isinstance(data["f"], str)
            assert isinstance(pk, int) and (key is None or isinstance(key, int | str))
            return cls(cutoff, data["f"], key, pk)
        except Exception as error:
            raise DomainError.of("after", "INVALID_CURSOR", "Invalid cursor.") from error


def fingerprint(flt: WorklistFilter, order: WorklistOrder) -> str:
    """Names the filter and order a walk was started with (a cursor carries it)."""
    data = json.dumps([asdict(flt), order.field, order.desc], default=str, sort_keys=True)
    return hashlib.sha256(data.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Page:
    rows: list[tuple[Account, str]]
    """Each account with its cursor."""
    has_next: bool
    cutoff: datetime


def _like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class _Query:
    """One page's SQL and binds."""

    def __init__(self, flt: WorklistFilter, order: WorklistOrder, changed: bool) -> None:
        self.flt, self.order, self.changed = flt, order, changed
        self.params: dict[str, Any] = {}
        self.ctes: list[str] = []
        self.joins: list[str] = []
        self.where: list[str] = ["a.tenant_id = :t"]

    def build(self, after: Cursor | None, limit: int) -> str:
        flt = self.flt
        balance = "a.balance_cents"
        if self.changed:
            self.ctes.append(
                "ad AS (SELECT e.account_id, sum(e.amount_cents)::bigint AS amount "
                "FROM ledger_entries e WHERE e.tenant_id = :t AND e.created_at >= :cutoff "
                "GROUP BY e.account_id)"
            )
            self.joins.append("LEFT JOIN ad ON ad.account_id = a.id")
            balance = "(a.balance_cents - coalesce(ad.amount, 0))"
        needs_visits = (
            flt.has_visit_conditions
            or flt.credit_balance is not None
            or self.order.field is OrderField.AGE
        )
        if needs_visits:
            self._visits()
        if flt.search is not None:
            self._search(flt.search)
        if flt.balance_min_cents is not None:
            self.where.append(f"{balance} >= :balance_min")
            self.params["balance_min"] = flt.balance_min_cents
        if flt.balance_max_cents is not None:
            self.where.append(f"{balance} <= :balance_max")
            self.params["balance_max"] = flt.balance_max_cents
        if flt.has_visit_conditions:
            self._matching_visits()
        if flt.credit_balance is not None:
            negate = "" if flt.credit_balance else "NOT "
            self.where.append(f"{negate}a.id IN (SELECT account_id FROM vb WHERE bal < 0)")
        if self.order.field is OrderField.AGE:
            self.ctes.append(
                "ag AS (SELECT account_id, max(age) AS age FROM vb WHERE bal > 0 "
                "GROUP BY account_id)"
            )
            self.joins.append("LEFT JOIN ag ON ag.account_id = a.id")
        key = KEY_SQL[self.order.field].format(balance=balance)
        direction = "DESC" if self.order.desc else "ASC"
        inner = (
            f"SELECT a.id, {key} AS key FROM accounts a {' '.join(self.joins)} "
            f"WHERE {' AND '.join(self.where)}"
        )
        sql = f"SELECT s.id, s.key FROM ({inner}) s"
        if after is not None:
            sql += f" WHERE {self._after(after)}"
        sql += f" ORDER BY s.key IS NULL, s.key {direction}, s.id {direction} LIMIT :limit"
        self.params["limit"] = limit
        return ("WITH " + ", ".join(self.ctes) + " " if self.ctes else "") + sql

    def _visits(self) -> None:
        """`vb`: each visit whose balance was not zero at the cutoff, with its age then."""
        source = SOURCES[Strategy.BACKWARD if self.changed else Strategy.LIVE]
        if source.cte:
            self.ctes.append(source.cte)
        self.ctes.append(
            f"vb AS (SELECT v.id, v.account_id, v.payer_id, v.state, "
            f"{age_sql(self.flt.basis)} AS age, {source.bal} AS bal FROM {source.from_} "
            f"WHERE v.tenant_id = :t AND {source.where})"
        )

    def _matching_visits(self) -> None:
        flt = self.flt
        conditions = ["r.bal < 0" if flt.credit_balance else "r.bal > 0"]
        joins = ""
        if flt.payer_id is not None:
            conditions.append("r.payer_id = :payer")
            self.params["payer"] = flt.payer_id
        if flt.aged_over_days is not None:
            conditions.append("r.age > :aged_over")
            self.params["aged_over"] = flt.aged_over_days
        if flt.bucket_min_days is not None:
            conditions.append("r.age >= :bucket_min")
            self.params["bucket_min"] = flt.bucket_min_days
        if flt.bucket_max_days is not None:
            conditions.append("r.age <= :bucket_max")
            self.params["bucket_max"] = flt.bucket_max_days
        if flt.visit_states is not None:
            conditions.append("r.state = ANY(CAST(:states AS text[]))")
            self.params["states"] = list(flt.visit_states)
        if flt.payer_class is not None:
            join, share = patient_share_sql("r.id", "r.bal", "sp.self_pay", lookup=True)
            joins = (
                "JOIN payers p ON p.id = r.payer_id "
                f"CROSS JOIN LATERAL (SELECT p.code = '{SELF_PAY_CODE}' AS self_pay) sp "
                f"{join} CROSS JOIN LATERAL (SELECT {share} AS share) s"
            )
            if flt.payer_class is PayerClass.SELF_PAY:
                conditions.append("s.share <> 0")
            else:
                conditions.append("r.bal - s.share <> 0")
        self.where.append(
            f"a.id IN (SELECT r.account_id FROM vb r {joins} WHERE {' AND '.join(conditions)})"
        )

    def _search(self, term: str) -> None:
        self.params["number"] = _like(term.upper()) + "%"
        names = []
        for index, word in enumerate(term.split()):
            self.params[f"word{index}"] = "%" + _like(word) + "%"
            names.append(f"a.name ILIKE :word{index}")
        self.where.append(f"(upper(a.account_number) LIKE :number OR ({' AND '.join(names)}))")

    def _after(self, cursor: Cursor) -> str:
        op = "<" if self.order.desc else ">"
        self.params["after_id"] = cursor.id
        if cursor.key is None:
            return f"(s.key IS NULL AND s.id {op} :after_id)"
        cast = "text" if self.order.field is OrderField.NAME else "bigint"
        self.params["after_key"] = cursor.key
        key = f"CAST(:after_key AS {cast})"
        return f"(s.key IS NULL OR s.key {op} {key} OR (s.key = {key} AND s.id {op} :after_id))"


async def worklist_page(
    session: AsyncSession,
    tenant_id: int,
    flt: WorklistFilter,
    order: WorklistOrder,
    first: int,
    after: str | None = None,
) -> Page:
    """Up to `first` accounts after the cursor `after`, in `order`, matching `flt`."""
    mark = fingerprint(flt, order)
    cursor = None if after is None else Cursor.decode(after)
    if cursor is not None and cursor.fingerprint != mark:
        raise DomainError.of(
            "after", "CURSOR_MISMATCH", "This cursor belongs to another filter or order."
        )
    if cursor is None:
        cutoff: datetime = await session.scalar(text("SELECT clock_timestamp()"))
        changed = False  # nothing visible here was posted after this instant
    else:
        cutoff = cursor.cutoff
        changed = bool(
            await session.scalar(
                text(
                    "SELECT EXISTS (SELECT 1 FROM ledger_entries WHERE tenant_id = :t "
                    "AND created_at >= :cutoff)"
                ),
                {"t": tenant_id, "cutoff": cutoff},
            )
        )
    settings = await load_reporting(session, tenant_id)
    query = _Query(flt, order, changed)
    sql = query.build(cursor, first + 1)
    day: date = settings.day_of(cutoff)
    await tune(session)
    found = (
        await session.execute(
            text(sql), {**query.params, "t": tenant_id, "cutoff": cutoff, "as_of": day}
        )
    ).all()
    page = found[:first]
    accounts = {
        row.id: row
        for row in await session.scalars(
            select(Account).where(Account.id.in_([r.id for r in page]))
        )
    }
    rows = [
        (accounts[r.id], Cursor(cutoff, mark, r.key, r.id).encode())
        for r in page
        if r.id in accounts
    ]
    return Page(rows, len(found) > first, cutoff)
