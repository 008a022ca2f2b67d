"""The batched drain claims on accounts no one else holds: two batches run side by side on
disjoint accounts, a held account is skipped (then queued for), and an account's commands are
still applied in id order. Real commits, two connections at once."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import date

from sqlalchemy import select, text, update

from domain.commands import apply as applying
from domain.commands.apply import Drained
from domain.db import SessionFactory
from domain.locks import (
    claim_disjoint_batch,
    claim_pending_commands,
    lock_lines,
    more_pending_than,
)
from domain.models import Account, ChargeLine, Command, Payer, Visit
from domain.uow import UnitOfWork
from tests.support.factories import World, ledger_drift, make_world, store_pending


async def drain_leftovers(sessions: SessionFactory) -> None:
    """Apply what earlier tests left PENDING, so that the oldest commands are this test's."""
    while True:
        async with UnitOfWork(sessions) as uow:
            drained = await applying.apply_next_batch(uow, 1000, queue=True)
            await uow.commit()
        if not drained.more:
            return


async def statuses(sessions: SessionFactory, ids: list[int]) -> list[str]:
    async with sessions() as session:
        rows = await session.execute(select(Command.id, Command.status).where(Command.id.in_(ids)))
        found = {command_id: status for command_id, status in rows}
    return [found[i] for i in ids]


async def balances(sessions: SessionFactory, worlds: list[World]) -> list[int]:
    async with sessions() as session:
        return [
            await session.scalar(
                select(ChargeLine.balance_cents).where(ChargeLine.id == w.line_ids[0])
            )
            or 0
            for w in worlds
        ]


async def add_account(sessions: SessionFactory, world: World) -> tuple[int, int]:
    """A second account of the world's tenant, with one visit and one line: (account, line)."""
    async with sessions() as session, session.begin():
        account = Account(tenant_id=world.tenant_id, account_number="A2", name="Sam Doe")
        session.add(account)
        await session.flush()
        visit = Visit(
            tenant_id=world.tenant_id,
            account_id=account.id,
            visit_number=1,
            claim_number=f"{world.slug}-2",
            date_of_service=date(2026, 10, 2),
            payer_id=await session.scalar(
                select(Payer.id).where(Payer.tenant_id == world.tenant_id)
            ),
        )
        session.add(visit)
        await session.flush()
        line = ChargeLine(
            tenant_id=world.tenant_id,
            account_id=account.id,
            visit_id=visit.id,
            line_number=1,
            procedure_code="99213",
            billed_cents=0,
        )
        session.add(line)
        await session.flush()
        return account.id, line.id


async def name_accounts(sessions: SessionFactory, command_id: int, account_ids: list[int]) -> None:
    """Make a stored command name these accounts (as a payment posted across accounts does)."""
    async with sessions() as session, session.begin():
        await session.execute(
            update(Command).where(Command.id == command_id).values(account_ids=account_ids)
        )


async def claim_and_release(sessions: SessionFactory) -> tuple[list[int], bool]:
    """What a drain claim (up to 10, half the accounts) takes now, on its own connection; its
    transaction is rolled back."""
    async with UnitOfWork(sessions) as uow:
        claimed, complete = await claim_disjoint_batch(uow.session, limit=10, share=0.5)
        await uow.rollback()
    return [c.id for c in claimed], complete


async def test_two_batches_drain_disjoint_accounts_side_by_side(sessions) -> None:
    # given four accounts and three $1 write-offs on each, stored round-robin
    await drain_leftovers(sessions)
    worlds = [await make_world(sessions, [1000]) for _ in range(4)]
    ids = [
        await store_pending(sessions, w, "1", f"rr{n}-{i}")
        for n in range(3)
        for i, w in enumerate(worlds)
    ]
    # when one batch of 6 is applied and left open
    async with UnitOfWork(sessions) as first:
        taken = await applying.apply_next_batch(first, 6, share=0.5)
        # and another batch of 6 runs beside it on another connection, never waiting
        async with UnitOfWork(sessions) as second:
            await second.session.execute(text("SET LOCAL lock_timeout = '2s'"))
            beside = await applying.apply_next_batch(second, 6, share=0.5)
            await second.commit()
        # then the second committed first, on the other half of the accounts
        assert (
            await statuses(sessions, ids)
            == ["PENDING"] * 2
            + ["APPLIED"] * 2
            + (["PENDING"] * 2 + ["APPLIED"] * 2)
            + ["PENDING"] * 2
            + ["APPLIED"] * 2
        )
        await first.commit()
    assert (taken, beside) == (Drained(6, more=True), Drained(6, more=True))
    # and once both committed every command is applied once, exactly
    assert await statuses(sessions, ids) == ["APPLIED"] * 12
    assert await balances(sessions, worlds) == [700] * 4
    for w in worlds:
        assert await ledger_drift(sessions, w.tenant_id) == []


async def test_a_held_account_is_skipped_then_queued_for_in_id_order(sessions) -> None:
    # given a $10.00 line and three $4.00 write-offs: the third cannot fit after the first two
    await drain_leftovers(sessions)
    world = await make_world(sessions, [1000])
    ids = [await store_pending(sessions, world, "4", f"hot{n}") for n in range(3)]
    async with UnitOfWork(sessions) as holder:
        # when a batch of one applies the first and holds the account
        assert await applying.apply_next_batch(holder, 1, share=0.5) == Drained(1, more=True)
        # then a second batch skips the account at once: nothing claimed, nothing written
        async with UnitOfWork(sessions) as skipper:
            await skipper.session.execute(text("SET LOCAL lock_timeout = '2s'"))
            assert await applying.apply_next_batch(skipper, 5, share=0.5) == Drained(
                0, more=True, queue=True
            )
            await skipper.commit()
        assert await statuses(sessions, ids) == ["PENDING"] * 3
        # and a queueing batch claims the other two and waits for the account
        queued = asyncio.create_task(queue_batch(sessions))
        await asyncio.sleep(0.3)
        assert not queued.done()
        await holder.commit()
    assert await asyncio.wait_for(queued, 10) == Drained(2, more=False, queue=True)
    # and each was judged on the balance its predecessors left, in id order
    assert await statuses(sessions, ids) == ["APPLIED", "APPLIED", "REJECTED"]
    assert await balances(sessions, [world]) == [200]
    assert await ledger_drift(sessions, world.tenant_id) == []


async def first_batch(sessions: SessionFactory, limit: int) -> Drained:
    """A drain's first batch (`queue=None`), on its own connection, committed."""
    async with UnitOfWork(sessions) as uow:
        await uow.session.execute(text("SET LOCAL lock_timeout = '5s'"))
        drained = await applying.apply_next_batch(uow, limit, share=0.5, queue=None)
        await uow.commit()
    return drained


@contextlib.asynccontextmanager
async def three_with_the_first_held(
    sessions: SessionFactory, key: str
) -> AsyncIterator[tuple[World, list[int], UnitOfWork]]:
    """Three $1 write-offs on one account, the first applied by a batch that holds the account
    (until the caller commits it, or the block ends)."""
    await drain_leftovers(sessions)
    world = await make_world(sessions, [1000])
    ids = [await store_pending(sessions, world, "1", f"{key}{n}") for n in range(3)]
    async with UnitOfWork(sessions) as holder:
        assert await applying.apply_next_batch(holder, 1, queue=True) == Drained(1, True, True)
        yield world, ids, holder


async def test_a_drains_first_batch_queues_when_one_batch_or_less_waits(sessions) -> None:
    # given three $1 write-offs on one account, the first applied and held by another batch
    async with three_with_the_first_held(sessions, "light") as (world, ids, holder):
        # when a drain starts with room for all three (as under light traffic)
        started = asyncio.create_task(first_batch(sessions, 3))
        # then it claims the classic way and waits for the account, rather than skipping it
        await asyncio.sleep(0.3)
        assert not started.done()
        await holder.commit()
    assert await asyncio.wait_for(started, 10) == Drained(2, more=False, queue=True)
    assert await statuses(sessions, ids) == ["APPLIED"] * 3
    assert await balances(sessions, [world]) == [700]


async def test_a_drains_first_batch_shares_a_backlog_of_more_than_one_batch(sessions) -> None:
    # given the same, but a drain whose batch holds two commands: three wait, over one batch
    async with three_with_the_first_held(sessions, "backlog") as (_, ids, holder):
        # when the drain starts, then it skips the held account at once, claiming nothing
        assert await asyncio.wait_for(first_batch(sessions, 2), 2) == Drained(0, True, True)
        assert await statuses(sessions, ids) == ["PENDING"] * 3
        await holder.commit()


async def test_more_pending_than_counts_what_the_drain_would_take(sessions) -> None:
    # given three write-offs waiting, and a bulk chunk beside them (not the drain's to take)
    await drain_leftovers(sessions)
    world = await make_world(sessions, [1000])
    for n in range(3):
        await store_pending(sessions, world, "1", f"count{n}")
    bulk = await store_pending(sessions, world, "1", "count-bulk")
    async with sessions() as session, session.begin():
        await session.execute(update(Command).where(Command.id == bulk).values(kind="BULK_CHUNK"))
    async with sessions() as session:
        # then "more than two" holds and "more than three" does not
        assert [await more_pending_than(session, n) for n in (0, 2, 3)] == [True, True, False]


async def queue_batch(sessions: SessionFactory) -> Drained:
    async with UnitOfWork(sessions) as uow:
        drained = await applying.apply_next_batch(uow, 5, queue=True)
        await uow.commit()
    return drained


async def test_a_command_claimed_elsewhere_holds_back_its_accounts_later_ones(sessions) -> None:
    # given two write-offs on one account and one on another
    await drain_leftovers(sessions)
    a, b = await make_world(sessions, [1000]), await make_world(sessions, [1000])
    a1, a2 = [await store_pending(sessions, a, "1", f"gap-a{n}") for n in range(2)]
    b1 = await store_pending(sessions, b, "1", "gap-b1")
    async with UnitOfWork(sessions) as elsewhere:
        # when another transaction has claimed the first (and holds no account yet)
        assert [c.id for c in await claim_pending_commands(elsewhere.session, limit=1)] == [a1]
        # then a drain claim takes the other account's command, not the later one on the first
        assert await claim_and_release(sessions) == ([b1], False)
        await elsewhere.rollback()
    # and once that transaction is gone, the first account's commands are claimed in order
    assert await claim_and_release(sessions) == ([a1, a2, b1], True)


async def test_a_command_waiting_on_an_account_held_elsewhere_holds_back_its_others(
    sessions,
) -> None:
    # given a command on accounts A and B, then a write-off on A and one on C
    await drain_leftovers(sessions)
    a, c = await make_world(sessions, [1000]), await make_world(sessions, [1000])
    b_account, b_line = await add_account(sessions, a)
    across = await store_pending(sessions, a, "1", "across")
    await name_accounts(sessions, across, [a.account_id, b_account])
    on_a = await store_pending(sessions, a, "1", "after-across")
    on_c = await store_pending(sessions, c, "1", "elsewhere")
    async with UnitOfWork(sessions) as holder:
        # when another transaction holds B
        await lock_lines(holder.session, a.tenant_id, [b_line])
        # then a drain claim takes C's write-off only: A's waits behind the command on A and B
        assert await claim_and_release(sessions) == ([on_c], False)
        await holder.rollback()
    # and once B is free, the command on A and B comes first, then A's write-off
    assert await claim_and_release(sessions) == ([across, on_a, on_c], True)


async def test_an_account_id_that_names_no_account_holds_nothing_up(sessions) -> None:
    # given a write-off whose command also names an account id no account has
    await drain_leftovers(sessions)
    world = await make_world(sessions, [1000])
    command_id = await store_pending(sessions, world, "2.50", "ghost")
    await name_accounts(sessions, command_id, [world.account_id, 9_000_000_000_000])
    # when the drain runs, then it is claimed and applied, and nothing is left
    async with UnitOfWork(sessions) as uow:
        assert await applying.apply_next_batch(uow, 10, share=0.5) == Drained(1, more=False)
        await uow.commit()
    assert await statuses(sessions, [command_id]) == ["APPLIED"]
    assert await balances(sessions, [world]) == [750]


async def test_a_queue_of_one_batch_or_less_is_taken_whole_across_accounts(sessions) -> None:
    # given one write-off on each of four accounts
    await drain_leftovers(sessions)
    worlds = [await make_world(sessions, [1000]) for _ in range(4)]
    ids = [await store_pending(sessions, w, "1", f"small{i}") for i, w in enumerate(worlds)]
    # when a batch of up to 10 is applied, then it takes all four: no share is kept back
    async with UnitOfWork(sessions) as uow:
        assert await applying.apply_next_batch(uow, 10, share=0.5) == Drained(4, more=False)
        await uow.commit()
    assert await statuses(sessions, ids) == ["APPLIED"] * 4
    assert await balances(sessions, worlds) == [900] * 4
