"""Tenant settings: threshold, reasons, blocking visit states, adjustment picklist, CARC policy.

Changes are made under the tenant row's lock and leave one audit row with what changed
(before and after). Categories are upserted by code and deactivated rather than deleted.
"""

import re
from dataclasses import asdict, dataclass
from typing import Any
from zoneinfo import available_timezones

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.errors import DomainError, InvalidMoney, Problem
from domain.locks import lock_tenant
from domain.models import (
    CARC_GROUPS,
    VISIT_STATES,
    WRITE_OFF_REASONS,
    AdjustmentCategory,
    AuditRow,
    Tenant,
)
from domain.money import parse_money
from domain.tenants.policy import TenantPolicy, load_policy
from domain.uow import UnitOfWork

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$", re.ASCII)
_CARC_REASON = re.compile(r"^[A-Z0-9]{1,5}$", re.ASCII)


@dataclass(frozen=True)
class CategorySpec:
    """An adjustment category as configured; `carc_group` None means the tenant's group."""

    code: str
    name: str
    reduces_balance: bool
    carc_reason: str
    carc_group: str | None = None
    active: bool = True


DEFAULT_CATEGORIES = (
    CategorySpec("contract-correction", "Contracted rate correction", True, "45"),
    CategorySpec("coordination-of-benefits", "Coordination of benefits correction", True, "22"),
    CategorySpec("payer-error", "Payer error correction", True, "129"),
    CategorySpec("memo", "Informational (memo only, balance unchanged)", False, "94"),
)


@dataclass(frozen=True)
class SettingsChange:
    """Requested changes; None leaves a setting as it is."""

    small_balance_threshold: str | None = None
    writeoff_reasons: list[str] | None = None
    blocking_visit_states: list[str] | None = None
    adjustment_reasons: list[str] | None = None
    synthetic_carc_group: str | None = None
    categories: list[CategorySpec] | None = None
    time_zone: str | None = None


async def add_default_categories(session: AsyncSession, tenant_id: int) -> None:
    """Give a new tenant the default adjustment picklist."""
    await session.execute(
        insert(AdjustmentCategory),
        [{"tenant_id": tenant_id, **asdict(c)} for c in DEFAULT_CATEGORIES],
    )


def snapshot(policy: TenantPolicy) -> dict[str, Any]:
    """The settings as plain JSON, for audit rows and comparison."""
    return {
        "smallBalanceThresholdCents": policy.small_balance_threshold_cents,
        "writeOffReasons": list(policy.writeoff_reasons),
        "blockingVisitStates": sorted(policy.blocking_visit_states),
        "adjustmentReasons": list(policy.adjustment_reasons),
        "syntheticCarcGroup": policy.synthetic_carc_group,
        "categories": [asdict(c) for c in policy.categories],
        "timeZone": policy.time_zone,
    }


async def update_settings(
    uow: UnitOfWork, *, tenant_id: int, actor: str, change: SettingsChange
) -> TenantPolicy:
    """Validate and apply `change`; audit what changed. Returns the settings now in force."""
    values = _validated(change)
    await lock_tenant(uow.session, tenant_id)
    before = snapshot(await load_policy(uow.session, tenant_id))
    if values:
        await uow.session.execute(update(Tenant).where(Tenant.id == tenant_id).values(values))
    for spec in change.categories or []:
        await _upsert_category(uow.session, tenant_id, spec)
    policy = await load_policy(uow.session, tenant_id)
    after = snapshot(policy)
    changed = [key for key in after if after[key] != before[key]]
    if changed:
        uow.session.add(
            AuditRow(
                tenant_id=tenant_id,
                actor=actor,
                action="SETTINGS_CHANGED",
                reason=", ".join(changed),
                details={
                    "before": {k: before[k] for k in changed},
                    "after": {k: after[k] for k in changed},
                },
            )
        )
        await uow.session.flush()
    return policy


async def _upsert_category(session: AsyncSession, tenant_id: int, spec: CategorySpec) -> None:
    row = {"tenant_id": tenant_id, **asdict(spec)}
    statement = insert(AdjustmentCategory).values(row)
    await session.execute(
        statement.on_conflict_do_update(
            constraint="uq_adjustment_categories_tenant_id_code",
            set_={k: statement.excluded[k] for k in row if k not in ("tenant_id", "code")},
        )
    )


def _validated(change: SettingsChange) -> dict[str, Any]:
    """Column values for the tenant row; raises listing every problem found."""
    problems: list[Problem] = []
    values: dict[str, Any] = {}
    if change.small_balance_threshold is not None:
        values["small_balance_threshold_cents"] = _threshold(
            change.small_balance_threshold, problems
        )
    if change.writeoff_reasons is not None:
        values["writeoff_reasons"] = _members(
            "writeOffReasons", change.writeoff_reasons, WRITE_OFF_REASONS, problems
        )
    if change.blocking_visit_states is not None:
        values["blocking_visit_states"] = _members(
            "blockingVisitStates", change.blocking_visit_states, VISIT_STATES, problems
        )
    if change.adjustment_reasons is not None:
        values["adjustment_reasons"] = _adjustment_reasons(change.adjustment_reasons, problems)
    if change.synthetic_carc_group is not None:
        if change.synthetic_carc_group not in CARC_GROUPS:
            problems.append(_bad_group("syntheticCarcGroup"))
        values["synthetic_carc_group"] = change.synthetic_carc_group
    if change.time_zone is not None:
        if change.time_zone not in available_timezones():
            problems.append(
                Problem("timeZone", "UNKNOWN_TIME_ZONE", "Use an IANA zone, e.g. America/Chicago.")
            )
        values["time_zone"] = change.time_zone
    problems += _category_problems(change.categories or [])
    if problems:
        raise DomainError(*problems)
    return values


def _threshold(text: str, problems: list[Problem]) -> int | None:
    try:
        cents = parse_money(text)
    except InvalidMoney as error:
        problems.append(Problem("smallBalanceThreshold", error.code, str(error)))
        return None
    if cents < 0:
        problems.append(
            Problem("smallBalanceThreshold", "AMOUNT_NEGATIVE", "Threshold cannot be negative.")
        )
    return cents


def _members(
    field: str, given: list[str], allowed: tuple[str, ...], problems: list[Problem]
) -> list[str]:
    for index, value in enumerate(given):
        if value not in allowed:
            problems.append(
                Problem(
                    f"{field}.{index}", "UNKNOWN_VALUE", f"Must be one of: {', '.join(allowed)}."
                )
            )
    return list(dict.fromkeys(given))


def _adjustment_reasons(given: list[str], problems: list[Problem]) -> list[str]:
    if not given:
        problems.append(
            Problem("adjustmentReasons", "NO_REASONS", "Adjustments need at least one reason.")
        )
    for index, value in enumerate(given):
        if not _SLUG.match(value):
            problems.append(_bad_slug(f"adjustmentReasons.{index}"))
    return list(dict.fromkeys(given))


def _category_problems(categories: list[CategorySpec]) -> list[Problem]:
    problems, seen = [], set()
    for index, spec in enumerate(categories):
        field = f"adjustmentCategories.{index}"
        if not _SLUG.match(spec.code):
            problems.append(_bad_slug(f"{field}.code"))
        if spec.code in seen:
            problems.append(Problem(f"{field}.code", "DUPLICATE_CATEGORY", "Code given twice."))
        seen.add(spec.code)
        if not spec.name.strip() or len(spec.name) > 200:
            problems.append(Problem(f"{field}.name", "INVALID_NAME", "Name: 1 to 200 characters."))
        if spec.carc_group is not None and spec.carc_group not in CARC_GROUPS:
            problems.append(_bad_group(f"{field}.carcGroup"))
        if not _CARC_REASON.match(spec.carc_reason):
            problems.append(
                Problem(
                    f"{field}.carcReason",
                    "INVALID_CARC_REASON",
                    "A CARC reason code is 1 to 5 capital letters or digits, e.g. 45.",
                )
            )
    return problems


def _bad_slug(field: str) -> Problem:
    return Problem(
        field, "INVALID_CODE", "Use 1 to 64 lowercase letters, digits and hyphens, e.g. rate-fix."
    )


def _bad_group(field: str) -> Problem:
    return Problem(
        field, "INVALID_CARC_GROUP", f"CARC group must be one of: {', '.join(CARC_GROUPS)}."
    )
