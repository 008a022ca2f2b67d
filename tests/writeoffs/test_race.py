"""Concurrency: many write-offs racing for one balance, through HTTP and the real worker."""

import asyncio

import httpx
from sqlalchemy import func, select

from domain.models import ChargeLine, Command, LedgerEntry
from tests.support.client import WRITE_OFF, gql, wait_final, write_off_input
from tests.support.factories import ledger_drift, make_world


async def test_200_concurrent_one_dollar_write_offs_on_a_100_dollar_line(
    server, sessions, settings
) -> None:
    # given one line with a $100.00 balance
    world = await make_world(sessions, [10000])
    token = world.token(settings)
    line_id = world.line_ids[0]
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(base_url=server, timeout=60, limits=limits) as client:
        # when 200 separate $1 write-off mutations are sent at once
        bodies = await asyncio.gather(
            *[
                gql(client, WRITE_OFF, write_off_input(f"race-{n}", [(line_id, "1")]), token)
                for n in range(200)
            ]
        )
        ids = [b["data"]["writeOff"]["command"]["id"] for b in bodies]
        finals = await asyncio.gather(*[wait_final(client, i, token, within=90) for i in ids])
    # then exactly 100 applied, 100 rejected for the balance, and the line is at zero
    statuses = [(f["status"], f["errorCode"]) for f in finals]
    assert statuses.count(("APPLIED", None)) == 100
    assert statuses.count(("REJECTED", "EXCEEDS_BALANCE")) == 100
    async with sessions() as session:
        balance = await session.scalar(
            select(ChargeLine.balance_cents).where(ChargeLine.id == line_id)
        )
        writeoffs = await session.scalar(
            select(func.count())
            .select_from(LedgerEntry)
            .where(LedgerEntry.line_id == line_id, LedgerEntry.kind == "WRITEOFF")
        )
        commands = await session.scalar(
            select(func.count()).select_from(Command).where(Command.tenant_id == world.tenant_id)
        )
    assert (balance, writeoffs, commands) == (0, 100, 200)
    assert await ledger_drift(sessions, world.tenant_id) == []
