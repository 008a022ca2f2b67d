"""Submitting a write-off: check its lines and reason, store the command, enqueue after commit.

The whole check-and-store is one statement on the driver's connection (the API's hottest
write): it finds the lines, reads the tenant's enabled reasons, inserts the command under the
idempotency key and reads the command already stored under it. The rules are then judged here
on what came back; a refused request raises `DomainError`, so the caller's unit of work rolls
the insert back and nothing is stored.
"""

import json

from domain.commands import store as command_store
from domain.commands.store import STORED_COLUMNS, Enqueue, StoredCommand
from domain.direct_uow import Transactional
from domain.errors import DomainError, Problem
from domain.writeoffs.rules import WriteOffRequest

_COMMAND = ", ".join(STORED_COLUMNS)
_EITHER = ", ".join(f"COALESCE(s.{c}, e.{c}) AS {c}" for c in STORED_COLUMNS)
_STORE = f"""
WITH found AS (
    SELECT id, account_id FROM charge_lines WHERE tenant_id = $1 AND id = ANY($2::bigint[])
), stored AS (
    INSERT INTO commands (tenant_id, idempotency_key, kind, payload, fingerprint, account_ids,
                          actor)
    VALUES ($1, $3, 'WRITEOFF', $4::text::jsonb, $5,
            ARRAY(SELECT DISTINCT account_id FROM found ORDER BY 1), $6)
    ON CONFLICT ON CONSTRAINT uq_commands_tenant_id_idempotency_key DO NOTHING
    RETURNING {_COMMAND}
)
SELECT t.writeoff_reasons AS reasons, ARRAY(SELECT id FROM found) AS found,
       s.id IS NOT NULL AS created, {_EITHER}
FROM tenants t
LEFT JOIN stored s ON true
LEFT JOIN commands e ON e.tenant_id = t.id AND e.idempotency_key = $3
WHERE t.id = $1
"""
_STORED_UNDER_KEY = f"SELECT {_COMMAND} FROM commands WHERE tenant_id = $1 AND idempotency_key = $2"


async def submit_writeoff(
    uow: Transactional,
    *,
    tenant_id: int,
    actor: str,
    idempotency_key: str,
    request: WriteOffRequest,
    enqueue: Enqueue,
) -> StoredCommand:
    """Store a PENDING write-off command and enqueue it once the transaction commits.

    A retry under the same key answers with the command first stored, even when its reason
    has been disabled since; a different request under a used key is refused."""
    key = command_store.clean_key(idempotency_key)
    payload = request.to_payload()
    digest = command_store.fingerprint("WRITEOFF", payload)
    connection = await uow.driver()
    row = await connection.fetchrow(
        _STORE, tenant_id, request.line_ids, key, json.dumps(payload), digest, actor
    )
    _refuse_missing_lines(request, set(row["found"]) if row else set())
    assert row is not None  # the tenant's row is there: its lines were
    stored = StoredCommand.of(row) if row["id"] is not None else None
    if stored is None:  # stored meanwhile by a request whose commit this statement did not see
        stored = StoredCommand.of(await connection.fetchrow(_STORED_UNDER_KEY, tenant_id, key))
    if stored.fingerprint != digest:
        raise command_store.key_reused()
    if row["created"]:
        if request.reason not in (row["reasons"] or []):
            raise _disabled(request.reason)
        uow.after_commit(lambda: enqueue(stored.id))
    return stored


def _refuse_missing_lines(request: WriteOffRequest, found: set[int]) -> None:
    missing = [
        Problem(f"lines.{i}.lineId", "LINE_NOT_FOUND", "No such line.")
        for i, line_id in enumerate(request.line_ids)
        if line_id not in found
    ]
    if missing:
        raise DomainError(*missing)


def _disabled(reason: str) -> DomainError:
    return DomainError.of("reason", "REASON_DISABLED", f"The reason '{reason}' is not enabled.")
