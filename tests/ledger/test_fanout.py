"""accountBalance fan-out in one API process: one execution (and one JSON encoding) per event
and selection set whatever the number of subscribers, and a subscriber that stops reading
neither stalls the others nor grows the process's memory: it skips to the latest version, and
is dropped when it reads nothing for `ws_send_timeout_seconds`."""

import asyncio
import gc
import json
import time
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection

from api.app import GC_THRESHOLDS
from api.context import Context
from api.fanout import RENDERS, SharingExecutionContext
from api.ledger.subscriptions import ACCOUNT_QUEUE_SIZE, CONVERTED
from api.send_watch import SendWatch
from arledger.config import Settings
from domain.db import SessionFactory
from tests.ledger.inprocess import (
    account_event,
    in_process_api,
    open_subscription,
    publisher,
    until,
)
from tests.support.client import WRITE_OFF, gid, gql, write_off_input
from tests.support.factories import make_world

BALANCE_ONLY = """subscription($a: ID!) { accountBalance(accountId: $a) { version balance } }"""
WITH_LINES = """subscription($a: ID!) {
  accountBalance(accountId: $a) { version commandId lines { lineId balance } } }"""


async def next_messages(ws: ClientConnection, count: int, within: float = 20) -> list[str]:
    """The next `count` raw `next` messages (pings answered, nothing else expected)."""
    found: list[str] = []
    async with asyncio.timeout(within):
        while len(found) < count:
            raw = str(await ws.recv())
            kind = json.loads(raw)["type"]
            if kind == "ping":
                await ws.send(json.dumps({"type": "pong"}))
            else:
                assert kind == "next", raw
                found.append(raw)
    return found


def data_of(raw: str) -> dict[str, Any]:
    return dict(json.loads(raw)["payload"]["data"]["accountBalance"])


async def test_subscribers_of_one_selection_set_share_one_execution_per_event(
    sessions: SessionFactory, settings: Settings
) -> None:
    # given five subscribers with one selection set and two with another, on one account
    world = await make_world(sessions, [10000])
    token, account = world.token(settings), gid("Account", world.account_id)
    async with in_process_api(settings) as api, publisher(settings) as publishing:
        same = [
            (await open_subscription(api.ws_url, token, f"s{n}", BALANCE_ONLY, {"a": account}))[0]
            for n in range(5)
        ]
        other = [
            (await open_subscription(api.ws_url, token, f"o{n}", WITH_LINES, {"a": account}))[0]
            for n in range(2)
        ]
        executions, conversions = RENDERS.executions, CONVERTED.conversions
        # when three changes of the account are published
        await publishing.publish([account_event(world, v) for v in (1, 2, 3)])
        # then each subscriber gets each change, shaped by its own selection set
        same_raw = [await next_messages(ws, 3) for ws in same]
        other_raw = [await next_messages(ws, 3) for ws in other]
        for raws in same_raw:
            assert [data_of(r) for r in raws] == [
                {"version": v, "balance": f"{(1_000_000 - v) // 100}.{(1_000_000 - v) % 100:02d}"}
                for v in (1, 2, 3)
            ]
        line = gid("ChargeLine", world.line_ids[0])
        for raws in other_raw:
            assert [data_of(r) for r in raws] == [
                {
                    "version": v,
                    "commandId": gid("Command", v),
                    "lines": [{"lineId": line, "balance": f"0.0{v}"}],
                }
                for v in (1, 2, 3)
            ]
        # and the same bytes went to every subscriber of a shape, but for the subscription id
        for n, raws in enumerate(same_raw):
            assert [r.replace(f'"id":"s{n}"', '"id":"s0"') for r in raws] == same_raw[0]
        # and each event was executed once per selection set, not once per subscriber
        assert RENDERS.executions - executions == 3 * 2
        # and each event became a GraphQL object once, for all seven subscribers
        assert CONVERTED.conversions - conversions == 3
        for ws in same + other:
            await ws.close()


async def test_a_subscriber_that_stops_reading_skips_to_the_latest_and_is_dropped(
    sessions: SessionFactory, settings: Settings
) -> None:
    # given two reading subscribers and two that will stop reading (small receive buffers),
    # in a process that drops a client after 10 s of unread sends
    world = await make_world(sessions, [10000])
    token, account = world.token(settings), gid("Account", world.account_id)
    channel = f"{world.tenant_id}:account:{world.account_id}"
    patient = settings.model_copy(update={"ws_send_timeout_seconds": 10.0})
    events, lines = 1200, 30
    async with in_process_api(patient, sndbuf=4096) as api, publisher(settings) as publishing:
        variables = {"a": account}
        readers = [
            (await open_subscription(api.ws_url, token, "r", WITH_LINES, variables))[0]
            for _ in range(2)
        ]
        resumed, stuck = [
            (await open_subscription(api.ws_url, token, "x", WITH_LINES, variables, rcvbuf=4096))[0]
            for _ in range(2)
        ]
        received: list[list[int]] = [[], []]

        async def read(n: int) -> None:
            for raw in await next_messages(readers[n], events, within=60):
                received[n].append(data_of(raw)["version"])

        reading = [asyncio.create_task(read(n)) for n in range(2)]
        # when 1,200 changes of 30 lines each are published at 400 a second
        backlog_high = 0
        started = time.monotonic()
        for first in range(1, events + 1, 20):
            await publishing.publish(
                [account_event(world, v, lines) for v in range(first, first + 20)]
            )
            backlog_high = max([backlog_high, *api.broadcaster.backlog(channel)])
            await asyncio.sleep(max(0.0, started + first / 400 - time.monotonic()))
        await asyncio.gather(*reading)
        # then the readers got every version, in order, while the others did not read
        assert received == [list(range(1, events + 1))] * 2
        # and the process held at most the bound for the slow ones, which were really stuck
        assert backlog_high <= ACCOUNT_QUEUE_SIZE
        assert sorted(api.broadcaster.backlog(channel))[-2:] == [ACCOUNT_QUEUE_SIZE] * 2
        # when one of them reads again, it catches up to the latest version, skipping some
        versions = []
        async with asyncio.timeout(30):
            while not versions or versions[-1] != events:
                versions.append(data_of((await next_messages(resumed, 1))[0])["version"])
        assert versions == sorted(set(versions))
        assert len(versions) < events
        # and the one that never reads again is dropped: the process lets go of its queue
        for ws in [*readers, resumed]:
            await ws.close()
        await until(lambda: not api.broadcaster.backlog(channel), within=20)
        stuck.transport.abort()


DASHBOARD = """subscription { arDashboard { seq snapshot
  aging { rows { payer { code } } total { net } } kpis { totalAr } } }"""
"""`payer` is resolved asynchronously: subscribers woken by one push must share the execution
while it runs, not only once it is done."""


async def test_dashboard_pushes_are_rendered_once_per_push_and_shape(
    sessions: SessionFactory, settings: Settings
) -> None:
    # given three dashboards of one tenant and filter, each with its snapshot
    world = await make_world(sessions, [10000])
    token = world.token(settings)
    async with in_process_api(settings) as api, publisher(settings) as publishing:
        executions = RENDERS.executions
        opened = [
            await open_subscription(api.ws_url, token, f"d{n}", DASHBOARD, {}) for n in range(3)
        ]
        snapshots = [first["payload"]["data"]["arDashboard"] for _, first in opened]
        # when a change of the tenant is announced
        await publishing.publish([account_event(world, 1)])
        pushes = [(await next_messages(ws, 1))[0] for ws, _ in opened]
        # then every dashboard got the snapshot, then the next seq
        figures = {
            "aging": {"rows": [{"payer": {"code": "1"}}], "total": {"net": "100.00"}},
            "kpis": {"totalAr": "100.00"},
        }
        assert snapshots == [{"seq": 1, "snapshot": True, **figures}] * 3
        for n, raw in enumerate(pushes):
            assert json.loads(raw)["payload"]["data"]["arDashboard"] == {
                "seq": 2,
                "snapshot": False,
                **figures,
            }
            # and the same bytes, but for the subscription id
            assert raw.replace(f'"id":"d{n}"', '"id":"d0"') == pushes[0]
        # and the snapshot and the push were each executed once for all three
        assert RENDERS.executions - executions == 2
        for ws, _ in opened:
            await ws.close()


async def test_the_api_process_keeps_full_collections_rare(settings: Settings) -> None:
    # given a process at CPython's defaults, nothing frozen
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    # when an API process has started
    async with in_process_api(settings):
        # then what startup built is frozen out of collections, and the thresholds are raised
        assert gc.get_freeze_count() > 10_000
        assert gc.get_threshold() == GC_THRESHOLDS


async def test_an_operation_leaves_nothing_for_the_cyclic_collector(
    sessions: SessionFactory, settings: Settings
) -> None:
    # given an API process that has served a query and a writeOff once (caches filled)
    world = await make_world(sessions, [10000])
    token, number = world.token(settings), {"n": world.account_number}
    query = "query($n: String!) { account(accountNumber: $n) { balance } }"
    async with in_process_api(settings) as api, httpx.AsyncClient(base_url=api.base) as client:
        await gql(client, query, number, token)
        await gql(client, WRITE_OFF, write_off_input("gc-0", [(world.line_ids[0], "1")]), token)
        gc.collect()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            # when it serves them again
            await gql(client, query, number, token)
            await gql(client, WRITE_OFF, write_off_input("gc-1", [(world.line_ids[0], "1")]), token)
            gc.collect()
            left = [o for o in gc.garbage if isinstance(o, SharingExecutionContext | Context)]
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
    # then neither operation's executor nor its context waited for the cyclic collector
    assert left == []


class WatchedConnection:
    """A connection as the send watch sees it: a deadline and a way to drop it."""

    def __init__(self, deadline: float) -> None:
        self.send_deadline = deadline
        self.dropped = 0

    def drop(self) -> None:
        self.dropped += 1


async def test_the_send_watch_drops_only_a_send_that_waited_past_its_deadline() -> None:
    # given a watch that looks every 10 ms, and two connections with a send in flight
    watch = SendWatch(check_every=0.01)
    watch.start()
    now = asyncio.get_running_loop().time()
    late, patient = WatchedConnection(now + 0.05), WatchedConnection(now + 30)
    watch.waiting(late)
    watch.waiting(patient)
    # and one whose send completed in time
    on_time = WatchedConnection(now + 0.05)
    watch.waiting(on_time)
    watch.done(on_time)
    # when 0.2 s pass
    await asyncio.sleep(0.2)
    await watch.stop()
    # then only the send that waited past its deadline cost its connection, once
    assert (late.dropped, patient.dropped, on_time.dropped) == (1, 0, 0)
