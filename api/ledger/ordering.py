"""An account's changes in version order, even when they are published out of it.

Two worker processes can commit versions 5 and 6 of one account in that order (the account's
row lock orders them) and still publish them the other way round: each publishes after its own
commit, and the second may be quicker. A subscriber that only ever moves forward would then
drop version 5 as stale and its client would never hear of that command. Instead, a change that
leaves a gap is held for at most `patience` seconds for the missing versions to arrive, and the
held changes then go out in order; a gap that stays open (a change republished by the sweeper
carries the account's current version; a slow subscriber's queue dropped its oldest) is jumped
after that time, and the version jump tells the client it missed something.
"""

import asyncio
from collections.abc import AsyncIterator

from domain.events import AccountChanged, Event

REORDER_PATIENCE_SECONDS = 0.2


async def in_version_order(
    queue: asyncio.Queue[Event], after: int, patience: float = REORDER_PATIENCE_SECONDS
) -> AsyncIterator[AccountChanged]:
    """The account changes `queue` receives above version `after`, in version order, each once;
    a held change waits at most `patience` seconds from its arrival for the versions before it."""
    held: dict[int, tuple[AccountChanged, float]] = {}
    version = after
    loop = asyncio.get_running_loop()
    while True:
        try:
            event = await _next(queue, held[min(held)][1] + patience if held else None)
        except TimeoutError:
            version = min(held) - 1  # the gap stayed open: jump it
        else:
            if not isinstance(event, AccountChanged) or event.version <= version:
                continue
            held.setdefault(event.version, (event, loop.time()))
        while version + 1 in held:
            version += 1
            yield held.pop(version)[0]


async def _next(queue: asyncio.Queue[Event], deadline: float | None) -> Event:
    """The queue's next event; by `deadline` (loop time) if one is set. Without one, no timeout
    is armed: that is every event but those after a gap, once per subscriber per event."""
    if deadline is None:
        return await queue.get()
    async with asyncio.timeout_at(deadline):
        return await queue.get()
