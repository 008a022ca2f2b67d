"""A transaction's status follows its posting and voiding commands, in the worker's transaction."""

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.locked import ClaimedCommand
from domain.models import Transaction


async def settle_posting(
    session: AsyncSession,
    command: ClaimedCommand,
    status: str,
    code: str | None,
    message: str | None,
) -> None:
    """POSTING → POSTED when applied; back to WORK_IN_PROGRESS, with the reason, when refused."""
    values = (
        {"status": "POSTED", "posted_at": func.now(), "last_error_code": None}
        if status == "APPLIED"
        else {"status": "WORK_IN_PROGRESS", "last_error_code": code}
    )
    await _move(session, command, "POSTING", {**values, "last_error_message": message})


async def settle_void(
    session: AsyncSession,
    command: ClaimedCommand,
    status: str,
    code: str | None,
    message: str | None,
) -> None:
    """VOIDING → VOIDED when applied; back to POSTED, with the reason, when refused."""
    values = (
        {"status": "VOIDED", "voided_at": func.now(), "last_error_code": None}
        if status == "APPLIED"
        else {"status": "POSTED", "last_error_code": code}
    )
    await _move(session, command, "VOIDING", {**values, "last_error_message": message})


async def _move(session: AsyncSession, command: ClaimedCommand, current: str, values: dict) -> None:
    await session.execute(
        update(Transaction)
        .where(Transaction.id == command.payload["txn"], Transaction.status == current)
        .values(values)
    )
