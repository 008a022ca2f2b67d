"""Lean foreign keys on the ledger's hot inserts.

Every ledger entry and audit row is written by `domain.ledger.batch` in the same transaction as the
rows it names, under their locks. Each foreign-key check is an index lookup per row; on the
batched apply path they were most of the insert time. Entries keep the links that say what
they are (line, command, transaction code, the entry they reverse); the tenant, account and
visit of an entry are its line's. Audit rows are an append-only log and keep none.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

DROPPED = {
    "ledger_entries": [
        ("fk_ledger_entries_tenant_id_tenants", "tenant_id", "tenants"),
        ("fk_ledger_entries_account_id_accounts", "account_id", "accounts"),
        ("fk_ledger_entries_visit_id_visits", "visit_id", "visits"),
    ],
    "audit_rows": [
        ("fk_audit_rows_tenant_id_tenants", "tenant_id", "tenants"),
        ("fk_audit_rows_account_id_accounts", "account_id", "accounts"),
        ("fk_audit_rows_visit_id_visits", "visit_id", "visits"),
        ("fk_audit_rows_line_id_charge_lines", "line_id", "charge_lines"),
        ("fk_audit_rows_entry_id_ledger_entries", "entry_id", "ledger_entries"),
        ("fk_audit_rows_command_id_commands", "command_id", "commands"),
        ("fk_audit_rows_paired_audit_id_audit_rows", "paired_audit_id", "audit_rows"),
    ],
}


def upgrade() -> None:
    for table, constraints in DROPPED.items():
        for name, _, _ in constraints:
            op.drop_constraint(name, table, type_="foreignkey")


def downgrade() -> None:
    for table, constraints in DROPPED.items():
        for name, column, referred in constraints:
            op.create_foreign_key(name, table, referred, [column], ["id"])
