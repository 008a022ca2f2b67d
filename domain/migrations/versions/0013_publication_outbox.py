"""A batch's publication is one outbox row, not a second UPDATE of every command it applied.

The worker used to publish a batch's events after its commit and then mark each command
published (`commands.published_at`): a third version of every command row (stored, applied,
marked), with an entry in each of its four indexes, since `published_at` is in an index
predicate. Now the batch's transaction sets `published_at` with the status and writes one
`publication_outbox` row per tenant listing the commands; after publishing the worker deletes
that row. A row a crash leaves behind is the sweeper's to republish, as an unmarked command
was (and other paths that finish commands still leave `published_at` NULL until published).

`tenant_id` leads the primary key (the Citus rule, docs/SCALING.md); row-level security as on
every table.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 02:15:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

API, WORKER = "arledger_api", "arledger_worker"
TENANT = "NULLIF(current_setting('arledger.tenant_id', true), '')::bigint"
TABLE = "publication_outbox"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("command_ids", postgresql.ARRAY(sa.BigInteger()), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_publication_outbox_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_publication_outbox")),
    )
    using = f"tenant_id = {TENANT}"
    op.execute(f"ALTER TABLE {TABLE} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {TABLE} FORCE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY {TABLE}_api ON {TABLE} TO {API} USING ({using}) WITH CHECK ({using})")
    op.execute(f"CREATE POLICY {TABLE}_worker ON {TABLE} TO {WORKER} USING (true) WITH CHECK (true)")


def downgrade() -> None:
    op.drop_table(TABLE)
