"""Starting a remittance's posting (at import, or after review) and reversing it: both are bulk
jobs, so posting is resumable after a kill, exactly once, and followed like any job."""

from datetime import date

from domain.bulk.models import BulkJob
from domain.bulk.service import store_job, submit_bulk_reversal
from domain.commands.store import Enqueue, clean_key
from domain.errors import DomainError
from domain.ledger.availability import ADJUSTMENT_SCOPE, WRITE_OFF_SCOPE
from domain.ledger.sql_rows import next_ids
from domain.locks import lock_remittance
from domain.models import AuditRow, Payer
from domain.remittances.models import Remittance
from domain.reversals.rules import parse_reason
from domain.transactions.service import resolve_code, tenant_today
from domain.uow import UnitOfWork

SCOPES = (WRITE_OFF_SCOPE, ADJUSTMENT_SCOPE)
"""A remittance posts payments and adjustments: importing, posting and reversing need both."""


def require_scopes(scopes: frozenset[str]) -> None:
    """Refuse a caller without both scopes a remittance's postings need."""
    missing = [s for s in SCOPES if s not in scopes]
    if missing:
        raise DomainError.of(
            None,
            "FORBIDDEN",
            f"Remittances need scopes {' and '.join(SCOPES)}; missing {', '.join(missing)}.",
        )


async def start_posting(
    uow: UnitOfWork,
    tenant_id: int,
    actor: str,
    remittance_id: int | None,
    enqueue: Enqueue,
    *,
    review: bool,
) -> Remittance:
    """Start the job that posts the remittance (a no-op unless it waits in NEEDS_REVIEW).

    Without `review`, only a balanced remittance without issues starts; with it (a person
    posts it anyway), any does, and the review is audited."""
    remittance = await lock_remittance(uow.session, tenant_id, remittance_id)
    if remittance is None:
        raise DomainError.of("remittanceId", "REMITTANCE_NOT_FOUND", "No such remittance.")
    clean = remittance.balanced and not remittance.issues
    if remittance.status != "NEEDS_REVIEW" or not (review or clean):
        return remittance
    codes = await _codes(uow, tenant_id, remittance.payer_id)
    when = remittance.payment_date or await tenant_today(uow.session, tenant_id)
    txn = (await next_ids(uow.session, "transactions_id_seq", 1))[0]
    params = {
        "remittance": remittance.id,
        "trace": remittance.trace_number,
        "payer": remittance.payer_id,
        "code": codes[0],
        "cw_code": codes[1],
        "date": date.isoformat(when),
        "transaction": txn,
    }
    key = f"remittance:{remittance.id}:post"
    job = await store_job(uow, tenant_id, actor, key, "REMITTANCE", params, params, enqueue)
    remittance.status, remittance.job_id, remittance.transaction_id = "POSTING", job.id, txn
    if review:
        remittance.reviewed_by = actor
        uow.session.add(
            AuditRow(
                tenant_id=tenant_id,
                actor=actor,
                action="REMITTANCE_POSTED_AFTER_REVIEW",
                details={
                    "remittance": remittance.id,
                    "imbalances": remittance.imbalances,
                    "issues": remittance.issues,
                },
            )
        )
    await uow.session.flush()
    return remittance


async def post_remittance(
    uow: UnitOfWork,
    *,
    tenant_id: int,
    actor: str,
    scopes: frozenset[str],
    remittance_id: int | None,
    enqueue: Enqueue,
) -> Remittance:
    """A person posts a remittance held for review (NEEDS_REVIEW) anyway; audited. Asking
    again once it posts returns it as it is."""
    require_scopes(scopes)
    return await start_posting(uow, tenant_id, actor, remittance_id or 0, enqueue, review=True)


async def _codes(uow: UnitOfWork, tenant_id: int, payer_id: int | None) -> tuple[int | None, ...]:
    """The payer's default PY code (required when there is a payer) and CW code (optional)."""
    if payer_id is None:
        return None, None
    payer = await uow.session.get_one(Payer, payer_id)
    try:
        payment = await resolve_code(uow.session, tenant_id, payer, "PY", None)
    except DomainError as error:
        raise DomainError.of("file", error.code, error.problems[0].message) from None
    try:
        contractual: int | None = await resolve_code(uow.session, tenant_id, payer, "CW", None)
    except DomainError:
        contractual = None
    return payment, contractual


async def reverse_remittance(
    uow: UnitOfWork,
    *,
    tenant_id: int,
    actor: str,
    scopes: frozenset[str],
    idempotency_key: str,
    remittance_id: int | None,
    reason: str,
    enqueue: Enqueue,
) -> BulkJob:
    """A job reversing everything the remittance posted (its payer reversals excepted: a
    reversal is never reversed), with paired audit rows; at most once."""
    require_scopes(scopes)
    remittance = await lock_remittance(uow.session, tenant_id, remittance_id)
    if remittance is None:
        raise DomainError.of("remittanceId", "REMITTANCE_NOT_FOUND", "No such remittance.")
    if remittance.reversal_job_id is not None:
        replay = await uow.session.get_one(BulkJob, remittance.reversal_job_id)
        if replay.idempotency_key == clean_key(idempotency_key):
            return replay
        raise DomainError.of(
            "remittanceId", "REMITTANCE_ALREADY_REVERSED", "This remittance is already reversed."
        )
    if remittance.status != "POSTED" or remittance.job_id is None:
        raise DomainError.of(
            "remittanceId",
            "REMITTANCE_NOT_POSTED",
            f"The remittance is {remittance.status}; only a posted remittance is reversed.",
        )
    text = parse_reason(reason)
    job = await submit_bulk_reversal(
        uow,
        tenant_id=tenant_id,
        actor=actor,
        scopes=scopes,
        idempotency_key=idempotency_key,
        job_id=remittance.job_id,
        reason=text,
        enqueue=enqueue,
    )
    remittance.status, remittance.reversal_job_id = "REVERSING", job.id
    remittance.reversal_reason = text
    await uow.session.flush()
    return job
