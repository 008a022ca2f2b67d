"""DataLoaders of the remittance types: one query per kind of row per request, tenant-confined.

They live with the capability (the shared `api.loaders.Loaders` is plumbing) and are made on a
request's first use, kept on its context, so they go when it goes.
"""

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import load_only
from strawberry.dataloader import DataLoader

from api.context import Context, Info
from domain.bulk.models import BulkJob
from domain.models import ChargeLine, Transaction
from domain.remittances.models import (
    Remittance,
    RemittanceAdjustment,
    RemittanceClaim,
    RemittanceFile,
    RemittanceLine,
    RemittanceProviderAdjustment,
)
from domain.remittances.summary import ClaimCounts, claim_counts

ATTRIBUTE = "_remittance_loaders"
FILE_COLUMNS = (
    RemittanceFile.id,
    RemittanceFile.tenant_id,
    RemittanceFile.sha256,
    RemittanceFile.filename,
    RemittanceFile.size_bytes,
    RemittanceFile.imported_by,
    RemittanceFile.created_at,
)
"""Everything but `raw_text`: a file may hold megabytes no field shows."""


class RemittanceLoaders:
    """The loaders of one request; `tenant_id` is read when a batch runs (after authentication)."""

    def __init__(self, context: Context) -> None:
        self._context = context
        newest_first = (RemittanceClaim.id.desc(),)
        self.claims_by_visit = DataLoader(
            self._children(RemittanceClaim, RemittanceClaim.visit_id, newest_first)
        )
        self.lines_by_claim = DataLoader(
            self._children(RemittanceLine, RemittanceLine.claim_id, (RemittanceLine.seq,))
        )
        self.adjustments_by_claim = DataLoader(
            self._children(
                RemittanceAdjustment,
                RemittanceAdjustment.claim_id,
                (RemittanceAdjustment.segment, RemittanceAdjustment.id),
            )
        )
        self.provider_adjustments = DataLoader(
            self._children(
                RemittanceProviderAdjustment,
                RemittanceProviderAdjustment.remittance_id,
                (RemittanceProviderAdjustment.segment, RemittanceProviderAdjustment.id),
            )
        )
        self.remittance = DataLoader(self._by_id(Remittance))
        self.file = DataLoader(self._by_id(RemittanceFile, load_only(*FILE_COLUMNS)))
        self.job = DataLoader(self._by_id(BulkJob))
        self.transaction = DataLoader(self._by_id(Transaction))
        self.charge_line = DataLoader(self._by_id(ChargeLine))
        self.counts = DataLoader(self._counts)

    async def _counts(self, keys: list[int]) -> list[ClaimCounts]:
        async with self._context.sessions() as session:
            found = await claim_counts(session, self._context.tenant_id, keys)
        return [found.get(key, ClaimCounts()) for key in keys]

    def _children(self, model: Any, parent: Any, order: Sequence[Any]) -> Any:
        async def load(keys: list[int]) -> list[list[Any]]:
            async with self._context.sessions() as session:
                rows = await session.scalars(
                    select(model)
                    .where(parent.in_(keys), model.tenant_id == self._context.tenant_id)
                    .order_by(*order)
                )
            grouped: dict[int, list[Any]] = defaultdict(list)
            for row in rows:
                grouped[getattr(row, parent.key)].append(row)
            return [grouped[key] for key in keys]

        return load

    def _by_id(self, model: Any, *options: Any) -> Any:
        async def load(keys: list[int]) -> list[Any]:
            async with self._context.sessions() as session:
                rows = await session.scalars(
                    select(model)
                    .options(*options)
                    .where(model.id.in_(keys), model.tenant_id == self._context.tenant_id)
                )
            found = {row.id: row for row in rows}
            return [found.get(key) for key in keys]

        return load


def remittance_loaders(info: Info) -> RemittanceLoaders:
    """This request's remittance loaders (made on first use)."""
    found: RemittanceLoaders | None = getattr(info.context, ATTRIBUTE, None)
    if found is None:
        found = RemittanceLoaders(info.context)
        setattr(info.context, ATTRIBUTE, found)
    return found
