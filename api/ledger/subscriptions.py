"""The accountBalance subscription over graphql-transport-ws, fed by the process's one Redis
subscriber."""

from collections import OrderedDict
from collections.abc import AsyncGenerator

import strawberry
from sqlalchemy import select

from api.auth import READ
from api.context import Info
from api.enums import LedgerEntryKind
from api.ids import decode_id, encode_id
from api.ledger.ordering import in_version_order
from api.scalars import Money
from api.types import not_found
from domain import models
from domain.events import AccountChanged, EntryPosted

ACCOUNT_QUEUE_SIZE = 64
"""Events one subscriber may have waiting; past that it skips to the latest (the version gap
tells the client to re-query)."""


@strawberry.type
class LineBalanceChange:
    line_id: strawberry.ID
    visit_id: strawberry.ID
    balance: Money


@strawberry.type
class EntryChange:
    """A ledger entry the change posted: write-off, adjustment, reversal …"""

    entry_id: strawberry.ID
    line_id: strawberry.ID
    kind: LedgerEntryKind
    amount: Money = strawberry.field(description="Signed effect; 0 when informational.")
    memo_amount: Money | None
    reverses_entry_id: strawberry.ID | None

    @classmethod
    def of(cls, entry: EntryPosted) -> "EntryChange":
        reverses = entry.reverses_entry_id
        return cls(
            entry_id=strawberry.ID(encode_id("LedgerEntry", entry.entry_id)),
            line_id=strawberry.ID(encode_id("ChargeLine", entry.line_id)),
            kind=LedgerEntryKind(entry.kind),
            amount=entry.amount_cents,
            memo_amount=entry.memo_amount_cents,
            reverses_entry_id=None
            if reverses is None
            else strawberry.ID(encode_id("LedgerEntry", reverses)),
        )


@strawberry.type
class AccountBalanceEvent:
    """The account's balance now. `snapshot` is true for the first message only."""

    account_id: strawberry.ID
    balance: Money
    version: int
    snapshot: bool
    command_id: strawberry.ID | None
    entry_ids: list[strawberry.ID]
    lines: list[LineBalanceChange]
    entries: list[EntryChange]
    share_key: strawberry.Private[tuple[str, int, int, int] | None] = None
    """Same key, same event: rendered once per selection set for every subscriber
    (api/fanout.py). Every field reads the event alone, never the viewer."""

    @classmethod
    def from_event(cls, event: AccountChanged) -> "AccountBalanceEvent":
        return cls(
            share_key=("accountBalance", event.tenant_id, event.account_id, event.version),
            account_id=strawberry.ID(encode_id("Account", event.account_id)),
            balance=event.balance_cents,
            version=event.version,
            snapshot=False,
            command_id=None
            if event.command_id is None
            else strawberry.ID(encode_id("Command", event.command_id)),
            entry_ids=[strawberry.ID(encode_id("LedgerEntry", i)) for i in event.entry_ids],
            lines=[
                LineBalanceChange(
                    line_id=strawberry.ID(encode_id("ChargeLine", x.line_id)),
                    visit_id=strawberry.ID(encode_id("Visit", x.visit_id)),
                    balance=x.balance_cents,
                )
                for x in event.lines
            ],
            entries=[EntryChange.of(e) for e in event.entries],
        )


class Conversions:
    """The last events converted, by identity: the broadcaster hands the same `AccountChanged`
    to every subscriber of its account, and each would otherwise build its own copy of the
    GraphQL object only for the fan-out to find the render already made (`api/fanout.py`)."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._converted: OrderedDict[int, tuple[AccountChanged, AccountBalanceEvent]] = (
            OrderedDict()
        )
        self.conversions = 0

    def of(self, event: AccountChanged) -> AccountBalanceEvent:
        """`AccountBalanceEvent.from_event(event)`, built once per event object."""
        kept = self._converted.get(id(event))
        if kept is not None and kept[0] is event:  # it holds the event: its id is not reused
            return kept[1]
        converted = AccountBalanceEvent.from_event(event)
        self.conversions += 1
        self._converted[id(event)] = (event, converted)
        if len(self._converted) > self._size:
            self._converted.popitem(last=False)
        return converted


CONVERTED = Conversions()


@strawberry.type
class LedgerSubscription:
    @strawberry.subscription(description="Current balance, then one event per committed change.")
    async def account_balance(
        self, info: Info, account_id: strawberry.ID
    ) -> AsyncGenerator[AccountBalanceEvent, None]:
        tenant_id = info.context.require(READ).tenant_id
        pk = decode_id(account_id, "Account")
        services = info.context.services
        channel = f"{tenant_id}:account:{pk}"
        async with services.broadcaster.listen(channel, ACCOUNT_QUEUE_SIZE) as queue:
            async with info.context.sessions() as session:
                row = (
                    await session.execute(
                        select(models.Account.balance_cents, models.Account.version).where(
                            models.Account.id == pk, models.Account.tenant_id == tenant_id
                        )
                    )
                ).first()
            if row is None:
                raise not_found("account")
            yield AccountBalanceEvent(
                account_id=account_id,
                balance=row.balance_cents,
                version=row.version,
                snapshot=True,
                command_id=None,
                entry_ids=[],
                lines=[],
                entries=[],
            )
            async for event in in_version_order(queue, row.version):
                yield CONVERTED.of(event)
