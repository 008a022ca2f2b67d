"""Manual adjustments end to end: HTTP mutation → PostgreSQL → Redis → Celery worker. What they
write (entry, CARC, audit row), how a visit-level amount is spread, informational categories,
refusals, bad input, idempotency, the scope matrix and tenant-added reasons."""

from typing import Any

import pytest

from api.ids import decode_id
from arledger.config import Settings
from domain.db import SessionFactory
from tests.support.client import WRITE_OFF, gid, gql, wait_final, write_off_input
from tests.support.factories import World, ledger_drift, make_world
from tests.support.gql_ops import (
    ADJUST,
    ADMIN,
    PAYMENT,
    READ,
    VISIT,
    adjust,
    adjust_and_wait,
    adjustment_entries,
    adjustment_input,
    audit_rows,
    entry_fields,
    errors,
    line_gid,
    must_update_settings,
    read,
    stored,
    untouched,
    visit_gid,
)

WRITER = f"{READ} {ADJUST}"


async def test_line_adjustment_reduces_the_balance_with_its_carc(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given a line with a $100.00 balance
    world = await make_world(sessions, [10000])
    token = world.token(settings, WRITER)
    # when a $25.00 contract-correction adjustment is applied to the line
    variables = adjustment_input("adj", line_gid(world), "25", note="fee schedule was wrong")
    payload = await adjust(client, variables, token)
    # then the API says up front that it reduces the balance and writes OA-45
    assert payload["userErrors"] == []
    assert payload["command"]["kind"] == "ADJUSTMENT"
    assert payload["command"]["status"] == "PENDING"
    assert (payload["reducesBalance"], payload["carc"]) == (True, "OA-45")
    final = await wait_final(client, payload["command"]["id"], token)
    assert final["status"] == "APPLIED"
    # and the worker wrote one ADJUSTMENT entry with the category, reason and CARC
    command_pk = decode_id(payload["command"]["id"], "Command")
    [entry] = await adjustment_entries(sessions, world)
    entry_id, *rest = entry
    assert rest == [
        world.line_ids[0],
        -2500,
        None,
        "contract-correction",
        "OA",
        "45",
        "contracted-rate-correction",
        "fee schedule was wrong",
        "tester",
        command_pk,
    ]
    # and one audit row with the balance before and after
    line = world.line_ids[0]
    assert await audit_rows(sessions, world.tenant_id, "ADJUSTMENT_APPLIED") == [
        ("tester", "contracted-rate-correction", 10000, 7500, None, line, entry_id, command_pk)
    ]
    after = await stored(sessions, world)
    assert (after.balances, after.account) == ([7500], (7500, 1))
    assert await ledger_drift(sessions, world.tenant_id) == []


async def test_visit_adjustment_is_spread_over_lines_in_line_order(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given a visit whose lines hold $30.00 and $50.00
    world = await make_world(sessions, [3000, 5000])
    token = world.token(settings, WRITER)
    # when $40.00 coordination-of-benefits is applied to the visit
    category, reason = "coordination-of-benefits", "dual-eligible-coverage-correction"
    variables = adjustment_input("spread", visit_gid(world), "40.00", category, reason)
    assert (await adjust_and_wait(client, variables, token))["status"] == "APPLIED"
    # then the first line is taken to zero and the rest comes off the second
    after = await stored(sessions, world)
    assert after.balances == [0, 4000]
    assert after.account == (4000, 1)  # one command, one version
    assert [(e[1], e[2], e[5], e[6]) for e in await adjustment_entries(sessions, world)] == [
        (world.line_ids[0], -3000, "OA", "22"),
        (world.line_ids[1], -1000, "OA", "22"),
    ]
    audited = await audit_rows(sessions, world.tenant_id, "ADJUSTMENT_APPLIED")
    assert [(r[2], r[3], r[5]) for r in audited] == [
        (3000, 0, world.line_ids[0]),
        (5000, 4000, world.line_ids[1]),
    ]
    assert await ledger_drift(sessions, world.tenant_id) == []


@pytest.mark.parametrize("target", ["line", "visit"])
async def test_informational_category_posts_without_changing_the_balance(
    client, sessions: SessionFactory, settings: Settings, target: str
) -> None:
    # given a visit with lines of $30.00 and $50.00
    world = await make_world(sessions, [3000, 5000])
    token = world.token(settings, WRITER)
    # when a $12.34 memo (informational) adjustment is applied to the first line or the visit
    where = line_gid(world) if target == "line" else visit_gid(world)
    payload = await adjust(
        client, adjustment_input("memo", where, "12.34", "memo", "payer-error-corrected"), token
    )
    # then the API says it will not reduce the balance, and names its CARC
    assert (payload["reducesBalance"], payload["carc"]) == (False, "OA-94")
    assert (await wait_final(client, payload["command"]["id"], token))["status"] == "APPLIED"
    # and one entry of amount 0 records the amount on the (first) line; balances unchanged
    after = await stored(sessions, world)
    assert after.balances == [3000, 5000]
    assert after.account == (8000, 1)  # still a committed change
    assert after.entries[-1] == (world.line_ids[0], "ADJUSTMENT", 0, -1234)
    audited = await audit_rows(sessions, world.tenant_id, "ADJUSTMENT_POSTED_INFORMATIONAL")
    assert [r[2:4] for r in audited] == [(3000, 3000)]
    [visit] = (await read(client, VISIT, token))["account"]["visits"]
    assert visit["adjustments"] == [
        entry_fields("ADJUSTMENT", "0.00", "payer-error-corrected", "memo", "OA-94", "-12.34")
    ]
    assert (visit["balance"], visit["adjustmentTotal"]) == ("80.00", "0.00")
    assert await ledger_drift(sessions, world.tenant_id) == []


@pytest.mark.parametrize(
    ("target", "amount", "message"),
    [
        ("line", "30.01", "Amount exceeds the line balance of 30.00."),
        ("visit", "80.01", "Amount exceeds the visit balance of 80.00."),
    ],
    ids=["line", "visit"],
)
async def test_adjustment_over_the_balance_is_rejected_and_writes_nothing(
    client, sessions: SessionFactory, settings: Settings, target: str, amount: str, message: str
) -> None:
    # given lines of $30.00 and $50.00
    world = await make_world(sessions, [3000, 5000])
    token = world.token(settings, WRITER)
    where = line_gid(world) if target == "line" else visit_gid(world)
    # when an adjustment one cent over the line's (or visit's) balance is applied
    final = await adjust_and_wait(client, adjustment_input("over", where, amount), token)
    # then the worker rejects it with EXCEEDS_BALANCE and nothing is posted
    assert (final["status"], final["errorCode"], final["errorMessage"]) == (
        "REJECTED",
        "EXCEEDS_BALANCE",
        message,
    )
    after = await stored(sessions, world)
    assert (after.balances, after.account, after.entries) == (
        [3000, 5000],
        (8000, 0),
        untouched(world, [3000, 5000]).entries,
    )
    assert [r[1] for r in await audit_rows(sessions, world.tenant_id, "ADJUSTMENT_REJECTED")] == [
        "EXCEEDS_BALANCE"
    ]
    # and exactly the visit's balance is accepted
    exact = adjustment_input("exact", visit_gid(world), "80")
    assert (await adjust_and_wait(client, exact, token))["status"] == "APPLIED"
    assert (await stored(sessions, world)).balances == [0, 0]
    assert await ledger_drift(sessions, world.tenant_id) == []


async def test_adjustments_and_write_offs_are_reported_apart(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given a $100.00 line with a $10.00 charity write-off and a $25.00 adjustment
    world = await make_world(sessions, [10000])
    token = world.token(settings, f"{READ} {PAYMENT} {ADJUST}")
    body = await gql(client, WRITE_OFF, write_off_input("wo", [(world.line_ids[0], "10")]), token)
    final = await wait_final(client, body["data"]["writeOff"]["command"]["id"], token)
    assert final["status"] == "APPLIED"
    adjustment = adjustment_input("adj", line_gid(world), "25")
    assert (await adjust_and_wait(client, adjustment, token))["status"] == "APPLIED"
    # when the account and its visit are read
    account = (await read(client, VISIT, token))["account"]
    # then each kind is listed and totalled on its own
    [visit] = account["visits"]
    assert visit["adjustments"] == [
        entry_fields("ADJUSTMENT", "-25.00", "contracted-rate-correction", "contract-correction")
    ]
    assert visit["writeOffs"] == [entry_fields("WRITEOFF", "-10.00", "charity")]
    totals = ("65.00", "10.00", "25.00")
    assert tuple(visit[k] for k in ("balance", "writeOffTotal", "adjustmentTotal")) == totals
    assert tuple(account[k] for k in ("balance", "writeOffTotal", "adjustmentTotal")) == totals
    assert await ledger_drift(sessions, world.tenant_id) == []


def _own_line(w: World, o: World) -> str:
    return line_gid(w)


TARGET_NOT_FOUND = [("target", "TARGET_NOT_FOUND")]
# id, target (of world `w`, given another tenant's world `o`), input fields changed, expected
BAD: list[tuple[str, Any, dict[str, Any], list[Any]]] = [
    ("unknown-category", _own_line, {"category": "gift"}, [("category", "UNKNOWN_CATEGORY")]),
    ("unknown-reason", _own_line, {"reason": "goodwill"}, [("reason", "UNKNOWN_REASON")]),
    ("write-off-reason", _own_line, {"reason": "charity"}, [("reason", "UNKNOWN_REASON")]),
    ("zero", _own_line, {"amount": "0"}, [("amount", "AMOUNT_NOT_POSITIVE")]),
    ("negative", _own_line, {"amount": "-5"}, [("amount", "AMOUNT_NOT_POSITIVE")]),
    ("three-decimals", _own_line, {"amount": "1.005"}, [("amount", "TOO_MANY_DECIMALS")]),
    ("garbage", _own_line, {"amount": "five dollars"}, [("amount", "INVALID_AMOUNT")]),
    ("blank-amount", _own_line, {"amount": " "}, [("amount", "INVALID_AMOUNT")]),
    ("json-float", _own_line, {"amount": 10.5}, [("amount", "INVALID_AMOUNT")]),
    ("account-id", lambda w, o: gid("Account", w.account_id), {}, TARGET_NOT_FOUND),
    ("nonexistent-visit", lambda w, o: gid("Visit", 2**62), {}, TARGET_NOT_FOUND),
    ("malformed-id", lambda w, o: "not a global id", {}, TARGET_NOT_FOUND),
    ("other-tenants-visit", lambda w, o: visit_gid(o), {}, TARGET_NOT_FOUND),
    ("other-tenants-line", lambda w, o: line_gid(o), {}, TARGET_NOT_FOUND),
    ("note-too-long", _own_line, {"note": "x" * 2001}, [("note", "NOTE_TOO_LONG")]),
    (
        "blank-key",
        _own_line,
        {"idempotencyKey": " "},
        [("idempotencyKey", "INVALID_IDEMPOTENCY_KEY")],
    ),
    (
        "every-problem-at-once",
        lambda w, o: visit_gid(o),
        {"category": "gift", "reason": "goodwill", "amount": "0", "note": "x" * 2001},
        [
            *TARGET_NOT_FOUND,
            ("category", "UNKNOWN_CATEGORY"),
            ("reason", "UNKNOWN_REASON"),
            ("amount", "AMOUNT_NOT_POSITIVE"),
            ("note", "NOTE_TOO_LONG"),
        ],
    ),
]


@pytest.mark.parametrize(
    ("target", "fields", "expected"), [pytest.param(*case[1:], id=case[0]) for case in BAD]
)
async def test_bad_adjustment_is_a_typed_user_error_and_changes_nothing(
    client, sessions, settings, target: Any, fields: dict[str, Any], expected: list[Any]
) -> None:
    # given two tenants, each with lines of $100.00 and $20.00
    world = await make_world(sessions, [10000, 2000])
    other = await make_world(sessions, [10000, 2000])
    # when a bad adjustment is submitted by the first
    variables = adjustment_input("bad", target(world, other), "5")
    variables["input"].update(fields)
    payload = await adjust(client, variables, world.token(settings, WRITER))
    # then typed userErrors come back, no command, and neither tenant has anything new
    assert payload["command"] is None
    assert (payload["reducesBalance"], payload["carc"]) == (None, None)
    assert errors(payload) == expected
    assert await stored(sessions, world) == untouched(world, [10000, 2000])
    assert await stored(sessions, other) == untouched(other, [10000, 2000])


async def test_category_deactivated_in_settings_is_refused(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given the tenant deactivated its memo category
    world = await make_world(sessions, [10000])
    memo = {"code": "memo", "name": "Memo", "reducesBalance": False, "carcReason": "94"}
    change = {"adjustmentCategories": [{**memo, "active": False}]}
    await must_update_settings(client, change, world.token(settings, ADMIN))
    # when an adjustment picks it
    variables = adjustment_input("m", line_gid(world), "5", category="memo")
    payload = await adjust(client, variables, world.token(settings, WRITER))
    # then it is an unknown category whose message lists only the active ones
    assert payload["command"] is None
    assert payload["userErrors"] == [
        {
            "field": "category",
            "code": "UNKNOWN_CATEGORY",
            "message": "Category must be one of: contract-correction, coordination-of-benefits, "
            "payer-error.",
        }
    ]
    assert await stored(sessions, world) == untouched(world, [10000])


async def test_idempotency_key_returns_the_same_command_and_refuses_another_request(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given an adjustment submitted twice under one key
    world = await make_world(sessions, [10000])
    token = world.token(settings, WRITER)
    variables = adjustment_input("same", line_gid(world), "5")
    first = await adjust(client, variables, token)
    second = await adjust(client, variables, token)
    # then both answers name one command, applied once
    assert first["command"]["id"] == second["command"]["id"]
    assert (second["reducesBalance"], second["carc"]) == (True, "OA-45")
    assert (await wait_final(client, first["command"]["id"], token))["status"] == "APPLIED"
    # when the key is reused for a different amount or category
    for other in (
        adjustment_input("same", line_gid(world), "6"),
        adjustment_input("same", line_gid(world), "5", category="payer-error"),
    ):
        reused = await adjust(client, other, token)
        # then it is refused and nothing more is stored
        assert reused["command"] is None
        assert errors(reused) == [("idempotencyKey", "IDEMPOTENCY_KEY_REUSED")]
    after = await stored(sessions, world)
    assert (after.commands, after.balances, after.account) == (1, [9500], (9500, 1))


@pytest.mark.parametrize(
    ("credential", "expected"),
    [
        ("none", [(None, "UNAUTHENTICATED")]),
        ("missing-scope", [(None, "FORBIDDEN")]),
        ("other-tenant", [("target", "TARGET_NOT_FOUND")]),
        ("right-scope", []),
    ],
    ids=["no-token", "missing-scope", "other-tenant", "right-scope"],
)
async def test_apply_adjustment_authorisation(
    client, sessions: SessionFactory, settings: Settings, credential: str, expected: list[Any]
) -> None:
    # given tenant A's $100.00 line, tenant B, and a credential of the kind under test
    a = await make_world(sessions, [10000])
    b = await make_world(sessions, [10000])
    token = {
        "none": None,
        "missing-scope": a.token(settings, f"{READ} {PAYMENT}"),
        "other-tenant": b.token(settings, f"{READ} {ADJUST}"),
        "right-scope": a.token(settings, ADJUST),
    }[credential]
    # when it adjusts A's visit by $10.00
    payload = await adjust(client, adjustment_input("auth", visit_gid(a), "10"), token)
    # then only the exact scope of the target's tenant stores (and applies) it
    assert errors(payload) == expected
    if credential == "missing-scope":
        assert payload["userErrors"][0]["message"] == (
            "Scope 'billing.adjustment.write' is required."
        )
    if expected:
        assert payload["command"] is None
        assert await stored(sessions, a) == untouched(a, [10000])
    else:
        final = await wait_final(client, payload["command"]["id"], a.token(settings, READ))
        assert final["status"] == "APPLIED"
        assert (await stored(sessions, a)).balances == [9000]
    assert await stored(sessions, b) == untouched(b, [10000])


async def test_reason_added_by_the_tenant_is_accepted(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given a tenant that has not (yet) added the reason timely-filing-correction
    world = await make_world(sessions, [10000])
    token = world.token(settings, WRITER)
    variables = adjustment_input("new", line_gid(world), "7.50", reason="timely-filing-correction")
    assert errors(await adjust(client, variables, token)) == [("reason", "UNKNOWN_REASON")]
    # when an admin adds it to the adjustment reasons
    reasons = [
        "contracted-rate-correction",
        "dual-eligible-coverage-correction",
        "payer-error-corrected",
        "timely-filing-correction",
    ]
    now = await must_update_settings(
        client, {"adjustmentReasons": reasons}, world.token(settings, ADMIN)
    )
    assert now["adjustmentReasons"] == reasons
    # then an adjustment with it is stored and applied, the entry carrying the reason
    assert (await adjust_and_wait(client, variables, token))["status"] == "APPLIED"
    [entry] = await adjustment_entries(sessions, world)
    assert (entry[2], entry[7]) == (-750, "timely-filing-correction")
    assert await ledger_drift(sessions, world.tenant_id) == []


async def test_tenant_category_and_carc_policy_decide_the_carc_written(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given a tenant whose synthetic CARC group is PI, with an added category fixed at CO-A1
    world = await make_world(sessions, [10000])
    added = {"code": "rate-fix", "name": "Rate fix", "reducesBalance": True, "carcReason": "A1"}
    await must_update_settings(
        client,
        {"syntheticCarcGroup": "PI", "adjustmentCategories": [{**added, "carcGroup": "CO"}]},
        world.token(settings, ADMIN),
    )
    token = world.token(settings, WRITER)
    # when one adjustment uses a default category and one the added category
    default = await adjust(client, adjustment_input("d", line_gid(world), "1"), token)
    fixed = await adjust(client, adjustment_input("f", line_gid(world), "2", "rate-fix"), token)
    # then the default category follows the tenant's group and the added one keeps its own
    assert (default["carc"], fixed["carc"]) == ("PI-45", "CO-A1")
    for payload in (default, fixed):
        assert (await wait_final(client, payload["command"]["id"], token))["status"] == "APPLIED"
    assert [e[2:7] for e in await adjustment_entries(sessions, world)] == [
        (-100, None, "contract-correction", "PI", "45"),
        (-200, None, "rate-fix", "CO", "A1"),
    ]
