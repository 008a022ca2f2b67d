"""One computation per (tenant, filter) per API process, whatever the number of subscribers.

A `Group` exists while it has subscribers. It listens to its tenant's committed changes
(`Broadcaster.listen_tenant`) before its first computation, so no change between that snapshot
and the next one is missed, then recomputes after changes at most once per `WINDOW_SECONDS`
(start to start): the first change after a quiet window is computed at once; changes arriving
during a computation or inside the window make one trailing computation when it ends. Each
computation after the first brings the previous one's figures forward by the entries committed
since (`domain.reports.since`): a few small reads, not the whole ledger. Each
computation is stamped with the next `seq` and the same `ArDashboard` object is handed to every
subscriber's `Mailbox`, which keeps only the latest unsent push: a slow client skips (its seq
jumps) and never holds the group back. A new subscriber's snapshot is the group's latest push
(a new group computes it first). A computation that fails is logged and retried a window later.
"""

import asyncio
import contextlib
import dataclasses
import itertools
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable

import structlog

from api.auth import READ
from api.context import Services
from api.pubsub import Broadcaster
from api.reports.dashboard import ArDashboard
from domain.db import Scope, SessionFactory, scoped
from domain.events import AccountChanged, Event
from domain.reports.dashboard import Dashboard, DashboardFilter, ar_dashboard

log = structlog.get_logger(__name__)
WINDOW_SECONDS = 0.25
Key = tuple[int, DashboardFilter]
Compute = Callable[[int, DashboardFilter, Dashboard | None], Awaitable[Dashboard]]
"""(tenant, filter, the group's previous dashboard or None) -> the dashboard now."""
_GENERATIONS = itertools.count(1)
"""Tells apart groups of one key over a process's life (seq starts again in each), so a push's
`share_key` never names an earlier group's render."""


class Mailbox:
    """One subscriber's pushes: only the latest unsent one is kept."""

    def __init__(self) -> None:
        self._latest: ArDashboard | None = None
        self._ready = asyncio.Event()

    def put(self, push: ArDashboard) -> None:
        self._latest = push
        self._ready.set()

    def clear(self) -> None:
        self._latest = None
        self._ready.clear()

    def __aiter__(self) -> "Mailbox":
        return self

    async def __anext__(self) -> ArDashboard:
        await self._ready.wait()
        push, self._latest = self._latest, None
        self._ready.clear()
        assert push is not None
        return push


class Group:
    """The subscribers of one (tenant, filter) and the task computing for them."""

    def __init__(self, key: Key, hub: "DashboardHub") -> None:
        self.key = key
        self.hub = hub
        self.generation = next(_GENERATIONS)
        self.mailboxes: set[Mailbox] = set()
        self.latest: ArDashboard | None = None
        self.dashboard: Dashboard | None = None
        """The latest computation's figures: the next one brings them forward."""
        self.computes = 0
        self.started = 0.0
        """When the latest computation started (monotonic)."""
        self.first: asyncio.Future[ArDashboard] = asyncio.get_running_loop().create_future()
        self.first.add_done_callback(_retrieve)
        self.task = asyncio.create_task(self._run(), name=f"dashboard-{key[0]}")

    async def _run(self) -> None:
        try:
            async with self.hub.broadcaster.listen_tenant(self.key[0]) as changes:
                self.first.set_result(await self._compute())
                await self._follow(changes)
        except asyncio.CancelledError:
            self.first.cancel()  # (no-op once done)
            raise
        except Exception as error:
            if not self.first.done():
                self.first.set_exception(error)
            self.hub.forget(self)
            log.warning("dashboard_group_failed", tenant=self.key[0], error=repr(error))
            raise

    async def _follow(self, changes: asyncio.Queue[Event]) -> None:
        """Recompute after changes, at most once per window (start to start)."""
        retry = False
        while True:
            if not retry:
                await _next_change(changes)
            wait = self.started + WINDOW_SECONDS - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            _drain(changes)  # everything so far is in the computation about to start
            try:
                push = await self._compute()
            except Exception as error:
                retry = True
                log.warning("dashboard_compute_failed", tenant=self.key[0], error=repr(error))
                continue
            retry = False
            for mailbox in self.mailboxes:
                mailbox.put(push)

    async def _compute(self) -> ArDashboard:
        self.started = time.monotonic()
        dashboard = self.dashboard = await self.hub.compute(*self.key, self.dashboard)
        self.computes += 1
        self.hub.computes += 1
        push = ArDashboard.of(dashboard, self.computes, (*self.key, self.generation))
        self.latest = push
        log.debug(
            "dashboard_computed",
            tenant=self.key[0],
            seq=push.seq,
            subscribers=len(self.mailboxes),
            brought_forward=dashboard.brought_forward,
            ms=round(1000 * (time.monotonic() - self.started), 1),
        )
        return push


class DashboardHub:
    """The groups of one API process; `subscribe` joins (or starts) one."""

    def __init__(self, broadcaster: Broadcaster, compute: Compute) -> None:
        self.broadcaster = broadcaster
        self.compute = compute
        self.groups: dict[Key, Group] = {}
        self.computes = 0
        """Computations made, all groups together (a test's witness of sharing)."""

    @contextlib.asynccontextmanager
    async def subscribe(self, tenant_id: int, wanted: DashboardFilter) -> AsyncIterator[Mailbox]:
        """A mailbox whose first push is the group's latest (snapshot: true), then each
        later push while the block runs."""
        key = (tenant_id, wanted)
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = Group(key, self)
        mailbox = Mailbox()
        group.mailboxes.add(mailbox)
        try:
            await asyncio.shield(group.first)
            assert group.latest is not None
            mailbox.clear()  # anything pushed meanwhile is not newer than the latest
            mailbox.put(dataclasses.replace(group.latest, snapshot=True))
            yield mailbox
        finally:
            group.mailboxes.discard(mailbox)
            if not group.mailboxes:
                self.forget(group)
                group.task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await group.task

    def forget(self, group: Group) -> None:
        if self.groups.get(group.key) is group:
            del self.groups[group.key]


async def _next_change(changes: asyncio.Queue[Event]) -> None:
    while not isinstance(await changes.get(), AccountChanged):
        pass


def _drain(changes: asyncio.Queue[Event]) -> None:
    while not changes.empty():
        changes.get_nowait()


def _retrieve(future: asyncio.Future[ArDashboard]) -> None:
    """Mark a failed first computation's error as seen (its subscribers may all have left)."""
    if not future.cancelled():
        future.exception()


def tenant_compute(factory: SessionFactory) -> Compute:
    """Dashboards read as `arledger_api` confined to the tenant (row-level security)."""

    async def compute(
        tenant_id: int, wanted: DashboardFilter, previous: Dashboard | None
    ) -> Dashboard:
        sessions = scoped(factory, Scope(tenant_id, None, frozenset({READ})))
        return await ar_dashboard(sessions, tenant_id, wanted, previous)

    return compute


_HUBS: "weakref.WeakKeyDictionary[Broadcaster, DashboardHub]" = weakref.WeakKeyDictionary()


def hub_for(services: Services) -> DashboardHub:
    """This process's hub (one per Broadcaster, made on first use)."""
    hub = _HUBS.get(services.broadcaster)
    if hub is None:
        hub = _HUBS[services.broadcaster] = DashboardHub(
            services.broadcaster, tenant_compute(services.session_factory)
        )
    return hub
