"""accounts(filter, orderBy): each filter and each ordering against a hand-built world, keyset
walks that list every account exactly once while balances change under them, the drill-down
from an aging cell, refused cursors and filters, and the old accounts(first, after) unchanged."""

from datetime import UTC, datetime
from typing import Any

import pytest

from arledger.config import Settings
from domain.db import SessionFactory
from tests.reports.ops import ACCOUNTS, AGING, data, error, numbers, walk
from tests.reports.world import Entry, World, add_visit, days_ago, new_world, oracle, post
from tests.support.client import WRITE_OFF, gid, gql, wait_final, write_off_input

Worklist = tuple[World, str]


@pytest.fixture(scope="module")
async def listed(sessions: SessionFactory, settings: Settings) -> Worklist:
    """Accounts (balances today; ages by date of service):

    | account | name | visits |
    |---|---|---|
    | A100 | Ada Lovelace | self, 10 days, 50.00 |
    | A101 | Alan Turing | BC, 45 days, 120.00; AE, 200 days, 30.00, denied |
    | A102 | Grace Hopper | BC, 95 days, 300.00, on hold |
    | A103 | Edsger Dijkstra | self, 20 days, -20.00 (credit); AE, 5 days, 10.00 |
    | A104 | Barbara Liskov | BC, 300 days, paid in full |
    | A105 | Donald Knuth | BC, 70 days, 120.00 of which the patient owes 40.00 (PR) |
    | A106 | Ada Smith | AE, 31 days, 5.00 |
    """
    w = await new_world(sessions)

    async def visit(
        name: str, account: str, patient: str, payer: str, dos: int, cents: int, state: str = "open"
    ) -> int:
        [line] = await add_visit(
            sessions,
            w,
            name,
            account=account,
            patient=patient,
            payer=payer,
            dos=days_ago(w, dos),
            lines=[cents],
            charged_at=w.at(days_ago(w, dos), 8),
            state=state,
        )
        return line

    await visit("a", "A100", "Ada Lovelace", "1", 10, 5000)
    await visit("b1", "A101", "Alan Turing", "BC", 45, 12000)
    await visit("b2", "A101", "Alan Turing", "AE", 200, 3000, "denied")
    await visit("c", "A102", "Grace Hopper", "BC", 95, 30000, "on_hold")
    d1 = await visit("d1", "A103", "Edsger Dijkstra", "1", 20, 1000)
    await visit("d2", "A103", "Edsger Dijkstra", "AE", 5, 1000)
    e = await visit("e", "A104", "Barbara Liskov", "BC", 300, 7000)
    f = await visit("f", "A105", "Donald Knuth", "BC", 70, 20000)
    await visit("g", "A106", "Ada Smith", "AE", 31, 500)
    at = w.at(days_ago(w, 1), 9)
    await post(
        sessions,
        w,
        [
            Entry(d1, "PAYMENT", -3000, at),
            Entry(e, "PAYMENT", -7000, at),
            Entry(f, "PAYMENT", -6000, at),
            Entry(f, "ADJUSTMENT", -2000, at, None, None, "contractual", "CO", "45"),
            Entry(f, "ADJUSTMENT", 0, at, -4000, None, None, "PR", "1"),
        ],
    )
    assert await oracle(sessions, w) == []
    return w, w.token(settings)


async def listing(client: Any, token: str, **variables: Any) -> list[str]:
    return numbers(await data(client, ACCOUNTS, variables, token))


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        ({"search": "ada"}, ["A100", "A106"]),
        ({"search": "TURING alan"}, ["A101"]),
        ({"search": "a10"}, ["A100", "A101", "A102", "A103", "A104", "A105", "A106"]),
        ({"search": "A101"}, ["A101"]),
        ({"search": "100%"}, []),
        ({"balanceMin": "50", "balanceMax": "150.00"}, ["A100", "A101", "A105"]),
        ({"balanceMax": "-0.01"}, ["A103"]),
        ({"agedOverDays": 90}, ["A101", "A102"]),
        ({"agedOverDays": 200}, []),
        ({"agingBucket": {"minDays": 61, "maxDays": 90}}, ["A105"]),
        ({"agingBucket": {"minDays": 121}}, ["A101"]),
        ({"agingBucket": {"minDays": 0, "maxDays": 30}}, ["A100", "A103"]),
        ({"creditBalance": True}, ["A103"]),
        ({"creditBalance": False}, ["A100", "A101", "A102", "A104", "A105", "A106"]),
        ({"visitStates": ["denied"]}, ["A101"]),
        ({"visitStates": ["on_hold", "denied"]}, ["A101", "A102"]),
        ({"payerClass": "SELF_PAY"}, ["A100", "A105"]),
        ({"payerClass": "INSURANCE"}, ["A101", "A102", "A103", "A105", "A106"]),
        ({"payerClass": "SELF_PAY", "creditBalance": True}, ["A103"]),
        ({"payerClass": "INSURANCE", "creditBalance": True}, []),
        ({"payerClass": "SELF_PAY", "agedOverDays": 60}, ["A105"]),
    ],
)
async def test_filters(
    client, listed: Worklist, filter_: dict[str, Any], expected: list[str]
) -> None:
    _, token = listed
    assert await listing(client, token, filter=filter_) == expected


async def test_payer_filters_match_one_visit_with_every_condition(client, listed: Worklist) -> None:
    w, token = listed

    def payer(code: str) -> str:
        return gid("Payer", w.payers[code])

    assert await listing(client, token, filter={"payerId": payer("BC")}) == [
        "A101",
        "A102",
        "A105",
    ]
    # A101 has a BC visit (45 days) and a 200-day visit of another payer: not both in one
    both = {"payerId": payer("BC"), "agedOverDays": 90}
    assert await listing(client, token, filter=both) == ["A102"]
    credit = {"payerId": payer("1"), "creditBalance": True}
    assert await listing(client, token, filter=credit) == ["A103"]
    assert await listing(client, token, filter={"payerId": "not-an-id"}) == []


ORDERS = {
    ("BALANCE", None): ["A102", "A101", "A105", "A100", "A106", "A104", "A103"],
    ("BALANCE", "ASC"): ["A103", "A104", "A106", "A100", "A105", "A101", "A102"],
    ("AGE", None): ["A101", "A102", "A105", "A106", "A100", "A103", "A104"],
    ("AGE", "ASC"): ["A103", "A100", "A106", "A105", "A102", "A101", "A104"],
    ("NAME", None): ["A100", "A106", "A101", "A104", "A105", "A103", "A102"],
    ("NAME", "DESC"): ["A102", "A103", "A105", "A104", "A101", "A106", "A100"],
    ("ID", None): ["A100", "A101", "A102", "A103", "A104", "A105", "A106"],
    ("ID", "DESC"): ["A106", "A105", "A104", "A103", "A102", "A101", "A100"],
}


@pytest.mark.parametrize(("order", "expected"), list(ORDERS.items()), ids=str)
async def test_orderings_in_one_page_and_walked_page_by_page(
    client, listed: Worklist, order: tuple[str, str | None], expected: list[str]
) -> None:
    _, token = listed
    field, direction = order
    order_by = {"field": field, "direction": direction}
    # then one page and a walk two at a time list the same accounts in the same order
    assert await listing(client, token, orderBy=order_by) == expected
    for first in (1, 2, 3):
        nodes = await walk(client, token, {"orderBy": order_by}, first)
        assert [n["accountNumber"] for n in nodes] == expected


async def test_ties_are_broken_by_account_id(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given five accounts with the same balance and the same name
    w = await new_world(sessions)
    for n in range(5):
        await add_visit(
            sessions,
            w,
            f"v{n}",
            account=f"T{n}",
            patient="Same Name",
            payer="1",
            dos=days_ago(w, 10),
            lines=[1000],
            charged_at=w.at(days_ago(w, 10)),
        )
    token = w.token(settings)
    for field, direction, expected in (
        ("BALANCE", "DESC", ["T4", "T3", "T2", "T1", "T0"]),
        ("BALANCE", "ASC", ["T0", "T1", "T2", "T3", "T4"]),
        ("NAME", "ASC", ["T0", "T1", "T2", "T3", "T4"]),
        ("AGE", "DESC", ["T4", "T3", "T2", "T1", "T0"]),
    ):
        nodes = await walk(client, token, {"orderBy": {"field": field, "direction": direction}}, 2)
        assert [n["accountNumber"] for n in nodes] == expected, field


async def test_a_walk_lists_every_account_once_while_balances_change(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given twelve accounts of 1.00, 2.00 … 12.00, walked by balance, largest first, 3 a page
    w = await new_world(sessions)
    lines = {}
    for n in range(1, 13):
        [lines[n]] = await add_visit(
            sessions,
            w,
            f"v{n}",
            account=f"S{n:02}",
            payer="1",
            dos=days_ago(w, n),
            lines=[100 * n],
            charged_at=w.at(days_ago(w, n + 1)),
        )
    token = w.token(settings, "billing.read billing.payment.write")
    expected = [f"S{n:02}" for n in range(12, 0, -1)]

    async def change(page: int) -> None:
        now = datetime.now(UTC)
        if page == 1:
            # S02 (still to come) jumps to the top; S11 (already listed) drops to the bottom
            await post(sessions, w, [Entry(lines[2], "CHARGE", 10000, now)])
            body = await gql(
                client, WRITE_OFF, write_off_input(f"wo-{page}", [(lines[11], "11")]), token
            )
            command = body["data"]["writeOff"]["command"]["id"]
            assert (await wait_final(client, command, token))["status"] == "APPLIED"
        if page == 2:
            # S05 (to come) moves past the cursor, S08 (listed) to the end, a new account opens
            await post(
                sessions,
                w,
                [Entry(lines[5], "PAYMENT", -450, now), Entry(lines[8], "CHARGE", 5000, now)],
            )
            await add_visit(
                sessions,
                w,
                "new",
                account="S99",
                payer="1",
                dos=days_ago(w, 1),
                lines=[650],
                charged_at=now,
            )

    nodes = await walk(client, token, {"orderBy": {"field": "BALANCE"}}, 3, change)
    # then every account is listed once, where it stood when the walk began (the account
    # opened during the walk where a zero balance would), each showing its balance when its
    # page was read: S11 and S08 before they changed, S02 and S05 after
    assert [n["accountNumber"] for n in nodes] == [*expected, "S99"]
    balances = {n["accountNumber"]: n["balance"] for n in nodes}
    assert (balances["S11"], balances["S08"], balances["S02"], balances["S05"]) == (
        "11.00",
        "8.00",
        "102.00",
        "0.50",
    )
    # and a new walk sees the new order
    fresh = await walk(client, token, {"orderBy": {"field": "BALANCE"}}, 5)
    assert [n["accountNumber"] for n in fresh][:4] == ["S02", "S08", "S12", "S10"]
    assert [n["accountNumber"] for n in fresh][-2:] == ["S05", "S11"]
    assert "S99" in {n["accountNumber"] for n in fresh}
    assert await oracle(sessions, w) == []


async def test_filters_hold_to_the_walks_start_too(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given six accounts with balances over 10.00, walked two at a time by name
    w = await new_world(sessions)
    lines = {}
    for n in range(6):
        [lines[n]] = await add_visit(
            sessions,
            w,
            f"v{n}",
            account=f"F{n}",
            patient=f"Pat {n}",
            payer="BC",
            dos=days_ago(w, 40),
            lines=[2000],
            charged_at=w.at(days_ago(w, 40)),
        )
    token = w.token(settings)

    async def change(page: int) -> None:
        if page == 1:  # F4 drops under the filter's minimum mid-walk
            await post(sessions, w, [Entry(lines[4], "PAYMENT", -1500, datetime.now(UTC))])

    variables = {
        "filter": {"balanceMin": "10", "payerId": gid("Payer", w.payers["BC"])},
        "orderBy": {"field": "NAME"},
    }
    nodes = await walk(client, token, variables, 2, change)
    assert [n["accountNumber"] for n in nodes] == ["F0", "F1", "F2", "F3", "F4", "F5"]
    fresh = await walk(client, token, variables, 2)
    assert [n["accountNumber"] for n in fresh] == ["F0", "F1", "F2", "F3", "F5"]


async def test_an_aging_cell_drills_down_to_exactly_its_accounts(client, listed: Worklist) -> None:
    w, token = listed
    report = (await data(client, AGING, {"groupBy": "PAYER"}, token))["arAging"]
    # for every payer and every bucket with a balance, the cell's visits are the accounts'
    for row in report["rows"]:
        payer = gid("Payer", w.payers[row["payer"]["code"]])
        for cell in row["buckets"]:
            bucket = {"minDays": int(cell["bucket"]["label"].split("-")[0].rstrip("+"))}
            if "-" in cell["bucket"]["label"]:
                bucket["maxDays"] = int(cell["bucket"]["label"].split("-")[1])
            found = await listing(client, token, filter={"payerId": payer, "agingBucket": bucket})
            assert len(found) == cell["visits"], (row["payer"], cell)
        credits = await listing(client, token, filter={"payerId": payer, "creditBalance": True})
        assert len(credits) == row["credits"]["visits"]
    # and by hand: BC 31-60 is Alan Turing's 120.00
    bc = gid("Payer", w.payers["BC"])
    assert await listing(
        client, token, filter={"payerId": bc, "agingBucket": {"minDays": 31, "maxDays": 60}}
    ) == ["A101"]


async def test_bad_cursors_and_filters_are_refused(client, listed: Worklist) -> None:
    _, token = listed
    page = await data(client, ACCOUNTS, {"first": 2, "orderBy": {"field": "BALANCE"}}, token)
    cursor = page["accounts"]["pageInfo"]["endCursor"]
    cases = [
        ({"after": cursor, "orderBy": {"field": "NAME"}}, "CURSOR_MISMATCH", "after"),
        (
            {"after": cursor, "orderBy": {"field": "BALANCE", "direction": "ASC"}},
            "CURSOR_MISMATCH",
            "after",
        ),
        (
            {"after": cursor, "orderBy": {"field": "BALANCE"}, "filter": {"search": "a"}},
            "CURSOR_MISMATCH",
            "after",
        ),
        ({"after": "bm90LWEtY3Vyc29y", "orderBy": {"field": "BALANCE"}}, "INVALID_CURSOR", "after"),
        ({"first": 0, "orderBy": {"field": "BALANCE"}}, "INVALID_PAGE", "first"),
        ({"first": 101, "filter": {}}, "INVALID_PAGE", "first"),
        ({"filter": {"balanceMin": "1.234"}}, "TOO_MANY_DECIMALS", "filter.balanceMin"),
        ({"filter": {"balanceMin": "5", "balanceMax": "4"}}, "RANGE_REVERSED", "filter.balanceMax"),
        ({"filter": {"visitStates": ["open", "gone"]}}, "UNKNOWN_VALUE", "filter.visitStates.1"),
        ({"filter": {"agedOverDays": -1}}, "INVALID_DAYS", "filter.agedOverDays"),
        (
            {"filter": {"agingBucket": {"minDays": 9, "maxDays": 3}}},
            "RANGE_REVERSED",
            "filter.agingBucket.maxDays",
        ),
    ]
    for variables, code, field in cases:
        found = await error(client, ACCOUNTS, variables, token)
        assert (found["extensions"]["code"], found["extensions"]["field"]) == (code, field)


async def test_accounts_without_filter_or_order_are_as_before(client, listed: Worklist) -> None:
    _, token = listed
    query = (
        "query($after: String) { accounts(first: 4, after: $after) { "
        "nodes { accountNumber } pageInfo { hasNextPage endCursor } } }"
    )
    first = (await data(client, query, {}, token))["accounts"]
    second = await data(client, query, {"after": first["pageInfo"]["endCursor"]}, token)
    assert [n["accountNumber"] for n in first["nodes"]] == ["A100", "A101", "A102", "A103"]
    assert [n["accountNumber"] for n in second["accounts"]["nodes"]] == ["A104", "A105", "A106"]
    assert not second["accounts"]["pageInfo"]["hasNextPage"]
