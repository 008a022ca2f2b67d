"""arAging against hand-computed worlds: bucket edges to the day, credits apart, payer and
payer-class grouping (patient responsibility from PR memos), custom and tenant buckets, first
billed date, as of any past day (entries posted after it ignored), the tenant's midnight."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest

from arledger.config import Settings
from domain.db import SessionFactory
from domain.reports import aging
from domain.reports.balances import Strategy
from tests.reports.ops import AGING, SET_EDGES, cells, data, error
from tests.reports.world import Entry, World, add_visit, days_ago, new_world, oracle, post
from tests.support.client import WRITE_OFF, gql, wait_final, write_off_input


@dataclass
class Aged:
    world: World
    token: str


@pytest.fixture(scope="module")
async def aged(sessions: SessionFactory, settings: Settings) -> Aged:
    """Visits one day either side of every default edge, as of today (UTC tenant):

    | visit | payer | DOS | balance | how |
    |---|---|---|---|---|
    | V1 | self | -30 | 70.00 | 100 charged, 30 paid |
    | V2 | BC | -31 | 60.00 | 200, CO-45 40, paid 100, PR memo 50 (patient owes 50) |
    | V3 | BC | -60 | 50.00 | 50, an informational OA-94 memo of 8 |
    | V4 | AE | -61 | 80.00 | 80, charity write-off of 20 reversed |
    | V5 | AE | -90 | 25.00 | |
    | V6 | self | -91 | 10.00 | |
    | V7 | BC | -120 | 40.00 | PR memo 10, reversed (patient owes nothing) |
    | V8 | AE | -121 | 300.00 | |
    | V9 | BC | -400 | -30.00 | 100, paid 130: an insurance credit |
    | V10 | self | +2 | 5.00 | dated after today: age 0 |
    | V11 | self | -5 | -5.00 | 20, paid 25: a self-pay credit |
    | V12 | BC | -10 | 0.00 | 60, paid 60 |
    """
    w = await new_world(sessions)
    token = w.token(settings)

    async def visit(name: str, account: str, payer: str, dos: int, cents: int) -> int:
        charged = w.at(days_ago(w, max(dos, 1)), 9)
        [line] = await add_visit(
            sessions,
            w,
            name,
            account=account,
            payer=payer,
            dos=days_ago(w, dos),
            lines=[cents],
            charged_at=charged,
        )
        return line

    v1 = await visit("V1", "A1", "1", 30, 10000)
    v2 = await visit("V2", "A1", "BC", 31, 20000)
    v3 = await visit("V3", "A2", "BC", 60, 5000)
    v4 = await visit("V4", "A2", "AE", 61, 8000)
    await visit("V5", "A3", "AE", 90, 2500)
    await visit("V6", "A3", "1", 91, 1000)
    v7 = await visit("V7", "A4", "BC", 120, 4000)
    await visit("V8", "A4", "AE", 121, 30000)
    v9 = await visit("V9", "A5", "BC", 400, 10000)
    await visit("V10", "A5", "1", -2, 500)
    v11 = await visit("V11", "A6", "1", 5, 2000)
    v12 = await visit("V12", "A6", "BC", 10, 6000)
    at = w.at(days_ago(w, 1), 10)
    ids = await post(
        sessions,
        w,
        [
            Entry(v1, "PAYMENT", -3000, at),
            Entry(v2, "ADJUSTMENT", -4000, at, None, None, "contractual", "CO", "45"),
            Entry(v2, "PAYMENT", -10000, at),
            Entry(v2, "ADJUSTMENT", 0, at, -5000, None, None, "PR", "1"),
            Entry(v3, "ADJUSTMENT", 0, at, -800, "payer-error-corrected", "memo", "OA", "94"),
            Entry(v4, "WRITEOFF", -2000, at, reason="charity"),
            Entry(v7, "ADJUSTMENT", 0, at, -1000, None, None, "PR", "1"),
            Entry(v9, "PAYMENT", -13000, at),
            Entry(v11, "PAYMENT", -2500, at),
            Entry(v12, "PAYMENT", -6000, at),
        ],
    )
    later = w.at(days_ago(w, 1), 11)
    await post(
        sessions,
        w,
        [
            Entry(v4, "WRITEOFF", 2000, later, reason="wrong visit", reverses=ids[5]),
            Entry(
                v7, "ADJUSTMENT", 0, later, 1000, "payer correction", None, "PR", "1", "x", ids[6]
            ),
        ],
    )
    assert await oracle(sessions, w) == []
    return Aged(w, token)


async def test_buckets_hold_each_age_on_the_right_side_of_every_edge(client, aged: Aged) -> None:
    # when the tenant's AR is aged today in the default buckets
    report = (await data(client, AGING, {}, aged.token))["arAging"]
    # then every visit sits in its bucket by date of service, credits apart and counted apart
    assert report["asOf"] == aged.world.today().isoformat()
    assert report["buckets"] == [
        {"label": "0-30", "minDays": 0, "maxDays": 30},
        {"label": "31-60", "minDays": 31, "maxDays": 60},
        {"label": "61-90", "minDays": 61, "maxDays": 90},
        {"label": "91-120", "minDays": 91, "maxDays": 120},
        {"label": "121+", "minDays": 121, "maxDays": None},
    ]
    total = report["total"]
    assert cells(total) == [
        ("0-30", "75.00", 2),
        ("31-60", "110.00", 2),
        ("61-90", "105.00", 2),
        ("91-120", "50.00", 2),
        ("121+", "300.00", 1),
    ]
    assert (total["debitTotal"], total["debitVisits"]) == ("640.00", 9)
    assert total["credits"] == {"amount": "-35.00", "visits": 2}
    assert total["net"] == "605.00"
    assert [c["percent"] for c in total["buckets"]] == ["11.72", "17.19", "16.41", "7.81", "46.88"]
    assert report["rows"] == [report["total"] | {"payer": None, "payerClass": None}]


async def test_grouped_by_payer_each_payer_has_its_own_buckets_and_credits(
    client, aged: Aged
) -> None:
    report = (await data(client, AGING, {"groupBy": "PAYER"}, aged.token))["arAging"]
    rows = {r["payer"]["name"]: r for r in report["rows"]}
    # then rows come by payer name, each with its own debits and credits
    assert list(rows) == ["Aetna", "Blue Cross", "Self Pay"]
    assert cells(rows["Aetna"]) == [
        ("0-30", "0.00", 0),
        ("31-60", "0.00", 0),
        ("61-90", "105.00", 2),
        ("91-120", "0.00", 0),
        ("121+", "300.00", 1),
    ]
    assert cells(rows["Blue Cross"]) == [
        ("0-30", "0.00", 0),
        ("31-60", "110.00", 2),
        ("61-90", "0.00", 0),
        ("91-120", "40.00", 1),
        ("121+", "0.00", 0),
    ]
    assert rows["Blue Cross"]["credits"] == {"amount": "-30.00", "visits": 1}
    assert cells(rows["Self Pay"])[0] == ("0-30", "75.00", 2)
    assert cells(rows["Self Pay"])[3] == ("91-120", "10.00", 1)
    assert rows["Self Pay"]["credits"] == {"amount": "-5.00", "visits": 1}
    assert [r["net"] for r in rows.values()] == ["405.00", "120.00", "80.00"]
    assert report["total"]["net"] == "605.00"


async def test_payer_class_gives_the_patient_what_remittances_said_they_owe(
    client, aged: Aged
) -> None:
    report = (await data(client, AGING, {"groupBy": "PAYER_CLASS"}, aged.token))["arAging"]
    insurance, self_pay = report["rows"]
    # then V2's 60.00 splits into 50.00 patient responsibility and 10.00 insurance; V7's PR
    # memo was reversed, so V7 stays insurance; each class keeps its own credits
    assert insurance["payerClass"] == "INSURANCE" and self_pay["payerClass"] == "SELF_PAY"
    assert cells(insurance) == [
        ("0-30", "0.00", 0),
        ("31-60", "60.00", 2),
        ("61-90", "105.00", 2),
        ("91-120", "40.00", 1),
        ("121+", "300.00", 1),
    ]
    assert insurance["credits"] == {"amount": "-30.00", "visits": 1}
    assert cells(self_pay) == [
        ("0-30", "75.00", 2),
        ("31-60", "50.00", 1),
        ("61-90", "0.00", 0),
        ("91-120", "10.00", 1),
        ("121+", "0.00", 0),
    ]
    assert self_pay["credits"] == {"amount": "-5.00", "visits": 1}
    # and the total counts the split visit once
    total = report["total"]
    assert (total["debitTotal"], total["debitVisits"], total["net"]) == ("640.00", 9, "605.00")
    assert cells(total)[1] == ("31-60", "110.00", 2)


async def test_custom_buckets_replace_the_tenants_for_one_query(client, aged: Aged) -> None:
    report = (await data(client, AGING, {"buckets": [10, 45]}, aged.token))["arAging"]
    assert [b["label"] for b in report["buckets"]] == ["0-10", "11-45", "46+"]
    # V1 (30), V2 (31) fall in 11-45; V10 (future) and nothing else in 0-10
    assert cells(report["total"]) == [
        ("0-10", "5.00", 1),
        ("11-45", "130.00", 2),
        ("46+", "505.00", 6),
    ]


@pytest.mark.parametrize(
    ("buckets", "code", "field"),
    [
        ([30, 30], "BUCKETS_NOT_ASCENDING", "buckets.1"),
        ([0, 30], "INVALID_BUCKET_EDGE", "buckets.0"),
        ([], "INVALID_BUCKETS", "buckets"),
        (list(range(1, 14)), "INVALID_BUCKETS", "buckets"),
    ],
)
async def test_bad_buckets_are_refused(
    client, aged: Aged, buckets: list[int], code: str, field: str
) -> None:
    found = await error(client, AGING, {"buckets": buckets}, aged.token)
    assert (found["extensions"]["code"], found["extensions"]["field"]) == (code, field)


async def test_as_of_after_today_is_refused(client, aged: Aged) -> None:
    tomorrow = (aged.world.today() + timedelta(days=1)).isoformat()
    found = await error(client, AGING, {"asOf": tomorrow}, aged.token)
    assert found["extensions"]["code"] == "AS_OF_IN_FUTURE"
    assert found["path"] == ["arAging"]


async def test_the_tenants_buckets_are_set_audited_and_used(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given a tenant with one visit 50 days old
    w = await new_world(sessions)
    await add_visit(
        sessions,
        w,
        "V",
        account="A",
        payer="1",
        dos=days_ago(w, 50),
        lines=[1234],
        charged_at=w.at(days_ago(w, 50)),
    )
    admin = w.token(settings, "billing.read billing.admin", "boss")
    # when an admin sets the edges to 45 and 90 days
    payload = (await data(client, SET_EDGES, {"edges": [45, 90]}, admin))["setAgingBucketEdges"]
    assert payload == {
        "edges": [45, 90],
        "buckets": [
            {"label": "0-45", "minDays": 0, "maxDays": 45},
            {"label": "46-90", "minDays": 46, "maxDays": 90},
            {"label": "91+", "minDays": 91, "maxDays": None},
        ],
        "userErrors": [],
    }
    # then aging uses them, and the change is in the settings history
    report = (await data(client, AGING, {}, admin))["arAging"]
    assert cells(report["total"]) == [
        ("0-45", "0.00", 0),
        ("46-90", "12.34", 1),
        ("91+", "0.00", 0),
    ]
    history = await data(
        client,
        "{ tenantSettings { history { nodes { actor action reason details } } } }",
        {},
        admin,
    )
    assert history["tenantSettings"]["history"]["nodes"] == [
        {
            "actor": "boss",
            "action": "SETTINGS_CHANGED",
            "reason": "agingBucketEdges",
            "details": {
                "before": {"agingBucketEdges": [30, 60, 90, 120]},
                "after": {"agingBucketEdges": [45, 90]},
            },
        }
    ]
    # and bad edges are refused as user errors, changing nothing
    refused = (await data(client, SET_EDGES, {"edges": [90, 45]}, admin))["setAgingBucketEdges"]
    assert refused["edges"] is None
    assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [
        ("edges.1", "BUCKETS_NOT_ASCENDING")
    ]
    report = (await data(client, AGING, {}, admin))["arAging"]
    assert [b["label"] for b in report["buckets"]] == ["0-45", "46-90", "91+"]


async def test_first_billed_date_ages_from_when_the_claim_went_out(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given a visit of 100 days ago first billed 20 days ago, one whose billing date is not
    # known, and one billed tomorrow (a date after asOf does not count)
    w = await new_world(sessions)
    for name, billed in (("late", 20), ("unknown", None), ("future", -1)):
        await add_visit(
            sessions,
            w,
            name,
            account=name,
            payer="BC",
            dos=days_ago(w, 100),
            lines=[1000],
            charged_at=w.at(days_ago(w, 100)),
            first_billed_on=None if billed is None else days_ago(w, billed),
        )
    token = w.token(settings)
    by_service = (await data(client, AGING, {}, token))["arAging"]["total"]
    by_billing = (await data(client, AGING, {"basis": "FIRST_BILLED"}, token))["arAging"]
    # then by date of service all three are 91-120; by first billed date the late one is 0-30
    assert cells(by_service)[3] == ("91-120", "30.00", 3)
    assert by_billing["basis"] == "FIRST_BILLED"
    assert cells(by_billing["total"])[0] == ("0-30", "10.00", 1)
    assert cells(by_billing["total"])[3] == ("91-120", "20.00", 2)


# --- as of a past day --------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def history(sessions: SessionFactory, settings: Settings) -> Aged:
    """A ledger that moved every few days: VA (BC, DOS -45) and VB (self, DOS -40) charged
    100.00 and 50.00 40 days ago; VA paid 60.00 20 days ago; VB written off 10.00 10 days ago
    and paid 50.00 5 days ago (a 10.00 credit); VA's payment reversed 2 days ago."""
    w = await new_world(sessions)
    [a] = await add_visit(
        sessions,
        w,
        "VA",
        account="A",
        payer="BC",
        dos=days_ago(w, 45),
        lines=[10000],
        charged_at=w.at(days_ago(w, 40)),
    )
    [b] = await add_visit(
        sessions,
        w,
        "VB",
        account="B",
        payer="1",
        dos=days_ago(w, 40),
        lines=[5000],
        charged_at=w.at(days_ago(w, 40)),
    )
    ids = await post(sessions, w, [Entry(a, "PAYMENT", -6000, w.at(days_ago(w, 20)))])
    await post(sessions, w, [Entry(b, "WRITEOFF", -1000, w.at(days_ago(w, 10)), reason="charity")])
    await post(sessions, w, [Entry(b, "PAYMENT", -5000, w.at(days_ago(w, 5)))])
    await post(
        sessions,
        w,
        [Entry(a, "PAYMENT", 6000, w.at(days_ago(w, 2)), reason="bounced", reverses=ids[0])],
    )
    return Aged(w, w.token(settings))


EXPECTED_HISTORY = {
    # days back: (total debit, credits, buckets by label)
    41: ("0.00", "0.00", {}),
    40: ("150.00", "0.00", {"0-30": "150.00", "31-60": "0.00"}),
    20: ("90.00", "0.00", {"0-30": "90.00", "31-60": "0.00"}),
    10: ("80.00", "0.00", {"0-30": "40.00", "31-60": "40.00"}),
    5: ("40.00", "-10.00", {"0-30": "0.00", "31-60": "40.00"}),
    2: ("100.00", "-10.00", {"31-60": "100.00"}),
    0: ("100.00", "-10.00", {"31-60": "100.00"}),
}


@pytest.mark.parametrize("back", sorted(EXPECTED_HISTORY))
async def test_as_of_a_past_day_answers_from_the_ledger_as_it_stood_then(
    client, history: Aged, back: int
) -> None:
    day = days_ago(history.world, back)
    report = (await data(client, AGING, {"asOf": day.isoformat()}, history.token))["arAging"]
    debit, credits, buckets = EXPECTED_HISTORY[back]
    total = report["total"]
    assert report["asOf"] == day.isoformat()
    assert (total["debitTotal"], total["credits"]["amount"]) == (debit, credits)
    got = {label: amount for label, amount, _ in cells(total)}
    assert {k: got[k] for k in buckets} == buckets


async def test_every_way_of_reading_balances_gives_the_same_answer(
    sessions: SessionFactory, aged: Aged, history: Aged
) -> None:
    # given the two worlds, for every day of their history and every grouping
    for world in (aged.world, history.world):
        for back in (0, 1, 2, 5, 10, 20, 40, 60, 400):
            day = days_ago(world, back)
            for group_by in aging.GroupBy:
                reports = []
                strategies = [Strategy.FORWARD, Strategy.BACKWARD] + (
                    [Strategy.LIVE] if back == 0 else []
                )
                for strategy in strategies:
                    async with sessions() as session:
                        report = await aging.ar_aging(
                            session,
                            world.tenant_id,
                            as_of=day,
                            group_by=group_by,
                            strategy=strategy,
                        )
                    reports.append((report.rows, report.total))
                # then the projection, the entries before and the entries after agree
                assert all(r == reports[0] for r in reports), (back, group_by)


async def test_as_of_yesterday_is_untouched_by_todays_postings(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given a tenant whose AR was charged and partly paid before today
    w = await new_world(sessions)
    lines = await add_visit(
        sessions,
        w,
        "V",
        account="A1",
        payer="1",
        dos=days_ago(w, 35),
        lines=[20000, 5000],
        charged_at=w.at(days_ago(w, 30)),
    )
    await post(sessions, w, [Entry(lines[0], "PAYMENT", -2500, w.at(days_ago(w, 1), 23, 59))])
    token = w.token(settings, "billing.read billing.payment.write")
    yesterday = {"asOf": days_ago(w, 1).isoformat()}
    before = await data(client, AGING, yesterday, token)
    before_today = await data(client, AGING, {}, token)
    # when a write-off is posted today through the API and the worker
    body = await gql(client, WRITE_OFF, write_off_input("wo-today", [(lines[1], "50")]), token)
    command = body["data"]["writeOff"]["command"]
    assert (await wait_final(client, command["id"], token))["status"] == "APPLIED"
    # then yesterday's aging is what it was; today's moved by the write-off
    after = await data(client, AGING, yesterday, token)
    assert after == before
    assert before["arAging"]["total"]["net"] == "225.00"
    today = (await data(client, AGING, {}, token))["arAging"]
    assert before_today["arAging"]["total"]["net"] == "225.00"
    assert today["total"]["net"] == "175.00"
    assert await oracle(sessions, w) == []


async def test_an_entry_belongs_to_the_day_it_was_posted_in_the_tenants_time_zone(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    # given a Los Angeles tenant (UTC-8 in winter, UTC-7 in summer) and a day D
    w = await new_world(sessions, time_zone="America/Los_Angeles")
    day = days_ago(w, 3)
    [line] = await add_visit(
        sessions,
        w,
        "V",
        account="A",
        payer="1",
        dos=day - timedelta(days=30),
        lines=[10000],
        charged_at=w.at(day - timedelta(days=30)),
    )
    # when a payment is posted at 23:30 on D (already D+1 in UTC) and another at 00:30 on D+1
    late = w.at(day, 23, 30)
    early = w.at(day + timedelta(days=1), 0, 30)
    assert late.astimezone(UTC).date() == day + timedelta(days=1)
    await post(sessions, w, [Entry(line, "PAYMENT", -1000, late)])
    await post(sessions, w, [Entry(line, "PAYMENT", -2000, early)])
    token = w.token(settings)

    async def net(on: date) -> str:
        report = await data(client, AGING, {"asOf": on.isoformat()}, token)
        result: str = report["arAging"]["total"]["net"]
        return result

    # then as of D the 23:30 payment counts and the 00:30 one does not
    assert await net(day - timedelta(days=1)) == "100.00"
    assert await net(day) == "90.00"
    assert await net(day + timedelta(days=1)) == "70.00"
    # and the visit is 30 days old on D in the tenant's calendar: the last day of 0-30
    report = (await data(client, AGING, {"asOf": day.isoformat()}, token))["arAging"]
    assert cells(report["total"])[0] == ("0-30", "90.00", 1)
    midnight = datetime.combine(day + timedelta(days=1), datetime.min.time(), w.zone)
    assert midnight.astimezone(UTC).hour in (7, 8)


async def test_a_tenant_sees_only_its_own_aging(client, aged: Aged, history: Aged) -> None:
    mine = (await data(client, AGING, {}, aged.token))["arAging"]["total"]["net"]
    theirs = (await data(client, AGING, {}, history.token))["arAging"]["total"]["net"]
    assert (mine, theirs) == ("605.00", "90.00")
