"""The audit trail: who did what, when and why, with balances before and after."""

from datetime import datetime
from typing import Any, Self, cast

import strawberry
from graphql import GraphQLError
from sqlalchemy import select
from strawberry.scalars import JSON

from api.auth import READ
from api.context import Info
from api.ids import decode_any, encode_id, encode_optional_id
from api.pagination import Connection, paginate
from api.scalars import Money
from api.types import Node
from domain import models

AUDITED = ("Account", "Visit", "ChargeLine", "LedgerEntry", "Command")


@strawberry.type
class AuditRow(Node):
    """One audited action. A reversal writes two rows, paired: the original's and its own."""

    id: strawberry.ID
    actor: str
    action: str
    reason: str | None
    note: str | None
    balance_before: Money | None = strawberry.field(description="The line's balance before.")
    balance_after: Money | None
    created_at: datetime
    command_id: strawberry.ID | None
    entry_id: strawberry.ID | None
    account_id: strawberry.ID | None
    visit_id: strawberry.ID | None
    line_id: strawberry.ID | None
    paired_audit_id: strawberry.ID | None
    details: JSON | None = strawberry.field(description="Structured detail, e.g. settings diff.")
    request_id: str | None = strawberry.field(
        description="The id of the request that caused it (its X-Request-ID)."
    )
    scopes: list[str] | None = strawberry.field(description="The scopes the caller's token held.")

    @classmethod
    def from_row(cls, row: models.AuditRow) -> Self:
        return cls(
            id=strawberry.ID(encode_id("AuditRow", row.id)),
            actor=row.actor,
            action=row.action,
            reason=row.reason,
            note=row.note,
            balance_before=row.balance_before_cents,
            balance_after=row.balance_after_cents,
            created_at=row.created_at,
            command_id=encode_optional_id("Command", row.command_id),
            entry_id=encode_optional_id("LedgerEntry", row.entry_id),
            account_id=encode_optional_id("Account", row.account_id),
            visit_id=encode_optional_id("Visit", row.visit_id),
            line_id=encode_optional_id("ChargeLine", row.line_id),
            paired_audit_id=encode_optional_id("AuditRow", row.paired_audit_id),
            details=cast(JSON, row.details),
            request_id=row.request_id,
            scopes=row.scopes,
        )


async def _subject_filter(info: Info, tenant_id: int, subject: str) -> list[Any]:
    """WHERE clauses selecting the subject's audit rows (matching nothing if not found)."""
    decoded = decode_any(subject)
    if decoded is None or decoded[0] not in AUDITED:
        raise GraphQLError(
            f"subject must be the id of one of: {', '.join(AUDITED)}.",
            extensions={"code": "INVALID_SUBJECT"},
        )
    kind, pk = decoded
    row = models.AuditRow
    if kind == "Account":
        return [row.account_id == pk]
    if kind == "LedgerEntry":
        return [row.entry_id == pk]
    if kind == "Command":
        return [row.command_id == pk]
    model = models.Visit if kind == "Visit" else models.ChargeLine
    async with info.context.sessions() as session:
        account_id = await session.scalar(
            select(model.account_id).where(model.id == pk, model.tenant_id == tenant_id)
        )
    column = row.visit_id if kind == "Visit" else row.line_id
    return [row.account_id == (account_id or 0), column == pk]


@strawberry.type
class AuditQuery:
    @strawberry.field(
        description="Audit rows of an account, visit, charge line, ledger entry or command, "
        "oldest first."
    )
    async def audit_trail(
        self, info: Info, subject: strawberry.ID, first: int = 50, after: str | None = None
    ) -> Connection[AuditRow]:
        tenant_id = info.context.require(READ).tenant_id
        where = await _subject_filter(info, tenant_id, subject)
        query = select(models.AuditRow).where(models.AuditRow.tenant_id == tenant_id, *where)
        return await paginate(
            info.context.sessions,
            query,
            models.AuditRow.id,
            first,
            after,
            AuditRow.from_row,
        )
