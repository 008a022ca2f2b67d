"""A dashboard brought forward (`domain.reports.since`) has exactly the figures of one read
afresh: for every grouping and basis, after write-offs, reversals, contractual and memo PR
entries, a payment into credit, a new payer, a payer paid off; and with a writer whose
transaction straddles the earlier snapshot (two real connections)."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.db import SessionFactory
from domain.reports.aging import Basis, GroupBy, Strategy
from domain.reports.dashboard import Dashboard, DashboardFilter, ar_dashboard
from tests.reports.world import Entry, World, add_visit, days_ago, new_world, post, write_entries

FILTERS = [
    DashboardFilter(GroupBy.PAYER, Basis.DATE_OF_SERVICE),
    DashboardFilter(GroupBy.NONE, Basis.DATE_OF_SERVICE),
    DashboardFilter(GroupBy.PAYER_CLASS, Basis.DATE_OF_SERVICE),
    DashboardFilter(GroupBy.PAYER, Basis.FIRST_BILLED, period_days=7),
]


PAYERS = {"1": "Self Pay", "BC": "Blue Cross", "AE": "Aetna", "MC": "Medicare"}
"""Medicare has no visit until today's changes."""


def figures(d: Dashboard) -> tuple[Any, ...]:
    """Everything a push shows (payers by name; not when or in which snapshot it was read)."""
    names = sorted((pk, p.name) for pk, p in d.payers.items())
    aging = replace(d.aging, strategy=Strategy.LIVE)
    return aging, names, d.write_offs, d.adjustments, d.adjustments_by_carc, d.kpis, d.activity


def now() -> datetime:
    return datetime.now(UTC)


async def busy_world(sessions: SessionFactory) -> World:
    """V1 BC (DOS -40, 300.00, billed -20), V2 AE (DOS -10, 500.00, written off 15.00 at -3),
    V3 self-pay (DOS -100, 80.00)."""
    w = await new_world(sessions, payers=PAYERS)
    old = w.at(days_ago(w, 9))
    await add_visit(
        sessions, w, "V1", account="A1", payer="BC", dos=days_ago(w, 40), lines=[20000, 10000],
        charged_at=old, first_billed_on=days_ago(w, 20),
    )  # fmt: skip
    await add_visit(
        sessions, w, "V2", account="A2", payer="AE", dos=days_ago(w, 10), lines=[50000],
        charged_at=old,
    )  # fmt: skip
    await add_visit(
        sessions, w, "V3", account="A1", payer="1", dos=days_ago(w, 100), lines=[8000],
        charged_at=old,
    )  # fmt: skip
    at = w.at(days_ago(w, 3))
    await post(
        sessions, w, [Entry(w.lines["V2"][0], "WRITEOFF", -1500, at, reason="small")], ["wo"]
    )
    return w


async def changes(sessions: SessionFactory, w: World) -> None:
    """Today: every kind of change a dashboard must follow."""
    v1, v2, v3 = w.lines["V1"], w.lines["V2"][0], w.lines["V3"][0]
    await post(
        sessions, w, [Entry(v2, "WRITEOFF", 1500, now(), reason="wrong", reverses=w.entries["wo"])]
    )
    await post(sessions, w, [
        Entry(v1[0], "ADJUSTMENT", -2000, now(), None, "contract", "contractual", "CO", "45"),
        Entry(v1[1], "ADJUSTMENT", 0, now(), -3000, None, "patient-responsibility", "PR", "1"),
        Entry(v3, "PAYMENT", -9000, now()),
        Entry(v1[1], "WRITEOFF", -700, now(), reason="charity"),
    ])  # fmt: skip
    await post(sessions, w, [Entry(v2, "PAYMENT", -50000, now())])  # AE paid off: its row goes
    await add_visit(
        sessions, w, "V4", account="A3", payer="MC", dos=days_ago(w, 65), lines=[12345],
        charged_at=now(),
    )  # fmt: skip


@pytest.mark.parametrize("wanted", FILTERS, ids=lambda f: f"{f.aging_group_by}-{f.basis}")
async def test_brought_forward_equals_read_afresh(
    sessions: SessionFactory, wanted: DashboardFilter
) -> None:
    # given a dashboard read before today's changes
    w = await busy_world(sessions)
    earlier = await ar_dashboard(sessions, w.tenant_id, wanted)
    # when every kind of change is posted and the dashboard is brought forward
    await changes(sessions, w)
    forward = await ar_dashboard(sessions, w.tenant_id, wanted, earlier)
    # then it shows exactly what a fresh read shows
    afresh = await ar_dashboard(sessions, w.tenant_id, wanted)
    assert figures(forward) == figures(afresh)
    assert forward.snapshot != earlier.snapshot
    assert forward.kpis.write_off_cents == earlier.kpis.write_off_cents + 700 - 1500


async def test_payer_rows_follow_the_visits(sessions: SessionFactory) -> None:
    # given the by-payer aging before the changes: AE, BC, self pay
    w = await busy_world(sessions)
    earlier = await ar_dashboard(sessions, w.tenant_id, FILTERS[0])
    await changes(sessions, w)
    # when brought forward
    forward = await ar_dashboard(sessions, w.tenant_id, FILTERS[0], earlier)
    # then AE (paid off) is gone and Medicare (new) is in, in name order
    names = [forward.payers[r.payer_id].name for r in forward.aging.rows if r.payer_id]
    assert names == ["Blue Cross", "Medicare", "Self Pay"]
    assert [r.net_cents for r in forward.aging.rows] == [30000 - 2000 - 700, 12345, 8000 - 9000]
    assert forward.aging.rows[2].credits.cents == -1000


async def test_writers_straddling_the_snapshot_count_once(sessions: SessionFactory) -> None:
    # given a writer that wrote a 15.00 write-off before the dashboard was read and commits
    # after; a second (another account) that starts later and commits before the read; and a
    # third that commits after the read, before the first
    w = await busy_world(sessions)
    line, other = w.lines["V1"][0], w.lines["V2"][0]
    async with sessions() as first, first.begin():
        await write_entries(first, w, [Entry(line, "WRITEOFF", -1500, now(), reason="late")])
        await post(sessions, w, [Entry(other, "WRITEOFF", -200, now(), reason="before")])
        earlier = await ar_dashboard(sessions, w.tenant_id, FILTERS[0])
        await post(sessions, w, [Entry(other, "WRITEOFF", -100, now(), reason="after")])
    # when brought forward after all three committed
    forward = await ar_dashboard(sessions, w.tenant_id, FILTERS[0], earlier)
    # then each write-off counts exactly once
    assert forward.kpis.write_off_cents - earlier.kpis.write_off_cents == 1600
    assert figures(forward) == figures(await ar_dashboard(sessions, w.tenant_id, FILTERS[0]))
    again = await ar_dashboard(sessions, w.tenant_id, FILTERS[0], forward)
    assert figures(again) == figures(forward)


async def test_it_only_adds_what_changed(sessions: SessionFactory) -> None:
    # given an earlier dashboard whose AR is (deliberately) one cent off
    w = await busy_world(sessions)
    earlier = await ar_dashboard(sessions, w.tenant_id, FILTERS[1])
    off = replace(
        earlier, kpis=replace(earlier.kpis, total_ar_cents=earlier.kpis.total_ar_cents + 1)
    )
    # when a 7.00 write-off is posted and it is brought forward
    await post(sessions, w, [Entry(w.lines["V1"][0], "WRITEOFF", -700, now(), reason="x")])
    forward = await ar_dashboard(sessions, w.tenant_id, FILTERS[1], off)
    # then the cent is still off: nothing but the change was read
    assert forward.kpis.total_ar_cents == earlier.kpis.total_ar_cents + 1 - 700


async def test_a_new_day_or_new_settings_read_everything_afresh(sessions: SessionFactory) -> None:
    # given an earlier dashboard, one cent off
    w = await busy_world(sessions)
    earlier = await ar_dashboard(sessions, w.tenant_id, FILTERS[1])
    off = replace(
        earlier, kpis=replace(earlier.kpis, total_ar_cents=earlier.kpis.total_ar_cents + 1)
    )
    yesterday = replace(
        off, kpis=replace(off.kpis, period=replace(off.kpis.period, last=days_ago(w, 1)))
    )
    # when the day has changed since
    then_ = await ar_dashboard(sessions, w.tenant_id, FILTERS[1], yesterday)
    # then it is read afresh
    assert then_.kpis.total_ar_cents == earlier.kpis.total_ar_cents
    # and when the tenant's buckets change
    async with sessions() as session, session.begin():
        await session.execute(
            text("UPDATE tenants SET aging_bucket_edges = '{45,90}' WHERE id = :t"),
            {"t": w.tenant_id},
        )
    edges = await ar_dashboard(sessions, w.tenant_id, FILTERS[1], off)
    assert len(edges.aging.buckets) == 3
    assert edges.kpis.total_ar_cents == earlier.kpis.total_ar_cents


async def test_nothing_new_changes_nothing(sessions: SessionFactory) -> None:
    w = await busy_world(sessions)
    earlier = await ar_dashboard(sessions, w.tenant_id, FILTERS[2])
    forward = await ar_dashboard(sessions, w.tenant_id, FILTERS[2], earlier)
    assert figures(forward) == figures(earlier)
    assert forward.computed_at - earlier.computed_at < timedelta(seconds=30)


async def test_bringing_forward_plans_every_read_for_its_snapshot(
    sessions: SessionFactory, engine: AsyncEngine
) -> None:
    # given an earlier dashboard and a change
    w = await busy_world(sessions)
    earlier = await ar_dashboard(sessions, w.tenant_id, FILTERS[0])
    await post(sessions, w, [Entry(w.lines["V1"][0], "WRITEOFF", -700, now(), reason="x")])
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    # when it is brought forward
    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    try:
        await ar_dashboard(sessions, w.tenant_id, FILTERS[0], earlier)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", seen)
    # then custom plans are forced before the first read of what changed (a generic plan of
    # "entries since xmin" scans the whole ledger: 0.7 s instead of 25 ms at 3.6M entries)
    reads = [i for i, s in enumerate(statements) if "changed AS MATERIALIZED" in s]
    forced = [i for i, s in enumerate(statements) if "'force_custom_plan'" in s]
    assert reads and forced and forced[0] < reads[0]
