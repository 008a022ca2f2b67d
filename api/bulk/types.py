"""Bulk job types: the job with its totals and summary, its rows, and its progress events."""

from datetime import datetime
from typing import Self

import strawberry
from sqlalchemy import func, select

from api.context import Info
from api.enums import BulkJobItemStatus, BulkJobKind, BulkJobStatus, BulkSelfPayType, optional
from api.ids import encode_id
from api.pagination import Connection, paginate
from api.scalars import Money
from api.types import Node, UserError
from domain.bulk import models as bulk_models
from domain.events import BulkJobProgress


def _id(kind: str, pk: int | None) -> strawberry.ID | None:
    return None if pk is None else strawberry.ID(encode_id(kind, pk))


def summary(applied: int, total: int | None, skipped: int, cancelled: int) -> str:
    """`N of M applied`, with what was skipped or not attempted."""
    if total is None:
        return "Selecting rows…"
    text = f"{applied:,} of {total:,} applied"
    if skipped:
        text += f", {skipped:,} skipped"
    if cancelled:
        text += f", {cancelled:,} not attempted"
    return text


@strawberry.type
class SkipCount:
    code: str
    count: int


@strawberry.type
class BulkJobItem:
    """One selected row and what happened to it."""

    seq: int
    status: BulkJobItemStatus
    code: str | None = strawberry.field(description="Why it was skipped or not attempted.")
    message: str | None
    amount: Money | None = strawberry.field(description="What was applied (positive).")
    account_id: strawberry.ID
    visit_id: strawberry.ID
    line_id: strawberry.ID | None
    entry_id: strawberry.ID | None = strawberry.field(description="The entry written (or first).")
    transaction_id: strawberry.ID | None = strawberry.field(
        description="The transaction posted (self-pay) or voided (reversal of one)."
    )
    expected_balance: Money | None = strawberry.field(
        description="The balance when the job selected the row."
    )

    @classmethod
    def from_row(cls, row: bulk_models.BulkJobItem) -> Self:
        return cls(
            seq=row.seq,
            status=BulkJobItemStatus(row.status),
            code=row.code,
            message=row.message,
            amount=row.amount_cents,
            account_id=strawberry.ID(encode_id("Account", row.account_id)),
            visit_id=strawberry.ID(encode_id("Visit", row.visit_id)),
            line_id=_id("ChargeLine", row.line_id),
            entry_id=_id("LedgerEntry", row.entry_id or row.target_entry_id),
            transaction_id=_id("Transaction", row.transaction_id or row.target_transaction_id),
            expected_balance=row.expected_balance_cents,
        )


@strawberry.type
class BulkJob(Node):
    """A bulk write-off, bulk self-pay run or bulk reversal; `summary` says `N of M applied`."""

    pk: strawberry.Private[int]
    kind: BulkJobKind
    status: BulkJobStatus
    transaction_type: BulkSelfPayType | None = strawberry.field(
        description="A self-pay job's type, and a reversal of one: the type it reversed."
    )
    reason: str | None = strawberry.field(
        description="A write-off job's reason (as stored, e.g. small-balance) or a reversal's."
    )
    actor: str
    total: int | None = strawberry.field(description="Rows selected; null until planned.")
    applied: int
    skipped: int
    cancelled: int = strawberry.field(description="Rows not attempted (job cancelled/failed).")
    remaining: int | None
    applied_amount: Money
    finished: bool
    error_code: str | None
    error_message: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    reverses_job_id: strawberry.ID | None

    @classmethod
    def from_row(cls, row: bulk_models.BulkJob) -> Self:
        total = row.total_items
        done = row.applied_items + row.skipped_items + row.cancelled_items
        return cls(
            id=strawberry.ID(encode_id("BulkJob", row.id)),
            pk=row.id,
            kind=BulkJobKind(row.kind),
            status=BulkJobStatus(row.status),
            transaction_type=optional(BulkSelfPayType, row.params.get("type")),
            reason=row.params.get("reason"),
            actor=row.actor,
            total=total,
            applied=row.applied_items,
            skipped=row.skipped_items,
            cancelled=row.cancelled_items,
            remaining=None if total is None else total - done,
            applied_amount=row.applied_cents,
            finished=row.finished_at is not None,
            error_code=row.error_code,
            error_message=row.error_message,
            created_at=row.created_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
            reverses_job_id=_id("BulkJob", row.reverses_job_id),
        )

    @strawberry.field(description="`N of M applied`, with skipped and not-attempted counts.")
    def summary(self) -> str:
        return summary(self.applied, self.total, self.skipped, self.cancelled)

    @strawberry.field(description="How many rows were skipped for each reason, most first.")
    async def skip_reasons(self, info: Info) -> list[SkipCount]:
        item = bulk_models.BulkJobItem
        query = (
            select(item.code, func.count())
            .where(item.job_id == self.pk, item.status == BulkJobItemStatus.SKIPPED.value)
            .group_by(item.code)
            .order_by(func.count().desc(), item.code)
        )
        async with info.context.sessions() as session:
            rows = (await session.execute(query)).all()
        return [SkipCount(code=code or "", count=count) for code, count in rows]

    @strawberry.field(description="The job's rows in selection order, optionally by status.")
    async def items(
        self,
        info: Info,
        status: BulkJobItemStatus | None = None,
        first: int = 100,
        after: str | None = None,
    ) -> Connection[BulkJobItem]:
        item = bulk_models.BulkJobItem
        query = select(item).where(item.job_id == self.pk)
        if status is not None:
            query = query.where(item.status == status.value)
        sessions = info.context.sessions
        return await paginate(sessions, query, item.id, first, after, BulkJobItem.from_row)

    @strawberry.field(description="The job that reversed this one, if any.")
    async def reversed_by(self, info: Info) -> "BulkJob | None":
        job = bulk_models.BulkJob
        async with info.context.sessions() as session:
            row = await session.scalar(select(job).where(job.reverses_job_id == self.pk))
        return None if row is None else BulkJob.from_row(row)


@strawberry.type
class BulkJobPayload:
    job: BulkJob | None
    user_errors: list[UserError]


@strawberry.type
class BulkJobEvent:
    """Progress of a job: the first message is the current state, the last has `finished`."""

    job_id: strawberry.ID
    status: BulkJobStatus
    total: int | None
    applied: int
    skipped: int
    cancelled: int
    remaining: int | None
    finished: bool
    summary: str

    @classmethod
    def of(cls, event: BulkJobProgress) -> Self:
        done = event.applied + event.skipped + event.cancelled
        return cls(
            job_id=strawberry.ID(encode_id("BulkJob", event.job_id)),
            status=BulkJobStatus(event.status),
            total=event.total,
            applied=event.applied,
            skipped=event.skipped,
            cancelled=event.cancelled,
            remaining=None if event.total is None else event.total - done,
            finished=event.finished,
            summary=summary(event.applied, event.total, event.skipped, event.cancelled),
        )
