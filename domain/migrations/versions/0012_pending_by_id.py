"""PENDING commands are found in id order by an index in id order.

The worker claims the oldest PENDING commands (`ORDER BY id LIMIT n FOR UPDATE SKIP LOCKED`),
and so does the sweeper (with `enqueued_at` older than a cutoff as a filter). On an index of
`enqueued_at` the claim read every PENDING entry, sorted them and, between vacuums, rechecked
the heap rows of every command applied since (each still had an entry there): about 10 ms a
batch after a few thousand commands. On `id` it reads the first n live entries and stops.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 02:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

PENDING = sa.text("status = 'PENDING'")


def upgrade() -> None:
    op.drop_index("ix_commands_pending", table_name="commands")
    op.create_index("ix_commands_pending", "commands", ["id"], postgresql_where=PENDING)


def downgrade() -> None:
    op.drop_index("ix_commands_pending", table_name="commands")
    op.create_index("ix_commands_pending", "commands", ["enqueued_at"], postgresql_where=PENDING)
