"""Batched apply: one transaction, many commands, each judged as if applied one at a time."""

from collections.abc import Sequence

from sqlalchemy import select

from domain.commands import apply as applying
from domain.events import AccountChanged, CommandFinished, Event
from domain.models import Account, ChargeLine, Command
from domain.uow import UnitOfWork
from tests.commands.test_disjoint_drain import drain_leftovers
from tests.support.factories import ledger_drift, make_world, store_pending
from tests.support.statements import BALANCE_WRITES, recording


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


async def test_a_light_wake_up_applies_its_batch_in_eight_statements(rollback_sessions) -> None:
    # given two write-offs on two lines of one account (light traffic: less than a batch waits)
    await drain_leftovers(rollback_sessions)
    world = await make_world(rollback_sessions, [1000, 500])
    ids = [
        await store_pending(rollback_sessions, world, "1", f"light{n}", line_index=n)
        for n in range(2)
    ]
    # when a drain's first batch applies them
    async with UnitOfWork(rollback_sessions) as uow:
        async with recording(uow) as statements:
            drained = await applying.apply_next_batch(uow, 1000, 0.5, queue=None)
        await uow.commit()
    # then it took eight statements between BEGIN and COMMIT: the probe, the claim (which
    # also lists them for publication), the policy, three locks, the entry ids, and one for
    # every write
    assert drained == applying.Drained(2, more=False, queue=True)
    assert [s.split(" WHERE ")[0][:40] for s in statements] == [
        "SELECT count(*) > $2 FROM (SELECT FROM c",
        "WITH picked AS (SELECT id FROM commands ",
        "SELECT t.small_balance_threshold_cents, ",
        "SELECT id, balance_cents, version, ledge",
        "SELECT id, account_id, state, balance_ce",
        "SELECT id, visit_id, account_id, balance",
        "SELECT nextval($1::regclass) FROM genera",
        "WITH w0 AS (INSERT INTO ledger_entries (",
    ]
    assert "INSERT INTO publication_outbox" in statements[1]
    write = statements[-1]
    assert "INSERT INTO audit_rows" in write and all(w in write for w in BALANCE_WRITES)
    # and both were applied, the balances moved
    async with rollback_sessions() as session:
        rows = await session.execute(
            select(Command.status).where(Command.id.in_(ids)).order_by(Command.id)
        )
        assert [status for (status,) in rows] == ["APPLIED", "APPLIED"]
        balances = await session.scalars(
            select(ChargeLine.balance_cents)
            .where(ChargeLine.id.in_(world.line_ids))
            .order_by(ChargeLine.id)
        )
        assert list(balances) == [900, 400]
    assert await ledger_drift(rollback_sessions, world.tenant_id) == []
