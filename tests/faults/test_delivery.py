"""Duplicates: the same Celery message delivered many times, concurrently, and the same mutation
replayed under one idempotency key, concurrently. Each command is applied once.

Extends tests/commands/test_delivery.py (a task redelivered for an applied or rejected command,
three sends for a pending one, the sweeper) and tests/writeoffs/test_writeoff_e2e.py
(`test_same_idempotency_key_returns_the_same_command`: one replay and one conflicting payload),
both sequential; here the duplicates race each other on the real worker and API.
"""

import asyncio
import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
from celery import Celery
from sqlalchemy import func, select

from arledger.config import Settings
from domain.db import SessionFactory
from domain.models import Command
from tests.faults.stack import findings, line_balances, outcomes, wait_settled
from tests.support.client import WRITE_OFF, gql, wait_final, write_off_input
from tests.support.factories import make_world, store_pending

APPLY = "arledger.apply_command"


async def test_the_same_message_delivered_20_times_concurrently_applies_each_command_once(
    sessions: SessionFactory, settings: Settings, celery_app: Celery, worker: object
) -> None:
    # given ten stored PENDING write-offs ($1.00 to $10.00, one per line) never enqueued
    world = await make_world(sessions, [10_000] * 10)
    commands = [
        await store_pending(sessions, world, f"{n}", f"k{n}", line_index=n - 1)
        for n in range(1, 11)
    ]
    # when each one's message (same task id, same body) is sent 20 times from 8 threads at once
    sends = [(pk, f"apply-{pk}") for pk in commands for _ in range(20)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(
            pool.map(
                lambda s: celery_app.send_task(
                    APPLY, args=[s[0]], task_id=s[1], queue=settings.celery_queue
                ),
                sends,
            )
        )
    # then every command is applied exactly once: one entry each, the balances moved once
    await wait_settled(sessions, world.tenant_id, within=15)
    await asyncio.sleep(1)  # the remaining duplicates drain, as no-ops
    assert await outcomes(sessions, world.tenant_id) == Counter({("APPLIED", 1): 10})
    assert await line_balances(sessions, world.line_ids) == {
        line: 10_000 - 100 * n for n, line in enumerate(world.line_ids, start=1)
    }
    assert await findings(sessions, world.tenant_id) == []


async def test_the_same_mutation_replayed_concurrently_makes_one_command_and_identical_answers(
    server: str, sessions: SessionFactory, settings: Settings
) -> None:
    # given a $100.00 line
    world = await make_world(sessions, [10_000])
    token = world.token(settings)
    same = write_off_input("replayed", [(world.line_ids[0], "12.34")])
    async with httpx.AsyncClient(base_url=server, timeout=30) as client:
        # when the same write-off is sent 20 times at once under one key
        first = await asyncio.gather(*[gql(client, WRITE_OFF, same, token) for _ in range(20)])
        # then every answer names the same command, and no error
        ids = {body["data"]["writeOff"]["command"]["id"] for body in first}
        assert len(ids) == 1
        assert {json.dumps(b["data"]["writeOff"]["userErrors"]) for b in first} == {"[]"}
        final = await wait_final(client, ids.pop(), token)
        assert final["status"] == "APPLIED"
        # when it is replayed 10 more times once applied, concurrently
        again = await asyncio.gather(*[gql(client, WRITE_OFF, same, token) for _ in range(10)])
        # then the answers are identical, byte for byte
        assert {json.dumps(body, sort_keys=True) for body in again} == {
            json.dumps(
                {
                    "data": {
                        "writeOff": {
                            "command": {"id": final["id"], "status": "APPLIED"},
                            "userErrors": [],
                        }
                    }
                },
                sort_keys=True,
            )
        }
        # and the same key with another amount, 5 times at once, is refused each time
        other = write_off_input("replayed", [(world.line_ids[0], "12.35")])
        refused = await asyncio.gather(*[gql(client, WRITE_OFF, other, token) for _ in range(5)])
    assert [body["data"]["writeOff"] for body in refused] == [
        {
            "command": None,
            "userErrors": [
                {
                    "field": "idempotencyKey",
                    "code": "IDEMPOTENCY_KEY_REUSED",
                    "message": "This idempotency key was used for a different request.",
                }
            ],
        }
    ] * 5
    # and there is one command, applied once
    async with sessions() as session:
        count = await session.scalar(
            select(func.count()).select_from(Command).where(Command.tenant_id == world.tenant_id)
        )
    assert count == 1
    assert await outcomes(sessions, world.tenant_id) == Counter({("APPLIED", 1): 1})
    assert await line_balances(sessions, world.line_ids) == {world.line_ids[0]: 10_000 - 1234}
    assert await findings(sessions, world.tenant_id) == []
