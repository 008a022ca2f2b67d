"""writeOffSummary and adjustmentSummary against a hand-computed world: two reports, never one
total; net of reversals (counted on the day each was posted, grouped with its original);
informational amounts apart; the range inclusive in the tenant's calendar; and the lifetime
totals equal to the visits' own writeOffTotal / adjustmentTotal."""

from dataclasses import dataclass
from datetime import timedelta

import pytest

from arledger.config import Settings
from domain.db import SessionFactory
from tests.reports.ops import ADJUSTMENT_SUMMARY, WRITE_OFF_SUMMARY, data, error
from tests.reports.world import Entry, World, add_visit, days_ago, new_world, oracle, post

ZERO = {"amount": "0.00", "gross": "0.00", "reversed": "0.00", "memoAmount": "0.00"}


def figures(
    amount: str,
    gross: str,
    reversed_: str = "0.00",
    memo: str = "0.00",
    entries: int = 1,
    reversals: int = 0,
) -> dict[str, object]:
    return {
        "amount": amount,
        "gross": gross,
        "reversed": reversed_,
        "memoAmount": memo,
        "entries": entries,
        "reversals": reversals,
    }


@dataclass
class Booked:
    world: World
    token: str

    def period(self, first: int = 10, last: int = 0, **more: object) -> dict[str, object]:
        w = self.world
        return {"from": days_ago(w, first).isoformat(), "to": days_ago(w, last).isoformat(), **more}


@pytest.fixture(scope="module")
async def booked(sessions: SessionFactory, settings: Settings) -> Booked:
    """Write-offs and adjustments on a Blue Cross visit (BC) and a self-pay one (SP), posted on
    days relative to today; the summaries look at the last ten days unless said otherwise.

    Write-offs: charity 20.00 by alice on BC (-5); small-balance 3.00 by bob on SP (-4);
    charity 7.00 by bob on SP (-3) reversed by carol (-2); bad-debt 50.00 by alice on SP (-20,
    before the period) reversed by carol (-1, inside it); charity 11.00 by alice on BC (-12,
    before); BAD_DEBT-kind 4.00 by dave on SP (-6).

    Adjustments: contractual CO-45 40.00 on BC (-5); contract-correction OA-45 15.00 reason
    contracted-rate-correction on BC (-4) reversed (-3); memo OA-94 8.00 informational reason
    payer-error-corrected on BC (-4); PR-1 patient responsibility 25.00 informational on BC
    (-2); CONTRACTUAL-kind CO-45 6.00 on SP (-1); contractual CO-45 9.00 on BC (-15, before).
    """
    w = await new_world(sessions)
    [bc] = await add_visit(
        sessions,
        w,
        "BC",
        account="A1",
        payer="BC",
        dos=days_ago(w, 40),
        lines=[100000],
        charged_at=w.at(days_ago(w, 40)),
    )
    [sp] = await add_visit(
        sessions,
        w,
        "SP",
        account="A2",
        payer="1",
        dos=days_ago(w, 40),
        lines=[100000],
        charged_at=w.at(days_ago(w, 40)),
    )

    def at(days: int) -> object:
        return w.at(days_ago(w, days), 15)

    originals = await post(
        sessions,
        w,
        [
            Entry(bc, "WRITEOFF", -2000, at(5), reason="charity", actor="alice"),
            Entry(sp, "WRITEOFF", -300, at(4), reason="small-balance", actor="bob"),
            Entry(sp, "WRITEOFF", -700, at(3), reason="charity", actor="bob"),
            Entry(sp, "WRITEOFF", -5000, at(20), reason="bad-debt", actor="alice"),
            Entry(bc, "WRITEOFF", -1100, at(12), reason="charity", actor="alice"),
            Entry(sp, "BAD_DEBT", -400, at(6), reason="bad-debt", actor="dave"),
            Entry(bc, "ADJUSTMENT", -4000, at(5), None, None, "contractual", "CO", "45"),
            Entry(
                bc,
                "ADJUSTMENT",
                -1500,
                at(4),
                None,
                "contracted-rate-correction",
                "contract-correction",
                "OA",
                "45",
            ),
            Entry(bc, "ADJUSTMENT", 0, at(4), -800, "payer-error-corrected", "memo", "OA", "94"),
            Entry(bc, "ADJUSTMENT", 0, at(2), -2500, None, None, "PR", "1"),
            Entry(sp, "CONTRACTUAL", -600, at(1), None, None, "contractual", "CO", "45"),
            Entry(bc, "ADJUSTMENT", -900, at(15), None, None, "contractual", "CO", "45"),
        ],
    )
    await post(
        sessions,
        w,
        [
            Entry(
                sp,
                "WRITEOFF",
                700,
                at(2),
                reason="wrong visit",
                actor="carol",
                reverses=originals[2],
            ),
            Entry(
                sp,
                "WRITEOFF",
                5000,
                at(1),
                reason="paid after all",
                actor="carol",
                reverses=originals[3],
            ),
            Entry(
                bc,
                "ADJUSTMENT",
                1500,
                at(3),
                None,
                "typo",
                "contract-correction",
                "OA",
                "45",
                actor="carol",
                reverses=originals[7],
            ),
        ],
    )
    assert await oracle(sessions, w) == []
    return Booked(w, w.token(settings))


async def test_write_offs_by_reason_net_of_reversals(client, booked: Booked) -> None:
    summary = (await data(client, WRITE_OFF_SUMMARY, booked.period(), booked.token))[
        "writeOffSummary"
    ]
    w = booked.world
    assert (summary["from"], summary["to"], summary["asOf"], summary["groupBy"]) == (
        days_ago(w, 10).isoformat(),
        w.today().isoformat(),
        w.today().isoformat(),
        "REASON",
    )
    rows = {
        r["reason"]: {k: v for k, v in r.items() if k not in ("reason", "user", "payer")}
        for r in summary["rows"]
    }
    # then the bad-debt reversal of an older write-off counts today, against bad-debt; the
    # reversal of bob's charity nets it; the write-offs before the period are not there
    assert rows == {
        "BAD_DEBT": figures("-46.00", "4.00", "50.00", reversals=1),
        "CHARITY": figures("20.00", "27.00", "7.00", entries=2, reversals=1),
        "SMALL_BALANCE": figures("3.00", "3.00"),
    }
    assert summary["total"] == figures("-23.00", "34.00", "57.00", entries=4, reversals=2)


async def test_write_offs_by_user_count_a_reversal_against_the_original_user(
    client, booked: Booked
) -> None:
    summary = (await data(client, WRITE_OFF_SUMMARY, booked.period(groupBy="USER"), booked.token))[
        "writeOffSummary"
    ]
    rows = {r["user"]: (r["amount"], r["gross"], r["reversed"]) for r in summary["rows"]}
    assert rows == {
        "alice": ("-30.00", "20.00", "50.00"),
        "bob": ("3.00", "10.00", "7.00"),
        "dave": ("4.00", "4.00", "0.00"),
    }
    assert all(r["reason"] is None and r["payer"] is None for r in summary["rows"])


async def test_write_offs_by_payer(client, booked: Booked) -> None:
    summary = (await data(client, WRITE_OFF_SUMMARY, booked.period(groupBy="PAYER"), booked.token))[
        "writeOffSummary"
    ]
    rows = {r["payer"]["code"]: r["amount"] for r in summary["rows"]}
    assert rows == {"BC": "20.00", "1": "-43.00"}


async def test_adjustments_by_category_with_memo_amounts_apart(client, booked: Booked) -> None:
    summary = (await data(client, ADJUSTMENT_SUMMARY, booked.period(), booked.token))[
        "adjustmentSummary"
    ]
    rows = [
        (r["category"], {k: r[k] for k in ("amount", "gross", "reversed", "memoAmount")})
        for r in summary["rows"]
    ]
    assert rows == [
        ("contract-correction", ZERO | {"gross": "15.00", "reversed": "15.00"}),
        ("contractual", ZERO | {"amount": "46.00", "gross": "46.00"}),
        ("memo", ZERO | {"memoAmount": "8.00"}),
        (None, ZERO | {"memoAmount": "25.00"}),
    ]
    assert summary["total"] == figures("46.00", "61.00", "15.00", "33.00", 5, 1)


async def test_adjustments_by_carc_and_by_reason(client, booked: Booked) -> None:
    by_carc = (await data(client, ADJUSTMENT_SUMMARY, booked.period(groupBy="CARC"), booked.token))[
        "adjustmentSummary"
    ]["rows"]
    assert [
        (r["carc"], r["carcGroup"], r["carcReason"], r["amount"], r["memoAmount"]) for r in by_carc
    ] == [
        ("CO-45", "CO", "45", "46.00", "0.00"),
        ("OA-45", "OA", "45", "0.00", "0.00"),
        ("OA-94", "OA", "94", "0.00", "8.00"),
        ("PR-1", "PR", "1", "0.00", "25.00"),
    ]
    by_reason = (
        await data(client, ADJUSTMENT_SUMMARY, booked.period(groupBy="REASON"), booked.token)
    )["adjustmentSummary"]["rows"]
    # the reversal (reason "typo") is counted under its original's reason
    assert [(r["reason"], r["amount"], r["reversed"], r["memoAmount"]) for r in by_reason] == [
        ("contracted-rate-correction", "0.00", "15.00", "0.00"),
        ("payer-error-corrected", "0.00", "0.00", "8.00"),
        (None, "46.00", "0.00", "25.00"),
    ]


async def test_range_is_inclusive_and_cut_at_as_of(client, booked: Booked) -> None:
    # a one-day range holds that day's entries only
    one_day = (await data(client, WRITE_OFF_SUMMARY, booked.period(5, 5), booked.token))[
        "writeOffSummary"
    ]
    assert one_day["total"] == figures("20.00", "20.00")
    # to is cut at asOf: entries posted after asOf are ignored
    cut = (
        await data(
            client,
            WRITE_OFF_SUMMARY,
            booked.period(10, 0, asOf=days_ago(booked.world, 3).isoformat()),
            booked.token,
        )
    )["writeOffSummary"]
    assert cut["to"] == days_ago(booked.world, 3).isoformat()
    assert cut["total"] == figures("34.00", "34.00", entries=4)


async def test_lifetime_totals_equal_the_visits_own_totals(client, booked: Booked) -> None:
    # given every day the world has, summed by the reports and by the visits' totals
    lifetime = booked.period(400, 0)
    write_offs = await data(client, WRITE_OFF_SUMMARY, lifetime, booked.token)
    adjustments = await data(client, ADJUSTMENT_SUMMARY, lifetime, booked.token)
    visits = await data(
        client,
        "{ accounts { nodes { visits { writeOffTotal adjustmentTotal } } } }",
        {},
        booked.token,
    )
    totals = [v for a in visits["accounts"]["nodes"] for v in a["visits"]]
    cents = sum(int(v["writeOffTotal"].replace(".", "")) for v in totals)
    adjusted = sum(int(v["adjustmentTotal"].replace(".", "")) for v in totals)
    # then they agree to the cent
    assert write_offs["writeOffSummary"]["total"]["amount"] == "38.00"
    assert cents == 3800
    assert adjustments["adjustmentSummary"]["total"]["amount"] == "55.00"
    assert adjusted == 5500


@pytest.mark.parametrize(
    ("first", "last", "as_of", "code"),
    [(1, 2, None, "RANGE_REVERSED"), (0, 0, -1, "AS_OF_IN_FUTURE"), (2, 0, 3, "RANGE_AFTER_AS_OF")],
)
async def test_bad_ranges_are_refused(
    client, booked: Booked, first: int, last: int, as_of: int | None, code: str
) -> None:
    w = booked.world
    variables = booked.period(first, last)
    if as_of is not None:
        variables["asOf"] = (w.today() - timedelta(days=as_of)).isoformat()
    for query in (WRITE_OFF_SUMMARY, ADJUSTMENT_SUMMARY):
        found = await error(client, query, variables, booked.token)
        assert found["extensions"]["code"] == code
