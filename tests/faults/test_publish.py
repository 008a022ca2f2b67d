"""A crash right after a commit, before the broker hears of it: the API dies before it enqueues
(the sweeper applies the command) and a worker dies before it publishes (the sweeper republishes
the events from the database, so subscribers still see the change). The failpoints are the
`ARLEDGER_FAILPOINT` hooks in api/enqueue.py and workers/runtime.py."""

import asyncio
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from api.ids import decode_id
from api.ledger.ordering import REORDER_PATIENCE_SECONDS
from arledger.config import Settings
from domain.commands import republish
from domain.commands.apply import apply, apply_claimed
from domain.db import SessionFactory
from domain.events import Event
from domain.locks import claim_pending_commands
from domain.models import Command, LedgerEntry, PublicationOutbox
from domain.uow import UnitOfWork
from tests.faults.stack import (
    SWEEP_AFTER_SECONDS,
    FaultStack,
    findings,
    line_balances,
    outcomes,
    wait_settled,
)
from tests.ledger.inprocess import account_event, publisher
from tests.ledger.test_subscriptions import ACCOUNT_BALANCE, COMMAND_STATUS, subscriber
from tests.support.client import WRITE_OFF, gid, gql, write_off_input
from tests.support.factories import make_world, store_pending


async def command_row(sessions: SessionFactory, tenant_id: int) -> Command:
    """The tenant's one command."""
    async with sessions() as session:
        return (await session.scalars(select(Command).where(Command.tenant_id == tenant_id))).one()


async def published_row(sessions: SessionFactory, tenant_id: int) -> Any:
    """The tenant's one command once it is marked published and its outbox row is gone (a
    moment after it is final)."""
    for _ in range(100):
        row = await command_row(sessions, tenant_id)
        async with sessions() as session:
            outboxed = await _outboxed(session, tenant_id)
        if row.published_at is not None and not outboxed:
            return row
        await asyncio.sleep(0.05)
    raise AssertionError("the command was never marked published")


async def test_api_dies_after_commit_before_enqueue_the_sweeper_applies_and_a_retry_replays(
    fault_stack: FaultStack, fault_sessions: SessionFactory
) -> None:
    # given an API that dies right after a command commits, before it sends the wake-up
    world = await make_world(fault_sessions, [10_000])
    token = world.token(fault_stack.settings)
    variables = write_off_input("k", [(world.line_ids[0], "25")])
    fault_stack.api_stop()
    fault_stack.api_start(ARLEDGER_FAILPOINT="after_commit_before_enqueue")
    try:
        # when a write-off is sent: the client gets no answer, the process is gone
        async with httpx.AsyncClient(base_url=fault_stack.api_url, timeout=10) as http:
            with pytest.raises(httpx.TransportError):
                await gql(http, WRITE_OFF, variables, token)
        assert fault_stack.api_exited(within=10)
        assert "FAILPOINT after_commit_before_enqueue: exiting" in fault_stack.logs("api")
        # then the command was committed, PENDING, and nothing woke a worker
        assert (await command_row(fault_sessions, world.tenant_id)).status == "PENDING"
    finally:
        fault_stack.api_stop()
        fault_stack.api_start()
    # and the sweeper re-enqueues it once stale: applied, exactly once, and published (and
    # marked so) by the worker at once
    await wait_settled(fault_sessions, world.tenant_id, within=15)
    row = await published_row(fault_sessions, world.tenant_id)
    assert row.enqueued_at - row.created_at >= timedelta(seconds=SWEEP_AFTER_SECONDS)
    assert row.published_at - row.finished_at < timedelta(seconds=SWEEP_AFTER_SECONDS)
    # and the client's retry under the same key answers with that command, applied
    async with httpx.AsyncClient(base_url=fault_stack.api_url, timeout=10) as http:
        body = await gql(http, WRITE_OFF, variables, token)
    assert body == {
        "data": {
            "writeOff": {
                "command": {"id": gid("Command", row.id), "status": "APPLIED"},
                "userErrors": [],
            }
        }
    }
    assert await outcomes(fault_sessions, world.tenant_id) == Counter({("APPLIED", 1): 1})
    assert await line_balances(fault_sessions, world.line_ids) == {world.line_ids[0]: 7_500}
    assert await findings(fault_sessions, world.tenant_id) == []


async def test_worker_dies_after_commit_before_publish_subscribers_still_get_the_change(
    fault_stack: FaultStack, fault_sessions: SessionFactory
) -> None:
    # given a PENDING $10.00 write-off of a $100.00 line (accepted while no worker ran), and
    # subscribers to the account's balance and to the command's status
    world = await make_world(fault_sessions, [10_000])
    token = world.token(fault_stack.settings)
    fault_stack.worker.kill()
    try:
        async with httpx.AsyncClient(base_url=fault_stack.api_url, timeout=10) as http:
            body = await gql(
                http, WRITE_OFF, write_off_input("k", [(world.line_ids[0], "10")]), token
            )
        command_gid = body["data"]["writeOff"]["command"]["id"]
        async with subscriber(fault_stack.api_url, token) as sub:
            account = {"accountId": gid("Account", world.account_id)}
            await sub.subscribe("balance", ACCOUNT_BALANCE, account)
            assert (await sub.next_data("balance", "accountBalance"))["version"] == 0
            await sub.subscribe("status", COMMAND_STATUS, {"id": command_gid})
            assert (await sub.next_data("status", "commandStatus"))["status"] == "PENDING"
            # when a worker that dies right after its commit, before publishing, applies it
            fault_stack.restart_worker(ARLEDGER_FAILPOINT="after_commit_before_publish")
            # then the change still reaches both subscribers: the sweeper republishes it
            changed = await sub.next_data("balance", "accountBalance")
            finished = await sub.next_data("status", "commandStatus")
            await sub.completed("status")
    finally:
        fault_stack.restart_worker()
    pk = decode_id(command_gid, "Command")
    assert pk is not None
    assert "FAILPOINT after_commit_before_publish: exiting" in fault_stack.logs("worker")
    async with fault_sessions() as session:
        entries = list(
            await session.scalars(select(LedgerEntry.id).where(LedgerEntry.command_id == pk))
        )
    assert changed == {
        "accountId": gid("Account", world.account_id),
        "balance": "90.00",
        "version": 1,
        "snapshot": False,
        "commandId": command_gid,
        "entryIds": [gid("LedgerEntry", e) for e in entries],
        "lines": [
            {
                "lineId": gid("ChargeLine", world.line_ids[0]),
                "visitId": gid("Visit", world.visit_id),
                "balance": "90.00",
            }
        ],
    }
    assert finished == {
        "id": command_gid,
        "status": "APPLIED",
        "errorCode": None,
        "errorMessage": None,
    }
    row = await published_row(fault_sessions, world.tenant_id)
    assert row.published_at - row.finished_at >= timedelta(seconds=SWEEP_AFTER_SECONDS)
    assert await outcomes(fault_sessions, world.tenant_id) == Counter({("APPLIED", 1): 1})
    assert await findings(fault_sessions, world.tenant_id) == []


async def test_unpublished_commands_get_the_events_the_worker_would_have_published(
    rollback_sessions: SessionFactory,
) -> None:
    # given a write-off applied here, whose unit of work published these events
    world = await make_world(rollback_sessions, [10_000, 5_000])
    pk = await store_pending(rollback_sessions, world, "12.34", "k", line_index=1)
    published: list[Event] = []

    async def collect(events: Sequence[Event]) -> None:
        published.extend(events)

    async with UnitOfWork(rollback_sessions, collect) as uow:
        assert await apply(uow, pk) == "APPLIED"
        await uow.commit()
    # when its outbox row is still there ten hours after it finished
    async with rollback_sessions() as session, session.begin():
        assert await _outboxed(session, world.tenant_id) == [[pk]]
        await session.execute(
            update(Command)
            .where(Command.id == pk)
            .values(finished_at=Command.finished_at - timedelta(hours=10))
        )
        await session.execute(
            update(PublicationOutbox)
            .where(PublicationOutbox.tenant_id == world.tenant_id)
            .values(created_at=PublicationOutbox.created_at - timedelta(hours=10))
        )
    async with UnitOfWork(rollback_sessions) as uow:
        ids, events = await republish.unpublished(uow, timedelta(hours=5))
    # then it is among the unpublished, with exactly the events published when it applied
    assert pk in ids
    assert [e for e in events if getattr(e, "command_id", None) == pk] == published
    assert len(published) == 2
    # and once marked published it is not any more, and its outbox row is gone
    async with UnitOfWork(rollback_sessions) as uow:
        await republish.mark_published(uow, [pk])
        await uow.commit()
        ids, _ = await republish.unpublished(uow, timedelta(hours=5))
    assert pk not in ids
    async with rollback_sessions() as session:
        assert await _outboxed(session, world.tenant_id) == []


async def test_an_outbox_row_goes_only_once_all_its_commands_are_republished(
    rollback_sessions: SessionFactory,
) -> None:
    # given a batch of two write-offs applied together, left in the outbox ten hours ago
    world = await make_world(rollback_sessions, [10_000])
    first = await store_pending(rollback_sessions, world, "1", "a")
    second = await store_pending(rollback_sessions, world, "2", "b")
    async with UnitOfWork(rollback_sessions) as uow:
        claimed = await claim_pending_commands(
            uow.session, limit=10, ids=[first, second], as_applied=True
        )
        assert len(await apply_claimed(uow, claimed)) == 2
        await uow.commit()
    async with rollback_sessions() as session, session.begin():
        assert await _outboxed(session, world.tenant_id) == [[first, second]]
        await session.execute(
            update(PublicationOutbox)
            .where(PublicationOutbox.tenant_id == world.tenant_id)
            .values(created_at=PublicationOutbox.created_at - timedelta(hours=10))
        )
    # when only the first is marked republished
    async with UnitOfWork(rollback_sessions) as uow:
        await republish.mark_published(uow, [first])
        await uow.commit()
        ids, _ = await republish.unpublished(uow, timedelta(hours=5))
    # then the row stays, and the sweeper still finds both
    assert {first, second} <= set(ids)
    # and when both are, it goes
    async with UnitOfWork(rollback_sessions) as uow:
        await republish.mark_published(uow, [first, second])
        await uow.commit()
    async with rollback_sessions() as session:
        assert await _outboxed(session, world.tenant_id) == []


async def _outboxed(session: AsyncSession, tenant_id: int) -> list[list[int]]:
    """The command ids of the tenant's outbox rows, oldest row first."""
    rows = await session.scalars(
        select(PublicationOutbox.command_ids)
        .where(PublicationOutbox.tenant_id == tenant_id)
        .order_by(PublicationOutbox.id)
    )
    return [list(ids) for ids in rows]


async def test_marking_published_alone_commits_by_itself_and_keeps_an_earlier_mark(
    engine: AsyncEngine, sessions: SessionFactory
) -> None:
    # given two applied commands, the first marked published an hour ago
    world = await make_world(sessions, [10_000])
    first = await store_pending(sessions, world, "1", "a")
    second = await store_pending(sessions, world, "2", "b")
    for pk in (first, second):
        async with UnitOfWork(sessions) as uow:
            assert await apply(uow, pk) == "APPLIED"
            await uow.commit()
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    async with sessions() as session, session.begin():
        await session.execute(
            update(Command).where(Command.id == first).values(published_at=an_hour_ago)
        )
    # when both are marked (the second twice), with no unit of work around it
    await republish.mark_published_alone(engine, [second, first, second])
    # then another session sees the second marked and the first's mark unchanged
    async with sessions() as session:
        marks = dict(
            (
                await session.execute(
                    select(Command.id, Command.published_at).where(Command.id.in_([first, second]))
                )
            ).all()
        )
    assert marks[first] == an_hour_ago
    assert marks[second] is not None and marks[second] > an_hour_ago


async def test_one_accounts_versions_published_out_of_order_reach_a_subscriber_in_order(
    server: str, sessions: SessionFactory, settings: Settings
) -> None:
    # given a subscriber of an account (snapshot at version 0)
    world = await make_world(sessions, [10000])
    account = gid("Account", world.account_id)
    async with (
        subscriber(server, world.token(settings)) as sub,
        publisher(settings) as publishing,
    ):
        await sub.subscribe("s", ACCOUNT_BALANCE, {"accountId": account})
        assert (await sub.next_data("s", "accountBalance"))["version"] == 0
        # when two worker processes publish versions 1 and 2, the second one first
        await publishing.publish([account_event(world, 2)])
        await asyncio.sleep(0.05)
        await publishing.publish([account_event(world, 1)])
        # then the subscriber hears of both commands, in version order
        got = [await sub.next_data("s", "accountBalance") for _ in range(2)]
        assert [(e["version"], e["commandId"]) for e in got] == [
            (1, gid("Command", 1)),
            (2, gid("Command", 2)),
        ]
        # when version 4 comes and version 3 never does (lost, to be republished later)
        await publishing.publish([account_event(world, 4)])
        # then version 4 is delivered once the gap has been given its time, and 3 after it
        # is stale: dropped
        assert (await sub.next_data("s", "accountBalance"))["version"] == 4
        await publishing.publish([account_event(world, 3)])
        await sub.assert_silent(REORDER_PATIENCE_SECONDS * 3)
