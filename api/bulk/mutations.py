"""Bulk jobs over GraphQL: submit, cancel and reverse them."""

from datetime import date

import strawberry

from api.actions import WRITERS, perform
from api.auth import Principal
from api.bulk.types import BulkJob, BulkJobPayload
from api.context import Info
from api.enums import BulkSelfPayType, WriteOffReason
from api.ids import decode_id
from api.scalars import Money
from api.types import UserError
from domain.bulk import models as bulk_models
from domain.bulk import service as bulk_service
from domain.bulk.selection import RawFilter
from domain.ledger.availability import WRITE_OFF_SCOPE
from domain.uow import UnitOfWork


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
    reason: WriteOffReason = strawberry.field(description="Written off: each line's whole balance.")
    note: str | None = None


@strawberry.input
class BulkSelfPayInput:
    idempotency_key: str
    type: BulkSelfPayType
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


def job_pk(global_id: str) -> int | None:
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
                reason=input.reason.value,
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
                type_=input.type.value,
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
                job_id=job_pk(input.job_id),
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
                job_id=job_pk(job_id),
            )
            return job.id

        pk, errors = await perform(info, WRITERS, act)
        return await _payload(info, pk, errors)


def _payer(global_id: strawberry.ID | None) -> int | None:
    """The payer's key; an id naming no payer becomes 0, which matches none (PAYER_NOT_FOUND)."""
    return None if global_id is None else decode_id(global_id, "Payer") or 0
