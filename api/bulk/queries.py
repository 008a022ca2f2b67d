"""Reading bulk jobs."""

import strawberry
from sqlalchemy import select

from api.auth import READ
from api.bulk.types import BulkJob
from api.context import Info
from api.enums import BulkJobKind, BulkJobStatus
from api.pagination import Connection, paginate
from domain.bulk import models as bulk_models


@strawberry.type
class BulkQuery:
    @strawberry.field(description="Bulk jobs, oldest first, optionally by status or kind.")
    async def bulk_jobs(
        self,
        info: Info,
        status: BulkJobStatus | None = None,
        kind: BulkJobKind | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> Connection[BulkJob]:
        tenant_id = info.context.require(READ).tenant_id
        job = bulk_models.BulkJob
        query = select(job).where(job.tenant_id == tenant_id)
        if status is not None:
            query = query.where(job.status == status.value)
        if kind is not None:
            query = query.where(job.kind == kind.value)
        sessions = info.context.sessions
        return await paginate(sessions, query, job.id, first, after, BulkJob.from_row)
