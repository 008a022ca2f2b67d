"""The command store: commands are stored before they are enqueued, under the client's
idempotency key, and swept back onto the queue when their broker message may be lost."""

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert

from domain.errors import DomainError
from domain.locks import stale_pending_commands
from domain.models import Command
from domain.uow import UnitOfWork

Enqueue = Callable[[int], Awaitable[None]]
STORED_COLUMNS = (
    "id",
    "kind",
    "status",
    "error_code",
    "error_message",
    "created_at",
    "finished_at",
    "fingerprint",
)


@dataclass(frozen=True)
class StoredCommand:
    """A command as stored: what a submission answers with."""

    id: int
    kind: str
    status: str
    error_code: str | None
    error_message: str | None
    created_at: datetime
    finished_at: datetime | None
    fingerprint: str

    @classmethod
    def of(cls, row: Any) -> "StoredCommand":
        return cls(*(row[c] for c in STORED_COLUMNS))


def fingerprint(kind: str, payload: dict[str, Any]) -> str:
    """A stable hash of what was asked, to tell a retry from a different request."""
    text = json.dumps([kind, payload], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


async def submit(
    uow: UnitOfWork,
    *,
    tenant_id: int,
    actor: str,
    kind: str,
    idempotency_key: str,
    payload: dict[str, Any],
    account_ids: list[int],
    asked: dict[str, Any] | None = None,
) -> tuple[Command, bool]:
    """Store a PENDING command, or return the one already stored under this key.

    Returns `(command, created)`. A different request under a used key is an error. The
    request is told by `asked` (what the client sent) when given, else by the payload.
    """
    key = clean_key(idempotency_key)
    digest = fingerprint(kind, payload if asked is None else asked)
    inserted = await uow.session.scalar(
        insert(Command)
        .values(
            tenant_id=tenant_id,
            idempotency_key=key,
            kind=kind,
            payload=payload,
            fingerprint=digest,
            account_ids=sorted(set(account_ids)),
            actor=actor,
        )
        .on_conflict_do_nothing(constraint="uq_commands_tenant_id_idempotency_key")
        .returning(Command)
    )
    if inserted is not None:
        return inserted, True
    command = await uow.session.scalar(
        select(Command).where(Command.tenant_id == tenant_id, Command.idempotency_key == key)
    )
    assert command is not None
    if command.fingerprint != digest:
        raise key_reused()
    return command, False


async def find_replay(
    uow: UnitOfWork, *, tenant_id: int, idempotency_key: str, kind: str, payload: dict[str, Any]
) -> Command | None:
    """The command already stored for this exact request under this key, if any.

    Lets a service answer a retry with the original command even when the rules would now
    refuse the request (the entry is reversed by then, a reason was disabled since).
    """
    command = await uow.session.scalar(
        select(Command).where(
            Command.tenant_id == tenant_id, Command.idempotency_key == idempotency_key.strip()
        )
    )
    if command is not None and command.fingerprint != fingerprint(kind, payload):
        raise key_reused()
    return command


async def submit_and_enqueue(
    uow: UnitOfWork,
    *,
    tenant_id: int,
    actor: str,
    kind: str,
    idempotency_key: str,
    payload: dict[str, Any],
    account_ids: list[int],
    enqueue: Enqueue,
    asked: dict[str, Any] | None = None,
) -> Command:
    """`submit`, then enqueue a newly stored command once the transaction commits."""
    command, created = await submit(
        uow,
        tenant_id=tenant_id,
        actor=actor,
        kind=kind,
        idempotency_key=idempotency_key,
        payload=payload,
        account_ids=account_ids,
        asked=asked,
    )
    if created:
        command_id = command.id
        uow.after_commit(lambda: enqueue(command_id))
    return command


def clean_key(idempotency_key: str) -> str:
    """The key trimmed; refused unless 1 to 200 characters."""
    key = idempotency_key.strip()
    if not key or len(key) > 200:
        raise DomainError.of(
            "idempotencyKey",
            "INVALID_IDEMPOTENCY_KEY",
            "Idempotency key must be 1 to 200 characters.",
        )
    return key


def key_reused() -> DomainError:
    return DomainError.of(
        "idempotencyKey",
        "IDEMPOTENCY_KEY_REUSED",
        "This idempotency key was used for a different request.",
    )


async def stale_pending(
    uow: UnitOfWork, older_than: timedelta, limit: int = 500
) -> list[tuple[int, str]]:
    """PENDING commands not (re-)enqueued for `older_than`, as (id, kind); marks them enqueued."""
    cutoff = datetime.now().astimezone() - older_than
    stale = stale_pending_commands(cutoff, limit)
    rows = await uow.session.execute(
        update(Command)
        .where(Command.id.in_(stale.scalar_subquery()))
        .values(enqueued_at=func.now())
        .returning(Command.id, Command.kind)
    )
    return sorted((pk, kind) for pk, kind in rows)
