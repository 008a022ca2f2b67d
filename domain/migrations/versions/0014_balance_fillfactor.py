"""Room on every page of the balance rows for their next versions (fillfactor 80).

Accounts, visits and charge lines are rewritten on every posting (their balance, an account's
version and chain head), and none of those columns is indexed, so PostgreSQL can keep the new
version on the same page without touching an index (a HOT update), but only if the page has
room. Full pages (fillfactor 100) sent most of these updates to another page, with a new entry
in each of the table's 3-6 indexes. Pages written from now on keep a fifth free; existing pages
keep their layout until they are rewritten (`VACUUM FULL`, `CLUSTER` or `pg_repack`).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 04:00:00
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

BALANCE_TABLES = ("accounts", "visits", "charge_lines")
FILLFACTOR = 80


def upgrade() -> None:
    for table in BALANCE_TABLES:
        op.execute(f"ALTER TABLE {table} SET (fillfactor = {FILLFACTOR})")


def downgrade() -> None:
    for table in BALANCE_TABLES:
        op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
