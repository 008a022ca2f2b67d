"""Bulk jobs over GraphQL: submit, cancel, reverse, read and follow them.

Each mutation parses, authorises, calls one domain function in a unit of work, maps errors.
"""

from collections.abc import AsyncGenerator
from datetime import date

import strawberry
from graphql import GraphQLError
from sqlalchemy import select

from api.auth import Principal
from api.bulk_types import BulkJob, BulkJobEvent, BulkJobPayload
from api.context import Info
from api.ids import decode_id
from api.pagination import Connection, paginate
from api.scalars import Money
from api.transaction_api import WRITERS, perform
from api.types import UserError
from domain.bulk import models as bulk_models
from domain.bulk import service as bulk_service
from domain.bulk.selection import RawFilter
from domain.events import BulkJobProgress
from domain.ledger.availability import WRITE_OFF_SCOPE
from domain.uow import UnitOfWork

READ = "billing.read"


@strawberry.input(description="Rows by their balance, payer, age, visit state and account.")
class BulkFilterInput:
    payer_id: strawberry.ID | None = None
    balance_min: Money | None = strawberry.field(
        default=None, description="Default 0.01 when neither bound is given (refunds: ≤ -0.01)."
    )
    balance_max: Money | None = None
    min_age_days: int | None = strawberry.field(
        default=None, description="Days since the visit's date of service, at least."
    )
    visit_states: list[str] = strawberry.field(default_factory=list)
    account_numbers: list[str] = strawberry.field(default_factory=list)

    def raw(self, payer_id: int | None = None) -> RawFilter:
        return RawFilter(
            payer_id,
            self.balance_min,
            self.balance_max,
            self.min_age_days,
            tuple(self.visit_states),
            tuple(self.account_numbers),
        )


@strawberry.input(description="Either explicit lines or a filter.")
class BulkLineSelectionInput:
    line_ids: list[strawberry.ID] | None = None
    filter: BulkFilterInput | None = None


@strawberry.input
class BulkWriteOffInput:
    idempotency_key: str
    selection: BulkLineSelectionInput
    reason: str = strawberry.field(description="A write-off reason; each line's whole balance.")
    note: str | None = None


@strawberry.input
class BulkSelfPayInput:
    idempotency_key: str
    type: str = strawberry.field(description="BD, FC, AC, AD or RF.")
    amount: Money | None = strawberry.field(default=None, description="FC, AC, AD: per visit.")
    percent: str | None = strawberry.field(
        default=None, description="FC only: percent of the visit balance, rounded half-up."
    )
    payer_code: str = strawberry.field(default="1", description="The self-pay payer.")
    transaction_date: date | None = None
    filter: BulkFilterInput = strawberry.field(default_factory=BulkFilterInput)


@strawberry.input
class ReverseBulkJobInput:
    idempotency_key: str
    job_id: strawberry.ID
    reason: str


def _job_pk(global_id: str) -> int | None:
    return decode_id(global_id, "BulkJob")


async def _payload(info: Info, pk: int | None, errors: list[UserError]) -> BulkJobPayload:
    if pk is None or errors:
        return BulkJobPayload(job=None, user_errors=errors)
    async with info.context.sessions() as session:
        row = await session.get(bulk_models.BulkJob, pk)
    assert row is not None
    return BulkJobPayload(job=BulkJob.from_row(row), user_errors=[])


@strawberry.type
class BulkMutation:
    @strawberry.mutation(description="Write off many lines as one job (billing.payment.write).")
    async def bulk_write_off(self, info: Info, input: BulkWriteOffInput) -> BulkJobPayload:
        chosen = input.selection

        async def act(uow: UnitOfWork, who: Principal) -> int:
            job = await bulk_service.submit_bulk_writeoff(
                uow,
                tenant_id=who.tenant_id,
                actor=who.actor,
                idempotency_key=input.idempotency_key,
                line_ids=None
                if chosen.line_ids is None
                else [decode_id(i, "ChargeLine") for i in chosen.line_ids],
                raw_filter=None
                if chosen.filter is None
                else chosen.filter.raw(_payer(chosen.filter.payer_id)),
                reason=input.reason,
                note=input.note,
                enqueue=info.context.services.enqueuer.apply_bulk,
            )
            return job.id

        pk, errors = await perform(info, (WRITE_OFF_SCOPE,), act)
        return await _payload(info, pk, errors)

    @strawberry.mutation(description="Post one self-pay transaction per selected visit, as a job.")
    async def bulk_self_pay_transactions(
        self, info: Info, input: BulkSelfPayInput
    ) -> BulkJobPayload:
        async def act(uow: UnitOfWork, who: Principal) -> int:
            job = await bulk_service.submit_bulk_self_pay(
                uow,
                tenant_id=who.tenant_id,
                actor=who.actor,
                scopes=who.scopes,
                idempotency_key=input.idempotency_key,
                type_=input.type,
                payer_code=input.payer_code,
                amount=input.amount,
                percent=input.percent,
                transaction_date=input.transaction_date,
                raw_filter=input.filter.raw(_payer(input.filter.payer_id)),
                enqueue=info.context.services.enqueuer.apply_bulk,
            )
            return job.id

        pk, errors = await perform(info, WRITERS, act)
        return await _payload(info, pk, errors)

    @strawberry.mutation(description="Reverse everything a finished job applied, as one job.")
    async def reverse_bulk_job(self, info: Info, input: ReverseBulkJobInput) -> BulkJobPayload:
        async def act(uow: UnitOfWork, who: Principal) -> int:
            job = await bulk_service.submit_bulk_reversal(
                uow,
                tenant_id=who.tenant_id,
                actor=who.actor,
                scopes=who.scopes,
                idempotency_key=input.idempotency_key,
                job_id=_job_pk(input.job_id),
                reason=input.reason,
                enqueue=info.context.services.enqueuer.apply_bulk,
            )
            return job.id

        pk, errors = await perform(info, WRITERS, act)
        return await _payload(info, pk, errors)

    @strawberry.mutation(description="Stop a queued or running job between chunks.")
    async def cancel_bulk_job(self, info: Info, job_id: strawberry.ID) -> BulkJobPayload:
        async def act(uow: UnitOfWork, who: Principal) -> int:
            job = await bulk_service.cancel_bulk_job(
                uow,
                tenant_id=who.tenant_id,
                actor=who.actor,
                scopes=who.scopes,
                job_id=_job_pk(job_id),
            )
            return job.id

        pk, errors = await perform(info, WRITERS, act)
        return await _payload(info, pk, errors)


def _payer(global_id: strawberry.ID | None) -> int | None:
    """The payer's key; an id naming no payer becomes 0, which matches none (PAYER_NOT_FOUND)."""
    return None if global_id is None else decode_id(global_id, "Payer") or 0


@strawberry.type
class BulkQuery:
    @strawberry.field(description="Bulk jobs, oldest first, optionally by status or kind.")
    async def bulk_jobs(
        self,
        info: Info,
        status: str | None = None,
        kind: str | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> Connection[BulkJob]:
        tenant_id = info.context.require(READ).tenant_id
        job = bulk_models.BulkJob
        query = select(job).where(job.tenant_id == tenant_id)
        if status is not None:
            query = query.where(job.status == status)
        if kind is not None:
            query = query.where(job.kind == kind)
        sessions = info.context.sessions
        return await paginate(sessions, query, job.id, first, after, BulkJob.from_row)


@strawberry.type
class BulkSubscription:
    @strawberry.subscription(description="A job's state now, then its progress until finished.")
    async def bulk_job(self, info: Info, id: strawberry.ID) -> AsyncGenerator[BulkJobEvent, None]:
        tenant_id = info.context.require(READ).tenant_id
        pk = _job_pk(id)
        services = info.context.services
        async with services.broadcaster.listen(f"{tenant_id}:bulkjob:{pk}") as queue:
            async with info.context.sessions() as session:
                row = await session.scalar(
                    select(bulk_models.BulkJob).where(
                        bulk_models.BulkJob.id == pk, bulk_models.BulkJob.tenant_id == tenant_id
                    )
                )
            if row is None:
                raise GraphQLError("No such bulk job.", extensions={"code": "NOT_FOUND"})
            latest = bulk_service.progress(row)
            yield BulkJobEvent.of(latest)
            while not latest.finished:
                event = await queue.get()
                if isinstance(event, BulkJobProgress) and _newer(event, latest):
                    latest = event
                    yield BulkJobEvent.of(event)


def _newer(event: BulkJobProgress, latest: BulkJobProgress) -> bool:
    """Chunks commit in parallel, so their events may arrive out of order: keep only progress."""
    done = event.applied + event.skipped + event.cancelled
    seen = latest.applied + latest.skipped + latest.cancelled
    return (
        done > seen
        or (event.finished and not latest.finished)
        or (event.total is not None and latest.total is None)
        or (event.status != latest.status and latest.status in ("QUEUED", "RUNNING"))
    )
