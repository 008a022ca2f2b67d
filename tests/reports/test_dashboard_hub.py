"""The dashboard hub in this process, on a real Redis subscriber and the real computation:
one computation per push shared by every subscriber (the same object), a burst coalesced to
one computation per 250 ms with a leading and a trailing one, slow subscribers skipping to the
latest, groups ending with their last subscriber, and a bad filter computing nothing."""

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any, cast

import httpx
import pytest
from redis.asyncio import Redis

from api.auth import Principal
from api.context import Context, Services
from api.pubsub import Broadcaster
from api.reports.dashboard import ArDashboard
from api.reports.dashboard_hub import WINDOW_SECONDS, DashboardHub, Mailbox, hub_for, tenant_compute
from api.schema import build_schema
from arledger.config import Settings
from domain.db import SessionFactory
from domain.events import AccountChanged
from domain.reports.dashboard import Dashboard, DashboardFilter
from tests.reports.live import DASHBOARD, write_off
from tests.reports.world import World, add_visit, days_ago, new_world
from workers.publisher import RedisPublisher

WRITE = "billing.read billing.payment.write"


class Counted:
    """The real computation, counted and timed."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._compute = tenant_compute(sessions)
        self.starts: list[float] = []

    async def __call__(
        self, tenant_id: int, wanted: DashboardFilter, previous: Dashboard | None
    ) -> Dashboard:
        self.starts.append(time.monotonic())
        return await self._compute(tenant_id, wanted, previous)


@pytest.fixture
async def prefix(settings: Settings) -> str:
    """A channel prefix of this test's own (events published here reach no server)."""
    return f"{settings.channel_prefix}-hub-{secrets.token_hex(3)}"


async def started(redis_url: str, prefix: str) -> Broadcaster:
    broadcaster = Broadcaster(Redis.from_url(redis_url), prefix)
    await broadcaster.start()
    return broadcaster


@pytest.fixture
async def own(settings: Settings, prefix: str) -> AsyncIterator[tuple[Broadcaster, RedisPublisher]]:
    broadcaster = await started(settings.redis_url, prefix)
    publisher = RedisPublisher(Redis.from_url(settings.redis_url), prefix)
    yield broadcaster, publisher
    await publisher.close()
    await broadcaster.stop()


async def one_visit(sessions: SessionFactory) -> World:
    w = await new_world(sessions)
    await add_visit(
        sessions,
        w,
        "V",
        account="H1",
        payer="BC",
        dos=days_ago(w, 3),
        lines=[10000],
        charged_at=w.at(days_ago(w, 2)),
    )
    return w


async def changed(publisher: RedisPublisher, w: World, version: int) -> None:
    """Announce a (made-up) change of the world's account, as the worker would after commit."""
    await publisher.publish([AccountChanged(w.tenant_id, w.accounts["H1"], version, 0, None, [])])


async def take(mailbox: Mailbox, within: float = 10) -> ArDashboard:
    async with asyncio.timeout(within):
        return await anext(mailbox)


async def test_every_subscriber_gets_the_same_push_computed_once(
    client: httpx.AsyncClient, server: str, sessions: SessionFactory, settings: Settings
) -> None:
    # given two subscribers of one dashboard, on the session's channels (the worker's events)
    w = await one_visit(sessions)
    counted = Counted(sessions)
    broadcaster = await started(settings.redis_url, settings.channel_prefix)
    hub = DashboardHub(broadcaster, counted)
    try:
        async with (
            hub.subscribe(w.tenant_id, DashboardFilter()) as a,
            hub.subscribe(w.tenant_id, DashboardFilter()) as b,
        ):
            snap_a, snap_b = await take(a), await take(b)
            # then one computation served both snapshots
            assert (snap_a.seq, snap_b.seq, snap_a.snapshot, hub.computes) == (1, 1, True, 1)
            assert snap_a.aging is snap_b.aging
            # when a write-off is applied by the worker
            token = w.token(settings, WRITE)
            await write_off(client, token, "k1", w.lines["V"][0], "5.00")
            push_a, push_b = await take(a), await take(b)
        # then both got the very same object, from one more computation
        assert push_a is push_b
        assert (push_a.seq, push_a.snapshot, hub.computes, len(counted.starts)) == (2, False, 2, 2)
        assert push_a.kpis.write_offs == 500
        assert hub.groups == {}
    finally:
        await broadcaster.stop()


async def test_a_burst_is_coalesced_to_one_computation_per_window(
    sessions: SessionFactory, own: tuple[Broadcaster, RedisPublisher]
) -> None:
    broadcaster, publisher = own
    w = await one_visit(sessions)
    counted = Counted(sessions)
    hub = DashboardHub(broadcaster, counted)
    async with hub.subscribe(w.tenant_id, DashboardFilter()) as box:
        await take(box)
        await asyncio.sleep(2 * WINDOW_SECONDS)
        # when one change comes after a quiet window, it is computed at once (leading edge)
        sent = time.monotonic()
        await changed(publisher, w, 1)
        assert (await take(box)).seq == 2
        assert counted.starts[-1] - sent < WINDOW_SECONDS
        # when 40 changes come over a second
        burst_started = time.monotonic()
        for version in range(2, 42):
            await changed(publisher, w, version)
            await asyncio.sleep(0.025)
        last_sent = time.monotonic()
        seqs = []
        while True:
            try:
                seqs.append((await take(box, within=1.0)).seq)
            except TimeoutError:
                break
    # then computations started at least a window apart, the last after the last change
    gaps = [b - a for a, b in zip(counted.starts, counted.starts[1:], strict=False)]
    assert min(gaps[1:]) >= WINDOW_SECONDS - 0.01, gaps
    assert counted.starts[-1] >= last_sent
    burst = last_sent - burst_started
    assert 2 <= len(seqs) <= burst / WINDOW_SECONDS + 2, (seqs, burst)
    assert seqs[-1] == hub.computes == len(counted.starts)


async def test_a_slow_subscriber_skips_to_the_latest_push(
    sessions: SessionFactory, own: tuple[Broadcaster, RedisPublisher]
) -> None:
    broadcaster, publisher = own
    w = await one_visit(sessions)
    hub = DashboardHub(broadcaster, Counted(sessions))
    async with (
        hub.subscribe(w.tenant_id, DashboardFilter()) as fast,
        hub.subscribe(w.tenant_id, DashboardFilter()) as slow,
    ):
        assert ((await take(fast)).seq, (await take(slow)).seq) == (1, 1)
        # when three changes are pushed while the slow one reads nothing
        fast_seqs = []
        for version in range(1, 4):
            await changed(publisher, w, version)
            fast_seqs.append((await take(fast)).seq)
        # then the fast one got each push, the slow one only the latest (its seq skips)
        assert fast_seqs == [2, 3, 4]
        assert (await take(slow)).seq == 4
        with pytest.raises(TimeoutError):
            await take(slow, within=0.5)


async def test_the_group_ends_with_its_last_subscriber(
    sessions: SessionFactory, own: tuple[Broadcaster, RedisPublisher]
) -> None:
    broadcaster, publisher = own
    w = await one_visit(sessions)
    hub = DashboardHub(broadcaster, Counted(sessions))
    async with hub.subscribe(w.tenant_id, DashboardFilter()) as box:
        await take(box)
        await changed(publisher, w, 1)
        assert (await take(box)).seq == 2
        [group] = hub.groups.values()
    assert hub.groups == {} and group.task.done()
    # and the next subscriber starts a new group from seq 1
    async with hub.subscribe(w.tenant_id, DashboardFilter()) as box:
        assert (await take(box)).seq == 1
    assert hub.computes == 3


@pytest.mark.parametrize(("days", "computes"), [(0, 0), (400, 0), (1, 1)])
async def test_a_bad_filter_is_refused_before_anything_is_computed(
    sessions: SessionFactory,
    settings: Settings,
    own: tuple[Broadcaster, RedisPublisher],
    days: int,
    computes: int,
) -> None:
    # given the resolver in this process, with its own hub
    broadcaster, _ = own
    w = await one_visit(sessions)
    services = Services(settings, sessions, cast(Any, None), cast(Any, None), broadcaster)
    reader = Principal(w.tenant_id, "reader", frozenset({"billing.read"}))
    context = Context(request=cast(Any, None), response=None, services=services, principal=reader)
    # when subscribing with periodDays `days`
    stream = await build_schema(settings).subscribe(
        DASHBOARD, {"filter": {"periodDays": days}}, context
    )
    assert not isinstance(stream, Exception) and hasattr(stream, "__anext__"), stream
    first = await anext(stream)
    await stream.aclose()
    # then a bad period is one clear error and nothing was computed; a good one computes once
    hub = hub_for(services)
    assert (hub.computes, hub.groups) == (computes, {})
    if computes:
        assert first.errors is None and first.data is not None
        assert first.data["arDashboard"]["kpis"]["days"] == 1
    else:
        assert first.data is None and first.errors is not None
        [error] = first.errors
        assert error.message == "periodDays must be between 1 and 366."
        assert error.extensions == {
            "code": "PERIOD_DAYS_OUT_OF_RANGE",
            "field": "filter.periodDays",
            "problems": [
                {
                    "field": "filter.periodDays",
                    "code": "PERIOD_DAYS_OUT_OF_RANGE",
                    "message": "periodDays must be between 1 and 366.",
                }
            ],
        }
