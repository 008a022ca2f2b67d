"""Submitting bulk jobs and cancelling them.

A submission is checked here and stored as a QUEUED job with a planning command; the worker
plans it (selects its rows) and applies it in chunks. The same idempotency key returns the same
job, even if the rules would refuse the request by now; a different request under it is an error.
"""

from dataclasses import asdict, replace
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert

from domain.bulk import selection
from domain.bulk.models import BulkJob
from domain.bulk.rules import SELF_PAY_TYPES, parse_percent
from domain.commands.store import Enqueue, clean_key, fingerprint, key_reused
from domain.errors import DomainError, Problem
from domain.events import BulkJobProgress
from domain.ledger.availability import ADJUSTMENT_SCOPE, WRITE_OFF_SCOPE
from domain.locks import lock_bulk_job
from domain.models import AuditRow, Command, Payer, Tenant
from domain.money import positive_cents
from domain.reversals.rules import parse_reason
from domain.transactions.rules import EFFECTS
from domain.transactions.service import resolve_code, tenant_today
from domain.uow import UnitOfWork
from domain.writeoffs.rules import reason_problems

AMOUNT_RULES = {"FC": "amount or percent", "AC": "amount", "AD": "amount", "BD": "", "RF": ""}


def job_scope(kind: str, params: dict[str, Any]) -> str:
    """The scope needed to submit, cancel or reverse a job of this kind."""
    if kind == "REVERSAL":
        return job_scope(params["of"], params)
    if kind == "SELF_PAY":
        return EFFECTS[params["type"]].scope
    if kind == "REMITTANCE":
        return ADJUSTMENT_SCOPE  # and WRITE_OFF_SCOPE: the remittance service checks both
    return WRITE_OFF_SCOPE


def progress(job: BulkJob) -> BulkJobProgress:
    """The event announcing a job's current totals."""
    return BulkJobProgress(
        job.tenant_id,
        job.id,
        job.status,
        job.total_items,
        job.applied_items,
        job.skipped_items,
        job.cancelled_items,
        job.finished_at is not None,
    )


async def submit_bulk_writeoff(
    uow: UnitOfWork,
    *,
    tenant_id: int,
    actor: str,
    idempotency_key: str,
    line_ids: list[int | None] | None,
    raw_filter: selection.RawFilter | None,
    reason: str,
    note: str | None,
    enqueue: Enqueue,
) -> BulkJob:
    """Store a bulk write-off of explicit lines or of the lines a filter selects."""
    asked = {
        "lines": line_ids,
        "filter": None if raw_filter is None else asdict(raw_filter),
        "reason": reason,
        "note": note,
    }
    if job := await _replay(uow, tenant_id, idempotency_key, "WRITEOFF", asked):
        return job
    note = (note or "").strip() or None
    if problems := reason_problems(reason, note):
        raise DomainError(*problems)
    enabled = await uow.session.scalar(
        select(Tenant.writeoff_reasons).where(Tenant.id == tenant_id)
    )
    if reason not in (enabled or []):
        raise DomainError.of("reason", "REASON_DISABLED", f"The reason '{reason}' is not enabled.")
    params: dict[str, Any] = {"reason": reason, "note": note, "lines": None, "filter": None}
    if (line_ids is None) == (raw_filter is None):
        raise DomainError.of(
            "selection", "SELECTION_REQUIRED", "Give either lineIds or a filter, not both."
        )
    if line_ids is not None:
        params["lines"] = list(selection.parse_line_ids(line_ids))
        await selection.check_lines(uow.session, tenant_id, tuple(params["lines"]))
    else:
        assert raw_filter is not None
        parsed = selection.parse_filter(raw_filter, "selection.filter", default_min_cents=1)
        resolved = await selection.resolve_filter(
            uow.session, tenant_id, parsed, "selection.filter"
        )
        params["filter"] = resolved.to_params()
    return await store_job(
        uow, tenant_id, actor, idempotency_key, "WRITEOFF", params, asked, enqueue
    )


async def submit_bulk_self_pay(
    uow: UnitOfWork,
    *,
    tenant_id: int,
    actor: str,
    scopes: frozenset[str],
    idempotency_key: str,
    type_: str,
    payer_code: str,
    amount: str | None,
    percent: str | None,
    transaction_date: date | None,
    raw_filter: selection.RawFilter,
    enqueue: Enqueue,
) -> BulkJob:
    """Store a bulk self-pay run: one posted transaction of `type_` per selected visit."""
    asked = {
        "type": type_,
        "payer": payer_code,
        "amount": amount,
        "percent": percent,
        "date": None if transaction_date is None else transaction_date.isoformat(),
        "filter": asdict(raw_filter),
    }
    if type_ not in SELF_PAY_TYPES:
        raise DomainError.of(
            "type", "UNKNOWN_TYPE", f"Bulk self-pay types: {', '.join(SELF_PAY_TYPES)}."
        )
    if EFFECTS[type_].scope not in scopes:
        raise DomainError.of(
            "type", "FORBIDDEN", f"{type_} transactions need scope {EFFECTS[type_].scope}."
        )
    if job := await _replay(uow, tenant_id, idempotency_key, "SELF_PAY", asked):
        return job
    if raw_filter.payer_id is not None:
        raise DomainError.of(
            "filter.payerId", "PAYER_NOT_ALLOWED", "A self-pay run's payer is its payerCode."
        )
    amount_cents, percent_text = _amount(type_, amount, percent)
    if type_ == "BD" and raw_filter.min_age_days is None:
        raise DomainError.of(
            "filter.minAgeDays", "AGE_REQUIRED", "Bad debt needs the age of the balances in days."
        )
    payer = await uow.session.scalar(
        select(Payer).where(Payer.tenant_id == tenant_id, Payer.code == payer_code.strip())
    )
    if payer is None:
        raise DomainError.of("payerCode", "PAYER_NOT_FOUND", f"No payer {payer_code!r}.")
    try:
        code_id = await resolve_code(uow.session, tenant_id, payer, type_, None)
    except DomainError as error:
        raise DomainError(*(replace(p, field="payerCode") for p in error.problems)) from None
    default_min = None if type_ in ("AC", "RF") else 1
    parsed = selection.parse_filter(raw_filter, "filter", default_min)
    if type_ == "RF" and parsed.balance_min_cents is None and parsed.balance_max_cents is None:
        parsed = replace(parsed, balance_max_cents=-1)
    parsed = replace(parsed, payer_id=payer.id)
    resolved = await selection.resolve_filter(uow.session, tenant_id, parsed, "filter")
    params = {
        "type": type_,
        "payer": payer.id,
        "code": code_id,
        "amount": amount_cents,
        "percent": percent_text,
        "date": (transaction_date or await tenant_today(uow.session, tenant_id)).isoformat(),
        "filter": resolved.to_params(),
    }
    return await store_job(
        uow, tenant_id, actor, idempotency_key, "SELF_PAY", params, asked, enqueue
    )


def _amount(type_: str, amount: str | None, percent: str | None) -> tuple[int | None, str | None]:
    """The fixed amount in cents or the percentage, as the type allows."""
    allowed = AMOUNT_RULES[type_]
    if not allowed and (amount is not None or percent is not None):
        raise DomainError.of(
            "amount",
            "AMOUNT_NOT_ALLOWED",
            f"{type_} takes the whole balance (or credit); give no amount.",
        )
    if percent is not None:
        if type_ != "FC":
            raise DomainError.of("percent", "PERCENT_NOT_ALLOWED", "Only FC takes a percent.")
        if amount is not None:
            raise DomainError.of("percent", "AMOUNT_OR_PERCENT", "Give an amount or a percent.")
        return None, str(parse_percent(percent))
    if allowed and amount is None:
        raise DomainError.of("amount", "AMOUNT_REQUIRED", f"{type_} needs an {allowed}.")
    if amount is None:
        return None, None
    problems: list[Problem] = []
    cents = positive_cents("amount", amount, problems)
    if problems:
        raise DomainError(*problems)
    return cents, None


async def submit_bulk_reversal(
    uow: UnitOfWork,
    *,
    tenant_id: int,
    actor: str,
    scopes: frozenset[str],
    idempotency_key: str,
    job_id: int | None,
    reason: str,
    enqueue: Enqueue,
) -> BulkJob:
    """Store a job reversing everything job `job_id` applied (voiding its transactions)."""
    asked = {"job": job_id, "reason": reason}
    original = await _job_in_scope(uow, tenant_id, job_id, scopes)
    if job := await _replay(uow, tenant_id, idempotency_key, "REVERSAL", asked):
        return job
    text = parse_reason(reason)
    if original.kind == "REVERSAL":
        raise DomainError.of(
            "jobId", "JOB_NOT_REVERSIBLE", "A reversal job cannot be reversed; run the job again."
        )
    if original.finished_at is None:
        raise DomainError.of(
            "jobId", "JOB_NOT_FINISHED", "The job is still running; cancel it or wait for it."
        )
    reversed_by = await uow.session.scalar(
        select(BulkJob.id).where(BulkJob.reverses_job_id == original.id)
    )
    if reversed_by is not None:
        raise DomainError.of("jobId", "JOB_ALREADY_REVERSED", "This job is already reversed.")
    params = {"job": original.id, "of": original.kind, "type": original.params.get("type")}
    params["reason"] = text
    return await store_job(
        uow, tenant_id, actor, idempotency_key, "REVERSAL", params, asked, enqueue, original.id
    )


async def cancel_bulk_job(
    uow: UnitOfWork, *, tenant_id: int, actor: str, scopes: frozenset[str], job_id: int | None
) -> BulkJob:
    """Stop a queued or running job between chunks; cancelling a cancelled job is a no-op."""
    job = await _job_in_scope(uow, tenant_id, job_id, scopes)
    if job.status == "CANCELLED":
        return job
    if job.status not in ("QUEUED", "RUNNING"):
        raise DomainError.of(
            "jobId", "JOB_FINISHED", f"The job is {job.status}; only a queued or running job stops."
        )
    if job.status == "QUEUED":
        job.total_items, job.total_chunks, job.finished_at = 0, 0, func.now()
    job.status = "CANCELLED"
    uow.session.add(
        AuditRow(
            tenant_id=tenant_id, actor=actor, action="BULK_JOB_CANCELLED", details={"job": job.id}
        )
    )
    await uow.session.flush()
    await uow.session.refresh(job)
    uow.record(progress(job))
    return job


async def _job_in_scope(
    uow: UnitOfWork, tenant_id: int, job_id: int | None, scopes: frozenset[str]
) -> BulkJob:
    job = await lock_bulk_job(uow.session, tenant_id, job_id)
    if job is None:
        raise DomainError.of("jobId", "JOB_NOT_FOUND", "No such bulk job.")
    needed = job_scope(job.kind, job.params)
    if needed not in scopes:
        raise DomainError.of("jobId", "FORBIDDEN", f"This job needs scope {needed}.")
    return job


async def _replay(
    uow: UnitOfWork, tenant_id: int, idempotency_key: str, kind: str, asked: dict[str, Any]
) -> BulkJob | None:
    """The job already stored for this exact request under this key, if any."""
    job = await uow.session.scalar(
        select(BulkJob).where(
            BulkJob.tenant_id == tenant_id, BulkJob.idempotency_key == clean_key(idempotency_key)
        )
    )
    if job is not None and job.fingerprint != fingerprint(kind, asked):
        raise key_reused()
    return job


async def store_job(
    uow: UnitOfWork,
    tenant_id: int,
    actor: str,
    idempotency_key: str,
    kind: str,
    params: dict[str, Any],
    asked: dict[str, Any],
    enqueue: Enqueue,
    reverses_job_id: int | None = None,
) -> BulkJob:
    """Insert the QUEUED job and its planning command; enqueue the planning after commit.

    Also how other capabilities start a job of their own kind (a remittance's posting)."""
    key, digest = clean_key(idempotency_key), fingerprint(kind, asked)
    job = await uow.session.scalar(
        insert(BulkJob)
        .values(
            tenant_id=tenant_id,
            idempotency_key=key,
            fingerprint=digest,
            kind=kind,
            params=params,
            actor=actor,
            reverses_job_id=reverses_job_id,
        )
        .on_conflict_do_nothing(constraint="uq_bulk_jobs_tenant_id_idempotency_key")
        .returning(BulkJob)
    )
    if job is None:  # the same key was stored concurrently
        replay = await _replay(uow, tenant_id, idempotency_key, kind, asked)
        assert replay is not None
        return replay
    plan = Command(
        tenant_id=tenant_id,
        kind="BULK_PLAN",
        payload={"job": job.id},
        fingerprint=digest,
        account_ids=[],
        actor=actor,
    )
    uow.session.add(plan)
    await uow.session.flush()
    details = {"job": job.id, "kind": kind, "reason": params.get("reason")}
    uow.session.add(
        AuditRow(
            tenant_id=tenant_id,
            command_id=plan.id,
            actor=actor,
            action="BULK_JOB_SUBMITTED",
            details=details,
        )
    )
    plan_id = plan.id
    uow.after_commit(lambda: enqueue(plan_id))
    return job
