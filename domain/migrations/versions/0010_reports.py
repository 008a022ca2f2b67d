"""Reports: the tenant's aging buckets, a visit's first billed date, and the ledger indexes the
reports read through.

- `tenants.aging_bucket_edges`: upper edges (days) of the AR aging buckets, default
  {30,60,90,120} (0-30, 31-60, 61-90, 91-120, 121+); 1 to 12 edges, the first above zero
  (ascending is checked by `domain.reports.buckets`).
- `visits.first_billed_on`: when the claim was first sent to its payer, NULL when unknown;
  aging by first billed date falls back to the date of service.
- `ix_ledger_entries_tenant_id_created_at` (tenant, posting time) covering visit and amount:
  "as of a date" and "posted from … to" are ranges of `created_at`; a visit's balance as of a
  date is an index-only scan of the append-only ledger (kept narrow: it is read by the million).
- `ix_ledger_entries_patient_responsibility`: the informational PR (patient responsibility)
  entries by visit, which decide the self-pay share of an insurance balance.

No new table (so no new row-level security): the columns live on tables 0008 secured.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 19:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "tenants",
        sa.Column(
            "aging_bucket_edges",
            postgresql.ARRAY(sa.Integer()),
            server_default=sa.text("'{30,60,90,120}'"),
            nullable=False,
        ),
    )
    op.create_check_constraint(
        op.f("ck_tenants_aging_bucket_edges"),
        "tenants",
        "cardinality(aging_bucket_edges) BETWEEN 1 AND 12 AND aging_bucket_edges[1] > 0",
    )
    op.add_column("visits", sa.Column("first_billed_on", sa.Date(), nullable=True))
    op.create_index(
        "ix_ledger_entries_tenant_id_created_at",
        "ledger_entries",
        ["tenant_id", "created_at"],
        postgresql_include=["visit_id", "amount_cents"],
    )
    op.create_index(
        "ix_ledger_entries_patient_responsibility",
        "ledger_entries",
        ["tenant_id", "visit_id"],
        postgresql_include=["created_at", "memo_amount_cents"],
        postgresql_where=sa.text("carc_group = 'PR' AND amount_cents = 0"),
    )


def downgrade() -> None:
    op.drop_index("ix_ledger_entries_patient_responsibility", table_name="ledger_entries")
    op.drop_index("ix_ledger_entries_tenant_id_created_at", table_name="ledger_entries")
    op.drop_column("visits", "first_billed_on")
    op.drop_constraint(op.f("ck_tenants_aging_bucket_edges"), "tenants", type_="check")
    op.drop_column("tenants", "aging_bucket_edges")
