"""Following a bulk job: a snapshot, then its progress."""

from collections.abc import AsyncGenerator

import strawberry
from graphql import GraphQLError
from sqlalchemy import select

from api.auth import READ
from api.bulk.mutations import job_pk
from api.bulk.types import BulkJobEvent
from api.context import Info
from domain.bulk import models as bulk_models
from domain.bulk import service as bulk_service
from domain.events import BulkJobProgress


@strawberry.type
class BulkSubscription:
    @strawberry.subscription(description="A job's state now, then its progress until finished.")
    async def bulk_job(self, info: Info, id: strawberry.ID) -> AsyncGenerator[BulkJobEvent, None]:
        tenant_id = info.context.require(READ).tenant_id
        pk = job_pk(id)
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
