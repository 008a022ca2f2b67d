"""The relational model. Money columns are BIGINT cents; every constraint is named.

Balances on lines, visits and accounts are a projection of `ledger_entries`: the ledger is the
truth, and every change to a projection is made together with the entry that explains it.
"""

from datetime import date, datetime
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
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ENTRY_KINDS = (
    "CHARGE",
    "PAYMENT",
    "WRITEOFF",
    "ADJUSTMENT",
    "CONTRACTUAL",
    "BAD_DEBT",
    "FINANCE_CHARGE",
    "ADDITIONAL_CHARGE",
    "REFUND",
)
TRANSACTION_TYPES = ("PY", "CW", "BD", "FC", "AD", "AC", "RF")
VISIT_STATES = ("open", "submitted", "on_hold", "denied", "paid", "closed")
COMMAND_STATUSES = ("PENDING", "APPLIED", "REJECTED")
TRANSACTION_STATUSES = ("WORK_IN_PROGRESS", "POSTING", "POSTED", "VOIDING", "VOIDED")
CARC_GROUPS = ("CO", "OA", "PI", "PR")
WRITE_OFF_REASONS = (
    "small-balance",
    "patient-uncollectable",
    "charity",
    "bad-debt",
    "dispute-resolved",
    "other",
)
ADJUSTMENT_REASONS = (
    "contracted-rate-correction",
    "dual-eligible-coverage-correction",
    "payer-error-corrected",
)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _array(values: tuple[str, ...]) -> str:
    return "'{" + ",".join(values) + "}'"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _id() -> Mapped[int]:
    return mapped_column(BigInteger, primary_key=True, autoincrement=True)


def _tenant() -> Mapped[int]:
    return mapped_column(ForeignKey("tenants.id"), index=True)


def _created() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now())


def _request_id() -> Mapped[str | None]:
    """The request that caused the row: the API sets `arledger.request_id` per transaction."""
    return mapped_column(
        String(100), server_default=text("NULLIF(current_setting('arledger.request_id', true), '')")
    )


def _scopes() -> Mapped[list[str] | None]:
    """The scopes the caller's token carried (`arledger.scopes`, set per transaction)."""
    return mapped_column(
        ARRAY(Text),
        server_default=text(
            "string_to_array(NULLIF(current_setting('arledger.scopes', true), ''), ' ')"
        ),
    )


class Tenant(Base):
    """A practice or organisation; owns everything else. Settings live here."""

    __tablename__ = "tenants"
    __table_args__ = (
        CheckConstraint(_in("synthetic_carc_group", CARC_GROUPS), name="synthetic_carc_group"),
        CheckConstraint(
            "remittance_memo_groups <@ ARRAY['OA', 'PI']::text[]", name="remittance_memo_groups"
        ),
        CheckConstraint(
            "cardinality(aging_bucket_edges) BETWEEN 1 AND 12 AND aging_bucket_edges[1] > 0",
            name="aging_bucket_edges",
        ),
    )
    id: Mapped[int] = _id()
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    small_balance_threshold_cents: Mapped[int] = mapped_column(BigInteger, server_default="500")
    blocking_visit_states: Mapped[list[str]] = mapped_column(
        ARRAY(Text), server_default=text("'{submitted,on_hold}'")
    )
    writeoff_reasons: Mapped[list[str]] = mapped_column(
        ARRAY(Text), server_default=text(_array(WRITE_OFF_REASONS))
    )
    adjustment_reasons: Mapped[list[str]] = mapped_column(
        ARRAY(Text), server_default=text(_array(ADJUSTMENT_REASONS))
    )
    synthetic_carc_group: Mapped[str] = mapped_column(String(2), server_default="OA")
    time_zone: Mapped[str] = mapped_column(String(64), server_default="UTC")
    remittance_memo_groups: Mapped[list[str]] = mapped_column(
        ARRAY(Text), server_default=text("'{}'")
    )
    """CAS groups among OA and PI that a remittance posts as memo instead of reducing."""
    aging_bucket_edges: Mapped[list[int]] = mapped_column(
        ARRAY(Integer), server_default=text("'{30,60,90,120}'")
    )
    """Upper edges (days, ascending) of the AR aging buckets: 0-30, 31-60, 61-90, 91-120, 121+."""
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'"))
    created_at: Mapped[datetime] = _created()


class AdjustmentCategory(Base):
    """A tenant's adjustment picklist entry: whether it reduces the balance, and its CARC.

    `carc_group` NULL means the tenant's synthetic-CARC group. Categories are deactivated,
    never deleted, so posted entries keep naming a category that existed.
    """

    __tablename__ = "adjustment_categories"
    __table_args__ = (
        UniqueConstraint("tenant_id", "code"),
        CheckConstraint(_in("carc_group", CARC_GROUPS), name="carc_group"),
    )
    id: Mapped[int] = _id()
    tenant_id: Mapped[int] = _tenant()
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    reduces_balance: Mapped[bool] = mapped_column(Boolean)
    carc_group: Mapped[str | None] = mapped_column(String(2))
    carc_reason: Mapped[str] = mapped_column(String(5))
    active: Mapped[bool] = mapped_column(Boolean, server_default="true")


class Payer(Base):
    """Who pays a visit. Code `1` is Self Pay by convention."""

    __tablename__ = "payers"
    __table_args__ = (UniqueConstraint("tenant_id", "code"),)
    id: Mapped[int] = _id()
    tenant_id: Mapped[int] = _tenant()
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    address_line1: Mapped[str] = mapped_column(String(200), server_default="")
    zip: Mapped[str] = mapped_column(String(10), server_default="")


class TransactionCode(Base):
    """A tenant-defined code of a transaction type, e.g. `CW01 Contractual`."""

    __tablename__ = "transaction_codes"
    __table_args__ = (
        UniqueConstraint("tenant_id", "code"),
        CheckConstraint(_in("type", TRANSACTION_TYPES), name="type"),
    )
    id: Mapped[int] = _id()
    tenant_id: Mapped[int] = _tenant()
    code: Mapped[str] = mapped_column(String(32))
    type: Mapped[str] = mapped_column(String(2))
    description: Mapped[str] = mapped_column(String(200))


class PayerDefaultCode(Base):
    """Payer configuration: the default transaction code for one transaction type."""

    __tablename__ = "payer_default_codes"
    __table_args__ = (CheckConstraint(_in("type", TRANSACTION_TYPES), name="type"),)
    payer_id: Mapped[int] = mapped_column(ForeignKey("payers.id"), primary_key=True)
    type: Mapped[str] = mapped_column(String(2), primary_key=True)
    transaction_code_id: Mapped[int] = mapped_column(ForeignKey("transaction_codes.id"))


class Account(Base):
    """A patient account. `balance_cents` is the sum of its visits'; `version` counts changes."""

    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("tenant_id", "account_number"),)
    id: Mapped[int] = _id()
    tenant_id: Mapped[int] = _tenant()
    account_number: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    balance_cents: Mapped[int] = mapped_column(BigInteger, server_default="0")
    version: Mapped[int] = mapped_column(BigInteger, server_default="0")
    ledger_chain_hash: Mapped[bytes] = mapped_column(
        LargeBinary, server_default=text(r"'\x" + "00" * 32 + "'::bytea")
    )
    """The head of the account's hash chain: its last ledger entry's `entry_hash`."""


class Visit(Base):
    """A visit (claim) on an account. `claim_number` is the patient control number (CLP01)."""

    __tablename__ = "visits"
    __table_args__ = (
        UniqueConstraint("account_id", "visit_number"),
        UniqueConstraint("tenant_id", "claim_number"),
        CheckConstraint(_in("state", VISIT_STATES), name="state"),
    )
    id: Mapped[int] = _id()
    tenant_id: Mapped[int] = _tenant()
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    visit_number: Mapped[int] = mapped_column(Integer)
    claim_number: Mapped[str] = mapped_column(String(38))
    date_of_service: Mapped[date] = mapped_column(Date)
    payer_id: Mapped[int] = mapped_column(ForeignKey("payers.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), server_default="open")
    billed_cents: Mapped[int] = mapped_column(BigInteger, server_default="0")
    contract_fee_cents: Mapped[int | None] = mapped_column(BigInteger)
    balance_cents: Mapped[int] = mapped_column(BigInteger, server_default="0")
    follow_up: Mapped[str | None] = mapped_column(Text)
    """Why the visit needs a person (e.g. the payer's denial reasons); NULL when it does not."""
    follow_up_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    first_billed_on: Mapped[date | None] = mapped_column(Date)
    """When the claim was first sent to its payer; NULL when unknown (aging then uses the date
    of service)."""


class ChargeLine(Base):
    """A billed procedure on a visit; the unit a balance is kept on."""

    __tablename__ = "charge_lines"
    __table_args__ = (
        UniqueConstraint("visit_id", "line_number"),
        CheckConstraint("units > 0", name="units_positive"),
    )
    id: Mapped[int] = _id()
    tenant_id: Mapped[int] = _tenant()
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id"), index=True)
    line_number: Mapped[int] = mapped_column(Integer)
    procedure_code: Mapped[str] = mapped_column(String(16))
    units: Mapped[int] = mapped_column(Integer, server_default="1")
    billed_cents: Mapped[int] = mapped_column(BigInteger)
    contract_fee_cents: Mapped[int | None] = mapped_column(BigInteger)
    protected: Mapped[bool] = mapped_column(Boolean, server_default="false")
    balance_cents: Mapped[int] = mapped_column(BigInteger, server_default="0")
    modifiers: Mapped[list[str]] = mapped_column(ARRAY(String(2)), server_default=text("'{}'"))
    service_date: Mapped[date | None] = mapped_column(Date)
    """When the procedure was done; NULL means the visit's date of service."""
    control_number: Mapped[str | None] = mapped_column(String(50))
    """The line item control number sent on the claim (an 835 returns it in REF*6R)."""


class Command(Base):
    """A requested change, stored before it is enqueued; applied at most once."""

    __tablename__ = "commands"
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key"),
        CheckConstraint(_in("status", COMMAND_STATUSES), name="status"),
        Index("ix_commands_pending", "id", postgresql_where=text("status = 'PENDING'")),
        Index(
            "ix_commands_unpublished",
            "finished_at",
            postgresql_where=text("status <> 'PENDING' AND published_at IS NULL"),
        ),
    )
    id: Mapped[int] = _id()
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    """The client's key; NULL for the internal commands of a bulk job (planning, chunks)."""
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    fingerprint: Mapped[str] = mapped_column(String(64))
    account_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger))
    actor: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), server_default="PENDING")
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()
    enqueued_at: Mapped[datetime] = _created()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """When the applying transaction wrote the outcome: for a batch-applied command, its claim,
    which writes APPLIED before the balance locks are taken (a rejection is rewritten later in
    the same transaction); the outcome is visible from that transaction's commit."""
    request_id: Mapped[str | None] = _request_id()
    scopes: Mapped[list[str] | None] = _scopes()
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """When the command's events were published (for a batch-applied command: when its batch
    committed, its events then going out from `PublicationOutbox`); NULL until then, and the
    sweeper republishes what stays NULL."""


class PublicationOutbox(Base):
    """A batch's applied commands of one tenant whose events go out once it commits: written in
    the batch's transaction, deleted once they are published. What a crash leaves here the
    sweeper republishes (`domain.commands.republish`)."""

    __tablename__ = "publication_outbox"
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    command_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger))
    created_at: Mapped[datetime] = _created()


class LedgerEntry(Base):
    """One immutable change to one line's balance. `amount_cents` is the signed effect.

    An informational entry changes no balance: its `amount_cents` is 0 and the amount it
    records is `memo_amount_cents`. A reversal names its original in `reverses_entry_id`; the
    original's link back is that unique column read the other way.
    """

    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint(_in("kind", ENTRY_KINDS), name="kind"),
        CheckConstraint(
            "(amount_cents <> 0 AND memo_amount_cents IS NULL) OR "
            "(amount_cents = 0 AND memo_amount_cents <> 0)",
            name="amount_or_memo",
        ),
        UniqueConstraint("reverses_entry_id"),
        Index("ix_ledger_entries_account_id_id", "account_id", "id"),
        Index(
            "ix_ledger_entries_tenant_id_created_at",
            "tenant_id",
            "created_at",
            postgresql_include=["visit_id", "amount_cents"],
        ),
        Index(
            "ix_ledger_entries_patient_responsibility",
            "tenant_id",
            "visit_id",
            postgresql_include=["created_at", "memo_amount_cents"],
            postgresql_where=text("carc_group = 'PR' AND amount_cents = 0"),
        ),
        Index(
            "ix_ledger_entries_tenant_id_created_xid",
            "tenant_id",
            "created_xid",
            postgresql_where=text("created_xid IS NOT NULL"),
        ),
        Index(
            "ix_ledger_entries_transaction_id",
            "transaction_id",
            postgresql_where=text("transaction_id IS NOT NULL"),
        ),
    )
    id: Mapped[int] = _id()
    tenant_id: Mapped[int] = mapped_column(BigInteger)
    account_id: Mapped[int] = mapped_column(BigInteger)
    visit_id: Mapped[int] = mapped_column(BigInteger, index=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("charge_lines.id"), index=True)
    command_id: Mapped[int | None] = mapped_column(ForeignKey("commands.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    memo_amount_cents: Mapped[int | None] = mapped_column(BigInteger)
    reason: Mapped[str | None] = mapped_column(String(500))
    note: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(64))
    carc_group: Mapped[str | None] = mapped_column(String(2))
    carc_reason: Mapped[str | None] = mapped_column(String(8))
    transaction_code_id: Mapped[int | None] = mapped_column(ForeignKey("transaction_codes.id"))
    transaction_date: Mapped[date] = mapped_column(Date, server_default=func.current_date())
    actor: Mapped[str] = mapped_column(String(200))
    reverses_entry_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"))
    transaction_id: Mapped[int | None] = mapped_column(BigInteger)
    prev_hash: Mapped[bytes] = mapped_column(LargeBinary)
    """The account's previous entry's `entry_hash` (zeros for its first; `domain.ledger.chain`)."""
    entry_hash: Mapped[bytes] = mapped_column(LargeBinary)
    """SHA-256 of `prev_hash` and the entry's canonical encoding (`domain.ledger.chain`)."""
    created_at: Mapped[datetime] = _created()
    created_xid: Mapped[int | None] = mapped_column(
        BigInteger, server_default=text("(pg_current_xact_id()::text)::bigint")
    )
    """The writing transaction's id: which snapshots see the entry (`domain.reports.since`);
    NULL for entries older than migration 0011."""


class AuditRow(Base):
    """Who did what, when and why, with the line balance before and after. Append-only."""

    __tablename__ = "audit_rows"
    __table_args__ = (
        Index(
            "ix_audit_rows_tenant_settings",
            "tenant_id",
            "id",
            postgresql_where=text("action = 'SETTINGS_CHANGED'"),
        ),
    )
    id: Mapped[int] = _id()
    tenant_id: Mapped[int] = mapped_column(BigInteger)
    command_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    entry_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    account_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    visit_id: Mapped[int | None] = mapped_column(BigInteger)
    line_id: Mapped[int | None] = mapped_column(BigInteger)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str | None] = mapped_column(String(500))
    note: Mapped[str | None] = mapped_column(Text)
    balance_before_cents: Mapped[int | None] = mapped_column(BigInteger)
    balance_after_cents: Mapped[int | None] = mapped_column(BigInteger)
    paired_audit_id: Mapped[int | None] = mapped_column(BigInteger)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    request_id: Mapped[str | None] = _request_id()
    scopes: Mapped[list[str] | None] = _scopes()
    created_at: Mapped[datetime] = _created()


class Transaction(Base):
    """A practice-management transaction (PY, CW, BD, FC, AD, AC, RF) and its lifecycle.

    WORK_IN_PROGRESS until its applications sum to `amount_cents`; POSTING while the worker
    applies it (all or none), then POSTED; VOIDING → VOIDED when every entry is reversed.
    """

    __tablename__ = "transactions"
    __table_args__ = (
        CheckConstraint(_in("type", TRANSACTION_TYPES), name="type"),
        CheckConstraint(_in("status", TRANSACTION_STATUSES), name="status"),
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        Index("ix_transactions_tenant_id_status_id", "tenant_id", "status", "id"),
        Index("ix_transactions_tenant_id_transaction_date", "tenant_id", "transaction_date"),
    )
    id: Mapped[int] = _id()
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    payer_id: Mapped[int] = mapped_column(ForeignKey("payers.id"), index=True)
    type: Mapped[str] = mapped_column(String(2))
    transaction_code_id: Mapped[int] = mapped_column(ForeignKey("transaction_codes.id"))
    transaction_date: Mapped[date] = mapped_column(Date)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20), server_default="WORK_IN_PROGRESS")
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = _created()
    post_command_id: Mapped[int | None] = mapped_column(BigInteger)
    posted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    void_command_id: Mapped[int | None] = mapped_column(BigInteger)
    void_reason: Mapped[str | None] = mapped_column(String(500))
    voided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error_code: Mapped[str | None] = mapped_column(String(64))
    last_error_message: Mapped[str | None] = mapped_column(Text)


class TransactionApplication(Base):
    """Part of a transaction applied to one visit; a payment may carry a contractual write-off."""

    __tablename__ = "transaction_applications"
    __table_args__ = (
        UniqueConstraint("transaction_id", "visit_id"),
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        CheckConstraint("contractual_cents >= 0", name="contractual_not_negative"),
    )
    id: Mapped[int] = _id()
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    transaction_id: Mapped[int] = mapped_column(ForeignKey("transactions.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id"))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    contractual_cents: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = _created()
