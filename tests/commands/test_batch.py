"""Batched apply: one transaction, many commands, each judged as if applied one at a time."""

from collections.abc import Sequence

from sqlalchemy import select

from domain.commands import apply as applying
from domain.events import AccountChanged, CommandFinished, Event
from domain.models import Account, ChargeLine, Command
from domain.uow import UnitOfWork
from tests.support.factories import ledger_drift, make_world, store_pending


async def test_a_batch_matches_one_at_a_time_application(rollback_sessions) -> None:
    # given a $10.00 line and five write-offs, two of which cannot fit when their turn comes
    world = await make_world(rollback_sessions, [1000])
    amounts = ["4", "7", "5", "2", "1"]
    ids = [await store_pending(rollback_sessions, world, a, f"b{n}") for n, a in enumerate(amounts)]
    published: list[Event] = []

    async def collect(events: Sequence[Event]) -> None:
        published.extend(events)

    # when one batch applies them all in one transaction
    async with UnitOfWork(rollback_sessions, collect) as uow:
        assert (await applying.apply_next_batch(uow, limit=50)).claimed >= 5
        await uow.commit()

    # then each was judged on the balance its predecessors left
    async with rollback_sessions() as session:
        statuses = dict(
            (
                await session.execute(select(Command.id, Command.status).where(Command.id.in_(ids)))
            ).all()
        )
        balance = await session.scalar(
            select(ChargeLine.balance_cents).where(ChargeLine.id == world.line_ids[0])
        )
        version = await session.scalar(
            select(Account.version).where(Account.id == world.account_id)
        )
    assert [statuses[i] for i in ids] == ["APPLIED", "REJECTED", "APPLIED", "REJECTED", "APPLIED"]
    assert (balance, version) == (0, 3)
    changes = [e for e in published if isinstance(e, AccountChanged)]
    assert [(e.command_id, e.version, e.balance_cents) for e in changes] == [
        (ids[0], 1, 600),
        (ids[2], 2, 100),
        (ids[4], 3, 0),
    ]
    finished = [
        (e.command_id, e.status, e.error_code) for e in published if isinstance(e, CommandFinished)
    ]
    assert finished == [
        (ids[0], "APPLIED", None),
        (ids[1], "REJECTED", "EXCEEDS_BALANCE"),
        (ids[2], "APPLIED", None),
        (ids[3], "REJECTED", "EXCEEDS_BALANCE"),
        (ids[4], "APPLIED", None),
    ]
    assert await ledger_drift(rollback_sessions, world.tenant_id) == []


async def test_a_batch_spans_tenants_and_lines(rollback_sessions) -> None:
    # given two tenants, one with two lines
    first = await make_world(rollback_sessions, [500, 300])
    second = await make_world(rollback_sessions, [900])
    ids = [
        await store_pending(rollback_sessions, second, "9", "s", 0),
        await store_pending(rollback_sessions, first, "3", "f1", 1),
        await store_pending(rollback_sessions, first, "1.50", "f0", 0),
    ]
    # when applied in batches of two
    claimed = []
    for _ in range(3):
        async with UnitOfWork(rollback_sessions) as uow:
            claimed.append((await applying.apply_next_batch(uow, limit=2)).claimed)
            await uow.commit()
    # then every command was applied exactly once
    assert claimed[0] == 2 and sum(claimed) >= 3
    async with rollback_sessions() as session:
        statuses = (await session.scalars(select(Command.status).where(Command.id.in_(ids)))).all()
        balances = dict(
            (
                await session.execute(
                    select(ChargeLine.id, ChargeLine.balance_cents).where(
                        ChargeLine.id.in_(first.line_ids + second.line_ids)
                    )
                )
            ).all()
        )
    assert sorted(statuses) == ["APPLIED"] * 3
    assert balances == {first.line_ids[0]: 350, first.line_ids[1]: 0, second.line_ids[0]: 0}
    assert await ledger_drift(rollback_sessions, first.tenant_id) == []
    assert await ledger_drift(rollback_sessions, second.tenant_id) == []
