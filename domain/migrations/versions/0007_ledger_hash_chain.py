"""Per-account hash chain of ledger entries (see `domain.ledger.chain`).

- `ledger_entries.prev_hash` / `entry_hash`: the account's previous entry's hash (32 zero
  bytes for the first) and SHA-256(prev_hash || canonical encoding of the entry).
- `accounts.ledger_chain_hash`: the head, the hash of the account's last entry.
- `arledger_entry_hash(prev, e)`: the SQL twin of `domain.ledger.chain.entry_hash`, which
  `domain.ledger.verify` recomputes the chain with; `arledger_chain_field` encodes one field.
- Existing entries are chained here, in id order per account (the append-only trigger is
  disabled for that UPDATE only, inside this migration's transaction).

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

ZERO = r"'\x" + "00" * 32 + "'::bytea"
TEXT_FIELDS = (
    "id",
    "tenant_id",
    "account_id",
    "visit_id",
    "line_id",
    "command_id",
    "kind",
    "amount_cents",
    "memo_amount_cents",
    "reason",
    "note",
    "category",
    "carc_group",
    "carc_reason",
    "transaction_code_id",
    "transaction_date",
    "actor",
    "reverses_entry_id",
    "transaction_id",
)
"""`domain.ledger.chain.HASHED_FIELDS`, frozen as of this revision."""


def _as_text(column: str) -> str:
    if column == "transaction_date":
        return "to_char(e.transaction_date::timestamp, 'YYYY-MM-DD')"
    return f"e.{column}::text"


FIELD_FUNCTION = r"""
CREATE FUNCTION arledger_chain_field(value text) RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN value IS NULL THEN '\x00'::bytea
           ELSE '\x01'::bytea || int4send(octet_length(convert_to(value, 'UTF8')))
                || convert_to(value, 'UTF8') END
$$
"""

HASH_FUNCTION = f"""
CREATE FUNCTION arledger_entry_hash(prev bytea, e ledger_entries) RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT sha256(prev
        || {" || ".join(f"arledger_chain_field({_as_text(c)})" for c in TEXT_FIELDS)})
$$
"""

BACKFILL = f"""
DO $$
DECLARE
    e ledger_entries;
    account bigint;
    prev bytea;
    ids bigint[] := '{{}}';
    prevs bytea[] := '{{}}';
    hashes bytea[] := '{{}}';
BEGIN
    FOR e IN SELECT * FROM ledger_entries ORDER BY account_id, id LOOP
        IF account IS DISTINCT FROM e.account_id THEN
            account := e.account_id;
            prev := {ZERO};
        END IF;
        ids := ids || e.id;
        prevs := prevs || prev;
        prev := arledger_entry_hash(prev, e);
        hashes := hashes || prev;
    END LOOP;
    UPDATE ledger_entries l SET prev_hash = u.prev_hash, entry_hash = u.entry_hash
    FROM unnest(ids, prevs, hashes) AS u(id, prev_hash, entry_hash) WHERE l.id = u.id;
    UPDATE accounts a SET ledger_chain_hash = last.entry_hash
    FROM (SELECT DISTINCT ON (account_id) account_id, entry_hash FROM ledger_entries
          ORDER BY account_id, id DESC) last
    WHERE a.id = last.account_id;
END
$$
"""


def upgrade() -> None:
    op.add_column(
        "accounts",
        sa.Column(
            "ledger_chain_hash", sa.LargeBinary(), server_default=sa.text(ZERO), nullable=False
        ),
    )
    op.add_column("ledger_entries", sa.Column("prev_hash", sa.LargeBinary(), nullable=True))
    op.add_column("ledger_entries", sa.Column("entry_hash", sa.LargeBinary(), nullable=True))
    op.execute(FIELD_FUNCTION)
    op.execute(HASH_FUNCTION)
    op.execute("ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_append_only")
    op.execute(BACKFILL)
    op.execute("ALTER TABLE ledger_entries ENABLE TRIGGER ledger_entries_append_only")
    op.alter_column("ledger_entries", "prev_hash", nullable=False)
    op.alter_column("ledger_entries", "entry_hash", nullable=False)


def downgrade() -> None:
    op.execute("DROP FUNCTION arledger_entry_hash(bytea, ledger_entries)")
    op.execute("DROP FUNCTION arledger_chain_field(text)")
    op.drop_column("ledger_entries", "entry_hash")
    op.drop_column("ledger_entries", "prev_hash")
    op.drop_column("accounts", "ledger_chain_hash")
