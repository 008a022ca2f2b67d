"""Stored remittances: the file as received, each 835 transaction set, its claims, service
lines, CAS adjustments and PLB rows, with what each matched and what posting did with it.

A remittance is identified per tenant by payer (TRN03, else the N1*PR id) and trace number
(TRN02). Rows are written once at import; posting fills in outcomes under the usual locks.
"""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from domain.models import Base, _created, _id, _in, _tenant

REMITTANCE_STATUSES = (
    "NEEDS_REVIEW",
    "POSTING",
    "POSTED",
    "REVERSING",
    "REVERSED",
)
"""NEEDS_REVIEW: unbalanced, held until a person posts it anyway; POSTING: its job runs;
POSTED: every matched claim posted or skipped with its reason; REVERSING/REVERSED: undone."""
CLAIM_OUTCOMES = (
    "PENDING",
    "POSTED",
    "DENIED",
    "REVERSED",
    "UNMATCHED",
    "SKIPPED",
    "NOTHING_TO_POST",
)
EFFECTS = ("REDUCE", "MEMO")


class RemittanceFile(Base):
    """An imported 835 file exactly as received: its SHA-256 and its text."""

    __tablename__ = "remittance_files"
    __table_args__ = (UniqueConstraint("tenant_id", "sha256"),)
    id: Mapped[int] = _id()
    tenant_id: Mapped[int] = _tenant()
    sha256: Mapped[bytes] = mapped_column(LargeBinary)
    filename: Mapped[str | None] = mapped_column(String(255))
    raw_text: Mapped[str] = mapped_column(Text)
    size_bytes: Mapped[int] = mapped_column(Integer)
    imported_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = _created()


class Remittance(Base):
    """One 835 transaction set (ST..SE): the payment, its balancing result and its totals."""

    __tablename__ = "remittances"
    __table_args__ = (
        UniqueConstraint("tenant_id", "payer_identifier", "trace_number", "trace_part"),
        UniqueConstraint("file_id", "seq"),
        CheckConstraint(_in("status", REMITTANCE_STATUSES), name="status"),
        Index("ix_remittances_tenant_id_id", "tenant_id", "id"),
    )
    id: Mapped[int] = _id()
    tenant_id: Mapped[int] = _tenant()
    file_id: Mapped[int] = mapped_column(ForeignKey("remittance_files.id"))
    seq: Mapped[int] = mapped_column(Integer)
    payer_identifier: Mapped[str] = mapped_column(String(80))
    trace_number: Mapped[str] = mapped_column(String(80))
    trace_part: Mapped[int] = mapped_column(Integer)
    """1 unless one file holds several transaction sets under the same payer and trace (a
    payment split over several 835s): then their order. Another file never reuses the key."""
    control_number: Mapped[str] = mapped_column(String(20))
    version: Mapped[str | None] = mapped_column(String(20))
    payer_name: Mapped[str] = mapped_column(String(200))
    payee_name: Mapped[str] = mapped_column(String(200))
    payee_identifier: Mapped[str] = mapped_column(String(80))
    handling_code: Mapped[str] = mapped_column(String(2))
    payment_method: Mapped[str] = mapped_column(String(3))
    credit_debit: Mapped[str] = mapped_column(String(1))
    paid_cents: Mapped[int] = mapped_column(BigInteger)
    payment_date: Mapped[date | None] = mapped_column(Date)
    production_date: Mapped[date | None] = mapped_column(Date)
    balanced: Mapped[bool] = mapped_column(Boolean)
    imbalances: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    issues: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    """Defects a lenient import kept (wrong SE/GE/IEA counts, empty required elements, an
    impossible date), each with its segment: the remittance waits for review."""
    status: Mapped[str] = mapped_column(String(16))
    payer_id: Mapped[int | None] = mapped_column(ForeignKey("payers.id"))
    """The tenant's payer the payment is booked under (the matched visits' payer)."""
    job_id: Mapped[int | None] = mapped_column(BigInteger)
    reversal_job_id: Mapped[int | None] = mapped_column(BigInteger)
    transaction_id: Mapped[int | None] = mapped_column(BigInteger)
    posted_cents: Mapped[int] = mapped_column(BigInteger, server_default="0")
    unapplied_cents: Mapped[int] = mapped_column(BigInteger, server_default="0")
    provider_adjustment_cents: Mapped[int] = mapped_column(BigInteger, server_default="0")
    imported_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = _created()
    reviewed_by: Mapped[str | None] = mapped_column(String(200))
    """Who posted it anyway while it did not balance (NEEDS_REVIEW → POSTING)."""
    reversal_reason: Mapped[str | None] = mapped_column(String(500))


class RemittanceClaim(Base):
    """A CLP loop, what it matched (CLP01 = the visit's claim number) and what posting did."""

    __tablename__ = "remittance_claims"
    __table_args__ = (
        UniqueConstraint("remittance_id", "seq"),
        CheckConstraint(_in("outcome", CLAIM_OUTCOMES), name="outcome"),
        Index(
            "ix_remittance_claims_tenant_id_patient_control_number",
            "tenant_id",
            "patient_control_number",
        ),
        Index("ix_remittance_claims_visit_id", "visit_id"),
    )
    id: Mapped[int] = _id()
    tenant_id: Mapped[int] = mapped_column(BigInteger)
    remittance_id: Mapped[int] = mapped_column(ForeignKey("remittances.id"))
    seq: Mapped[int] = mapped_column(Integer)
    segment: Mapped[int] = mapped_column(Integer)
    patient_control_number: Mapped[str] = mapped_column(String(38))
    status_code: Mapped[str] = mapped_column(String(2))
    charge_cents: Mapped[int] = mapped_column(BigInteger)
    paid_cents: Mapped[int] = mapped_column(BigInteger)
    patient_responsibility_cents: Mapped[int | None] = mapped_column(BigInteger)
    payer_claim_control_number: Mapped[str] = mapped_column(String(50))
    filing_indicator: Mapped[str] = mapped_column(String(2))
    patient_name: Mapped[str | None] = mapped_column(String(200))
    service_date: Mapped[date | None] = mapped_column(Date)
    account_id: Mapped[int | None] = mapped_column(BigInteger)
    visit_id: Mapped[int | None] = mapped_column(BigInteger)
    reverses_claim_id: Mapped[int | None] = mapped_column(BigInteger)
    """For CLP02=22: the earlier posted claim whose posting this one reverses."""
    outcome: Mapped[str] = mapped_column(String(16))
    code: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str | None] = mapped_column(Text)
    posted_cents: Mapped[int] = mapped_column(BigInteger, server_default="0")
    unapplied_cents: Mapped[int] = mapped_column(BigInteger, server_default="0")
    command_id: Mapped[int | None] = mapped_column(BigInteger)
    """The chunk command that posted the claim; its entries are that command's entries with
    ids from `first_entry_id` to `last_entry_id`."""
    first_entry_id: Mapped[int | None] = mapped_column(BigInteger)
    last_entry_id: Mapped[int | None] = mapped_column(BigInteger)


class RemittanceLine(Base):
    """An SVC loop and the charge line it matched (REF*6R, else code + modifiers + date +
    charge)."""

    __tablename__ = "remittance_lines"
    __table_args__ = (
        UniqueConstraint("claim_id", "seq"),
        Index("ix_remittance_lines_tenant_id_claim_id", "tenant_id", "claim_id"),
    )
    id: Mapped[int] = _id()
    tenant_id: Mapped[int] = mapped_column(BigInteger)
    claim_id: Mapped[int] = mapped_column(ForeignKey("remittance_claims.id"))
    seq: Mapped[int] = mapped_column(Integer)
    segment: Mapped[int] = mapped_column(Integer)
    procedure_qualifier: Mapped[str] = mapped_column(String(2))
    procedure_code: Mapped[str] = mapped_column(String(48))
    modifiers: Mapped[list[str]] = mapped_column(ARRAY(String(2)))
    service_date: Mapped[date | None] = mapped_column(Date)
    charge_cents: Mapped[int] = mapped_column(BigInteger)
    paid_cents: Mapped[int] = mapped_column(BigInteger)
    units: Mapped[Decimal | None] = mapped_column(Numeric(15, 3))
    control_number: Mapped[str | None] = mapped_column(String(50))
    remarks: Mapped[list[str]] = mapped_column(ARRAY(String(20)))
    charge_line_id: Mapped[int | None] = mapped_column(BigInteger)
    unmatched_code: Mapped[str | None] = mapped_column(String(64))
    unmatched_message: Mapped[str | None] = mapped_column(Text)


class RemittanceAdjustment(Base):
    """One CAS reason triplet of a claim (line NULL) or of a service line, and its effect."""

    __tablename__ = "remittance_adjustments"
    __table_args__ = (
        CheckConstraint(_in("effect", EFFECTS), name="effect"),
        Index("ix_remittance_adjustments_tenant_id_claim_id", "tenant_id", "claim_id"),
    )
    id: Mapped[int] = _id()
    tenant_id: Mapped[int] = mapped_column(BigInteger)
    claim_id: Mapped[int] = mapped_column(ForeignKey("remittance_claims.id"))
    line_id: Mapped[int | None] = mapped_column(ForeignKey("remittance_lines.id"))
    segment: Mapped[int] = mapped_column(Integer)
    group_code: Mapped[str] = mapped_column(String(2))
    reason_code: Mapped[str] = mapped_column(String(8))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[Decimal | None] = mapped_column(Numeric(15, 3))
    effect: Mapped[str] = mapped_column(String(8))
    """REDUCE lowers the balance (CO, and OA/PI unless the tenant says memo); MEMO records it."""


class RemittanceProviderAdjustment(Base):
    """A PLB adjustment: provider level, against the remittance, never against a claim."""

    __tablename__ = "remittance_provider_adjustments"
    __table_args__ = (
        Index(
            "ix_remittance_provider_adjustments_tenant_id_remittance_id",
            "tenant_id",
            "remittance_id",
        ),
    )
    id: Mapped[int] = _id()
    tenant_id: Mapped[int] = mapped_column(BigInteger)
    remittance_id: Mapped[int] = mapped_column(ForeignKey("remittances.id"))
    segment: Mapped[int] = mapped_column(Integer)
    provider_identifier: Mapped[str] = mapped_column(String(80))
    fiscal_period_end: Mapped[date | None] = mapped_column(Date)
    reason_code: Mapped[str] = mapped_column(String(4))
    reference: Mapped[str] = mapped_column(String(80))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    posted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
