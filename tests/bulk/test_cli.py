"""`arledger bulk …` run as a subprocess against the session's database and real worker."""

import asyncio
import os
import re
import secrets
import sys

import pytest
from sqlalchemy import func, select, update

from arledger.demo import seed_tenant
from domain.bulk import service as bulk_service
from domain.bulk.models import BulkJob, BulkJobItem
from domain.bulk.selection import RawFilter
from domain.db import SessionFactory
from domain.ledger.verify import verify
from domain.models import Account, ChargeLine, Command, LedgerEntry, Transaction, Visit
from domain.uow import UnitOfWork
from tests.conftest import ROOT
from tests.support.factories import World, ledger_drift, make_world

pytestmark = pytest.mark.usefixtures("settings", "worker")


async def bulk(*args: str) -> tuple[int, str, str]:
    """Run `arledger bulk <args>`; (exit status, stdout, stderr)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "arledger.cli",
        "bulk",
        *args,
        cwd=ROOT,
        env=dict(os.environ),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def job_id(stdout: str) -> int:
    """The job number of the first `Job N …` line."""
    match = re.search(r"^Job (\d+) ", stdout, re.MULTILINE)
    assert match, stdout
    return int(match[1])


async def protected_world(sessions: SessionFactory) -> World:
    """One open visit with lines of 10.00, 25.00, 3.00 and 40.00; the 25.00 line protected."""
    world = await make_world(sessions, [1000, 2500, 300, 4000])
    async with sessions() as session, session.begin():
        await session.execute(
            update(ChargeLine).where(ChargeLine.id == world.line_ids[1]).values(protected=True)
        )
    return world


async def balances(sessions: SessionFactory, world: World) -> tuple[list[int], int, int]:
    """(line balances in line order, the visit's balance, the account's balance)."""
    async with sessions() as session:
        lines = await session.scalars(
            select(ChargeLine.balance_cents)
            .where(ChargeLine.visit_id == world.visit_id)
            .order_by(ChargeLine.line_number)
        )
        visit = await session.scalar(select(Visit.balance_cents).where(Visit.id == world.visit_id))
        account = await session.scalar(
            select(Account.balance_cents).where(Account.id == world.account_id)
        )
    assert visit is not None and account is not None
    return list(lines), visit, account


async def jobs_and_commands(sessions: SessionFactory, tenant_id: int) -> tuple[int, int]:
    async with sessions() as session:
        jobs = await session.scalar(
            select(func.count()).select_from(BulkJob).where(BulkJob.tenant_id == tenant_id)
        )
        commands = await session.scalar(
            select(func.count()).select_from(Command).where(Command.tenant_id == tenant_id)
        )
    return jobs or 0, commands or 0


async def no_drift(sessions: SessionFactory, tenant_id: int) -> None:
    assert await ledger_drift(sessions, tenant_id) == []
    async with sessions() as session:
        assert await verify(session, tenant_id) == []


async def test_write_off_by_filter_skips_the_protected_line(sessions: SessionFactory) -> None:
    world = await protected_world(sessions)
    status, out, err = await bulk(
        "write-off", "--tenant", world.slug, "--reason", "charity", "--account", "A1"
    )
    assert status == 0, err
    job = job_id(out)
    assert f"Job {job} submitted (write-off), idempotency key " in out
    assert "rerun with --key" in out
    assert f"Job {job} DONE: 3 of 4 applied, 1 skipped (LINE_PROTECTED 1)\n" in out
    assert "amount applied: 53.00" in out
    assert await balances(sessions, world) == ([0, 2500, 0, 0], 2500, 2500)
    async with sessions() as session:
        entries = (
            await session.execute(
                select(LedgerEntry.line_id, LedgerEntry.amount_cents, LedgerEntry.actor)
                .where(LedgerEntry.tenant_id == world.tenant_id, LedgerEntry.kind == "WRITEOFF")
                .order_by(LedgerEntry.line_id)
            )
        ).all()
    actor = entries[0].actor
    assert actor.startswith("cli:")
    ids = world.line_ids
    assert entries == [(ids[0], -1000, actor), (ids[2], -300, actor), (ids[3], -4000, actor)]
    await no_drift(sessions, world.tenant_id)


async def test_the_same_key_returns_the_same_job(sessions: SessionFactory) -> None:
    world = await make_world(sessions, [1000, 2000])
    key = f"cli-{secrets.token_hex(4)}"
    args = ("write-off", "--tenant", world.slug, "--reason", "charity", "--all", "--key", key)
    first_status, first, _ = await bulk(*args)
    again_status, again, _ = await bulk(*args)
    assert (first_status, again_status) == (0, 0)
    assert job_id(first) == job_id(again)
    assert f"Job {job_id(again)} (write-off) was already submitted under key {key}" in again
    assert f"Job {job_id(again)} DONE: 2 of 2 applied, 0 skipped" in again
    assert await jobs_and_commands(sessions, world.tenant_id) == (1, 2)  # the plan and a chunk
    # the same key for another request is refused
    status, _, err = await bulk(*args[:-3], "--account", "A1", "--key", key)
    assert status == 2
    assert "idempotencyKey: IDEMPOTENCY_KEY_REUSED " in err


async def test_bad_input_exits_2_and_stores_nothing(sessions: SessionFactory) -> None:
    world = await protected_world(sessions)
    base = ("write-off", "--tenant", world.slug)
    cases = [
        ((*base, "--reason", "charity", "--balance-min", "1.234"),
         "selection.filter.balanceMin: TOO_MANY_DECIMALS "),
        ((*base, "--reason", "charity", "--balance-min", "5", "--balance-max", "1"),
         "selection.filter.balanceMax: INVALID_RANGE "),
        ((*base, "--reason", "nope", "--all"), "reason: UNKNOWN_REASON "),
        ((*base, "--reason", "other", "--all"), "note: NOTE_REQUIRED "),
        ((*base, "--reason", "charity"), "selection: SELECTION_REQUIRED "),
        ((*base, "--reason", "charity", "--line-ids", "1,x"),
         "selection.lineIds.1: LINE_NOT_FOUND "),
        ((*base, "--reason", "charity", "--account", "NOPE"),
         "selection.filter.accountNumbers: ACCOUNT_NOT_FOUND "),
        ((*base, "--reason", "charity", "--all", "--visit-state", "lost"),
         "selection.filter.visitStates: UNKNOWN_VISIT_STATE "),
        (("write-off", "--tenant", "no-such-tenant", "--reason", "charity", "--all"),
         "tenant: TENANT_NOT_FOUND "),
        (("self-pay", "--tenant", world.slug, "--type", "XX"), "type: UNKNOWN_TYPE "),
        (("self-pay", "--tenant", world.slug, "--type", "AC", "--date", "2026-02-30",
          "--amount", "5"), "transactionDate: INVALID_DATE "),
        (("reverse", "--tenant", world.slug, "--job", "999999999", "--reason", "x"),
         "jobId: JOB_NOT_FOUND "),
        (("cancel", "--tenant", world.slug, "--job", "999999999"), "jobId: JOB_NOT_FOUND "),
        (("status", "--tenant", world.slug, "--job", "999999999"), "jobId: JOB_NOT_FOUND "),
    ]  # fmt: skip
    for args, problem in cases:
        status, _, err = await bulk(*args)
        assert (status, problem) == (2, problem) and problem in err, err
    assert await jobs_and_commands(sessions, world.tenant_id) == (0, 0)
    assert await balances(sessions, world) == ([1000, 2500, 300, 4000], 7800, 7800)


async def test_status_lists_every_skipped_row(sessions: SessionFactory) -> None:
    world = await protected_world(sessions)
    ids = world.line_ids
    charity = ("write-off", "--tenant", world.slug, "--reason", "charity")
    status, _, _ = await bulk(*charity, "--line-ids", str(ids[3]))
    assert status == 0
    status, out, _ = await bulk(*charity, "--line-ids", f"{ids[3]},{ids[1]},{ids[0]}", "--no-wait")
    assert status == 0
    job = job_id(out)
    assert "DONE" not in out  # --no-wait: back right after submission
    await wait_finished(sessions, job)
    status, out, _ = await bulk("status", "--tenant", world.slug, "--job", str(job), "--skipped")
    assert status == 0
    assert f"Job {job}: WRITEOFF by cli:" in out
    assert "  lines: 3 explicit" in out
    assert f"Job {job} DONE: 1 of 3 applied, 2 skipped (LINE_PROTECTED 1, NO_BALANCE 1)\n" in out
    skipped = out.split("Skipped rows:\n")[1].splitlines()
    assert skipped == [  # in line order
        f"  account A1 visit 1 line {ids[1]}: LINE_PROTECTED This line is protected.",
        f"  account A1 visit 1 line {ids[3]}: NO_BALANCE The line has no balance to write off.",
    ]
    assert await balances(sessions, world) == ([0, 2500, 300, 0], 2800, 2800)
    await no_drift(sessions, world.tenant_id)


async def wait_finished(sessions: SessionFactory, job: int, within: float = 60) -> None:
    for _ in range(int(within * 10)):
        async with sessions() as session:
            finished = await session.scalar(select(BulkJob.finished_at).where(BulkJob.id == job))
        if finished is not None:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job} did not finish")


async def test_reverse_restores_the_balances(sessions: SessionFactory) -> None:
    world = await protected_world(sessions)
    status, out, _ = await bulk("write-off", "--tenant", world.slug, "--reason", "charity", "--all")
    assert status == 0
    original = job_id(out)
    status, out, err = await bulk(
        "reverse", "--tenant", world.slug, "--job", str(original), "--reason", "wrong tenant"
    )
    assert status == 0, err
    reversal = job_id(out)
    assert f"Job {reversal} submitted (reversal of job {original})" in out
    assert f"Job {reversal} DONE: 3 of 3 applied, 0 skipped\n" in out
    assert await balances(sessions, world) == ([1000, 2500, 300, 4000], 7800, 7800)
    async with sessions() as session:
        reversed_entries = await session.scalar(
            select(func.count())
            .select_from(LedgerEntry)
            .where(
                LedgerEntry.tenant_id == world.tenant_id, LedgerEntry.reverses_entry_id.is_not(None)
            )
        )
    assert reversed_entries == 3
    await no_drift(sessions, world.tenant_id)
    status, _, err = await bulk(
        "reverse", "--tenant", world.slug, "--job", str(original), "--reason", "again"
    )
    assert status == 2
    assert "jobId: JOB_ALREADY_REVERSED " in err
    status, _, err = await bulk(
        "reverse", "--tenant", world.slug, "--job", str(reversal), "--reason", "undo"
    )
    assert status == 2
    assert "jobId: JOB_NOT_REVERSIBLE " in err


async def _no_enqueue(command_id: int) -> None:
    return None


async def test_cancel_a_queued_job(sessions: SessionFactory) -> None:
    world = await make_world(sessions, [1000, 2000])
    async with UnitOfWork(sessions) as uow:  # stored, never sent to the workers
        job = await bulk_service.submit_bulk_writeoff(
            uow,
            tenant_id=world.tenant_id,
            actor="tester",
            idempotency_key="queued",
            line_ids=None,
            raw_filter=RawFilter(),
            reason="charity",
            note=None,
            enqueue=_no_enqueue,
        )
        await uow.commit()
    status, out, err = await bulk("cancel", "--tenant", world.slug, "--job", str(job.id))
    assert status == 0, err
    assert f"Job {job.id} cancelled" in out
    assert f"Job {job.id} CANCELLED: 0 of 0 applied, 0 skipped\n" in out
    status, out, _ = await bulk("status", "--tenant", world.slug, "--job", str(job.id))
    assert status == 1  # a cancelled job
    assert f"Job {job.id} CANCELLED: " in out
    status, _, err = await bulk("cancel", "--tenant", world.slug, "--job", str(job.id))
    assert status == 0  # cancelling a cancelled job is a no-op
    assert await balances(sessions, world) == ([1000, 2000], 3000, 3000)


async def test_self_pay_additional_charge(sessions: SessionFactory) -> None:
    slug = f"cli-{secrets.token_hex(4)}"
    await seed_tenant(sessions, slug, slug, accounts=6)
    status, out, err = await bulk(
        "self-pay", "--tenant", slug, "--type", "ac", "--amount", "2.50", "--date", "2026-11-20"
    )
    assert status == 0, err
    job = job_id(out)
    match = re.search(rf"^Job {job} DONE: (\d+) of (\d+) applied, 0 skipped$", out, re.MULTILINE)
    assert match, out
    assert match[1] == match[2] and int(match[1]) > 0
    async with sessions() as session:
        tenant_id = await session.scalar(select(BulkJob.tenant_id).where(BulkJob.id == job))
        posted = (
            await session.execute(
                select(func.count(), func.sum(Transaction.amount_cents)).where(
                    Transaction.tenant_id == tenant_id,
                    Transaction.type == "AC",
                    Transaction.status == "POSTED",
                )
            )
        ).one()
        items = await session.scalar(
            select(func.count()).select_from(BulkJobItem).where(BulkJobItem.job_id == job)
        )
    assert posted == (int(match[1]), 250 * int(match[1]))
    assert items == int(match[2])
    assert tenant_id is not None
    await no_drift(sessions, tenant_id)
