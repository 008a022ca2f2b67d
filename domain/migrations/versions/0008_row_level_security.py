"""Tenant isolation in the database: roles, row-level security, provenance on audit rows.

- Two roles that own nothing: `arledger_api` (the GraphQL API; sees one tenant's rows, the one
  named by `arledger.tenant_id`, set per transaction) and `arledger_worker` (the Celery worker
  and the operator's tools: every tenant, because one batch applies many tenants' commands).
  They are created here when missing (LOGIN, no password: give them one, or create them
  yourself beforehand, where connections are not trusted).
- Row-level security enabled and FORCED on every tenant table: the owner is not exempt either
  (it has no policy, so it sees nothing; migrations that move data must say so explicitly).
- `commands` and `audit_rows` record the scopes used and the request id. Both default to the
  transaction's `arledger.scopes` / `arledger.request_id` (set by the API); a worker's audit
  row copies them from its command (trigger), so every audit row says who, for which tenant,
  with which scopes and in which request.
- `commands.published_at`: when the command's events were published (NULL until then).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 10:20:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

API, WORKER = "arledger_api", "arledger_worker"
TENANT = "NULLIF(current_setting('arledger.tenant_id', true), '')::bigint"
TENANT_TABLES = (
    "adjustment_categories",
    "payers",
    "transaction_codes",
    "accounts",
    "visits",
    "charge_lines",
    "commands",
    "ledger_entries",
    "audit_rows",
    "transactions",
    "transaction_applications",
    "bulk_jobs",
    "bulk_job_items",
)
REQUEST_ID = "NULLIF(current_setting('arledger.request_id', true), '')"
SCOPES = "string_to_array(NULLIF(current_setting('arledger.scopes', true), ''), ' ')"


def _create_roles() -> None:
    for role in (API, WORKER):
        op.execute(
            f"""
            DO $$ BEGIN
                IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
                    CREATE ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
                END IF;
            EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
            END $$
            """
        )
    op.execute(f"GRANT USAGE ON SCHEMA public TO {API}, {WORKER}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {API}, {WORKER}")
    op.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {API}, {WORKER}")
    op.execute(f"REVOKE ALL ON alembic_version FROM {API}, {WORKER}")
    op.execute(
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {API}, {WORKER}"
    )
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {API}, {WORKER}"
    )


def _secure(table: str, api_using: str) -> None:
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY {table}_api ON {table} TO {API} "
        f"USING ({api_using}) WITH CHECK ({api_using})"
    )
    op.execute(f"CREATE POLICY {table}_worker ON {table} TO {WORKER} USING (true) WITH CHECK (true)")


def _secure_tables() -> None:
    for table in TENANT_TABLES:
        _secure(table, f"tenant_id = {TENANT}")
    _secure("payer_default_codes", "EXISTS (SELECT 1 FROM payers p WHERE p.id = payer_id)")
    # The API finds its tenant by slug before it knows the id: it may read the one tenant row
    # whose slug it names in `arledger.tenant_slug`, and change only its own.
    op.execute("ALTER TABLE tenants ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE tenants FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenants_api_read ON tenants FOR SELECT TO {API} USING (id = {TENANT} "
        "OR slug = NULLIF(current_setting('arledger.tenant_slug', true), ''))"
    )
    op.execute(
        f"CREATE POLICY tenants_api_update ON tenants FOR UPDATE TO {API} "
        f"USING (id = {TENANT}) WITH CHECK (id = {TENANT})"
    )
    op.execute(f"CREATE POLICY tenants_worker ON tenants TO {WORKER} USING (true) WITH CHECK (true)")
    op.execute(f"REVOKE INSERT, DELETE ON tenants FROM {API}")


def _provenance() -> None:
    for table in ("commands", "audit_rows"):
        op.add_column(
            table, sa.Column("request_id", sa.String(100), server_default=sa.text(REQUEST_ID))
        )
        op.add_column(
            table,
            sa.Column("scopes", postgresql.ARRAY(sa.Text()), server_default=sa.text(SCOPES)),
        )
    op.execute(
        """
        CREATE FUNCTION arledger_audit_provenance() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            SELECT c.request_id, c.scopes INTO NEW.request_id, NEW.scopes
            FROM commands c WHERE c.id = NEW.command_id;
            RETURN NEW;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER audit_rows_provenance BEFORE INSERT ON audit_rows FOR EACH ROW "
        "WHEN (NEW.command_id IS NOT NULL AND NEW.request_id IS NULL) "
        "EXECUTE FUNCTION arledger_audit_provenance()"
    )
    op.add_column("commands", sa.Column("published_at", sa.DateTime(timezone=True)))
    # What finished before this migration was published then (or is long past caring): the
    # sweeper must not republish a whole history.
    op.execute(
        "UPDATE commands SET published_at = COALESCE(finished_at, now()) "
        "WHERE status <> 'PENDING'"
    )
    op.create_index(
        "ix_commands_unpublished",
        "commands",
        ["finished_at"],
        postgresql_where=sa.text("status <> 'PENDING' AND published_at IS NULL"),
    )


def upgrade() -> None:
    _provenance()
    _create_roles()
    _secure_tables()


def downgrade() -> None:
    for table in (*TENANT_TABLES, "payer_default_codes"):
        op.execute(f"DROP POLICY {table}_api ON {table}")
        op.execute(f"DROP POLICY {table}_worker ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    for policy in ("tenants_api_read", "tenants_api_update", "tenants_worker"):
        op.execute(f"DROP POLICY {policy} ON tenants")
    op.execute("ALTER TABLE tenants NO FORCE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE tenants DISABLE ROW LEVEL SECURITY")
    op.execute(
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
        f"REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM {API}, {WORKER}"
    )
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE USAGE, SELECT ON SEQUENCES FROM {API}, {WORKER}"
    )
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {API}, {WORKER}")
    op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {API}, {WORKER}")
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {API}, {WORKER}")
    op.drop_index("ix_commands_unpublished", table_name="commands")
    op.drop_column("commands", "published_at")
    op.execute("DROP TRIGGER audit_rows_provenance ON audit_rows")
    op.execute("DROP FUNCTION arledger_audit_provenance()")
    for table in ("commands", "audit_rows"):
        op.drop_column(table, "scopes")
        op.drop_column(table, "request_id")
