"""The command store: commands are stored before they are enqueued, under the client's
idempotency key, and swept back onto the queue when their broker message may be lost."""

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert

from domain.errors import DomainError
from domain.locks import stale_pending_commands
from domain.models import Command
from domain.uow import UnitOfWork


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
) -> tuple[Command, bool]:
    """Store a PENDING command, or return the one already stored under this key.

    Returns `(command, created)`. A different payload under a used key is an error.
    """
    key = idempotency_key.strip()
    if not key or len(key) > 200:
        raise DomainError.of(
            "idempotencyKey",
            "INVALID_IDEMPOTENCY_KEY",
            "Idempotency key must be 1 to 200 characters.",
        )
    digest = fingerprint(kind, payload)
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
        raise DomainError.of(
            "idempotencyKey",
            "IDEMPOTENCY_KEY_REUSED",
            "This idempotency key was used for a different request.",
        )
    return command, False


async def stale_pending(uow: UnitOfWork, older_than: timedelta, limit: int = 500) -> list[int]:
    """PENDING commands not (re-)enqueued for `older_than`; marks them enqueued now."""
    cutoff = datetime.now().astimezone() - older_than
    stale = stale_pending_commands(cutoff, limit)
    ids = await uow.session.scalars(
        update(Command)
        .where(Command.id.in_(stale.scalar_subquery()))
        .values(enqueued_at=func.now())
        .returning(Command.id)
    )
    return sorted(ids.all())
