"""Bulk jobs: one row per job, one row per selected item, applied in chunks by the workers.

A job is planned once (its items and chunk commands are written in one transaction) and each
chunk is a command of its own, so the command store's guarantees carry over: a chunk applies
at most once, a lost message is swept back onto the queue, a redelivered one is a no-op.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from domain.models import Base, _created, _id, _in

BULK_JOB_KINDS = ("WRITEOFF", "SELF_PAY", "REVERSAL", "REMITTANCE")
BULK_JOB_STATUSES = ("QUEUED", "RUNNING", "DONE", "FAILED", "CANCELLED")
BULK_ITEM_STATUSES = ("PENDING", "APPLIED", "SKIPPED", "CANCELLED", "FAILED")


class BulkJob(Base):
    """A bulk write-off, bulk self-pay transaction run or bulk reversal, and its totals."""

    __tablename__ = "bulk_jobs"
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key"),
        CheckConstraint(_in("kind", BULK_JOB_KINDS), name="kind"),
        CheckConstraint(_in("status", BULK_JOB_STATUSES), name="status"),
        Index("ix_bulk_jobs_tenant_id_id", "tenant_id", "id"),
        Index(
            "uq_bulk_jobs_reverses_job_id",
            "reverses_job_id",
            unique=True,
            postgresql_where=text("reverses_job_id IS NOT NULL"),
        ),
    )
    id: Mapped[int] = _id()
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    params: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(16), server_default="QUEUED")
    actor: Mapped[str] = mapped_column(String(200))
    reverses_job_id: Mapped[int | None] = mapped_column(ForeignKey("bulk_jobs.id"))
    total_items: Mapped[int | None] = mapped_column(Integer)
    applied_items: Mapped[int] = mapped_column(Integer, server_default="0")
    skipped_items: Mapped[int] = mapped_column(Integer, server_default="0")
    cancelled_items: Mapped[int] = mapped_column(Integer, server_default="0")
    applied_cents: Mapped[int] = mapped_column(BigInteger, server_default="0")
    total_chunks: Mapped[int | None] = mapped_column(Integer)
    done_chunks: Mapped[int] = mapped_column(Integer, server_default="0")
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class BulkJobItem(Base):
    """One selected row of a job (a line, a visit, an entry or a transaction) and its outcome.

    `expected_balance_cents` is the balance seen when the job selected the row; a row whose
    balance moved before its chunk ran is skipped as changed since selection.
    """

    __tablename__ = "bulk_job_items"
    __table_args__ = (
        UniqueConstraint("job_id", "seq"),
        CheckConstraint(_in("status", BULK_ITEM_STATUSES), name="status"),
        Index("ix_bulk_job_items_job_id_chunk_no", "job_id", "chunk_no"),
    )
    id: Mapped[int] = _id()
    tenant_id: Mapped[int] = mapped_column(BigInteger)
    job_id: Mapped[int] = mapped_column(ForeignKey("bulk_jobs.id"))
    seq: Mapped[int] = mapped_column(Integer)
    chunk_no: Mapped[int] = mapped_column(Integer)
    account_id: Mapped[int] = mapped_column(BigInteger)
    visit_id: Mapped[int] = mapped_column(BigInteger)
    line_id: Mapped[int | None] = mapped_column(BigInteger)
    target_entry_id: Mapped[int | None] = mapped_column(BigInteger)
    target_transaction_id: Mapped[int | None] = mapped_column(BigInteger)
    remittance_claim_id: Mapped[int | None] = mapped_column(BigInteger)
    expected_balance_cents: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), server_default="PENDING")
    code: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str | None] = mapped_column(Text)
    amount_cents: Mapped[int | None] = mapped_column(BigInteger)
    entry_id: Mapped[int | None] = mapped_column(BigInteger)
    transaction_id: Mapped[int | None] = mapped_column(BigInteger)
