"""`in_version_order`: an account's changes leave in version order, a gap is waited for at most
the patience, stale and repeated versions are dropped."""

import asyncio
import time

from api.ledger.ordering import in_version_order
from domain.events import AccountChanged, CommandFinished, Event

PATIENCE = 0.2


def change(version: int) -> AccountChanged:
    return AccountChanged(
        tenant_id=1,
        account_id=1,
        version=version,
        balance_cents=0,
        command_id=version,
        entry_ids=[],
    )


async def collect(queue: asyncio.Queue[Event], after: int, count: int) -> list[tuple[int, float]]:
    """(version, seconds since start) of the first `count` changes yielded."""
    started = time.monotonic()
    found: list[tuple[int, float]] = []
    async with asyncio.timeout(5):
        async for event in in_version_order(queue, after, PATIENCE):
            found.append((event.version, time.monotonic() - started))
            if len(found) == count:
                return found
    return found


async def test_out_of_order_versions_are_held_and_released_in_order_at_once() -> None:
    # given versions 3, 2 then 1 after version 0, and another kind of event among them
    queue: asyncio.Queue[Event] = asyncio.Queue()
    for event in (change(3), CommandFinished(1, 9, "APPLIED", None, None), change(2), change(1)):
        queue.put_nowait(event)
    # when they are read in version order
    found = await collect(queue, 0, 3)
    # then all three leave in order, without waiting for any patience
    assert [v for v, _ in found] == [1, 2, 3]
    assert found[-1][1] < PATIENCE / 2


async def test_a_gap_that_stays_open_is_jumped_after_the_patience_and_stale_ones_dropped() -> None:
    # given version 1, then version 3 (2 never comes), then stale and repeated versions
    queue: asyncio.Queue[Event] = asyncio.Queue()
    for event in (change(1), change(1), change(3), change(0)):
        queue.put_nowait(event)
    reading = asyncio.create_task(collect(queue, 0, 3))
    await asyncio.sleep(PATIENCE * 2)
    for event in (change(2), change(3), change(4)):
        queue.put_nowait(event)
    # when read in version order
    found = await reading
    # then 1 at once, 3 after the patience, then 4; the late 2 and the repeated 3 are dropped
    assert [v for v, _ in found] == [1, 3, 4]
    assert found[0][1] < PATIENCE / 2
    assert PATIENCE * 0.9 <= found[1][1] < PATIENCE * 1.9
