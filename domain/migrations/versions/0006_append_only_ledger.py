"""The ledger and the audit trail are append-only in the database itself.

A trigger refuses UPDATE and DELETE on `ledger_entries` and `audit_rows` (row level) and
TRUNCATE (statement level), whoever connects: a correction is a new entry (a reversal), never
an edit.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 17:40:00
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TABLES = ("ledger_entries", "audit_rows")


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION arledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'restrict_violation',
                      HINT = 'Correct a ledger entry with a reversal, never an edit.';
        END
        $$
        """
    )
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION arledger_refuse_change()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION arledger_refuse_change()"
        )


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TRIGGER {table}_no_truncate ON {table}")
        op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
    op.execute("DROP FUNCTION arledger_refuse_change()")
