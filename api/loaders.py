"""DataLoaders for nested data: one query per kind of child per request, tenant-confined."""

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from domain.models import (
    Account,
    ChargeLine,
    LedgerEntry,
    Payer,
    PayerDefaultCode,
    TransactionApplication,
    TransactionCode,
    Visit,
)
from domain.tenants.policy import TenantPolicy, load_policy

M = TypeVar("M")


class Loaders:
    """Created per request; `tenant_id` is read lazily, after authentication."""

    def __init__(self, sessions: Callable[[], AsyncSession], tenant_id: Callable[[], int]) -> None:
        self._sessions = sessions
        self._tenant_id = tenant_id
        self.visits_by_account = DataLoader(
            self._children(
                Visit, Visit.account_id, (Visit.date_of_service.desc(), Visit.visit_number.desc())
            )
        )
        self.lines_by_visit = DataLoader(
            self._children(ChargeLine, ChargeLine.visit_id, (ChargeLine.line_number,))
        )
        self.entries_by_line = DataLoader(
            self._children(LedgerEntry, LedgerEntry.line_id, (LedgerEntry.id,))
        )
        self.entries_by_visit = DataLoader(
            self._children(LedgerEntry, LedgerEntry.visit_id, (LedgerEntry.id,))
        )
        self.payer = DataLoader(self._by_id(Payer))
        self.account = DataLoader(self._by_id(Account))
        self.code = DataLoader(self._by_id(TransactionCode))
        self.applications_by_transaction = DataLoader(
            self._children(
                TransactionApplication,
                TransactionApplication.transaction_id,
                (TransactionApplication.id,),
            )
        )
        self.entries_by_transaction = DataLoader(
            self._children(LedgerEntry, LedgerEntry.transaction_id, (LedgerEntry.id,))
        )
        self.visit = DataLoader(self._by_id(Visit))
        self.entry = DataLoader(self._by_id(LedgerEntry))
        self.reversal_of = DataLoader(self._reversals)
        self.totals_by_visit = DataLoader(self._totals(LedgerEntry.visit_id))
        self.totals_by_account = DataLoader(self._totals(LedgerEntry.account_id))
        self.default_codes = DataLoader(self._default_codes)
        self._policy: TenantPolicy | None = None

    async def _default_codes(self, keys: list[int]) -> list[list[Any]]:
        """Each payer's (type, TransactionCode) defaults, in type order."""
        async with self._sessions() as session:
            rows = await session.execute(
                select(PayerDefaultCode.payer_id, PayerDefaultCode.type, TransactionCode)
                .join(TransactionCode, TransactionCode.id == PayerDefaultCode.transaction_code_id)
                .where(
                    PayerDefaultCode.payer_id.in_(keys),
                    TransactionCode.tenant_id == self._tenant_id(),
                )
                .order_by(PayerDefaultCode.type)
            )
        grouped: dict[int, list[Any]] = defaultdict(list)
        for payer_id, type_, code in rows:
            grouped[payer_id].append((type_, code))
        return [grouped[key] for key in keys]

    async def policy(self) -> TenantPolicy:
        """The caller's tenant policy, read once per request."""
        if self._policy is None:
            async with self._sessions() as session:
                self._policy = await load_policy(session, self._tenant_id())
        return self._policy

    async def _reversals(self, keys: list[int]) -> list[Any]:
        """The reversal of each original entry id, or None."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(LedgerEntry).where(
                    LedgerEntry.reverses_entry_id.in_(keys),
                    LedgerEntry.tenant_id == self._tenant_id(),
                )
            )
        found = {row.reverses_entry_id: row for row in rows}
        return [found.get(key) for key in keys]

    def _totals(self, parent: Any) -> Any:
        """Net balance effect per entry kind for each parent id, as {kind: cents}."""

        async def load(keys: list[int]) -> list[dict[str, int]]:
            async with self._sessions() as session:
                rows = await session.execute(
                    select(parent, LedgerEntry.kind, func.sum(LedgerEntry.amount_cents))
                    .where(parent.in_(keys), LedgerEntry.tenant_id == self._tenant_id())
                    .group_by(parent, LedgerEntry.kind)
                )
            totals: dict[int, dict[str, int]] = defaultdict(dict)
            for key, kind, cents in rows:
                totals[key][kind] = int(cents)
            return [totals[key] for key in keys]

        return load

    def _children(self, model: Any, parent: Any, order: Sequence[Any]) -> Any:
        async def load(keys: list[int]) -> list[list[Any]]:
            async with self._sessions() as session:
                rows = await session.scalars(
                    select(model)
                    .where(parent.in_(keys), model.tenant_id == self._tenant_id())
                    .order_by(*order)
                )
            grouped: dict[int, list[Any]] = defaultdict(list)
            for row in rows:
                grouped[getattr(row, parent.key)].append(row)
            return [grouped[key] for key in keys]

        return load

    def _by_id(self, model: Any) -> Any:
        async def load(keys: list[int]) -> list[Any]:
            async with self._sessions() as session:
                rows = await session.scalars(
                    select(model).where(model.id.in_(keys), model.tenant_id == self._tenant_id())
                )
            found = {row.id: row for row in rows}
            return [found.get(key) for key in keys]

        return load
