"""Reversals end to end (HTTP → PostgreSQL → Redis → Celery worker): an exact negation linked
both ways with paired audit rows; at most once; never of a reversal or a charge; racing new
write-offs without drift; what changed since; scopes, tenants, input and idempotency."""

import asyncio
from dataclasses import dataclass
from typing import TypeVar

import httpx
import pytest
from celery import Celery
from sqlalchemy import select

from api.ids import decode_id
from arledger.config import Settings
from domain.commands.apply import apply
from domain.db import SessionFactory
from domain.models import AuditRow, LedgerEntry
from domain.reversals.service import submit_reversal
from domain.uow import UnitOfWork
from tests.reversals.ops import (
    ADJUST,
    ALL_WRITES,
    PAYMENT,
    READ,
    REVERSE_ENTRY,
    Applied,
    adjust,
    codes,
    entries_of,
    entry_node,
    entry_row,
    line_balance,
    noop_enqueue,
    reversal_audit,
    reverse,
    reverse_input,
    stored,
    write_off,
)
from tests.support.client import WRITE_OFF, gid, gql, wait_final, write_off_input
from tests.support.factories import World, ledger_drift, make_world

T = TypeVar("T")


# Reversing write-offs and adjustments


async def test_reversing_a_write_off_restores_the_balance_with_paired_audit_rows(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given a $100.00 line with $30.25 written off
    world = await make_world(sessions, [10000])
    token = world.token(settings)
    line = world.line_ids[0]
    original = await write_off(client, sessions, token, "wo", line, "30.25")
    assert await line_balance(sessions, line) == 6975
    # when the write-off is reversed
    variables = reverse_input("rev", original.entry_id, "wrong patient")
    payload = (await gql(client, REVERSE_ENTRY, variables, token))["data"]["reverseEntry"]
    # then a PENDING reversal is stored, naming the original; nothing else changed since
    assert payload["userErrors"] == []
    assert (payload["command"]["kind"], payload["command"]["status"]) == ("REVERSAL", "PENDING")
    assert payload["original"] == {
        "id": gid("LedgerEntry", original.entry_id),
        "kind": "WRITEOFF",
        "amount": "-30.25",
    }
    assert payload["changesSince"] == []
    final = await wait_final(client, payload["command"]["id"], token)
    assert (final["status"], final["errorCode"]) == ("APPLIED", None)
    # and the worker wrote one entry that exactly negates it, restoring the balance
    pk = decode_id(payload["command"]["id"], "Command")
    assert pk is not None
    [reversal] = await entries_of(sessions, pk)
    assert await line_balance(sessions, line) == 10000
    assert await entry_row(sessions, reversal) == (
        "WRITEOFF",
        3025,
        None,
        original.entry_id,
        "wrong patient",
        None,
        None,
        None,
        "tester",
        line,
    )
    # and the two are linked both ways in the API
    before = await entry_node(client, token, original.entry_id)
    after = await entry_node(client, token, reversal)
    assert (before["reversedBy"], before["reverses"], before["reversesEntryId"]) == (
        {"id": gid("LedgerEntry", reversal)},
        None,
        None,
    )
    assert (after["reverses"], after["reversedBy"], after["reversesEntryId"]) == (
        {"id": gid("LedgerEntry", original.entry_id)},
        None,
        gid("LedgerEntry", original.entry_id),
    )
    assert (after["kind"], after["amount"], after["affectsBalance"]) == ("WRITEOFF", "30.25", True)
    # and the reversal wrote exactly two audit rows, paired with each other
    [(mine, *reversal_row, paired_1), (theirs, *original_row, paired_2)] = await reversal_audit(
        sessions, pk
    )
    assert reversal_row == ["WRITEOFF_REVERSAL", reversal, "tester", "wrong patient", 6975, 10000]
    assert original_row == [
        "WRITEOFF_REVERSED",
        original.entry_id,
        "tester",
        "wrong patient",
        6975,
        10000,
    ]
    assert (paired_1, paired_2) == (theirs, mine)
    assert await ledger_drift(sessions, world.tenant_id) == []


async def test_reversing_an_adjustment_restores_the_balance(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given a $100.00 line with a $20.00 contracted-rate correction, by an adjustment-only token
    world = await make_world(sessions, [10000])
    token = world.token(settings, f"{READ} {ADJUST}")
    line = world.line_ids[0]
    original = await adjust(client, sessions, token, "adj", line, "20")
    assert await line_balance(sessions, line) == 8000
    # when the same token reverses it
    reversal = await reverse(client, sessions, token, "rev", original.entry_id, "fee corrected")
    # then the balance is back, the entry negates the original with its category and CARC
    assert await line_balance(sessions, line) == 10000
    assert await entry_row(sessions, reversal.entry_id) == (
        "ADJUSTMENT",
        2000,
        None,
        original.entry_id,
        "fee corrected",
        "contract-correction",
        "OA",
        "45",
        "tester",
        line,
    )
    node = await entry_node(client, token, original.entry_id)
    assert node["reversedBy"] == {"id": gid("LedgerEntry", reversal.entry_id)}
    # and its audit rows are paired
    [(mine, *reversal_row, paired_1), (theirs, *original_row, paired_2)] = await reversal_audit(
        sessions, reversal.command_pk
    )
    assert [reversal_row[0], reversal_row[1], reversal_row[4:]] == [
        "ADJUSTMENT_REVERSAL",
        reversal.entry_id,
        [8000, 10000],
    ]
    assert [original_row[0], original_row[1], original_row[4:]] == [
        "ADJUSTMENT_REVERSED",
        original.entry_id,
        [8000, 10000],
    ]
    assert (paired_1, paired_2) == (theirs, mine)
    assert await ledger_drift(sessions, world.tenant_id) == []


async def test_reversing_an_informational_adjustment_negates_the_memo_only(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given a $100.00 line with a $15.00 informational (memo) adjustment
    world = await make_world(sessions, [10000])
    token = world.token(settings, f"{READ} {ADJUST}")
    line = world.line_ids[0]
    original = await adjust(client, sessions, token, "memo", line, "15", category="memo")
    assert await line_balance(sessions, line) == 10000
    # when it is reversed
    reversal = await reverse(client, sessions, token, "rev", original.entry_id)
    # then the reversal's amount is 0 and its memo amount the original's, negated
    assert (await entry_row(sessions, original.entry_id))[:3] == ("ADJUSTMENT", 0, -1500)
    assert (await entry_row(sessions, reversal.entry_id))[:4] == (
        "ADJUSTMENT",
        0,
        1500,
        original.entry_id,
    )
    node = await entry_node(client, token, reversal.entry_id)
    assert (node["amount"], node["memoAmount"], node["affectsBalance"]) == ("0.00", "15.00", False)
    # and the balance never moved
    assert await line_balance(sessions, line) == 10000
    actions = [(r[1], r[5], r[6]) for r in await reversal_audit(sessions, reversal.command_pk)]
    assert actions == [("ADJUSTMENT_REVERSAL", 10000, 10000), ("ADJUSTMENT_REVERSED", 10000, 10000)]
    assert await ledger_drift(sessions, world.tenant_id) == []


# At most once; never a reversal; never a charge


async def test_reversing_twice_is_refused_and_stores_nothing(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given a write-off already reversed
    world = await make_world(sessions, [10000])
    token = world.token(settings)
    original = await write_off(client, sessions, token, "wo", world.line_ids[0], "10")
    await reverse(client, sessions, token, "rev-1", original.entry_id)
    before = await stored(sessions, world.tenant_id)
    # when a second reversal is submitted under a new key
    body = await gql(client, REVERSE_ENTRY, reverse_input("rev-2", original.entry_id), token)
    payload = body["data"]["reverseEntry"]
    # then it is refused at once and nothing is stored
    assert codes(payload) == [("entryId", "ALREADY_REVERSED")]
    assert (payload["command"], payload["original"]) == (None, None)
    assert await stored(sessions, world.tenant_id) == before
    assert await line_balance(sessions, world.line_ids[0]) == 10000


@pytest.mark.parametrize("together", [True, False], ids=["one-batch", "one-after-another"])
async def test_two_pending_reversals_of_one_entry_apply_exactly_once(
    client,
    sessions: SessionFactory,
    settings: Settings,
    celery_app: Celery,
    together: bool,
) -> None:
    # given a write-off and two reversals of it stored (different keys) before either applied
    world = await make_world(sessions, [10000])
    token = world.token(settings)
    original = await write_off(client, sessions, token, "wo", world.line_ids[0], "12.34")
    pks = []
    for key in ("rev-a", "rev-b"):
        async with UnitOfWork(sessions) as uow:
            submitted = await submit_reversal(
                uow,
                tenant_id=world.tenant_id,
                actor="tester",
                scopes=frozenset({PAYMENT}),
                idempotency_key=key,
                entry_id=original.entry_id,
                reason="duplicate",
                enqueue=noop_enqueue,
            )
            await uow.commit()
        pks.append(submitted.command.id)
    # when the worker applies them, in one batch or the first before the second
    if not together:
        async with UnitOfWork(sessions) as uow:
            assert await apply(uow, pks[0]) == "APPLIED"
            await uow.commit()
    celery_app.send_task("arledger.apply_command", args=[pks[-1]], queue=settings.celery_queue)
    finals = [await wait_final(client, gid("Command", pk), token) for pk in pks]
    # then the first is applied and the second rejected as already reversed
    assert [(f["status"], f["errorCode"]) for f in finals] == [
        ("APPLIED", None),
        ("REJECTED", "ALREADY_REVERSED"),
    ]
    assert len(await entries_of(sessions, pks[0])) == 1
    assert await entries_of(sessions, pks[1]) == []
    async with sessions() as session:
        rejected = (
            await session.execute(
                select(AuditRow.action, AuditRow.reason).where(AuditRow.command_id == pks[1])
            )
        ).all()
    assert rejected == [("REVERSAL_REJECTED", "ALREADY_REVERSED")]
    assert await line_balance(sessions, world.line_ids[0]) == 10000
    assert await ledger_drift(sessions, world.tenant_id) == []


async def test_a_reversal_cannot_be_reversed(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given a write-off and its reversal
    world = await make_world(sessions, [10000])
    token = world.token(settings)
    original = await write_off(client, sessions, token, "wo", world.line_ids[0], "10")
    reversal = await reverse(client, sessions, token, "rev", original.entry_id)
    before = await stored(sessions, world.tenant_id)
    # when the reversal itself is reversed
    body = await gql(client, REVERSE_ENTRY, reverse_input("rev-rev", reversal.entry_id), token)
    # then it is refused (re-apply instead) and nothing is stored
    assert codes(body["data"]["reverseEntry"]) == [("entryId", "REVERSAL_NOT_REVERSIBLE")]
    assert await stored(sessions, world.tenant_id) == before
    assert await line_balance(sessions, world.line_ids[0]) == 10000


# Concurrency


@dataclass(frozen=True)
class Round:
    """One line: a $30.00 write-off to reverse, and a new write-off racing the reversal."""

    world: World
    line_id: int
    original: Applied
    new_amount: int


async def test_reversals_racing_new_write_offs_on_the_same_lines_never_drift(
    server: str, sessions: SessionFactory, settings: Settings
) -> None:
    # given 20 lines of $100.00 (two tenants of ten), each with $30.00 written off
    worlds = [await make_world(sessions, [10000] * 10) for _ in range(2)]
    tokens = {w.tenant_id: w.token(settings) for w in worlds}
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(base_url=server, timeout=60, limits=limits) as client:
        originals = await asyncio.gather(
            *[
                write_off(client, sessions, tokens[w.tenant_id], f"wo-{line}", line, "30")
                for w in worlds
                for line in w.line_ids
            ]
        )
        lines = [(w, line) for w in worlds for line in w.line_ids]
        # ($80.00 fits only once the reversal is in; $50.00 fits either way)
        rounds = [
            Round(w, line, original, 8000 if n % 2 == 0 else 5000)
            for n, ((w, line), original) in enumerate(zip(lines, originals, strict=True))
        ]
        # when, on every line at once, the write-off is reversed (on half the lines twice,
        # under two keys) while a new write-off is submitted
        requests = []
        for n, r in enumerate(rounds):
            token = tokens[r.world.tenant_id]
            amount = f"{r.new_amount // 100}"
            requests.append(
                gql(client, WRITE_OFF, write_off_input(f"new-{n}", [(r.line_id, amount)]), token)
            )
            for key in [f"rev-{n}", f"again-{n}"][: 1 + n % 2]:
                variables = reverse_input(key, r.original.entry_id)
                requests.append(gql(client, REVERSE_ENTRY, variables, token))
        bodies = await asyncio.gather(*requests)
        payloads = [next(iter(b["data"].values())) for b in bodies]  # the one field
        finals = await asyncio.gather(
            *[
                final_of(client, p, tokens[r.world.tenant_id])
                for r, group in zip(rounds, split(payloads), strict=True)
                for p in group
            ]
        )
    # then on every line: the reversal applied exactly once, any duplicate was refused, and
    # the new write-off was judged on the balance it saw
    for n, (r, (new, *reversals)) in enumerate(zip(rounds, split(finals), strict=True)):
        assert len(reversals) == 1 + n % 2
        assert reversals.count(("APPLIED", None)) == 1, reversals
        assert {o for o in reversals if o != ("APPLIED", None)} <= {
            ("REJECTED", "ALREADY_REVERSED"),  # stored before the first applied
            ("REFUSED", "ALREADY_REVERSED"),  # submitted after the first applied
        }, reversals
        async with sessions() as session:
            entries = (
                await session.execute(
                    select(LedgerEntry.id, LedgerEntry.amount_cents, LedgerEntry.reverses_entry_id)
                    .where(LedgerEntry.line_id == r.line_id, LedgerEntry.kind == "WRITEOFF")
                    .order_by(LedgerEntry.id)
                )
            ).all()
        reversal_rows = [e for e in entries if e.reverses_entry_id is not None]
        assert [(e.amount_cents, e.reverses_entry_id) for e in reversal_rows] == [
            (3000, r.original.entry_id)
        ]
        news = [e for e in entries if e.amount_cents == -r.new_amount]
        if r.new_amount == 5000:
            assert new == ("APPLIED", None)
        elif new == ("APPLIED", None):  # $80.00 fits only after the reversal restored $30.00
            assert news[0].id > reversal_rows[0].id
        else:
            assert new == ("REJECTED", "EXCEEDS_BALANCE")
        applied_new = r.new_amount if new[0] == "APPLIED" else 0
        assert len(news) == (1 if applied_new else 0)
        assert await line_balance(sessions, r.line_id) == 10000 - 3000 - applied_new + 3000
    for w in worlds:
        assert await ledger_drift(sessions, w.tenant_id) == []


def split(items: list[T]) -> list[list[T]]:
    """Regroup the flat list of requests per round: [new, reversal] or [new, reversal, again]."""
    groups: list[list[T]] = []
    n = at = 0
    while at < len(items):
        size = 2 + n % 2
        groups.append(items[at : at + size])
        at, n = at + size, n + 1
    return groups


async def final_of(
    client: httpx.AsyncClient, payload: dict[str, object], token: str
) -> tuple[str, str | None]:
    """A submitted command's final (status, code), or ("REFUSED", code) when not stored."""
    errors = payload["userErrors"]
    assert isinstance(errors, list)
    if errors:
        return "REFUSED", errors[0]["code"]
    command = payload["command"]
    assert isinstance(command, dict)
    final = await wait_final(client, command["id"], token, within=90)
    return final["status"], final["errorCode"]


# What changed since


async def test_reversal_lists_what_else_changed_the_line_since_the_original(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given a $100.00 line: $10.00 written off, then $5.00 more
    world = await make_world(sessions, [10000])
    token = world.token(settings)
    line = world.line_ids[0]
    first = await write_off(client, sessions, token, "wo-10", line, "10")
    second = await write_off(client, sessions, token, "wo-5", line, "5")
    # when the first write-off is reversed
    variables = reverse_input("rev", first.entry_id)
    payload = (await gql(client, REVERSE_ENTRY, variables, token))["data"]["reverseEntry"]
    # then the answer names the $5.00 write-off as what else changed the balance since
    assert payload["changesSince"] == [
        {
            "id": gid("LedgerEntry", second.entry_id),
            "kind": "WRITEOFF",
            "amount": "-5.00",
            "reason": "charity",
        }
    ]
    final = await wait_final(client, payload["command"]["id"], token)
    assert final["status"] == "APPLIED"
    # and so the balance is $95.00, not the $100.00 it was before the first write-off
    assert await line_balance(sessions, line) == 9500
    # and the original lists, from the ledger, the later write-off and then its reversal
    node = await entry_node(client, token, first.entry_id)
    reversal = node["reversedBy"]["id"]
    assert node["changesSince"] == [
        {"id": gid("LedgerEntry", second.entry_id), "kind": "WRITEOFF", "amount": "-5.00"},
        {"id": reversal, "kind": "WRITEOFF", "amount": "10.00"},
    ]
    assert await ledger_drift(sessions, world.tenant_id) == []


# Scopes, tenants and input: refused at once, nothing stored


@dataclass(frozen=True)
class Seeded:
    """Tenant A: one $100.00 line with a $10.00 write-off and a $20.00 adjustment applied.
    Tenant B: its own line with a $1.00 write-off applied."""

    a: World
    b: World
    write_off_entry: int
    adjustment_entry: int
    charge_entry: int
    b_entry: int


@pytest.fixture(scope="module")
async def seeded(server: str, sessions: SessionFactory, settings: Settings) -> Seeded:
    a = await make_world(sessions, [10000])
    b = await make_world(sessions, [5000])
    async with httpx.AsyncClient(base_url=server, timeout=30) as client:
        token = a.token(settings, ALL_WRITES)
        written_off = await write_off(client, sessions, token, "wo", a.line_ids[0], "10")
        adjusted = await adjust(client, sessions, token, "adj", a.line_ids[0], "20")
        theirs = await write_off(client, sessions, b.token(settings), "wo", b.line_ids[0], "1")
    async with sessions() as session:
        charge = await session.scalar(
            select(LedgerEntry.id).where(
                LedgerEntry.line_id == a.line_ids[0], LedgerEntry.kind == "CHARGE"
            )
        )
    assert charge is not None
    return Seeded(a, b, written_off.entry_id, adjusted.entry_id, charge, theirs.entry_id)


# (which entry of `Seeded`, or a bad id; token scopes, None for no token; reason; userError)
REFUSED = [
    pytest.param(
        "write_off_entry",
        f"{READ} {ADJUST}",
        "valid",
        ("entryId", "FORBIDDEN"),
        id="write-off-with-adjustment-scope",
    ),
    pytest.param(
        "adjustment_entry",
        f"{READ} {PAYMENT}",
        "valid",
        ("entryId", "FORBIDDEN"),
        id="adjustment-with-payment-scope",
    ),
    pytest.param("write_off_entry", READ, "valid", (None, "FORBIDDEN"), id="no-write-scope"),
    pytest.param("adjustment_entry", READ, "valid", (None, "FORBIDDEN"), id="no-write-scope-adj"),
    pytest.param("write_off_entry", None, "valid", (None, "UNAUTHENTICATED"), id="no-token"),
    pytest.param(
        "b_entry", ALL_WRITES, "valid", ("entryId", "ENTRY_NOT_FOUND"), id="other-tenants-entry"
    ),
    pytest.param("no-such", ALL_WRITES, "valid", ("entryId", "ENTRY_NOT_FOUND"), id="unknown-id"),
    pytest.param(
        "malformed", ALL_WRITES, "valid", ("entryId", "ENTRY_NOT_FOUND"), id="malformed-id"
    ),
    pytest.param(
        "line-id", ALL_WRITES, "valid", ("entryId", "ENTRY_NOT_FOUND"), id="id-of-another-type"
    ),
    pytest.param(
        "charge_entry", ALL_WRITES, "valid", ("entryId", "ENTRY_NOT_REVERSIBLE"), id="charge"
    ),
    pytest.param(
        "write_off_entry", ALL_WRITES, "   ", ("reason", "REASON_REQUIRED"), id="blank-reason"
    ),
    pytest.param(
        "write_off_entry",
        ALL_WRITES,
        "x" * 501,
        ("reason", "REASON_TOO_LONG"),
        id="reason-too-long",
    ),
    pytest.param(
        "write_off_entry", ALL_WRITES, "", ("reason", "REASON_REQUIRED"), id="empty-reason"
    ),
]


@pytest.mark.parametrize(("entry", "scopes", "reason", "expected"), REFUSED)
async def test_reversal_refused_at_once_stores_nothing(
    client,
    seeded: Seeded,
    sessions: SessionFactory,
    settings: Settings,
    entry: str,
    scopes: str | None,
    reason: str,
    expected: tuple[str | None, str],
) -> None:
    # given tenant A's entries and a caller that may not (or cannot) reverse this one
    entry_id = {
        "no-such": gid("LedgerEntry", 2**62),
        "malformed": "not-a-global-id",
        "line-id": gid("ChargeLine", seeded.a.line_ids[0]),
    }.get(entry) or gid("LedgerEntry", getattr(seeded, entry))
    token = None if scopes is None else seeded.a.token(settings, scopes)
    before = [await stored(sessions, w.tenant_id) for w in (seeded.a, seeded.b)]
    # when the reversal is submitted
    reason = "posted in error" if reason == "valid" else reason
    body = await gql(client, REVERSE_ENTRY, reverse_input("k", entry_id, reason), token)
    payload = body["data"]["reverseEntry"]
    # then one typed userError, no command, and nothing stored for either tenant
    assert codes(payload) == [expected]
    assert (payload["command"], payload["original"], payload["changesSince"]) == (None, None, [])
    assert [await stored(sessions, w.tenant_id) for w in (seeded.a, seeded.b)] == before
    assert await line_balance(sessions, seeded.a.line_ids[0]) == 7000
    assert await line_balance(sessions, seeded.b.line_ids[0]) == 4900


# Idempotency


async def test_a_replayed_reversal_lists_the_same_changes_since_as_the_request_did(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given a write-off, a later write-off on the same line, and a reversal of the first
    world = await make_world(sessions, [10000])
    token = world.token(settings)
    first = await write_off(client, sessions, token, "wo-a", world.line_ids[0], "10")
    later = await write_off(client, sessions, token, "wo-b", world.line_ids[0], "5")
    variables = reverse_input("rev-same", first.entry_id, "duplicate")
    asked = (await gql(client, REVERSE_ENTRY, variables, token))["data"]["reverseEntry"]
    command = await wait_final(client, asked["command"]["id"], token)
    assert command["status"] == "APPLIED"
    # when the same request is replayed after the reversal was posted
    replay = (await gql(client, REVERSE_ENTRY, variables, token))["data"]["reverseEntry"]
    # then it lists what changed before the reversal was asked for, not the reversal itself
    assert [c["id"] for c in asked["changesSince"]] == [gid("LedgerEntry", later.entry_id)]
    assert {**replay, "command": None} == {**asked, "command": None}
    assert replay["command"] == {**asked["command"], "status": "APPLIED"}


async def test_replaying_an_applied_reversal_returns_the_same_command(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given a write-off reversed under key "rev"
    world = await make_world(sessions, [10000])
    token = world.token(settings)
    original = await write_off(client, sessions, token, "wo", world.line_ids[0], "10")
    reversal = await reverse(client, sessions, token, "rev", original.entry_id, "duplicate")
    before = await stored(sessions, world.tenant_id)
    # when the very same request is sent again (a client retry)
    variables = reverse_input("rev", original.entry_id, "duplicate")
    payload = (await gql(client, REVERSE_ENTRY, variables, token))["data"]["reverseEntry"]
    # then it answers with the same, applied command, not ALREADY_REVERSED
    assert payload["userErrors"] == []
    assert payload["command"] == {
        "id": reversal.command_id,
        "kind": "REVERSAL",
        "status": "APPLIED",
    }
    assert payload["original"]["id"] == gid("LedgerEntry", original.entry_id)
    # when the key is reused for a different reason, another entry, or by a write-off
    other = await write_off(client, sessions, token, "wo-2", world.line_ids[0], "1")
    reused = [
        await gql(client, REVERSE_ENTRY, reverse_input("rev", original.entry_id, "other"), token),
        await gql(client, REVERSE_ENTRY, reverse_input("rev", other.entry_id, "duplicate"), token),
        await gql(client, REVERSE_ENTRY, reverse_input("wo", other.entry_id, "duplicate"), token),
    ]
    # then each is refused for the key
    assert [codes(b["data"]["reverseEntry"]) for b in reused] == [
        [("idempotencyKey", "IDEMPOTENCY_KEY_REUSED")]
    ] * 3
    # and nothing was stored but the second write-off
    after = await stored(sessions, world.tenant_id)
    assert (after.commands, after.entries) == (before.commands + 1, before.entries + 1)
    assert await line_balance(sessions, world.line_ids[0]) == 9900
    assert await ledger_drift(sessions, world.tenant_id) == []
