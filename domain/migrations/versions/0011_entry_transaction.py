"""Each ledger entry remembers the transaction that wrote it, so a report read in one snapshot
can be brought forward to a later one by reading only the entries committed in between.

- `ledger_entries.created_xid`: the writing transaction's id (`pg_current_xact_id()`, 64-bit,
  never wraps), set by the default on every insert; NULL for entries written before this
  migration (all of them visible to any snapshot taken after it).
- `ix_ledger_entries_tenant_id_created_xid`: the entries of a tenant's latest transactions,
  for "what did the ledger gain since snapshot S" (`domain.reports.since`).

Adding a nullable column and a default rewrites nothing; the index is built once.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 21:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

TRANSACTION_ID = "(pg_current_xact_id()::text)::bigint"


def upgrade() -> None:
    op.add_column("ledger_entries", sa.Column("created_xid", sa.BigInteger(), nullable=True))
    op.alter_column("ledger_entries", "created_xid", server_default=sa.text(TRANSACTION_ID))
    op.create_index(
        "ix_ledger_entries_tenant_id_created_xid",
        "ledger_entries",
        ["tenant_id", "created_xid"],
        postgresql_where=sa.text("created_xid IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_ledger_entries_tenant_id_created_xid", table_name="ledger_entries")
    op.drop_column("ledger_entries", "created_xid")
