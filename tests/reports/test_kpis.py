"""arKpis against a hand-computed world, exact to the cent and to the rounded hundredth, and the
rounding itself (integers in, one half-up rounding out, never a float)."""

from dataclasses import dataclass
from decimal import Decimal

import pytest

from arledger.config import Settings
from domain.db import SessionFactory
from domain.reports.figures import percent, ratio, round_cents
from tests.reports.ops import KPIS, data, error
from tests.reports.world import Entry, World, add_visit, days_ago, new_world, oracle, post


@pytest.mark.parametrize(
    ("numerator", "denominator", "scale", "expected"),
    [
        (1, 3, 100, "33.33"),
        (2, 3, 100, "66.67"),
        (1, 8, 100, "12.50"),
        (1, 800, 100, "0.13"),  # 0.125: half-up, not to even
        (-1, 800, 100, "-0.13"),  # away from zero
        (9, 180000, 100, "0.01"),  # 0.005
        (43049, 2000, 1, "21.52"),  # 21.5245
        (0, 7, 100, "0.00"),
        (10**15, 3, 1, "333333333333333.33"),  # far beyond a float's 15 digits, still exact
    ],
)
def test_ratios_are_exact_and_rounded_half_up(
    numerator: int, denominator: int, scale: int, expected: str
) -> None:
    value = ratio(numerator, denominator, scale)
    assert isinstance(value, Decimal) and str(value) == expected


def test_a_ratio_of_nothing_is_null_not_zero() -> None:
    assert ratio(5, 0) is None and percent(5, 0) is None
    assert (round_cents(15, 10), round_cents(14, 10), round_cents(-15, 10)) == (2, 1, -2)


@dataclass
class Kpi:
    world: World
    token: str

    def period(self, first: int, last: int = 0, **more: object) -> dict[str, object]:
        w = self.world
        return {"from": days_ago(w, first).isoformat(), "to": days_ago(w, last).isoformat(), **more}


@pytest.fixture(scope="module")
async def kpi(sessions: SessionFactory, settings: Settings) -> Kpi:
    """Days relative to today; the period is the last 30 days (-29 to 0).

    | visit | DOS | charged | then | balance today |
    |---|---|---|---|---|
    | V1 BC | -21 | 1,000.00 at -20 | paid 400.00, CO-45 100.00 (-15); PR memo 40.00 | 500.00 |
    | V2 AE | -100 | 500.00 at -10 (late charge) | charity write-off 30.00 (-2) | 470.00 |
    | V3 self | -5 | 300.00 at -5 | contract-correction 10.00 (-1) | 290.00 |
    | V4 self | -200 | 200.00 at -200 | paid 50.00 (-3) | 150.00 |
    | V5 self | -50 | 10.00 at -50 | paid 25.00 (-40) | -15.00 |

    and a 20.00 payment on V3 at -8 reversed at -7 (nets to nothing).
    """
    w = await new_world(sessions)

    async def visit(name: str, payer: str, dos: int, charged: int, cents: int) -> int:
        [line] = await add_visit(
            sessions,
            w,
            name,
            account=name,
            payer=payer,
            dos=days_ago(w, dos),
            lines=[cents],
            charged_at=w.at(days_ago(w, charged), 8),
        )
        return line

    v1 = await visit("V1", "BC", 21, 20, 100000)
    v2 = await visit("V2", "AE", 100, 10, 50000)
    v3 = await visit("V3", "1", 5, 5, 30000)
    v4 = await visit("V4", "1", 200, 200, 20000)
    v5 = await visit("V5", "1", 50, 50, 1000)

    def at(days: int) -> object:
        return w.at(days_ago(w, days), 14)

    ids = await post(
        sessions,
        w,
        [
            Entry(v1, "PAYMENT", -40000, at(15)),
            Entry(v1, "ADJUSTMENT", -10000, at(15), None, None, "contractual", "CO", "45"),
            Entry(v1, "ADJUSTMENT", 0, at(15), -4000, None, None, "PR", "1"),
            Entry(v2, "WRITEOFF", -3000, at(2), reason="charity"),
            Entry(
                v3,
                "ADJUSTMENT",
                -1000,
                at(1),
                None,
                "contracted-rate-correction",
                "contract-correction",
                "OA",
                "45",
            ),
            Entry(v4, "PAYMENT", -5000, at(3)),
            Entry(v5, "PAYMENT", -2500, at(40)),
            Entry(v3, "PAYMENT", -2000, at(8)),
        ],
    )
    await post(sessions, w, [Entry(v3, "PAYMENT", 2000, at(7), reverses=ids[-1])])
    assert await oracle(sessions, w) == []
    return Kpi(w, w.token(settings))


async def test_kpis_of_the_last_thirty_days(client, kpi: Kpi) -> None:
    figures = (await data(client, KPIS, kpi.period(29), kpi.token))["arKpis"]
    w = kpi.world
    assert figures == {
        "from": days_ago(w, 29).isoformat(),
        "to": w.today().isoformat(),
        "asOf": w.today().isoformat(),
        "days": 30,
        "totalAr": "1395.00",
        "debitAr": "1410.00",
        "creditBalances": "-15.00",
        "charges": "1800.00",
        "averageDailyCharges": "60.00",
        "daysInAr": "23.25",  # 1,395.00 x 30 / 1,800.00
        "arOver90": "620.00",  # V2 (100 days) + V4 (200 days)
        "arOver120": "150.00",  # V4
        "percentOver90": "43.97",  # 620 / 1,410 = 43.971…
        "percentOver120": "10.64",  # 150 / 1,410 = 10.638…
        "payments": "450.00",  # 400 + 50 (+20 -20)
        "contractualAdjustments": "100.00",
        "netCollectionRate": "26.47",  # 450 / (1,800 - 100) = 26.470…
        "writeOffs": "30.00",
        "adjustments": "110.00",  # CO-45 100 + contract-correction 10; memos never
        "writeOffPercentOfCharges": "1.67",  # 1.666…
        "adjustmentPercentOfCharges": "6.11",  # 6.111…
    }


async def test_kpis_as_of_a_past_day_cut_the_period_there(client, kpi: Kpi) -> None:
    # given the same period asked as of three days ago, and the period ending then
    cut = (
        await data(
            client, KPIS, kpi.period(29, 0, asOf=days_ago(kpi.world, 3).isoformat()), kpi.token
        )
    )["arKpis"]
    ended = (await data(client, KPIS, kpi.period(29, 3), kpi.token))["arKpis"]
    # then both count 27 days and the ledger as it stood at the end of day -3
    assert {k: v for k, v in cut.items() if k != "asOf"} == {
        k: v for k, v in ended.items() if k != "asOf"
    }
    assert cut["days"] == 27
    assert (cut["totalAr"], cut["charges"], cut["payments"]) == ("1435.00", "1800.00", "450.00")
    assert (cut["writeOffs"], cut["adjustments"]) == ("0.00", "100.00")
    # 1,435.00 x 27 / 1,800.00 = 21.525: half-up to 21.53
    assert cut["daysInAr"] == "21.53"


async def test_a_period_without_charges_has_no_ratios(client, kpi: Kpi) -> None:
    figures = (await data(client, KPIS, kpi.period(4, 3), kpi.token))["arKpis"]
    assert figures["charges"] == "0.00" and figures["payments"] == "50.00"
    assert figures["daysInAr"] is None
    assert figures["netCollectionRate"] is None
    assert figures["writeOffPercentOfCharges"] is None
    # balances still count: at the end of day -3 V2 (97 days) and V4 are over 90 days
    assert (figures["debitAr"], figures["arOver90"]) == ("1450.00", "650.00")
    assert figures["percentOver90"] == "44.83"  # 650 / 1,450 = 44.827…


async def test_kpi_ranges_are_checked(client, kpi: Kpi) -> None:
    found = await error(client, KPIS, kpi.period(1, 2), kpi.token)
    assert found["extensions"]["code"] == "RANGE_REVERSED"
