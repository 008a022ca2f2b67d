"""Event messages: the hand-built encoding is exactly `asdict` with a `type` tag, and reads back."""

import json
from dataclasses import asdict

from domain.events import (
    AccountChanged,
    BulkJobProgress,
    CommandFinished,
    EntryPosted,
    Event,
    LineBalance,
    from_message,
    to_message,
)

EVENTS: list[Event] = [
    AccountChanged(
        tenant_id=1,
        account_id=2,
        version=3,
        balance_cents=-45,
        command_id=6,
        entry_ids=[7, 8],
        lines=[LineBalance(9, 10, 11), LineBalance(12, 10, 0)],
        entries=[EntryPosted(7, 9, "WRITEOFF", -5), EntryPosted(8, 12, "ADJUSTMENT", 0, 250, 4)],
    ),
    AccountChanged(1, 2, 4, 0, None, []),
    CommandFinished(1, 6, "REJECTED", "EXCEEDS_BALANCE", "Amount exceeds the line balance."),
    BulkJobProgress(1, 13, "RUNNING", None, 5, 1, 0, False),
]


def test_a_message_is_the_event_as_a_tagged_dict() -> None:
    # given one event of every kind
    for event in EVENTS:
        # when it is encoded
        message = to_message(event)
        # then it equals the dataclass as a dict, tag first, in field order, and reads back
        expected = {"type": type(event).__name__, **asdict(event)}
        assert json.dumps(message) == json.dumps(expected)
        assert from_message(json.loads(json.dumps(message))) == event


def test_a_message_shares_no_list_with_its_event() -> None:
    # given an account change
    event = EVENTS[0]
    assert isinstance(event, AccountChanged)
    # when its message is changed
    message = to_message(event)
    message["entry_ids"].append(99)
    message["lines"][0]["balance_cents"] = 1
    # then the event is untouched
    assert event.entry_ids == [7, 8] and event.lines[0].balance_cents == 11
