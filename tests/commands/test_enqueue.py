"""Wake-ups coalesce under load and never lag behind a commit."""

import asyncio
import threading

from celery import Celery

from api.enqueue import Enqueuer


class RecordingEnqueuer(Enqueuer):
    """The real coalescing logic; the send itself is recorded (and slow) instead of brokered."""

    def __init__(self, send_seconds: float) -> None:
        super().__init__(Celery("unused"), "unused", "unused-bulk")
        self.sent: list[int] = []
        self._send_seconds = send_seconds
        self._lock = threading.Lock()

    def _send(self, command_id: int) -> None:
        threading.Event().wait(self._send_seconds)
        with self._lock:
            self.sent.append(command_id)


async def test_a_lone_command_is_woken_at_once() -> None:
    enqueuer = RecordingEnqueuer(send_seconds=0)
    await enqueuer.apply_command(7)
    await enqueuer.close()
    assert enqueuer.sent == [7]


async def test_sends_coalesce_and_the_last_commit_is_always_covered() -> None:
    # given a slow broker
    enqueuer = RecordingEnqueuer(send_seconds=0.05)
    # when 50 commands commit while a send is under way
    for command_id in range(1, 51):
        await enqueuer.apply_command(command_id)
        await asyncio.sleep(0.002)
    await enqueuer.close()
    # then far fewer messages went out, in order, the last naming the last command
    assert 2 <= len(enqueuer.sent) < 10
    assert enqueuer.sent == sorted(enqueuer.sent)
    assert enqueuer.sent[0] == 1 and enqueuer.sent[-1] == 50
