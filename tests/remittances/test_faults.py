"""A remittance's posting survives its worker being killed mid-job: every claim posts exactly
once, the payment transaction adds up, the oracle is clean."""

from typing import TYPE_CHECKING, Any

import pytest
from celery import Celery
from sqlalchemy import func, select

from arledger.config import Settings
from domain.bulk.apply import apply_bulk_command
from domain.db import SessionFactory
from domain.models import Command, LedgerEntry, Transaction
from domain.remittances.generate import generate_835, synthetic_remittance
from domain.remittances.parser import parse_835
from domain.uow import UnitOfWork
from tests.bulk.ops import Bulk, no_enqueue
from tests.bulk.test_faults import wait_mid_chunk
from tests.remittances.world import Remit, world_for

if TYPE_CHECKING:
    from tests.conftest import Worker


async def _no_enqueue_many(command_ids: list[int]) -> None:
    return None


@pytest.fixture
def remit(sessions: SessionFactory, celery_app: Celery, settings: Settings, worker: Any) -> Remit:
    return Remit(sessions, Bulk(sessions, celery_app, settings))


async def test_a_worker_killed_mid_posting_resumes_and_posts_every_claim_once(
    remit: Remit, sessions: SessionFactory, worker: "Worker"
) -> None:
    # given a balanced remittance of 600 claims (1,800 lines), its posting planned in 30
    # chunks of 20 claims whose messages all go to the worker
    spec = synthetic_remittance(600, 3, seed=11)
    data = generate_835([spec]).encode()
    world = await world_for(sessions, parse_835(data))
    remit.bulk.enqueue = no_enqueue  # type: ignore[method-assign]
    imported = await remit.import_(world.tenant_id, data)
    remittance = await remit.remittance(imported.remittance_ids[0])
    chunk_ids = await _plan(sessions, remittance.job_id or 0, chunk_size=20)
    assert len(chunk_ids) == 30
    remit.bulk.send(chunk_ids)
    # when the whole worker is killed once a chunk committed and another is in a transaction
    try:
        await wait_mid_chunk(remit.bulk, sessions, remittance.job_id or 0)
        worker.kill()
        at_kill = await remit.bulk.job(remittance.job_id or 0)
    finally:
        if not worker.running:
            worker.start()
    assert 1 <= at_kill.done_chunks < 30
    # and a new worker runs (the sweeper re-enqueues the chunks whose messages were lost)
    done = await remit.settled(remittance.id, within=90)
    # then every claim posted exactly once: an entry per CAS triplet (CO-45 reducing, PR-2 as
    # memo) and one payment per paid line; the transaction is the whole check
    claims = await remit.claims(remittance.id)
    assert {c.outcome for c in claims} == {"POSTED"}
    expected_entries = sum(
        sum(1 for a in line.adjustments if a.cents) + (1 if line.paid_cents else 0)
        for claim in spec.claims
        for line in claim.lines
    )
    async with sessions() as session:
        posted = await session.scalar(
            select(func.count()).where(
                LedgerEntry.tenant_id == world.tenant_id, LedgerEntry.kind != "CHARGE"
            )
        )
        txn = await session.get_one(Transaction, done.transaction_id)
    assert posted == expected_entries
    assert (done.status, done.posted_cents, done.unapplied_cents) == (
        "POSTED",
        spec.payment_cents,
        0,
    )
    assert (txn.amount_cents, txn.status) == (spec.payment_cents, "POSTED")
    assert await remit.oracle(world.tenant_id) == []


async def _plan(sessions: SessionFactory, job_id: int, chunk_size: int) -> list[int]:
    """Plan the job here with small chunks; the chunk command ids in chunk order."""
    async with UnitOfWork(sessions) as uow:
        plan_id = await uow.session.scalar(
            select(Command.id).where(
                Command.kind == "BULK_PLAN", Command.payload["job"].as_integer() == job_id
            )
        )
        assert plan_id is not None
        assert await apply_bulk_command(uow, plan_id, chunk_size, _no_enqueue_many) == "BULK_PLAN"
        chunk_ids = list(
            await uow.session.scalars(
                select(Command.id)
                .where(Command.kind == "BULK_CHUNK", Command.payload["job"].as_integer() == job_id)
                .order_by(Command.payload["chunk"].as_integer())
            )
        )
        await uow.commit()
    return chunk_ids
