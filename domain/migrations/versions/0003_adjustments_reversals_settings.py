"""Adjustments, reversals and tenant settings.

Tenants gain their enabled write-off reasons, adjustment reasons and synthetic-CARC group;
adjustment categories become a per-tenant picklist (existing tenants get the defaults);
ledger entries can be informational (no balance effect, the amount kept as a memo); reasons
grow to hold a reversal's free text; audit rows gain structured details (settings changes).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

WRITE_OFF_REASONS = "'{small-balance,patient-uncollectable,charity,bad-debt,dispute-resolved,other}'"
ADJUSTMENT_REASONS = (
    "'{contracted-rate-correction,dual-eligible-coverage-correction,payer-error-corrected}'"
)
DEFAULT_CATEGORIES = """
INSERT INTO adjustment_categories (tenant_id, code, name, reduces_balance, carc_group, carc_reason)
SELECT t.id, c.code, c.name, c.reduces, NULL, c.carc
FROM tenants t CROSS JOIN (VALUES
    ('contract-correction', 'Contracted rate correction', true, '45'),
    ('coordination-of-benefits', 'Coordination of benefits correction', true, '22'),
    ('payer-error', 'Payer error correction', true, '129'),
    ('memo', 'Informational (memo only, balance unchanged)', false, '94')
) AS c(code, name, reduces, carc)
"""


def upgrade() -> None:
    op.add_column(
        "tenants",
        sa.Column(
            "writeoff_reasons",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text(WRITE_OFF_REASONS),
            nullable=False,
        ),
    )
    op.add_column(
        "tenants",
        sa.Column(
            "adjustment_reasons",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text(ADJUSTMENT_REASONS),
            nullable=False,
        ),
    )
    op.add_column(
        "tenants",
        sa.Column("synthetic_carc_group", sa.String(2), server_default="OA", nullable=False),
    )
    op.create_check_constraint(
        op.f("ck_tenants_synthetic_carc_group"),
        "tenants",
        "synthetic_carc_group IN ('CO', 'OA', 'PI', 'PR')",
    )
    op.create_table(
        "adjustment_categories",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("reduces_balance", sa.Boolean(), nullable=False),
        sa.Column("carc_group", sa.String(2), nullable=True),
        sa.Column("carc_reason", sa.String(5), nullable=False),
        sa.Column("active", sa.Boolean(), server_default="true", nullable=False),
        sa.CheckConstraint(
            "carc_group IN ('CO', 'OA', 'PI', 'PR')",
            name=op.f("ck_adjustment_categories_carc_group"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_adjustment_categories_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_adjustment_categories")),
        sa.UniqueConstraint(
            "tenant_id", "code", name=op.f("uq_adjustment_categories_tenant_id_code")
        ),
    )
    op.create_index(
        op.f("ix_adjustment_categories_tenant_id"), "adjustment_categories", ["tenant_id"]
    )
    op.execute(DEFAULT_CATEGORIES)
    op.add_column("ledger_entries", sa.Column("memo_amount_cents", sa.BigInteger(), nullable=True))
    op.drop_constraint(op.f("ck_ledger_entries_amount_nonzero"), "ledger_entries", type_="check")
    op.create_check_constraint(
        op.f("ck_ledger_entries_amount_or_memo"),
        "ledger_entries",
        "(amount_cents <> 0 AND memo_amount_cents IS NULL) OR "
        "(amount_cents = 0 AND memo_amount_cents <> 0)",
    )
    for table in ("ledger_entries", "audit_rows"):
        op.alter_column(table, "reason", type_=sa.String(500), existing_nullable=True)
    op.add_column(
        "audit_rows",
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )
    op.create_index(
        "ix_audit_rows_tenant_settings",
        "audit_rows",
        ["tenant_id", "id"],
        postgresql_where=sa.text("action = 'SETTINGS_CHANGED'"),
    )


def downgrade() -> None:
    op.drop_index("ix_audit_rows_tenant_settings", table_name="audit_rows")
    op.drop_column("audit_rows", "details")
    for table in ("ledger_entries", "audit_rows"):
        op.alter_column(table, "reason", type_=sa.String(64), existing_nullable=True)
    op.drop_constraint(op.f("ck_ledger_entries_amount_or_memo"), "ledger_entries", type_="check")
    op.create_check_constraint(
        op.f("ck_ledger_entries_amount_nonzero"), "ledger_entries", "amount_cents <> 0"
    )
    op.drop_column("ledger_entries", "memo_amount_cents")
    op.drop_table("adjustment_categories")
    op.drop_constraint(op.f("ck_tenants_synthetic_carc_group"), "tenants", type_="check")
    for column in ("synthetic_carc_group", "adjustment_reasons", "writeoff_reasons"):
        op.drop_column("tenants", column)
