"""Per-account hash chain of ledger entries.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

ZERO = "'\\x" + "00" * 32 + "'::bytea"


def upgrade() -> None:
    op.add_column(
        "accounts",
        sa.Column("ledger_chain_hash", sa.LargeBinary(), server_default=sa.text(ZERO), nullable=False),
    )
    op.add_column("ledger_entries", sa.Column("prev_hash", sa.LargeBinary(), nullable=True))
    op.add_column("ledger_entries", sa.Column("entry_hash", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    op.drop_column("ledger_entries", "entry_hash")
    op.drop_column("ledger_entries", "prev_hash")
    op.drop_column("accounts", "ledger_chain_hash")
