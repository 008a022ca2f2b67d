"""Running a bulk job's commands: planning, then each chunk, exactly once.

A planning or chunk command is claimed like any command (`FOR UPDATE SKIP LOCKED`, PENDING
only), so a redelivered or swept message is a no-op once the chunk committed, and a worker
killed mid-chunk leaves it PENDING for the next delivery. The chunk's rows, entries, results,
command status and the job's counters commit together.
"""

from collections import Counter

from sqlalchemy import func, select, update

from domain.bulk.appliers import APPLIERS, finish_job
from domain.bulk.chunks import Chunk, Item, Result
from domain.bulk.models import BulkJob, BulkJobItem
from domain.bulk.plan import EnqueueMany, plan_job
from domain.bulk.service import progress
from domain.ledger.batch import Provenance
from domain.ledger.sql_rows import update_rows
from domain.locked import ClaimedCommand
from domain.locks import advance_bulk_job, claim_pending_commands, lock_bulk_job
from domain.models import Command
from domain.tenants.policy import load_policy
from domain.uow import UnitOfWork

RESULT_COLUMNS = {
    "status": "TEXT",
    "code": "TEXT",
    "message": "TEXT",
    "amount_cents": "BIGINT",
    "entry_id": "BIGINT",
    "transaction_id": "BIGINT",
}
STOPPED = {"CANCELLED": "JOB_CANCELLED", "FAILED": "JOB_FAILED"}


async def apply_bulk_command(
    uow: UnitOfWork, command_id: int, chunk_size: int, enqueue_chunks: EnqueueMany
) -> str | None:
    """Plan a job or apply a chunk; the command's kind, or None if there was nothing to do."""
    claimed = await claim_pending_commands(uow.session, limit=1, ids=[command_id], bulk=True)
    if not claimed:
        return None
    command = claimed[0]
    if command.kind == "BULK_PLAN":
        await plan_job(uow, command, chunk_size, enqueue_chunks)
    else:
        await apply_chunk(uow, command)
    await _finish(uow, command.id, "APPLIED")
    return command.kind


async def apply_chunk(uow: UnitOfWork, command: ClaimedCommand) -> None:
    """Apply the chunk's PENDING rows; a cancelled or failed job's rows are not attempted."""
    job_id, chunk_no = command.payload["job"], command.payload["chunk"]
    job = (
        await uow.session.execute(
            select(BulkJob.status, BulkJob.kind, BulkJob.params, BulkJob.actor).where(
                BulkJob.id == job_id
            )
        )
    ).one()
    items = await _pending_items(uow, job_id, chunk_no)
    if job.status in STOPPED:
        results = [_not_attempted(item.id, job.status) for item in items]
    elif items:
        chunk = Chunk(
            uow,
            command.tenant_id,
            command.id,
            job.actor,
            job.params,
            await load_policy(uow.session, command.tenant_id),
            items,
            Provenance(command.request_id, command.scopes),
        )
        results = await APPLIERS[job.kind](chunk)
    else:
        results = []
    await _close_chunk(uow, job_id, command.id, results)


async def fail_command(uow: UnitOfWork, command_id: int, message: str) -> None:
    """After an unexpected error: the command is REJECTED and its job FAILED (rows not attempted).

    The rest of the job's chunks then skip their rows, so one bad row cannot hold a job
    RUNNING forever, and nothing half-applied was committed.
    """
    claimed = await claim_pending_commands(uow.session, limit=1, ids=[command_id], bulk=True)
    if not claimed:
        return
    command = claimed[0]
    job = await lock_bulk_job(uow.session, command.tenant_id, command.payload["job"])
    assert job is not None
    if job.status in ("QUEUED", "RUNNING"):
        job.status, job.error_code, job.error_message = "FAILED", "INTERNAL_ERROR", message[:2000]
    if command.kind == "BULK_PLAN":
        job.total_items, job.total_chunks = job.total_items or 0, job.total_chunks or 0
        job.finished_at = func.now()
        await uow.session.flush()
        await uow.session.refresh(job)
        uow.record(progress(job))
    else:
        await uow.session.flush()
        items = await _pending_items(uow, job.id, command.payload["chunk"])
        not_attempted = [_not_attempted(i.id, "FAILED") for i in items]
        await _close_chunk(uow, job.id, command.id, not_attempted)
    await _finish(uow, command.id, "REJECTED", "INTERNAL_ERROR", message[:2000])


def _not_attempted(item_id: int, job_status: str) -> Result:
    return Result(
        item_id, "CANCELLED", STOPPED[job_status], f"Not attempted: the job was {job_status}."
    )


async def _pending_items(uow: UnitOfWork, job_id: int, chunk_no: int) -> list[Item]:
    i = BulkJobItem
    rows = await uow.session.execute(
        select(
            i.id,
            i.account_id,
            i.visit_id,
            i.line_id,
            i.target_entry_id,
            i.target_transaction_id,
            i.expected_balance_cents,
            i.remittance_claim_id,
        )
        .where(i.job_id == job_id, i.chunk_no == chunk_no, i.status == "PENDING")
        .order_by(i.seq)
    )
    return [Item(*row) for row in rows]


async def _close_chunk(
    uow: UnitOfWork, job_id: int, command_id: int, results: list[Result]
) -> None:
    """Store each row's result and add the chunk to the job's totals (last lock taken); the
    chunk that closes the job runs its kind's finisher."""
    if results:
        await update_rows(
            uow.session,
            "bulk_job_items",
            "id",
            RESULT_COLUMNS,
            [r.__dict__ for r in results],
        )
    counts = Counter(r.status for r in results)
    cents = sum(r.amount_cents or 0 for r in results if r.status == "APPLIED")
    job = await advance_bulk_job(
        uow.session,
        job_id,
        applied=counts["APPLIED"],
        skipped=counts["SKIPPED"],
        cancelled=counts["CANCELLED"],
        cents=cents,
    )
    if job.done_chunks == job.total_chunks:
        await finish_job(uow, job, command_id)
    uow.record(progress(job))


async def _finish(
    uow: UnitOfWork,
    command_id: int,
    status: str,
    code: str | None = None,
    message: str | None = None,
) -> None:
    await uow.session.execute(
        update(Command)
        .where(Command.id == command_id)
        .values(status=status, error_code=code, error_message=message, finished_at=func.now())
    )
