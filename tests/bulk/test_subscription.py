"""The `bulkJob` subscription over a real graphql-transport-ws connection, fed by the worker
through Redis: the job's state first, then its progress chunk by chunk until it finishes."""

from dataclasses import dataclass
from typing import Any

import httpx
from celery import Celery
from sqlalchemy import select, update

from arledger.config import Settings
from domain.db import SessionFactory
from domain.models import ChargeLine, Command
from tests.bulk.gql import (
    BULK_WRITE_OFF,
    CANCEL_BULK_JOB,
    EVERY_SCOPE,
    PAYMENT,
    READ,
    Line,
    add_visit,
    hold_write_off,
    job_items,
    job_row,
    mutate,
    plan_holding_chunks,
    run_job,
    submit,
    subscriber,
    wait_job,
    write_off_input,
)
from tests.support.client import gid
from tests.support.factories import World, ledger_drift, make_world


@dataclass
class Big:
    """Three accounts of `per_account` lines of 1.00 each (the second line protected), enough
    for the worker's chunk size to cut the job in at least two chunks."""

    world: World
    line_ids: list[int]
    per_account: int

    @property
    def total(self) -> int:
        return len(self.line_ids)


async def big_world(sessions: SessionFactory, settings: Settings) -> Big:
    # a chunk never splits an account: with (chunk // 2 + 1) lines each, accounts 1 and 2 fill
    # the first chunk and account 3 starts the second
    per_account = settings.bulk_chunk_size // 2 + 1
    world = await make_world(sessions, [100, 100])
    async with sessions() as session, session.begin():
        await session.execute(
            update(ChargeLine).where(ChargeLine.id == world.line_ids[1]).values(protected=True)
        )
    line_ids = list(world.line_ids)
    line_ids += await add_visit(sessions, world, [Line(100)] * (per_account - 2), visit_number=2)
    for number in ("A2", "A3"):
        line_ids += await add_visit(
            sessions, world, [Line(100)] * per_account, account_number=number, visit_number=1
        )
    return Big(world, line_ids, per_account)


def event(
    job_id: str,
    status: str,
    total: int | None,
    applied: int = 0,
    skipped: int = 0,
    cancelled: int = 0,
    finished: bool = False,
) -> dict[str, Any]:
    """A BulkJobEvent as the subscription sends it."""
    if total is None:
        summary, remaining = "Selecting rows…", None
    else:
        summary = f"{applied:,} of {total:,} applied"
        summary += f", {skipped:,} skipped" if skipped else ""
        summary += f", {cancelled:,} not attempted" if cancelled else ""
        remaining = total - applied - skipped - cancelled
    return {
        "jobId": job_id,
        "status": status,
        "total": total,
        "applied": applied,
        "skipped": skipped,
        "cancelled": cancelled,
        "remaining": remaining,
        "finished": finished,
        "summary": summary,
    }


def done(e: dict[str, Any]) -> int:
    return int(e["applied"] + e["skipped"] + e["cancelled"])


def assert_progress_only_grows(events: list[dict[str, Any]]) -> None:
    """Totals never go back, and only the last event is finished."""
    counted = [done(e) for e in events]
    assert counted == sorted(counted), counted
    for name in ("applied", "skipped", "cancelled"):
        values = [e[name] for e in events]
        assert values == sorted(values), (name, values)
    assert [e["finished"] for e in events] == [False] * (len(events) - 1) + [True]


async def chunk_commands(sessions: SessionFactory, tenant_id: int) -> list[int]:
    async with sessions() as session:
        rows = await session.scalars(
            select(Command.id)
            .where(Command.tenant_id == tenant_id, Command.kind == "BULK_CHUNK")
            .order_by(Command.id)
        )
        return list(rows)


async def test_held_job_streams_queued_then_planned_then_chunks_until_finished(
    client: httpx.AsyncClient,
    server: str,
    sessions: SessionFactory,
    settings: Settings,
    celery_app: Celery,
) -> None:
    # given a QUEUED write-off of every line of a multi-chunk world, its planning held back
    big = await big_world(sessions, settings)
    job_id, plan = await hold_write_off(sessions, big.world, "big", big.line_ids)
    token = big.world.token(settings, EVERY_SCOPE)
    async with subscriber(server, token) as sub:
        # when a client subscribes
        await sub.subscribe("job", job_id)
        # then the first message is the job as it is now: queued, nothing selected yet
        first = await sub.receive()
        assert first == {
            "id": "job",
            "type": "next",
            "payload": {"data": {"bulkJob": event(job_id, "QUEUED", None)}},
        }
        # when the worker plans and applies it
        celery_app.send_task("arledger.apply_bulk", args=[plan], queue=settings.bulk_queue_name)
        events = await sub.events("job")
        # then the planned job comes first, progress only grows, the last event is the final
        # state and the server completes the stream
        n = big.total
        assert events[0] == event(job_id, "RUNNING", n)
        assert events[-1] == event(job_id, "DONE", n, n - 1, 1, finished=True)
        assert all(e["status"] == "RUNNING" and e["total"] == n for e in events[:-1])
        assert_progress_only_grows(events)
        await sub.assert_silent(0.3)
    # and the job really ran in several chunks, at most one event per chunk after the plan
    row = await job_row(sessions, job_id)
    assert row.total_chunks is not None and row.total_chunks >= 2
    assert 2 <= len(events) <= 1 + row.total_chunks
    assert row.done_chunks == row.total_chunks
    # and its items are listed in selection order across pages, the protected line skipped
    items = await job_items(client, job_id, token)
    assert [i["seq"] for i in items] == list(range(1, n + 1))
    assert [i["lineId"] for i in items] == [gid("ChargeLine", i) for i in big.line_ids]
    assert [(i["status"], i["code"]) for i in items if i["status"] != "APPLIED"] == [
        ("SKIPPED", "LINE_PROTECTED")
    ]
    assert await ledger_drift(sessions, big.world.tenant_id) == []


async def test_subscribing_right_after_submitting_follows_the_job_to_its_end(
    client: httpx.AsyncClient, server: str, sessions: SessionFactory, settings: Settings
) -> None:
    # given a multi-chunk world
    big = await big_world(sessions, settings)
    token = big.world.token(settings, EVERY_SCOPE)
    async with subscriber(server, token) as sub:
        # when a bulk write-off of every line is submitted and subscribed to at once
        job = await submit(client, BULK_WRITE_OFF, write_off_input("k", filter={}), token)
        await sub.subscribe("job", job["id"])
        events = await sub.events("job")
    # then the first message is a snapshot (wherever the worker had got to), progress only
    # grows, and the last message is the final state
    n = big.total
    final = event(job["id"], "DONE", n, n - 1, 1, finished=True)
    assert events[0]["status"] in ("QUEUED", "RUNNING", "DONE")
    assert events[-1] == final
    assert_progress_only_grows(events)
    for e in events[:-1]:
        assert e["status"] in ("QUEUED", "RUNNING")
        assert e["total"] in (None, n)
    # and it agrees with the job as the API reads it
    shown = await wait_job(client, job["id"], token)
    assert (shown["summary"], shown["remaining"]) == (final["summary"], 0)


async def test_subscription_to_a_finished_job_sends_it_once_and_completes(
    client: httpx.AsyncClient, server: str, sessions: SessionFactory, settings: Settings
) -> None:
    # given a finished write-off of two lines, one protected
    world = await make_world(sessions, [1000])
    await add_visit(sessions, world, [Line(500, protected=True)], visit_number=2)
    token = world.token(settings, READ + " " + PAYMENT)
    job = await run_job(client, BULK_WRITE_OFF, write_off_input("k", filter={}), token)
    # when a billing.read client subscribes to it
    async with subscriber(server, world.token(settings, READ)) as sub:
        await sub.subscribe("job", job["id"])
        events = await sub.events("job")
        # then exactly one message comes, the final state, and the stream completes
        assert events == [event(job["id"], "DONE", 2, 1, 1, finished=True)]
        await sub.assert_silent(0.3)


async def test_subscription_to_another_tenants_job_is_not_found(
    client: httpx.AsyncClient, server: str, sessions: SessionFactory, settings: Settings
) -> None:
    # given tenant A's finished job and tenant B's connection with every scope
    a = await make_world(sessions, [1000])
    b = await make_world(sessions, [1000])
    job = await run_job(
        client,
        BULK_WRITE_OFF,
        write_off_input("k", line_ids=a.line_ids),
        a.token(settings, EVERY_SCOPE),
    )
    async with subscriber(server, b.token(settings, EVERY_SCOPE)) as sub:
        # when B subscribes to A's job, to a job that exists nowhere and to a malformed id
        await sub.subscribe("foreign", job["id"])
        foreign = await sub.errors("foreign")
        await sub.subscribe("absent", gid("BulkJob", 2**62))
        absent = await sub.errors("absent")
        await sub.subscribe("malformed", "not-an-id")
        malformed = await sub.errors("malformed")
        # then each fails the same way, and the connection stays usable
        assert foreign == absent == malformed == [("No such bulk job.", "NOT_FOUND")]
        await sub.send({"type": "ping"})
        assert await sub.receive() == {"type": "pong"}


async def test_subscription_without_billing_read_is_forbidden(
    server: str, sessions: SessionFactory, settings: Settings
) -> None:
    world = await make_world(sessions, [1000])
    job_id, _ = await hold_write_off(sessions, world, "k", world.line_ids)
    async with subscriber(server, world.token(settings, PAYMENT)) as sub:
        await sub.subscribe("job", job_id)
        assert await sub.errors("job") == [("Scope 'billing.read' is required.", "FORBIDDEN")]


async def test_cancelling_a_running_job_streams_the_cancel_and_the_rows_not_attempted(
    client: httpx.AsyncClient,
    server: str,
    sessions: SessionFactory,
    settings: Settings,
    celery_app: Celery,
) -> None:
    # given a multi-chunk write-off planned (RUNNING) whose chunks have not been sent yet
    big = await big_world(sessions, settings)
    job_id, plan = await hold_write_off(sessions, big.world, "big", big.line_ids)
    chunks = await plan_holding_chunks(sessions, settings, plan)
    assert chunks == await chunk_commands(sessions, big.world.tenant_id)
    assert len(chunks) >= 2
    token = big.world.token(settings, EVERY_SCOPE)
    n = big.total
    async with subscriber(server, token) as sub:
        await sub.subscribe("job", job_id)
        assert (await sub.receive())["payload"]["data"]["bulkJob"] == event(job_id, "RUNNING", n)
        # when it is cancelled, and its chunks then reach the worker
        cancelled = await mutate(client, CANCEL_BULK_JOB, {"jobId": job_id}, token)
        assert cancelled["userErrors"] == []
        assert (cancelled["job"]["status"], cancelled["job"]["finished"]) == ("CANCELLED", False)
        for command_id in chunks:
            celery_app.send_task(
                "arledger.apply_bulk", args=[command_id], queue=settings.bulk_queue_name
            )
        events = await sub.events("job")
    # then the cancel is streamed, then the rows not attempted, until the job finishes
    assert events[0] == event(job_id, "CANCELLED", n)
    assert events[-1] == event(job_id, "CANCELLED", n, cancelled=n, finished=True)
    assert all(e["status"] == "CANCELLED" for e in events)
    assert_progress_only_grows(events)
    # and every row says why it was not attempted; nothing was written off
    items = await job_items(client, job_id, token, status="CANCELLED")
    assert len(items) == n
    assert {(i["code"], i["message"]) for i in items} == {
        ("JOB_CANCELLED", "Not attempted: the job was CANCELLED.")
    }
    shown = await wait_job(client, job_id, token)
    assert (shown["summary"], shown["skipReasons"]) == (
        f"0 of {n:,} applied, {n:,} not attempted",
        [],
    )
    assert await ledger_drift(sessions, big.world.tenant_id) == []


async def test_subscription_to_a_job_that_selected_nothing(
    client: httpx.AsyncClient, server: str, sessions: SessionFactory, settings: Settings
) -> None:
    # given a write-off whose filter selects no line
    world = await make_world(sessions, [1000])
    job = await run_job(
        client,
        BULK_WRITE_OFF,
        write_off_input("k", filter={"visitStates": ["closed"]}),
        world.token(settings, EVERY_SCOPE),
    )
    assert (job["status"], job["total"], job["summary"]) == ("DONE", 0, "0 of 0 applied")
    # when subscribed to
    async with subscriber(server, world.token(settings, READ)) as sub:
        await sub.subscribe("job", job["id"])
        # then the one event says it finished with nothing to do
        assert await sub.events("job") == [event(job["id"], "DONE", 0, finished=True)]
