"""The lock is taken before anything is written, and re-checked state decides."""

from collections.abc import Callable
from uuid import uuid4

from sqlalchemy import select

from domain.commands import apply as applying
from domain.db import driver_connection
from domain.locks import claim_pending_commands
from domain.models import ChargeLine, Command, Tenant
from domain.uow import UnitOfWork
from tests.support.factories import make_world, store_pending
from tests.support.statements import recording, writes_balances


async def test_lock_query_runs_before_the_write(rollback_sessions) -> None:
    # given a stored write-off command
    world = await make_world(rollback_sessions, [10000])
    command_id = await store_pending(rollback_sessions, world, "12.34", "lock-order")

    # when it is applied
    async with UnitOfWork(rollback_sessions) as uow:
        async with recording(uow) as statements:
            assert await applying.apply(uow, command_id) == "APPLIED"
        await uow.commit()

    # then every balance row is locked (accounts, visits, lines) before any write
    def first(predicate) -> int:  # type: ignore[no-untyped-def]
        return next(i for i, s in enumerate(statements) if predicate(s))

    def locks(table: str) -> Callable[[str], bool]:
        """A statement that reads `table` (its first FROM) FOR UPDATE."""
        return lambda s: s.split(" FROM ", 1)[-1].startswith(table + " ") and "FOR UPDATE" in s

    lock_line = first(locks("charge_lines"))
    lock_account = first(locks("accounts"))
    lock_visit = first(locks("visits"))
    first_write = first(writes_balances)
    assert lock_account < lock_visit < lock_line < first_write
    # and the command's outcome was written by its claim, before the locks, not under them
    claim = first(lambda s: s.startswith("WITH picked AS (SELECT id FROM commands"))
    assert claim < lock_account
    assert not [s for s in statements[lock_account:] if s.startswith("UPDATE commands")]
    async with rollback_sessions() as session:
        assert (
            await session.scalar(
                select(ChargeLine.balance_cents).where(ChargeLine.id == world.line_ids[0])
            )
            == 8766
        )


async def test_the_drain_locks_accounts_in_its_claim_before_any_write(rollback_sessions) -> None:
    # given a stored write-off
    world = await make_world(rollback_sessions, [10000])
    await store_pending(rollback_sessions, world, "12.34", "drain-lock-order")

    # when the drain applies a batch
    async with UnitOfWork(rollback_sessions) as uow:
        async with recording(uow) as recorded:
            assert (await applying.apply_next_batch(uow, 1000, share=0.5)).claimed >= 1
        await uow.commit()

    # then its first statement is the claim, which locks the accounts (SKIP LOCKED) and writes
    # the outcome; visits and lines are locked next, before any balance or ledger write
    statements = [s for s in recorded if not s.startswith(("SAVEPOINT", "RELEASE"))]
    claim = statements[0]
    assert claim.startswith("WITH oldest AS MATERIALIZED")
    assert "FROM accounts a" in claim and "FOR UPDATE OF a SKIP LOCKED" in claim
    assert "FOR UPDATE OF c SKIP LOCKED" in claim and "UPDATE commands c SET status" in claim

    def first(prefix: str) -> int:
        return next(i for i, s in enumerate(statements) if s.startswith(prefix))

    def locks(table: str) -> int:
        """The first statement that reads `table` (its first FROM) FOR UPDATE."""
        return next(
            i
            for i, s in enumerate(statements)
            if s.split(" FROM ", 1)[-1].startswith(table + " ") and "FOR UPDATE" in s
        )

    lock_visit, lock_line = locks("visits"), locks("charge_lines")
    assert (
        0 < lock_visit < lock_line < next(i for i, s in enumerate(statements) if writes_balances(s))
    )
    assert not [s for s in statements[1:] if s.startswith("UPDATE commands")]


async def test_applying_a_final_command_again_is_a_no_op(rollback_sessions) -> None:
    world = await make_world(rollback_sessions, [500])
    command_id = await store_pending(rollback_sessions, world, "5", "again")
    for expected in ("APPLIED", None, None):
        async with UnitOfWork(rollback_sessions) as uow:
            assert await applying.apply(uow, command_id) == expected
            await uow.commit()
    async with rollback_sessions() as session:
        assert (
            await session.scalar(
                select(ChargeLine.balance_cents).where(ChargeLine.id == world.line_ids[0])
            )
            == 0
        )
        assert (
            await session.scalar(select(Command.status).where(Command.id == command_id))
            == "APPLIED"
        )


async def test_rules_are_judged_on_the_locked_balance(rollback_sessions) -> None:
    # given two commands that each fit the balance alone but not together
    world = await make_world(rollback_sessions, [1000])
    first = await store_pending(rollback_sessions, world, "6", "a")
    second = await store_pending(rollback_sessions, world, "6", "b")
    results = []
    for command_id in (first, second):
        async with UnitOfWork(rollback_sessions) as uow:
            results.append(await applying.apply(uow, command_id))
            await uow.commit()
    assert results == ["APPLIED", "REJECTED"]
    async with rollback_sessions() as session:
        row = (await session.execute(select(Command.error_code).where(Command.id == second))).one()
        assert row.error_code == "EXCEEDS_BALANCE"


async def test_a_claim_holds_its_commands_until_its_transaction_ends(sessions) -> None:
    # given a stored write-off, committed
    world = await make_world(sessions, [500])
    command_id = await store_pending(sessions, world, "1", "held")
    # when one transaction claims it and stays open
    async with UnitOfWork(sessions) as first:
        claimed = await claim_pending_commands(first.session, limit=10, ids=[command_id])
        assert [(c.id, c.tenant_id, c.kind) for c in claimed] == [
            (command_id, world.tenant_id, "WRITEOFF")
        ]
        assert claimed[0].payload["reason"] == "charity"
        # then another transaction, on another connection, skips it
        async with UnitOfWork(sessions) as second:
            assert await claim_pending_commands(second.session, limit=10, ids=[command_id]) == []
        await first.rollback()
    # and once the first has ended without applying it, it can be claimed again
    async with UnitOfWork(sessions) as third:
        again = await claim_pending_commands(third.session, limit=10, ids=[command_id])
        assert [c.id for c in again] == [command_id]


async def test_an_outcome_written_by_the_claim_shows_only_once_committed(sessions) -> None:
    # given a stored write-off, committed
    world = await make_world(sessions, [500])
    command_id = await store_pending(sessions, world, "1", "claimed-as-applied")

    async def status() -> tuple[str, object, object]:
        async with sessions() as other:
            row = (
                await other.execute(
                    select(Command.status, Command.finished_at, Command.published_at).where(
                        Command.id == command_id
                    )
                )
            ).one()
            return row.status, row.finished_at, row.published_at

    # when a transaction claims it as applied and stays open
    async with UnitOfWork(sessions) as first:
        claimed = await claim_pending_commands(
            first.session, limit=10, ids=[command_id], as_applied=True
        )
        assert [c.id for c in claimed] == [command_id]
        # then another connection still sees it PENDING, unfinished and unpublished
        assert await status() == ("PENDING", None, None)
        await first.rollback()
    # and a rollback leaves it PENDING, to be claimed again
    assert await status() == ("PENDING", None, None)
    async with UnitOfWork(sessions) as second:
        again = await claim_pending_commands(
            second.session, limit=10, ids=[command_id], as_applied=True
        )
        assert [c.id for c in again] == [command_id]
        await second.commit()
    # and once committed it is APPLIED, finished and published (its events go out from the
    # outbox the applying batch writes: `domain.commands.republish`)
    applied, finished_at, published_at = await status()
    assert applied == "APPLIED"
    assert finished_at is not None and published_at is not None


async def test_what_goes_through_the_driver_is_inside_the_sessions_transaction(sessions) -> None:
    # given a fresh session that has run nothing yet (SQLAlchemy sends BEGIN lazily)
    slug = f"driver-{uuid4().hex[:12]}"
    async with sessions() as session:
        # when a row is written through its driver connection and the session rolls back
        raw = await driver_connection(session)
        assert raw.is_in_transaction()
        await raw.execute("INSERT INTO tenants (slug, name) VALUES ($1, $1)", slug)
        await session.rollback()
    # then the row is gone with the transaction
    async with sessions() as session:
        assert await session.scalar(select(Tenant.id).where(Tenant.slug == slug)) is None
