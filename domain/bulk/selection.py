"""What a bulk job selects: explicit lines, or a filter over lines or visits.

Parsing checks the request before anything is stored; `resolve` checks it against the tenant's
data (lines, payer and accounts exist). The selection is evaluated when the worker plans the job,
and the balance each row had then is what "changed since selection" compares against.
"""

from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Select, cast, null, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.errors import DomainError, InvalidMoney, Problem
from domain.ledger.sql_rows import among
from domain.models import VISIT_STATES, Account, ChargeLine, Payer, Visit
from domain.money import parse_money

Rows = Select[*tuple[Any, ...]]
"""A selection: (account, visit, line, entry, transaction, balance) per row."""
MAX_EXPLICIT_LINES = 50_000
MAX_ACCOUNTS = 10_000
MAX_AGE_DAYS = 36_500


@dataclass(frozen=True)
class BalanceFilter:
    """Rows of a payer, in a balance range, older than `min_age_days` (by date of service)."""

    payer_id: int | None = None
    balance_min_cents: int | None = None
    balance_max_cents: int | None = None
    min_age_days: int | None = None
    visit_states: tuple[str, ...] = ()
    account_numbers: tuple[str, ...] = ()
    account_ids: tuple[int, ...] = field(default=(), compare=False)

    def to_params(self) -> dict[str, Any]:
        return {
            "payer": self.payer_id,
            "min": self.balance_min_cents,
            "max": self.balance_max_cents,
            "age": self.min_age_days,
            "states": list(self.visit_states),
            "accounts": list(self.account_numbers),
            "account_ids": list(self.account_ids),
        }

    @classmethod
    def from_params(cls, p: dict[str, Any]) -> "BalanceFilter":
        return cls(
            p["payer"],
            p["min"],
            p["max"],
            p["age"],
            tuple(p["states"]),
            tuple(p["accounts"]),
            tuple(p["account_ids"]),
        )


@dataclass(frozen=True)
class RawFilter:
    """A filter as the client sent it (money as strings)."""

    payer_id: int | None = None
    balance_min: str | None = None
    balance_max: str | None = None
    min_age_days: int | None = None
    visit_states: tuple[str, ...] = ()
    account_numbers: tuple[str, ...] = ()


def parse_filter(raw: RawFilter, prefix: str, default_min_cents: int | None) -> BalanceFilter:
    """Validate a filter; with no balance bound, the minimum is `default_min_cents`."""
    problems: list[Problem] = []
    low = _money(raw.balance_min, f"{prefix}.balanceMin", problems)
    high = _money(raw.balance_max, f"{prefix}.balanceMax", problems)
    if low is not None and high is not None and low > high:
        problems.append(
            Problem(f"{prefix}.balanceMax", "INVALID_RANGE", "balanceMax is below balanceMin.")
        )
    if low is None and high is None:
        low = default_min_cents
    age = raw.min_age_days
    if age is not None and not 0 <= age <= MAX_AGE_DAYS:
        problems.append(
            Problem(f"{prefix}.minAgeDays", "INVALID_AGE", f"Age is 0 to {MAX_AGE_DAYS} days.")
        )
    if unknown := sorted(set(raw.visit_states) - set(VISIT_STATES)):
        problems.append(
            Problem(
                f"{prefix}.visitStates",
                "UNKNOWN_VISIT_STATE",
                f"Unknown visit states {', '.join(unknown)}; known: {', '.join(VISIT_STATES)}.",
            )
        )
    numbers = tuple(dict.fromkeys(n.strip() for n in raw.account_numbers if n.strip()))
    if len(numbers) > MAX_ACCOUNTS:
        problems.append(
            Problem(f"{prefix}.accountNumbers", "TOO_MANY_ACCOUNTS", f"At most {MAX_ACCOUNTS}.")
        )
    if problems:
        raise DomainError(*problems)
    states = tuple(sorted(set(raw.visit_states)))
    return BalanceFilter(raw.payer_id, low, high, age, states, numbers)


def _money(text: str | None, field_name: str, problems: list[Problem]) -> int | None:
    if text is None:
        return None
    try:
        return parse_money(text)
    except InvalidMoney as error:
        problems.append(Problem(field_name, error.code, str(error)))
        return None


def parse_line_ids(line_ids: list[int | None]) -> tuple[int, ...]:
    """Explicit lines: at least one, at most `MAX_EXPLICIT_LINES`, each known, none twice."""
    if not line_ids:
        raise DomainError.of("selection.lineIds", "NO_LINES", "Pick at least one line.")
    if len(line_ids) > MAX_EXPLICIT_LINES:
        raise DomainError.of(
            "selection.lineIds",
            "TOO_MANY_LINES",
            f"At most {MAX_EXPLICIT_LINES} lines; use a filter for more.",
        )
    problems = [
        Problem(f"selection.lineIds.{i}", "LINE_NOT_FOUND", "No such line.")
        for i, line_id in enumerate(line_ids)
        if line_id is None
    ]
    seen: set[int] = set()
    for i, line_id in enumerate(line_ids):
        if line_id is not None and line_id in seen:
            problems.append(
                Problem(f"selection.lineIds.{i}", "DUPLICATE_LINE", "A line appears twice.")
            )
        seen.add(line_id or 0)
    if problems:
        raise DomainError(*problems)
    return tuple(i for i in line_ids if i is not None)


async def check_lines(session: AsyncSession, tenant_id: int, line_ids: tuple[int, ...]) -> None:
    """Refuse explicit lines that are not the tenant's."""
    found = set(
        await session.scalars(
            select(ChargeLine.id).where(
                among(ChargeLine.id, line_ids), ChargeLine.tenant_id == tenant_id
            )
        )
    )
    missing = [
        Problem(f"selection.lineIds.{i}", "LINE_NOT_FOUND", "No such line.")
        for i, line_id in enumerate(line_ids)
        if line_id not in found
    ]
    if missing:
        raise DomainError(*missing[:100])


async def resolve_filter(
    session: AsyncSession, tenant_id: int, selected: BalanceFilter, prefix: str
) -> BalanceFilter:
    """Check the payer and accounts exist in the tenant; fills in the accounts' ids."""
    problems: list[Problem] = []
    if selected.payer_id is not None:
        payer = await session.scalar(
            select(Payer.id).where(Payer.id == selected.payer_id, Payer.tenant_id == tenant_id)
        )
        if payer is None:
            problems.append(Problem(f"{prefix}.payerId", "PAYER_NOT_FOUND", "No such payer."))
    ids: dict[str, int] = {}
    if selected.account_numbers:
        rows = await session.execute(
            select(Account.account_number, Account.id).where(
                Account.tenant_id == tenant_id,
                Account.account_number.in_(selected.account_numbers),
            )
        )
        ids = {number: pk for number, pk in rows}
        if unknown := [n for n in selected.account_numbers if n not in ids]:
            problems.append(
                Problem(
                    f"{prefix}.accountNumbers",
                    "ACCOUNT_NOT_FOUND",
                    f"No such accounts: {', '.join(unknown[:20])}.",
                )
            )
    if problems:
        raise DomainError(*problems)
    account_ids = tuple(sorted(ids[n] for n in selected.account_numbers))
    return replace(selected, account_ids=account_ids)


def _visit_conditions(
    selected: BalanceFilter, balance: Any, today: date
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if selected.payer_id is not None:
        conditions.append(Visit.payer_id == selected.payer_id)
    if selected.balance_min_cents is not None:
        conditions.append(balance >= selected.balance_min_cents)
    if selected.balance_max_cents is not None:
        conditions.append(balance <= selected.balance_max_cents)
    if selected.min_age_days is not None:
        conditions.append(Visit.date_of_service <= today - timedelta(days=selected.min_age_days))
    if selected.visit_states:
        conditions.append(Visit.state.in_(selected.visit_states))
    if selected.account_ids:
        conditions.append(among(Visit.account_id, selected.account_ids))
    return conditions


def select_lines(
    tenant_id: int, line_ids: tuple[int, ...] | None, selected: BalanceFilter | None, today: date
) -> Rows:
    """Rows (account, visit, line, entry, transaction, balance) of a line selection."""
    query = (
        select(
            ChargeLine.account_id,
            ChargeLine.visit_id,
            ChargeLine.id.label("line_id"),
            none().label("target_entry_id"),
            none().label("target_transaction_id"),
            ChargeLine.balance_cents.label("balance"),
        )
        .join(Visit, Visit.id == ChargeLine.visit_id)
        .where(ChargeLine.tenant_id == tenant_id)
    )
    if line_ids is not None:
        return query.where(among(ChargeLine.id, line_ids))
    assert selected is not None
    return query.where(*_visit_conditions(selected, ChargeLine.balance_cents, today))


def select_visits(tenant_id: int, selected: BalanceFilter, today: date) -> Rows:
    """Rows of a visit selection (self-pay transactions): one per visit."""
    return select(
        Visit.account_id,
        Visit.id.label("visit_id"),
        none().label("line_id"),
        none().label("target_entry_id"),
        none().label("target_transaction_id"),
        Visit.balance_cents.label("balance"),
    ).where(Visit.tenant_id == tenant_id, *_visit_conditions(selected, Visit.balance_cents, today))


def none() -> Any:
    """A typed NULL (BIGINT), so a UNION or an INSERT … SELECT knows the column's type."""
    return cast(null(), BigInteger)
