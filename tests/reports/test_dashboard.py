"""The live `arDashboard` over a real graphql-transport-ws socket, fed by the real worker: a
snapshot equal to the report queries, an update after each committed change, coalesced pushes
shared by every subscriber of a (tenant, filter), and the same figures as the queries after a
burst of 500 concurrent commands."""

import asyncio
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from arledger.config import Settings
from domain.db import SessionFactory
from tests.reports.live import dashboards, figures, queried, write_off
from tests.reports.world import Entry, World, add_visit, days_ago, new_world, oracle, post
from tests.support.client import gid

WRITE = "billing.read billing.payment.write"


async def dashboard_world(sessions: SessionFactory) -> World:
    """Days relative to today (the default period is the last 30 days, -29 to 0):

    | visit | account | payer | DOS | charged | then |
    |---|---|---|---|---|---|
    | V1 | A1 Ann Able | BC | -40 | 200.00 + 100.00 at -39 | CO-45 20.00 (-5) |
    | V2 | A2 Bob Best | AE | -10 | 500.00 at -9 | small-balance write-off 15.00 (-3, 12:00), PR-1 memo 30.00 (-3, 13:00), the write-off reversed (-1) |
    | V3 | A1 | self | -100 | 80.00 at -99 | paid 10.00 (-2) |

    Balances: V1 280.00, V2 500.00, V3 70.00: 850.00.
    """  # noqa: E501
    w = await new_world(sessions)
    v1 = await add_visit(
        sessions,
        w,
        "V1",
        account="A1",
        patient="Ann Able",
        payer="BC",
        dos=days_ago(w, 40),
        lines=[20000, 10000],
        charged_at=w.at(days_ago(w, 39), 9),
    )
    [v2] = await add_visit(
        sessions,
        w,
        "V2",
        account="A2",
        patient="Bob Best",
        payer="AE",
        dos=days_ago(w, 10),
        lines=[50000],
        charged_at=w.at(days_ago(w, 9), 9),
    )
    [v3] = await add_visit(
        sessions,
        w,
        "V3",
        account="A1",
        payer="1",
        dos=days_ago(w, 100),
        lines=[8000],
        charged_at=w.at(days_ago(w, 99), 9),
    )
    day = {n: days_ago(w, n) for n in (1, 2, 3, 5)}
    await post(
        sessions,
        w,
        [
            Entry(
                v1[0],
                "ADJUSTMENT",
                -2000,
                w.at(day[5]),
                None,
                "contract",
                "contractual",
                "CO",
                "45",
            ),
            Entry(v2, "WRITEOFF", -1500, w.at(day[3], 12), reason="small-balance"),
            Entry(
                v2,
                "ADJUSTMENT",
                0,
                w.at(day[3], 13),
                -3000,
                None,
                "patient-responsibility",
                "PR",
                "1",
            ),
            Entry(v3, "PAYMENT", -1000, w.at(day[2])),
        ],
        names=["co45", "wo", "pr", "paid"],
    )
    await post(
        sessions,
        w,
        [
            Entry(
                v2, "WRITEOFF", 1500, w.at(day[1]), reason="entered twice", reverses=w.entries["wo"]
            )
        ],
        names=["wo-reversed"],
    )
    assert await oracle(sessions, w) == []
    return w


def period(w: World, days: int = 30) -> tuple[str, str]:
    return days_ago(w, days - 1).isoformat(), w.today().isoformat()


def activity(push: dict[str, Any]) -> list[tuple[str, str, str, str | None, str]]:
    return [
        (a["accountNumber"], a["kind"], a["amount"], a["memoAmount"], a["label"])
        for a in push["activity"]
    ]


async def test_snapshot_equals_the_report_queries_and_lists_the_latest_entries(
    client: httpx.AsyncClient, server: str, sessions: SessionFactory, settings: Settings
) -> None:
    # given the world above and a reader
    w = await dashboard_world(sessions)
    token = w.token(settings)
    # when subscribing with the default filter (by payer, date of service, 30 days)
    async with dashboards(server, token) as board:
        await board.subscribe("d")
        snapshot = await board.next("d")
    # then the first push is a snapshot of a new group, equal to the four queries
    assert (snapshot["seq"], snapshot["snapshot"]) == (1, True)
    assert figures(snapshot) == await queried(client, token, *period(w))
    assert snapshot["aging"]["total"]["net"] == "850.00"
    assert [r["payer"]["name"] for r in snapshot["aging"]["rows"]] == [
        "Aetna",
        "Blue Cross",
        "Self Pay",
    ]
    assert snapshot["kpis"]["writeOffs"] == "0.00"  # written off and reversed in the period
    assert snapshot["adjustments"]["total"]["amount"] == "20.00"
    assert [r["carc"] for r in snapshot["adjustmentsByCarc"]["rows"]] == ["CO-45", "PR-1"]
    # and the latest entries, newest first, labelled for people
    assert activity(snapshot) == [
        ("A2", "WRITEOFF", "15.00", None, "Reversal: Small balance (entered twice)"),
        ("A1", "PAYMENT", "-10.00", None, "Payment"),
        ("A2", "ADJUSTMENT", "0.00", "-30.00", "PR-1 · Patient responsibility"),
        ("A2", "WRITEOFF", "-15.00", None, "Small balance"),
        ("A1", "ADJUSTMENT", "-20.00", None, "CO-45 · Contractual"),
        ("A2", "CHARGE", "500.00", None, "Charge"),
        ("A1", "CHARGE", "100.00", None, "Charge"),
        ("A1", "CHARGE", "200.00", None, "Charge"),
        ("A1", "CHARGE", "80.00", None, "Charge"),
    ]
    first = snapshot["activity"][0]
    assert first["entryId"] == gid("LedgerEntry", w.entries["wo-reversed"])
    assert (first["accountId"], first["accountName"]) == (
        gid("Account", w.accounts["A2"]),
        "Bob Best",
    )


async def test_a_committed_write_off_pushes_the_next_seq_with_the_new_figures(
    client: httpx.AsyncClient, server: str, sessions: SessionFactory, settings: Settings
) -> None:
    # given a subscriber holding its snapshot
    w = await dashboard_world(sessions)
    token = w.token(settings, WRITE)
    async with dashboards(server, token) as board:
        await board.subscribe("d")
        snapshot = await board.next("d")
        # when a 10.00 charity write-off is applied through the API
        await write_off(client, token, "charity-1", w.lines["V2"][0], "10.00")
        update = await board.next("d")
        # then one update follows: the next seq, the new figures, the entry on top
        await board.quiet(0.6)
    assert (update["seq"], update["snapshot"]) == (snapshot["seq"] + 1, False)
    assert update["aging"]["total"]["net"] == "840.00"
    assert update["kpis"]["writeOffs"] == update["writeOffs"]["total"]["amount"] == "10.00"
    assert activity(update)[0] == ("A2", "WRITEOFF", "-10.00", None, "Charity")
    assert activity(update)[1:] == activity(snapshot)
    assert figures(update) == await queried(client, token, *period(w))
    assert len(board.of("d")) == 2


async def test_different_filters_are_different_groups_and_a_latecomer_gets_the_latest(
    client: httpx.AsyncClient, server: str, sessions: SessionFactory, settings: Settings
) -> None:
    w = await dashboard_world(sessions)
    token = w.token(settings, WRITE)
    by_class = {"filter": {"agingGroupBy": "PAYER_CLASS", "basis": "FIRST_BILLED", "periodDays": 7}}
    async with dashboards(server, token) as board:
        # given two dashboards of one tenant with different filters
        await board.subscribe("payer")
        await board.subscribe("class", by_class)
        payer, klass = await board.next("payer"), await board.next("class")
        # then each is its own group (seq 1 each) with its own figures
        assert (payer["seq"], klass["seq"]) == (1, 1)
        assert [r["payerClass"] for r in klass["aging"]["rows"]] == ["INSURANCE", "SELF_PAY"]
        assert figures(klass) == await queried(
            client, token, *period(w, 7), "PAYER_CLASS", "FIRST_BILLED"
        )
        assert klass["kpis"]["days"] == 7 and payer["kpis"]["days"] == 30
        # when a write-off is applied, each group pushes once
        await write_off(client, token, "k1", w.lines["V1"][1], "1.00")
        assert (await board.next("payer"))["seq"] == 2
        assert (await board.next("class"))["seq"] == 2
        # and a latecomer with the first filter gets that group's latest as its snapshot
        async with dashboards(server, token) as late:
            await late.subscribe("late", {"filter": {"periodDays": 30}})
            joined = await late.next("late")
    assert (joined["seq"], joined["snapshot"]) == (2, True)
    assert figures(joined) == figures(board.of("payer")[-1])


async def pending(sessions: SessionFactory, tenant_id: int) -> tuple[int, int]:
    """(commands, still PENDING) of the tenant."""
    async with sessions() as session:
        row = (
            await session.execute(
                text(
                    "SELECT count(*), count(*) FILTER (WHERE status = 'PENDING') FROM commands "
                    "WHERE tenant_id = :t"
                ),
                {"t": tenant_id},
            )
        ).one()
    return row[0], row[1]


async def test_after_500_concurrent_commands_the_last_push_equals_the_queries(
    client: httpx.AsyncClient, server: str, sessions: SessionFactory, settings: Settings
) -> None:
    # given two clients of the same dashboard, on their own sockets
    w = await dashboard_world(sessions)
    token = w.token(settings, WRITE)
    lines = [*w.lines["V1"], *w.lines["V2"]]
    async with dashboards(server, token) as one, dashboards(server, token) as two:
        for board in (one, two):
            await board.subscribe("d")
            assert (await board.next("d"))["snapshot"] is True
        started = time.time()
        # when 500 write-offs of 0.10 are sent concurrently (50 at a time) over HTTP
        gate = asyncio.Semaphore(50)

        async def send(n: int) -> None:
            async with gate:
                await write_off(client, token, f"burst-{n}", lines[n % len(lines)], "0.10")

        await asyncio.gather(*(send(n) for n in range(500)))
        async with asyncio.timeout(120):
            while True:
                if await pending(sessions, w.tenant_id) == (500, 0):
                    break
                await asyncio.sleep(0.2)
        await one.quiet(1.5)
        await two.quiet(0.5)
    # then the last push of each client equals the queries exactly, and they are the same
    expected = await queried(client, token, *period(w))
    last_one, last_two = one.of("d")[-1], two.of("d")[-1]
    assert figures(last_one) == figures(last_two) == expected
    assert expected["writeOffs"]["total"]["amount"] == "50.00"
    assert expected["aging"]["total"]["net"] == "800.00"
    assert last_one["seq"] == last_two["seq"]
    # and the pushes were coalesced: increasing seqs, no more than one per 250 ms
    for board in (one, two):
        seqs = [p["seq"] for p in board.of("d")]
        assert seqs == sorted(set(seqs)), seqs
    burst = one.pushes[-1].at - started
    assert len(one.of("d")) - 1 <= burst / 0.25 + 2, (len(one.of("d")), burst)
    assert [p["seq"] for p in one.of("d")] == [p["seq"] for p in two.of("d")]


@pytest.mark.parametrize("days", [0, 400, -1])
async def test_a_bad_period_is_a_clear_error(
    server: str, sessions: SessionFactory, settings: Settings, days: int
) -> None:
    w = await new_world(sessions)
    async with dashboards(server, w.token(settings)) as board:
        await board.subscribe("d", {"filter": {"periodDays": days}})
        await board.wait(lambda: len(board.errors) >= 2, within=10)
    [failed, done] = board.errors
    assert failed["type"] == "next" and failed["payload"]["data"] is None
    [error] = failed["payload"]["errors"]
    assert error["message"] == "periodDays must be between 1 and 366."
    assert error["extensions"]["code"] == "PERIOD_DAYS_OUT_OF_RANGE"
    assert error["extensions"]["field"] == "filter.periodDays"
    assert done == {"id": "d", "type": "complete"}
    assert board.pushes == []
