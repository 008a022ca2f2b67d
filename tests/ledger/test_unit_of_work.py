"""Events recorded to be built later are built after the commit, in recorded order, and never
for a transaction that rolls back."""

from collections.abc import Sequence

from domain.db import SessionFactory
from domain.events import CommandFinished, Event
from domain.uow import UnitOfWork


def finished(command_id: int) -> CommandFinished:
    return CommandFinished(1, command_id, "APPLIED", None, None)


async def test_events_built_later_go_out_after_the_commit_in_recorded_order(
    rollback_sessions: SessionFactory,
) -> None:
    published: list[Sequence[Event]] = []
    builds: list[bool] = []

    async def publish(events: Sequence[Event]) -> None:
        published.append(events)

    async with UnitOfWork(rollback_sessions, publish) as uow:

        def build() -> list[Event]:
            builds.append(uow.session.in_transaction())
            return [finished(2), finished(3)]

        # given an event recorded, two to be built later, and one more recorded
        uow.record(finished(1))
        uow.record_later(build)
        uow.record(finished(4))
        # then nothing is built before the commit
        assert builds == []
        # when the unit of work commits
        await uow.commit()
    # then they were built once, out of the transaction, and published in recorded order
    assert builds == [False]
    assert [[e.command_id for e in batch] for batch in published] == [[1, 2, 3, 4]]


async def test_events_built_later_are_never_built_for_a_rollback(
    rollback_sessions: SessionFactory,
) -> None:
    published: list[Sequence[Event]] = []
    builds: list[int] = []

    async def publish(events: Sequence[Event]) -> None:
        published.append(events)

    def build() -> list[Event]:
        builds.append(1)
        return [finished(1)]

    # when a unit of work records events to build later and rolls back
    async with UnitOfWork(rollback_sessions, publish) as uow:
        uow.record_later(build)
        await uow.rollback()
    # then nothing was built or published
    assert (builds, published) == ([], [])
