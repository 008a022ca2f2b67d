"""Which applier runs a chunk of each job kind, and what closes a job of each kind.

Capabilities that post through bulk jobs (remittances) plug in here, so the job machinery
(`domain.bulk.apply`, `domain.bulk.plan`) stays the same for every kind.
"""

from domain.bulk.chunks import (
    Applier,
    Chunk,
    Result,
    apply_reversals,
    apply_self_pay,
    apply_writeoffs,
)
from domain.bulk.models import BulkJob
from domain.remittances import finishing, posting, reversing
from domain.uow import UnitOfWork


async def _reversal(chunk: Chunk) -> list[Result]:
    if chunk.params["of"] == "REMITTANCE":
        return await reversing.reverse_entries(chunk)
    return await apply_reversals(chunk)


APPLIERS: dict[str, Applier] = {
    "WRITEOFF": apply_writeoffs,
    "SELF_PAY": apply_self_pay,
    "REVERSAL": _reversal,
    "REMITTANCE": posting.apply_claims,
}


async def finish_job(uow: UnitOfWork, job: BulkJob, command_id: int) -> None:
    """Run when a job's last chunk closes (or planning found nothing to do), in that
    transaction, after the job row is locked; `command_id` is that chunk's (or planning's)
    command, which the finisher's audit rows name."""
    if job.kind == "REMITTANCE":
        await finishing.finish_posting(uow, job, command_id)
    elif job.kind == "REVERSAL" and job.params["of"] == "REMITTANCE":
        await finishing.finish_reversal(uow, job, command_id)
