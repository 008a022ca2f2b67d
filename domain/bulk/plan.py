"""Planning a bulk job: select its rows, cut them into chunks, store one command per chunk.

Runs once per job (the planning command is claimed like any command and the job row is locked
and re-checked). Rows are numbered in (account, visit, line) order and a chunk never splits an
account, so chunks applied in parallel by different workers do not wait on each other's locks.
"""

from collections.abc import Awaitable, Callable

from sqlalchemy import func, insert, literal, select, text, update

from domain.bulk import selection
from domain.bulk.appliers import finish_job
from domain.bulk.models import BulkJob, BulkJobItem
from domain.bulk.service import progress
from domain.commands.store import fingerprint
from domain.locked import ClaimedCommand
from domain.locks import lock_bulk_job
from domain.models import Command, LedgerEntry
from domain.remittances.models import RemittanceClaim
from domain.transactions.service import tenant_today
from domain.uow import UnitOfWork

EnqueueMany = Callable[[list[int]], Awaitable[None]]
ITEM_COLUMNS = (
    "account_id",
    "visit_id",
    "line_id",
    "target_entry_id",
    "target_transaction_id",
    "remittance_claim_id",
    "balance",
)


async def plan_job(
    uow: UnitOfWork, command: ClaimedCommand, chunk_size: int, enqueue_chunks: EnqueueMany
) -> None:
    """Write the job's items and chunk commands and start it (a no-op unless QUEUED)."""
    job = await lock_bulk_job(uow.session, command.tenant_id, command.payload["job"])
    if job is None or job.status != "QUEUED":
        return
    rows = await _rows(uow, job)
    await _insert_items(uow, job, rows, chunk_size)
    chunk_ids = await _chunk_commands(uow, job, command)
    job.total_items = await uow.session.scalar(
        select(func.count()).select_from(BulkJobItem).where(BulkJobItem.job_id == job.id)
    )
    job.total_chunks = len(chunk_ids)
    job.status = "RUNNING" if chunk_ids else "DONE"
    await uow.session.execute(
        update(BulkJob)
        .where(BulkJob.id == job.id)
        .values(
            started_at=func.now(),
            finished_at=None if chunk_ids else func.now(),
        )
    )
    await uow.session.flush()
    await uow.session.refresh(job)
    if not chunk_ids:
        await finish_job(uow, job, command.id)
    uow.record(progress(job))
    if chunk_ids:
        uow.after_commit(lambda: enqueue_chunks(chunk_ids))


async def _rows(uow: UnitOfWork, job: BulkJob) -> selection.Rows:
    params = job.params
    if job.kind == "REVERSAL" and params["of"] == "REMITTANCE":
        return _entries_of_job(job.tenant_id, params["job"])
    if job.kind == "REVERSAL":
        return _applied_items(params["job"], params["of"])
    if job.kind == "REMITTANCE":
        return _claims_to_post(job.tenant_id, params["remittance"])
    today = await tenant_today(uow.session, job.tenant_id)
    chosen = (
        None if params["filter"] is None else selection.BalanceFilter.from_params(params["filter"])
    )
    if job.kind == "SELF_PAY":
        assert chosen is not None
        rows = selection.select_visits(job.tenant_id, chosen, today)
    else:
        lines = None if params["lines"] is None else tuple(params["lines"])
        rows = selection.select_lines(job.tenant_id, lines, chosen, today)
    return rows.add_columns(selection.none().label("remittance_claim_id"))


def _applied_items(job_id: int, kind: str) -> selection.Rows:
    """What job `job_id` applied: its entries (write-offs) or its transactions (self-pay)."""
    item = BulkJobItem
    by_entry = kind == "WRITEOFF"
    return select(
        item.account_id,
        item.visit_id,
        item.line_id,
        (item.entry_id if by_entry else selection.none()).label("target_entry_id"),
        (selection.none() if by_entry else item.transaction_id).label("target_transaction_id"),
        selection.none().label("remittance_claim_id"),
        selection.none().label("balance"),
    ).where(item.job_id == job_id, item.status == "APPLIED")


def _entries_of_job(tenant_id: int, job_id: int) -> selection.Rows:
    """Every entry job `job_id`'s chunks wrote (a remittance's postings), one row each."""
    chunks = select(Command.id).where(
        Command.tenant_id == tenant_id,
        Command.kind == "BULK_CHUNK",
        Command.payload["job"].as_integer() == job_id,
    )
    e = LedgerEntry
    return select(
        e.account_id,
        e.visit_id,
        e.line_id,
        e.id.label("target_entry_id"),
        selection.none().label("target_transaction_id"),
        selection.none().label("remittance_claim_id"),
        selection.none().label("balance"),
    ).where(e.tenant_id == tenant_id, e.command_id.in_(chunks))


def _claims_to_post(tenant_id: int, remittance_id: int) -> selection.Rows:
    """A remittance's matched claims, one row each (on the visit a reversal's original hit)."""
    c = RemittanceClaim
    return select(
        c.account_id,
        c.visit_id,
        selection.none().label("line_id"),
        selection.none().label("target_entry_id"),
        selection.none().label("target_transaction_id"),
        c.id.label("remittance_claim_id"),
        selection.none().label("balance"),
    ).where(c.tenant_id == tenant_id, c.remittance_id == remittance_id, c.outcome == "PENDING")


async def _insert_items(
    uow: UnitOfWork, job: BulkJob, rows: selection.Rows, chunk_size: int
) -> None:
    """Number the rows and give each the chunk its account starts in, in one statement."""
    picked = rows.subquery("picked")
    numbered = select(
        *[picked.c[name] for name in ITEM_COLUMNS],
        func.row_number()
        .over(
            order_by=(
                picked.c.account_id,
                picked.c.visit_id,
                picked.c.line_id,
                picked.c.remittance_claim_id,
                picked.c.target_entry_id,
            )
        )
        .label("seq"),
    ).subquery("numbered")
    first_of_account = func.min(numbered.c.seq).over(partition_by=numbered.c.account_id)
    chunked = select(numbered, ((first_of_account - 1) // chunk_size).label("raw_chunk")).subquery(
        "chunked"
    )
    final = select(
        literal(job.tenant_id),
        literal(job.id),
        chunked.c.seq,
        func.dense_rank().over(order_by=chunked.c.raw_chunk) - 1,
        *[chunked.c[name] for name in ITEM_COLUMNS],
    )
    target = [
        "tenant_id",
        "job_id",
        "seq",
        "chunk_no",
        *ITEM_COLUMNS[:-1],
        "expected_balance_cents",
    ]
    await uow.session.execute(insert(BulkJobItem).from_select(target, final))


async def _chunk_commands(uow: UnitOfWork, job: BulkJob, planning: ClaimedCommand) -> list[int]:
    """One PENDING command per chunk, naming the accounts it touches; their ids in order.

    Chunks carry the submitting request's id and scopes, so their audit rows record them."""
    result = await uow.session.scalars(
        text(
            "INSERT INTO commands "
            "(tenant_id, kind, payload, fingerprint, account_ids, actor, request_id, scopes) "
            "SELECT CAST(:tenant AS BIGINT), 'BULK_CHUNK', "
            "  jsonb_build_object('job', CAST(:job AS BIGINT), 'chunk', chunk_no), "
            "  CAST(:digest AS TEXT), array_agg(DISTINCT account_id), CAST(:actor AS TEXT), "
            "  CAST(:request_id AS TEXT), CAST(:scopes AS TEXT[]) "
            "FROM bulk_job_items WHERE job_id = CAST(:job AS BIGINT) "
            "GROUP BY chunk_no ORDER BY chunk_no "
            "RETURNING id"
        ),
        {
            "tenant": job.tenant_id,
            "job": job.id,
            "digest": fingerprint("BULK_CHUNK", {"job": job.id}),
            "actor": job.actor,
            "request_id": planning.request_id,
            "scopes": planning.scopes,
        },
    )
    return sorted(result.all())
