"""The audit scenarios of the remittance mutations (see `test_audit_sets`): what importing,
posting after review and reversing a remittance leave, request by request.

The file names the test world's visit (claim `<slug>-1`): line L1 (100.00) paid 70.00 with
CO-45 20.00 and PR-2 10.00, line L2 (50.00) paid 50.00; payer 1 has default PY and CW codes.
"""

from typing import Any

from sqlalchemy import select

from domain.bulk.models import BulkJob
from domain.remittances.generate import (
    AdjustmentSpec,
    ClaimSpec,
    LineSpec,
    RemittanceSpec,
    generate_835,
)
from domain.remittances.models import Remittance
from tests.audit.ops import Run, pk
from tests.remittances.gql import IMPORT as IMPORT_REMITTANCE
from tests.remittances.gql import POST as POST_REMITTANCE
from tests.remittances.gql import REVERSE as REVERSE_REMITTANCE
from tests.support.client import gql

STATUS = "query($id: ID!) { remittance(id: $id) { status } }"


def _file(run: Run, trace: str, co: int = 2000) -> dict[str, Any]:
    """Variables importing the file as text; `co` other than 20.00 makes claim and line 1
    unbalanced (held for review)."""
    first = LineSpec(
        "99213",
        10000,
        7000,
        adjustments=(AdjustmentSpec("CO", "45", co), AdjustmentSpec("PR", "2", 1000)),
    )
    claim = ClaimSpec(
        f"{run.world.slug}-1", 15000, 12000, lines=(first, LineSpec("99213", 5000, 5000))
    )
    text = generate_835([RemittanceSpec(trace, "1999999999", (claim,))])
    return {"input": {"text": text, "filename": f"{trace}.835"}}


async def _settled(run: Run, remittance_id: str) -> str:
    while True:
        body = await gql(run.client, STATUS, {"id": remittance_id}, run.token)
        status = str(body["data"]["remittance"]["status"])
        if status not in ("POSTING", "REVERSING"):
            return status


async def _row(run: Run, remittance_id: str) -> Remittance:
    async with run.sessions() as session:
        return await session.get_one(Remittance, pk(remittance_id))


async def _job(run: Run, job_id: int | None) -> BulkJob:
    async with run.sessions() as session:
        job = await session.scalar(select(BulkJob).where(BulkJob.id == job_id))
    assert job is not None
    return job


def _submitted(job: BulkJob) -> tuple[Any, ...]:
    details = {"job": job.id, "kind": job.kind, "reason": job.params.get("reason")}
    return ("BULK_JOB_SUBMITTED", None, None, None, None, None, None, details)


def _closed(job: BulkJob, action: str, **details: Any) -> tuple[Any, ...]:
    """The row the chunk that closes the job writes (it names that chunk's command)."""
    return (action, None, None, None, None, None, None, {"job": job.id, **job.params, **details})


def _postings(after_co: int) -> list[tuple[Any, ...]]:
    """The chunk's rows: CO-45 on L1 (to `after_co`), the PR-2 memo, then both payments."""
    return [
        ("REMITTANCE_ADJUSTMENT_POSTED", "ADJUSTMENT", False, "L1", 10000, after_co, None, None),
        ("REMITTANCE_MEMO_POSTED", "ADJUSTMENT", False, "L1", after_co, after_co, None, None),
        (
            "REMITTANCE_PAYMENT_POSTED",
            "PAYMENT",
            False,
            "L1",
            after_co,
            after_co - 7000,
            None,
            None,
        ),
        ("REMITTANCE_PAYMENT_POSTED", "PAYMENT", False, "L2", 5000, 0, None, None),
    ]


async def import_remittance(run: Run) -> list[tuple[Any, ...]]:
    await run.payer_with_codes()
    answer = await run.mutate(IMPORT_REMITTANCE, _file(run, "T-AUDIT"))
    [shown] = answer["remittances"]
    assert await _settled(run, shown["id"]) == "POSTED"
    refused = {"input": {"text": "hello world, not an 835"}}
    run.refuse_with(IMPORT_REMITTANCE, refused, ("text", "REMITTANCE_NOT_835"))
    remittance = await _row(run, shown["id"])
    job = await _job(run, remittance.job_id)
    imported = {
        "file": remittance.file_id,
        "remittances": [remittance.id],
        "filename": "T-AUDIT.835",
    }
    return [
        _submitted(job),
        ("REMITTANCE_IMPORTED", None, None, None, None, None, None, imported),
        *_postings(8000),
        _closed(job, "REMITTANCE_POSTED", posted=remittance.posted_cents, unapplied=0),
    ]


async def post_remittance(run: Run) -> list[tuple[Any, ...]]:
    await run.payer_with_codes()
    held = await run.setup(IMPORT_REMITTANCE, _file(run, "T-AUDIT-HELD", co=1500))
    [shown] = held["remittances"]
    await run.mutate(POST_REMITTANCE, {"id": shown["id"]})
    assert await _settled(run, shown["id"]) == "POSTED"
    run.refuse_with(
        POST_REMITTANCE, {"id": "UmVtaXR0YW5jZTow"}, ("remittanceId", "REMITTANCE_NOT_FOUND")
    )
    remittance = await _row(run, shown["id"])
    job = await _job(run, remittance.job_id)
    review = {"remittance": remittance.id, "imbalances": remittance.imbalances, "issues": []}
    return [
        _submitted(job),
        ("REMITTANCE_POSTED_AFTER_REVIEW", None, None, None, None, None, None, review),
        *_postings(8500),
        _closed(job, "REMITTANCE_POSTED", posted=remittance.posted_cents, unapplied=0),
    ]


async def reverse_remittance(run: Run) -> list[tuple[Any, ...]]:
    await run.payer_with_codes()
    [shown] = (await run.setup(IMPORT_REMITTANCE, _file(run, "T-AUDIT-UNDO")))["remittances"]
    assert await _settled(run, shown["id"]) == "POSTED"
    undo = {"idempotencyKey": "undo", "remittanceId": shown["id"], "reason": "wrong practice"}
    await run.mutate(REVERSE_REMITTANCE, {"input": undo})
    assert await _settled(run, shown["id"]) == "REVERSED"
    again = {**undo, "idempotencyKey": "undo-again"}
    run.refuse_with(
        REVERSE_REMITTANCE, {"input": again}, ("remittanceId", "REMITTANCE_ALREADY_REVERSED")
    )
    remittance = await _row(run, shown["id"])
    job = await _job(run, remittance.reversal_job_id)
    undone = [
        ("ADJUSTMENT", "L1", 1000, 3000),
        ("ADJUSTMENT", "L1", 3000, 3000),
        ("PAYMENT", "L1", 3000, 10000),
        ("PAYMENT", "L2", 0, 5000),
    ]
    return [
        _submitted(job),
        *(
            (f"{kind}_{side}", kind, side == "REVERSAL", line, before, after, True, None)
            for kind, line, before, after in undone
            for side in ("REVERSAL", "REVERSED")
        ),
        _closed(job, "REMITTANCE_REVERSED", remittance=remittance.id),
    ]
