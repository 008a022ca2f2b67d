"""Transaction codes and payer configuration (each payer's default code per type); audited."""

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert

from domain.errors import DomainError
from domain.models import TRANSACTION_TYPES, AuditRow, Payer, PayerDefaultCode, TransactionCode
from domain.transactions.service import resolve_code
from domain.uow import UnitOfWork


async def upsert_transaction_code(
    uow: UnitOfWork, *, tenant_id: int, actor: str, code: str, type_: str, description: str
) -> TransactionCode:
    """Create a code, or change its description (a code's type never changes)."""
    code = code.strip()
    if not code or len(code) > 32 or not code.isascii():
        raise DomainError.of("code", "INVALID_CODE", "A code is 1 to 32 ASCII characters.")
    _require_type(type_)
    if not description.strip() or len(description) > 200:
        raise DomainError.of("description", "INVALID_DESCRIPTION", "1 to 200 characters.")
    existing = await uow.session.scalar(
        select(TransactionCode).where(
            TransactionCode.tenant_id == tenant_id, TransactionCode.code == code
        )
    )
    if existing is not None and existing.type != type_:
        raise DomainError.of(
            "type", "CODE_TYPE_MISMATCH", f"Code {code} exists as a {existing.type} code."
        )
    row = await uow.session.scalar(
        insert(TransactionCode)
        .values(tenant_id=tenant_id, code=code, type=type_, description=description.strip())
        .on_conflict_do_update(
            constraint="uq_transaction_codes_tenant_id_code",
            set_={"description": description.strip()},
        )
        .returning(TransactionCode)
    )
    assert row is not None
    _audit(uow, tenant_id, actor, "TRANSACTION_CODE_SAVED", {"code": code, "type": type_})
    return row


async def set_payer_default_code(
    uow: UnitOfWork,
    *,
    tenant_id: int,
    actor: str,
    payer_id: int | None,
    type_: str,
    code: str | None,
) -> Payer:
    """Set (or with no code, clear) the payer's default code for `type_`."""
    payer = None if payer_id is None else await uow.session.get(Payer, payer_id)
    if payer is None or payer.tenant_id != tenant_id:
        raise DomainError.of("payerId", "PAYER_NOT_FOUND", "No such payer.")
    _require_type(type_)
    await uow.session.execute(
        delete(PayerDefaultCode).where(
            PayerDefaultCode.payer_id == payer.id, PayerDefaultCode.type == type_
        )
    )
    if code is not None and code.strip():
        code_id = await resolve_code(uow.session, tenant_id, payer, type_, code)
        await uow.session.execute(
            insert(PayerDefaultCode).values(
                payer_id=payer.id, type=type_, transaction_code_id=code_id
            )
        )
    details = {"payer": payer.code, "type": type_, "code": code}
    _audit(uow, tenant_id, actor, "PAYER_DEFAULT_CODE_SET", details)
    return payer


def _require_type(type_: str) -> None:
    if type_ not in TRANSACTION_TYPES:
        raise DomainError.of(
            "type", "UNKNOWN_TYPE", f"Type must be one of: {', '.join(TRANSACTION_TYPES)}."
        )


def _audit(uow: UnitOfWork, tenant_id: int, actor: str, action: str, details: Any) -> None:
    uow.session.add(AuditRow(tenant_id=tenant_id, actor=actor, action=action, details=details))
