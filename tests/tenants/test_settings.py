"""Tenant settings: defaults, who may change them, their audit trail and refusals; the write-off
rules they drive, through the real worker; and the availability fields a front end greys out
buttons with."""

from typing import Any

import pytest
from sqlalchemy import update

from arledger.config import Settings
from domain.db import SessionFactory
from domain.errors import DomainError
from domain.models import ChargeLine
from domain.tenants.settings import DEFAULT_CATEGORIES, CategorySpec, SettingsChange
from domain.tenants.settings import update_settings as update_settings_directly
from domain.uow import UnitOfWork
from tests.support.client import gql
from tests.support.factories import ledger_drift, make_world
from tests.support.gql_ops import (
    ADJUST,
    ADMIN,
    EVERY_SCOPE,
    PAYMENT,
    READ,
    TENANT_SETTINGS,
    UPDATE_SETTINGS,
    VISIT,
    audit_rows,
    blocked,
    deactivated,
    errors,
    final_write_off,
    must_update_settings,
    read,
    settings_of,
    stored,
    untouched,
    update_settings,
    write_off,
)

REASONS = [
    "small-balance",
    "patient-uncollectable",
    "charity",
    "bad-debt",
    "dispute-resolved",
    "other",
]
"""The write-off reasons as stored (and as audit details show them)."""
REASON_NAMES = [
    "SMALL_BALANCE",
    "PATIENT_UNCOLLECTABLE",
    "CHARITY",
    "BAD_DEBT",
    "DISPUTE_RESOLVED",
    "OTHER",
]
"""The same reasons as GraphQL names them (WriteOffReason), in and out."""
ADJUSTMENT_REASONS = [
    "contracted-rate-correction",
    "dual-eligible-coverage-correction",
    "payer-error-corrected",
]
MEMO = {"code": "memo", "name": "Memo", "reducesBalance": False, "carcReason": "94"}


def _category(code: str, name: str, reduces: bool, reason: str) -> dict[str, Any]:
    return {
        "code": code,
        "name": name,
        "reducesBalance": reduces,
        "carcGroup": "OA",
        "carcReason": reason,
        "carc": f"OA-{reason}",
        "active": True,
    }


async def test_new_tenant_has_the_default_settings(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given a new tenant; when a reader asks for its settings
    world = await make_world(sessions, [100])
    data = await read(client, TENANT_SETTINGS, world.token(settings, READ))
    # then they are the defaults, with no history
    assert data["tenantSettings"] == {
        "smallBalanceThreshold": "5.00",
        "writeOffReasons": REASON_NAMES,
        "blockingVisitStates": ["on_hold", "submitted"],
        "adjustmentReasons": ADJUSTMENT_REASONS,
        "syntheticCarcGroup": "OA",
        "adjustmentCategories": [
            _category("contract-correction", "Contracted rate correction", True, "45"),
            _category(
                "coordination-of-benefits", "Coordination of benefits correction", True, "22"
            ),
            _category("payer-error", "Payer error correction", True, "129"),
            _category("memo", "Informational (memo only, balance unchanged)", False, "94"),
        ],
        "history": {"nodes": []},
    }


@pytest.mark.parametrize(
    ("credential", "expected"),
    [
        ("none", [(None, "UNAUTHENTICATED")]),
        ("missing-scope", [(None, "FORBIDDEN")]),
        ("right-scope", []),
        ("other-tenant", []),
    ],
    ids=["no-token", "missing-scope", "right-scope", "other-tenant"],
)
async def test_update_tenant_settings_authorisation(
    client, sessions: SessionFactory, settings: Settings, credential: str, expected: list[Any]
) -> None:
    # given tenants A and B with default settings
    a = await make_world(sessions, [100])
    b = await make_world(sessions, [100])
    before_a = await settings_of(sessions, a.tenant_id)
    before_b = await settings_of(sessions, b.tenant_id)
    token = {
        "none": None,
        "missing-scope": a.token(settings, f"{READ} {PAYMENT} {ADJUST}"),
        "right-scope": a.token(settings, ADMIN),
        "other-tenant": b.token(settings, ADMIN),
    }[credential]
    # when the threshold is set to $9.99
    payload = await update_settings(client, {"smallBalanceThreshold": "9.99"}, token)
    # then only billing.admin changes it, and only for the caller's own tenant
    assert errors(payload) == expected
    changed = {"none": None, "missing-scope": None, "right-scope": a, "other-tenant": b}[credential]
    if changed is None:
        assert payload["settings"] is None
    else:
        assert payload["settings"]["smallBalanceThreshold"] == "9.99"
    for world, before in ((a, before_a), (b, before_b)):
        now = await settings_of(sessions, world.tenant_id)
        expect = {**before, "smallBalanceThresholdCents": 999} if world is changed else before
        assert now == expect
        audited = await audit_rows(sessions, world.tenant_id, "SETTINGS_CHANGED")
        assert len(audited) == (1 if world is changed else 0)


async def test_a_change_is_audited_once_with_only_what_changed(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given a tenant with default settings and an admin
    world = await make_world(sessions, [100])
    admin = world.token(settings, EVERY_SCOPE)
    change = {
        "smallBalanceThreshold": "7.5",
        "writeOffReasons": [r for r in REASON_NAMES if r != "BAD_DEBT"],
        "blockingVisitStates": ["submitted", "on_hold"],  # as before, in another order
        "adjustmentCategories": [{**MEMO, "name": "Informational", "active": False}],
    }
    # when the threshold, the write-off reasons and the memo category are changed
    await must_update_settings(client, change, admin)
    # then one SETTINGS_CHANGED row holds before and after of the changed keys only
    now = await settings_of(sessions, world.tenant_id)
    memo_after = {"code": "memo", "name": "Informational", "reduces_balance": False}
    memo_after |= {"carc_group": "OA", "carc_reason": "94", "active": False}
    assert now["categories"][3] == memo_after
    memo_before = memo_after | {"name": DEFAULT_CATEGORIES[3].name, "active": True}
    keys = "smallBalanceThresholdCents, writeOffReasons, categories"
    details = {
        "before": {
            "smallBalanceThresholdCents": 500,
            "writeOffReasons": REASONS,
            "categories": [*now["categories"][:3], memo_before],
        },
        "after": {
            "smallBalanceThresholdCents": 750,
            "writeOffReasons": [r for r in REASONS if r != "bad-debt"],
            "categories": [*now["categories"][:3], memo_after],
        },
    }
    rows = await audit_rows(sessions, world.tenant_id, "SETTINGS_CHANGED")
    assert rows == [("tester", keys, None, None, details, None, None, None)]
    # and it is what tenantSettings.history shows
    history = (await read(client, TENANT_SETTINGS, admin))["tenantSettings"]["history"]
    expected = {"action": "SETTINGS_CHANGED", "actor": "tester", "reason": keys}
    assert history == {"nodes": [{**expected, "details": details}]}
    # when the same change is submitted again, no audit row is added
    await must_update_settings(client, change, admin)
    assert len(await audit_rows(sessions, world.tenant_id, "SETTINGS_CHANGED")) == 1
    assert await settings_of(sessions, world.tenant_id) == now


def _cat(**changes: Any) -> dict[str, Any]:
    return {"adjustmentCategories": [{**MEMO, **changes}]}


CAT = "adjustmentCategories"
THRESHOLD = "smallBalanceThreshold"
INVALID: list[Any] = [
    pytest.param({THRESHOLD: "-1"}, [(THRESHOLD, "AMOUNT_NEGATIVE")], id="negative-threshold"),
    pytest.param({THRESHOLD: "1.005"}, [(THRESHOLD, "TOO_MANY_DECIMALS")], id="three-decimals"),
    pytest.param({THRESHOLD: "lots"}, [(THRESHOLD, "INVALID_AMOUNT")], id="garbage-threshold"),
    pytest.param(
        {"blockingVisitStates": ["frozen"]},
        [("blockingVisitStates.0", "UNKNOWN_VALUE")],
        id="unknown-visit-state",
    ),
    pytest.param(
        {"adjustmentReasons": []}, [("adjustmentReasons", "NO_REASONS")], id="no-adjustment-reasons"
    ),
    pytest.param(
        {"adjustmentReasons": ["Rate Fix"]},
        [("adjustmentReasons.0", "INVALID_CODE")],
        id="bad-adjustment-reason",
    ),
    pytest.param(_cat(code="Bad Code"), [(f"{CAT}.0.code", "INVALID_CODE")], id="bad-code"),
    pytest.param(_cat(name=" "), [(f"{CAT}.0.name", "INVALID_NAME")], id="blank-name"),
    pytest.param(
        _cat(carcReason="45!"), [(f"{CAT}.0.carcReason", "INVALID_CARC_REASON")], id="carc-symbol"
    ),
    pytest.param(
        _cat(carcReason="123456"),
        [(f"{CAT}.0.carcReason", "INVALID_CARC_REASON")],
        id="carc-too-long",
    ),
    pytest.param(
        {CAT: [MEMO, {**MEMO, "name": "Again"}]},
        [(f"{CAT}.1.code", "DUPLICATE_CATEGORY")],
        id="duplicate-category",
    ),
    pytest.param(
        {THRESHOLD: "10", "blockingVisitStates": ["frozen"], **_cat(carcReason="45!")},
        [
            ("blockingVisitStates.0", "UNKNOWN_VALUE"),
            (f"{CAT}.0.carcReason", "INVALID_CARC_REASON"),
        ],
        id="valid-and-invalid-together",
    ),
]


@pytest.mark.parametrize(("change", "expected"), INVALID)
async def test_invalid_settings_are_user_errors_and_change_nothing(
    client, sessions: SessionFactory, settings: Settings, change: Any, expected: list[Any]
) -> None:
    # given a tenant with default settings
    world = await make_world(sessions, [100])
    before = await settings_of(sessions, world.tenant_id)
    # when an admin submits an invalid change
    payload = await update_settings(client, change, world.token(settings, ADMIN))
    # then each problem is a userError at its field, and nothing changed or was audited
    assert payload["settings"] is None
    assert errors(payload) == expected
    assert await settings_of(sessions, world.tenant_id) == before
    assert await audit_rows(sessions, world.tenant_id, "SETTINGS_CHANGED") == []


OUTSIDE_AN_ENUM: list[Any] = [
    pytest.param({"writeOffReasons": ["CHARITY", "GIFT"]}, id="unknown-write-off-reason"),
    pytest.param({"writeOffReasons": ["charity"]}, id="write-off-reason-in-stored-form"),
    pytest.param({"syntheticCarcGroup": "XX"}, id="bad-synthetic-group"),
    pytest.param(_cat(carcGroup="ZZ"), id="bad-carc-group"),
    pytest.param(
        {THRESHOLD: "10", "writeOffReasons": ["GIFT"], **_cat(carcGroup="ZZ")},
        id="valid-and-invalid-together",
    ),
]


@pytest.mark.parametrize("change", OUTSIDE_AN_ENUM)
async def test_values_outside_an_enum_are_typed_graphql_errors_and_change_nothing(
    client, sessions: SessionFactory, settings: Settings, change: Any
) -> None:
    # given a tenant with default settings
    world = await make_world(sessions, [100])
    before = await settings_of(sessions, world.tenant_id)
    # when an admin submits a write-off reason or CARC group its enum does not have
    body = await gql(client, UPDATE_SETTINGS, {"input": change}, world.token(settings, ADMIN))
    # then the variables are refused before anything runs, with typed errors and no data
    assert body.get("data") is None, body
    assert body["errors"], body
    assert {e["extensions"]["code"] for e in body["errors"]} == {"BAD_USER_INPUT"}, body
    # and nothing changed or was audited
    assert await settings_of(sessions, world.tenant_id) == before
    assert await audit_rows(sessions, world.tenant_id, "SETTINGS_CHANGED") == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(
            SettingsChange(writeoff_reasons=["charity", "gift"]),
            [("writeOffReasons.1", "UNKNOWN_VALUE")],
            id="unknown-write-off-reason",
        ),
        pytest.param(
            SettingsChange(synthetic_carc_group="XX"),
            [("syntheticCarcGroup", "INVALID_CARC_GROUP")],
            id="bad-synthetic-group",
        ),
        pytest.param(
            SettingsChange(categories=[CategorySpec("memo", "Memo", False, "94", "ZZ")]),
            [(f"{CAT}.0.carcGroup", "INVALID_CARC_GROUP")],
            id="bad-carc-group",
        ),
    ],
)
async def test_domain_still_refuses_values_outside_its_sets(
    sessions: SessionFactory, change: SettingsChange, expected: list[Any]
) -> None:
    # given a tenant with default settings, and a change made without the API's enums
    world = await make_world(sessions, [100])
    before = await settings_of(sessions, world.tenant_id)
    # when the domain is asked to apply it
    with pytest.raises(DomainError) as refused:
        async with UnitOfWork(sessions) as uow:
            await update_settings_directly(
                uow, tenant_id=world.tenant_id, actor="tester", change=change
            )
            await uow.commit()
    # then it lists each problem at its field, and nothing changed or was audited
    assert [(p.field, p.code) for p in refused.value.problems] == expected
    assert await settings_of(sessions, world.tenant_id) == before
    assert await audit_rows(sessions, world.tenant_id, "SETTINGS_CHANGED") == []


# ---------------------------------------------------------------------------------------------
# Write-off rules, through the worker
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("balances", "threshold", "expected"),
    [
        pytest.param([600], None, ("REJECTED", "SMALL_BALANCE_OVER_THRESHOLD"), id="over"),
        pytest.param(
            [200, 400], None, ("REJECTED", "SMALL_BALANCE_OVER_THRESHOLD"), id="visit-over"
        ),
        pytest.param([500], None, ("APPLIED", None), id="at-threshold"),
        pytest.param([600], "6.00", ("APPLIED", None), id="threshold-raised"),
    ],
)
async def test_small_balance_only_at_or_under_the_threshold(
    client, sessions, settings, balances: list[int], threshold: str | None, expected: Any
) -> None:
    # given a visit balance and the tenant's threshold ($5.00 unless raised)
    world = await make_world(sessions, balances)
    token = world.token(settings, EVERY_SCOPE)
    if threshold:
        await must_update_settings(client, {"smallBalanceThreshold": threshold}, token)
    # when $1.00 of the first line is written off as small-balance
    outcome = await final_write_off(client, world, token, "1", reason="SMALL_BALANCE")
    # then it is applied only when the visit's balance is at or under the threshold
    assert outcome == expected
    after = await stored(sessions, world)
    written = 100 if expected[0] == "APPLIED" else 0
    assert after.balances[0] == balances[0] - written
    assert await ledger_drift(sessions, world.tenant_id) == []


@pytest.mark.parametrize(
    ("world_kw", "code"),
    [
        pytest.param({"state": "submitted"}, "VISIT_STATE_BLOCKS_WRITEOFF", id="submitted"),
        pytest.param({"state": "on_hold"}, "VISIT_STATE_BLOCKS_WRITEOFF", id="on-hold"),
        pytest.param({"protected": True}, "LINE_PROTECTED", id="protected"),
    ],
)
async def test_blocked_write_off_is_rejected_and_writes_nothing(
    client, sessions, settings, world_kw: dict[str, Any], code: str
) -> None:
    # given a line on a visit in a blocking state, or a protected line
    world = await make_world(sessions, [1000], **world_kw)
    # when it is written off
    outcome = await final_write_off(client, world, world.token(settings), "1")
    # then the worker rejects it with the reason and the balance stands
    assert outcome == ("REJECTED", code)
    assert (await stored(sessions, world)).balances == [1000]


async def test_other_without_a_note_is_refused(client, sessions, settings) -> None:
    world = await make_world(sessions, [1000])
    payload = await write_off(client, world, world.token(settings), "1", reason="OTHER")
    assert (payload["command"], errors(payload)) == (None, [("note", "NOTE_REQUIRED")])
    assert await stored(sessions, world) == untouched(world, [1000])


async def test_reason_disabled_in_settings_is_refused(client, sessions, settings) -> None:
    # given the tenant disabled charity
    world = await make_world(sessions, [1000])
    token = world.token(settings, EVERY_SCOPE)
    await must_update_settings(client, {"writeOffReasons": ["BAD_DEBT"]}, token)
    # when a charity write-off is submitted
    payload = await write_off(client, world, token, "1", reason="CHARITY")
    # then it is a userError and nothing is stored
    assert (payload["command"], errors(payload)) == (None, [("reason", "REASON_DISABLED")])
    assert await stored(sessions, world) == untouched(world, [1000])


async def test_no_blocking_states_lets_a_submitted_visit_be_written_off(
    client, sessions, settings
) -> None:
    # given a submitted visit, and the tenant no longer blocking any state
    world = await make_world(sessions, [1000], state="submitted")
    token = world.token(settings, EVERY_SCOPE)
    await must_update_settings(client, {"blockingVisitStates": []}, token)
    # when it is written off, then it is applied
    assert await final_write_off(client, world, token, "4") == ("APPLIED", None)
    assert (await stored(sessions, world)).balances == [600]


# ---------------------------------------------------------------------------------------------
# Availability: why an action is greyed out
# ---------------------------------------------------------------------------------------------


def everywhere(write_off: str | None, adjustment: str | None) -> dict[str, Any]:
    """The same (writeOffBlockedReason, adjustmentBlockedReason) codes on the visit and line."""
    return {"visit": (write_off, adjustment), "lines": [(write_off, adjustment)]}


@pytest.mark.parametrize(
    ("world_kw", "scopes", "expected"),
    [
        pytest.param({}, EVERY_SCOPE, (None, None), id="available"),
        pytest.param({"protected": True}, EVERY_SCOPE, ("LINE_PROTECTED", None), id="protected"),
        pytest.param(
            {"state": "submitted"}, EVERY_SCOPE, ("VISIT_STATE_BLOCKS_WRITEOFF", None), id="state"
        ),
        pytest.param({"protected": True}, READ, ("MISSING_SCOPE", "MISSING_SCOPE"), id="read-only"),
        pytest.param({}, f"{READ} {PAYMENT}", (None, "MISSING_SCOPE"), id="no-adjust-scope"),
        pytest.param({}, f"{READ} {ADJUST}", ("MISSING_SCOPE", None), id="no-payment-scope"),
    ],
)
async def test_blocked_reasons(
    client, sessions, settings, world_kw: dict[str, Any], scopes: str, expected: Any
) -> None:
    world = await make_world(sessions, [1000], **world_kw)
    assert await blocked(client, world, world.token(settings, scopes)) == everywhere(*expected)


async def test_blocked_reason_messages(client, sessions, settings) -> None:
    world = await make_world(sessions, [1000], state="on_hold")
    [visit] = (await read(client, VISIT, world.token(settings, READ)))["account"]["visits"]
    assert visit["chargeLines"][0]["adjustmentBlockedReason"] == {
        "code": "MISSING_SCOPE",
        "message": "Your access lacks the scope billing.adjustment.write; ask an admin.",
    }
    token = world.token(settings, EVERY_SCOPE)
    [visit] = (await read(client, VISIT, token))["account"]["visits"]
    assert visit["writeOffBlockedReason"] == {
        "code": "VISIT_STATE_BLOCKS_WRITEOFF",
        "message": "The visit is on_hold, which blocks write-offs.",
    }


async def test_visit_is_available_while_any_open_line_is(client, sessions, settings) -> None:
    # given a visit whose first line is protected and second is not
    world = await make_world(sessions, [1000, 2000])
    async with sessions() as session, session.begin():
        await session.execute(
            update(ChargeLine).where(ChargeLine.id == world.line_ids[0]).values(protected=True)
        )
    assert await blocked(client, world, world.token(settings, EVERY_SCOPE)) == {
        "visit": (None, None),
        "lines": [("LINE_PROTECTED", None), (None, None)],
    }


async def test_no_balance_and_no_categories(client, sessions, settings) -> None:
    # given a line written off in full
    world = await make_world(sessions, [1000])
    token = world.token(settings, EVERY_SCOPE)
    assert await final_write_off(client, world, token, "10") == ("APPLIED", None)
    # then nothing is left to write off, though an informational adjustment is still possible
    assert await blocked(client, world, token) == everywhere("NO_BALANCE", None)
    # when the memo category is deactivated, no adjustment can be applied either
    await must_update_settings(client, {"adjustmentCategories": deactivated("memo")}, token)
    assert await blocked(client, world, token) == everywhere("NO_BALANCE", "NO_BALANCE")
    # and with every category deactivated the reason says so
    await must_update_settings(client, {"adjustmentCategories": deactivated()}, token)
    expected = everywhere("NO_BALANCE", "NO_ADJUSTMENT_CATEGORIES")
    assert await blocked(client, world, token) == expected


async def test_no_categories_on_an_open_line(client, sessions, settings) -> None:
    world = await make_world(sessions, [1000])
    token = world.token(settings, EVERY_SCOPE)
    await must_update_settings(client, {"adjustmentCategories": deactivated()}, token)
    assert await blocked(client, world, token) == everywhere(None, "NO_ADJUSTMENT_CATEGORIES")
