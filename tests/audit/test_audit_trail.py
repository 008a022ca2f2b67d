"""What adjustments and reversals leave behind: the audit trail of an account, a visit, a line,
an entry or a command (who, what, why, balance before/after, command), and the accountBalance
events a subscriber receives for them."""

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from arledger.config import Settings
from domain.db import SessionFactory
from domain.models import LedgerEntry
from tests.ledger.test_subscriptions import subscriber
from tests.reversals.ops import (
    ADJUST,
    ALL_WRITES,
    AUDIT_TRAIL,
    PAYMENT,
    READ,
    Applied,
    Place,
    add_visit,
    adjust,
    reverse,
    write_off,
)
from tests.support.client import WRITE_OFF, gid, gql, wait_final, write_off_input
from tests.support.factories import World, ledger_drift, make_world

ROW_FIELDS = (
    "actor",
    "action",
    "reason",
    "balanceBefore",
    "balanceAfter",
    "commandId",
    "entryId",
    "lineId",
)


@dataclass(frozen=True)
class History:
    """Tenant A with two accounts and three visits, after a write-off, an adjustment, the
    write-off's reversal, a second write-off and a rejected one; and an unrelated tenant B.

    `trails` maps a name to (subject id, the rows its audit trail must return, oldest first).
    """

    a: World
    b: World
    second_visit: Place
    other_account: Place
    reversal: Applied
    trails: dict[str, tuple[str, list[tuple[Any, ...]]]]


def money(cents: int | None) -> str | None:
    return None if cents is None else f"{cents // 100}.{cents % 100:02d}"


def row(
    action: str,
    reason: str | None,
    before: int | None,
    after: int | None,
    command: str | None,
    entry: int | None,
    line: int | None,
    actor: str = "tester",
) -> tuple[Any, ...]:
    """An expected audit row, as the fields in ROW_FIELDS."""
    return (
        actor,
        action,
        reason,
        money(before),
        money(after),
        command,
        None if entry is None else gid("LedgerEntry", entry),
        None if line is None else gid("ChargeLine", line),
    )


@pytest.fixture(scope="module")
async def history(server: str, sessions: SessionFactory, settings: Settings) -> History:
    a = await make_world(sessions, [10000, 5000])
    l1, l2 = a.line_ids
    second_visit = await add_visit(sessions, a, [2000])
    other_account = await add_visit(sessions, a, [4000], new_account=True)
    (l3,), (l4,) = second_visit.line_ids, other_account.line_ids
    b = await make_world(sessions, [10000])
    token = a.token(settings, ALL_WRITES)
    async with httpx.AsyncClient(base_url=server, timeout=30) as client:
        wo = await write_off(client, sessions, token, "wo", l1, "30")
        adj = await adjust(client, sessions, token, "adj", l2, "20")
        rev = await reverse(client, sessions, token, "rev", wo.entry_id, "wrong patient")
        wo3 = await write_off(client, sessions, token, "wo3", l3, "1")
        body = await gql(client, WRITE_OFF, write_off_input("over", [(l4, "40.01")]), token)
        over = body["data"]["writeOff"]["command"]["id"]
        assert (await wait_final(client, over, token))["errorCode"] == "EXCEEDS_BALANCE"
    async with sessions() as session:
        charges = dict(
            (
                await session.execute(
                    select(LedgerEntry.line_id, LedgerEntry.id).where(
                        LedgerEntry.tenant_id == a.tenant_id, LedgerEntry.kind == "CHARGE"
                    )
                )
            ).all()
        )
    c1, c2, c3, c4 = (
        row("CHARGE_POSTED", None, 0, cents, None, charges[line], line, actor="seed")
        for line, cents in ((l1, 10000), (l2, 5000), (l3, 2000), (l4, 4000))
    )
    w = row("WRITEOFF_APPLIED", "charity", 10000, 7000, wo.command_id, wo.entry_id, l1)
    j = row(
        "ADJUSTMENT_APPLIED",
        "contracted-rate-correction",
        5000,
        3000,
        adj.command_id,
        adj.entry_id,
        l2,
    )
    reversal = row(
        "WRITEOFF_REVERSAL", "wrong patient", 7000, 10000, rev.command_id, rev.entry_id, l1
    )
    reversed_ = row(
        "WRITEOFF_REVERSED", "wrong patient", 7000, 10000, rev.command_id, wo.entry_id, l1
    )
    w3 = row("WRITEOFF_APPLIED", "charity", 2000, 1900, wo3.command_id, wo3.entry_id, l3)
    rejected = row("WRITEOFF_REJECTED", "EXCEEDS_BALANCE", None, None, over, None, None)
    trails = {
        "account": (gid("Account", a.account_id), [c1, c2, c3, w, j, reversal, reversed_, w3]),
        "other-account": (gid("Account", other_account.account_id), [c4]),
        "visit": (gid("Visit", a.visit_id), [c1, c2, w, j, reversal, reversed_]),
        "second-visit": (gid("Visit", second_visit.visit_id), [c3, w3]),
        "line": (gid("ChargeLine", l1), [c1, w, reversal, reversed_]),
        "adjusted-line": (gid("ChargeLine", l2), [c2, j]),
        "reversed-entry": (gid("LedgerEntry", wo.entry_id), [w, reversed_]),
        "reversal-entry": (gid("LedgerEntry", rev.entry_id), [reversal]),
        "charge-entry": (gid("LedgerEntry", charges[l1]), [c1]),
        "adjustment-entry": (gid("LedgerEntry", adj.entry_id), [j]),
        "reversal-command": (rev.command_id, [reversal, reversed_]),
        "write-off-command": (wo.command_id, [w]),
        "rejected-command": (over, [rejected]),
    }
    return History(a, b, second_visit, other_account, rev, trails)


TRAILS = [
    "account",
    "other-account",
    "visit",
    "second-visit",
    "line",
    "adjusted-line",
    "reversed-entry",
    "reversal-entry",
    "charge-entry",
    "adjustment-entry",
    "reversal-command",
    "write-off-command",
    "rejected-command",
]


async def trail(
    client: httpx.AsyncClient, token: str, subject: str, first: int = 50, after: str | None = None
) -> dict[str, Any]:
    variables = {"subject": subject, "first": first, "after": after}
    body = await gql(client, AUDIT_TRAIL, variables, token)
    assert "errors" not in body, body
    connection: dict[str, Any] = body["data"]["auditTrail"]
    return connection


def fields(nodes: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [tuple(n[f] for f in ROW_FIELDS) for n in nodes]


@pytest.mark.parametrize("name", TRAILS)
async def test_audit_trail_of_each_kind_of_subject(
    client, history: History, settings: Settings, name: str
) -> None:
    # given tenant A's history and a read-only token of tenant A
    subject, expected = history.trails[name]
    # when the subject's audit trail is queried
    connection = await trail(client, history.a.token(settings, READ), subject)
    # then exactly its rows come back, oldest first, with who, what, why, balances, command
    assert fields(connection["nodes"]) == expected
    assert connection["pageInfo"]["hasNextPage"] is False


async def test_audit_rows_of_a_reversal_name_each_other(
    client, history: History, settings: Settings
) -> None:
    # given the reversal of tenant A's write-off
    token = history.a.token(settings, READ)
    # when the reversal command's trail is queried
    nodes = (await trail(client, token, history.reversal.command_id))["nodes"]
    # then its two rows are paired both ways and placed on the account, visit and line
    mine, theirs = nodes
    assert (mine["pairedAuditId"], theirs["pairedAuditId"]) == (theirs["id"], mine["id"])
    place = (
        gid("Account", history.a.account_id),
        gid("Visit", history.a.visit_id),
        gid("ChargeLine", history.a.line_ids[0]),
    )
    assert [(n["accountId"], n["visitId"], n["lineId"]) for n in nodes] == [place, place]
    assert [n["note"] for n in nodes] == [None, None]
    # and the pair is fetchable by id like any node
    body = await gql(
        client,
        "query($id: ID!) { node(id: $id) { id ... on AuditRow { action } } }",
        {"id": mine["pairedAuditId"]},
        token,
    )
    assert body["data"]["node"] == {"id": theirs["id"], "action": "WRITEOFF_REVERSED"}


async def test_audit_trail_paginates_oldest_first(
    client, history: History, settings: Settings
) -> None:
    # given the account's trail of eight rows
    token = history.a.token(settings, READ)
    subject, expected = history.trails["account"]
    # when it is read three rows at a time
    pages, after = [], None
    while True:
        page = await trail(client, token, subject, first=3, after=after)
        pages.append(page)
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    # then three pages of 3, 3 and 2 rows make up the whole trail, in order
    assert [len(p["nodes"]) for p in pages] == [3, 3, 2]
    assert [row for p in pages for row in fields(p["nodes"])] == expected
    # and reading past the end gives nothing more
    end = await trail(client, token, subject, first=3, after=pages[-1]["pageInfo"]["endCursor"])
    assert (end["nodes"], end["pageInfo"]) == ([], {"hasNextPage": False, "endCursor": None})


async def test_another_tenants_subjects_have_an_empty_trail(
    client, history: History, settings: Settings
) -> None:
    # given a token of tenant B
    token = history.b.token(settings, READ)
    # when it asks for the trail of each of tenant A's subjects
    found = {
        name: (await trail(client, token, subject))["nodes"]
        for name, (subject, _) in history.trails.items()
    }
    # then it sees nothing at all
    assert found == {name: [] for name in history.trails}


@pytest.mark.parametrize(
    ("subject", "scopes", "code"),
    [
        pytest.param(gid("Payer", 1), READ, "INVALID_SUBJECT", id="payer"),
        pytest.param(gid("AuditRow", 1), READ, "INVALID_SUBJECT", id="audit-row"),
        pytest.param(gid("Tenant", 1), READ, "INVALID_SUBJECT", id="tenant"),
        pytest.param("not-a-global-id", READ, "INVALID_SUBJECT", id="malformed"),
        pytest.param("", READ, "INVALID_SUBJECT", id="empty"),
        pytest.param("account", None, "UNAUTHENTICATED", id="no-token"),
        pytest.param("account", f"{PAYMENT} {ADJUST}", "FORBIDDEN", id="no-read-scope"),
    ],
)
async def test_audit_trail_refusals_are_top_level_errors(
    client, history: History, settings: Settings, subject: str, scopes: str | None, code: str
) -> None:
    # given an id that names no audited subject, or a caller that may not read
    if subject == "account":
        subject = history.trails["account"][0]
    token = None if scopes is None else history.a.token(settings, scopes)
    # when the trail is queried
    body = await gql(client, AUDIT_TRAIL, {"subject": subject}, token)
    # then one error with the code, at the field, and no data
    assert [(e["path"], e["extensions"]["code"]) for e in body["errors"]] == [
        (["auditTrail"], code)
    ]
    assert body["data"] is None


# Subscriptions carry adjustments and reversals

ACCOUNT_BALANCE = """
subscription($accountId: ID!) {
  accountBalance(accountId: $accountId) {
    balance version snapshot commandId entryIds lines { lineId visitId balance }
    entries { entryId lineId kind amount memoAmount reversesEntryId }
  }
}"""


def event(
    world: World, version: int, balance: str, applied: Applied, entries: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "balance": balance,
        "version": version,
        "snapshot": False,
        "commandId": applied.command_id,
        "entryIds": [gid("LedgerEntry", i) for i in applied.entry_ids],
        "lines": [
            {
                "lineId": gid("ChargeLine", world.line_ids[0]),
                "visitId": gid("Visit", world.visit_id),
                "balance": balance,
            }
        ],
        "entries": entries,
    }


def change(
    world: World,
    applied: Applied,
    kind: str,
    amount: str,
    memo: str | None = None,
    reverses: Applied | None = None,
) -> dict[str, Any]:
    return {
        "entryId": gid("LedgerEntry", applied.entry_id),
        "lineId": gid("ChargeLine", world.line_ids[0]),
        "kind": kind,
        "amount": amount,
        "memoAmount": memo,
        "reversesEntryId": None if reverses is None else gid("LedgerEntry", reverses.entry_id),
    }


async def test_adjustment_and_its_reversal_each_arrive_as_one_event(
    client, server: str, sessions: SessionFactory, settings: Settings
) -> None:
    # given a $100.00 account and a subscriber that has its snapshot
    world = await make_world(sessions, [10000])
    token = world.token(settings, f"{READ} {ADJUST}")
    async with subscriber(server, token) as sub:
        await sub.subscribe("1", ACCOUNT_BALANCE, {"accountId": gid("Account", world.account_id)})
        snapshot = await sub.next_data("1", "accountBalance")
        assert (snapshot["snapshot"], snapshot["version"], snapshot["balance"]) == (
            True,
            0,
            "100.00",
        )
        assert snapshot["entries"] == []
        # when a $20.00 adjustment is applied and then reversed
        adj = await adjust(client, sessions, token, "adj", world.line_ids[0], "20")
        rev = await reverse(client, sessions, token, "rev", adj.entry_id)
        # then each arrives as one event, versions 1 and 2, naming its entry
        events = [await sub.next_data("1", "accountBalance") for _ in range(2)]
        await sub.assert_silent(0.5)
    assert events == [
        event(world, 1, "80.00", adj, [change(world, adj, "ADJUSTMENT", "-20.00")]),
        event(world, 2, "100.00", rev, [change(world, rev, "ADJUSTMENT", "20.00", reverses=adj)]),
    ]
    assert await ledger_drift(sessions, world.tenant_id) == []


async def test_informational_adjustment_and_write_off_reversal_events(
    client, server: str, sessions: SessionFactory, settings: Settings
) -> None:
    # given a $100.00 account and a subscriber that has its snapshot
    world = await make_world(sessions, [10000])
    token = world.token(settings, ALL_WRITES)
    line = world.line_ids[0]
    async with subscriber(server, token) as sub:
        await sub.subscribe("1", ACCOUNT_BALANCE, {"accountId": gid("Account", world.account_id)})
        assert (await sub.next_data("1", "accountBalance"))["snapshot"] is True
        # when a $15.00 memo adjustment, its reversal, a $10.00 write-off and its reversal apply
        memo = await adjust(client, sessions, token, "memo", line, "15", category="memo")
        memo_rev = await reverse(client, sessions, token, "memo-rev", memo.entry_id)
        wo = await write_off(client, sessions, token, "wo", line, "10")
        wo_rev = await reverse(client, sessions, token, "wo-rev", wo.entry_id)
        # then four events arrive, one each, versions 1..4
        events = [await sub.next_data("1", "accountBalance") for _ in range(4)]
        await sub.assert_silent(0.5)
    assert events == [
        event(world, 1, "100.00", memo, [change(world, memo, "ADJUSTMENT", "0.00", "-15.00")]),
        event(
            world,
            2,
            "100.00",
            memo_rev,
            [change(world, memo_rev, "ADJUSTMENT", "0.00", "15.00", reverses=memo)],
        ),
        event(world, 3, "90.00", wo, [change(world, wo, "WRITEOFF", "-10.00")]),
        event(
            world, 4, "100.00", wo_rev, [change(world, wo_rev, "WRITEOFF", "10.00", reverses=wo)]
        ),
    ]
    assert await ledger_drift(sessions, world.tenant_id) == []
