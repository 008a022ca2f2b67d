"""The correctness oracle: every invariant money depends on, checked in SQL.

`verify` returns one `Finding` per broken invariant row (empty when all hold), for one tenant or
the whole database. Each check is a query that returns offending rows, so a report names them.
"""

from dataclasses import dataclass

from sqlalchemy import BigInteger, bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.ledger.chain import ZERO_HASH

LIMIT = 50
"""At most this many offending rows are reported per check."""

ZERO = f"'\\x{ZERO_HASH.hex()}'::bytea"
CHAIN_SQL = (
    "WITH chain AS (SELECT e.id, e.account_id, e.prev_hash, e.entry_hash, "
    " arledger_entry_hash(e.prev_hash, e) AS recomputed, "
    f" COALESCE(lag(e.entry_hash) OVER w, {ZERO}) AS predecessor, "
    " lead(e.id) OVER w IS NULL AS is_last "
    " FROM ledger_entries e WHERE :tenant IS NULL OR e.tenant_id = :tenant "
    " WINDOW w AS (PARTITION BY e.account_id ORDER BY e.id)) "
    "SELECT c.account_id, c.id AS entry_id, "
    " 'hash does not match the entry''s fields (entry changed)' AS problem "
    "FROM chain c WHERE c.entry_hash <> c.recomputed "
    "UNION ALL SELECT c.account_id, c.id, "
    " 'previous hash is not the hash of the entry before it (entry missing, moved or changed)' "
    "FROM chain c WHERE c.prev_hash <> c.predecessor "
    "UNION ALL SELECT a.id, c.id, "
    " 'account head is not its last entry''s hash (entry missing or head changed)' "
    "FROM accounts a LEFT JOIN chain c ON c.account_id = a.id AND c.is_last "
    "WHERE (:tenant IS NULL OR a.tenant_id = :tenant) "
    f"AND a.ledger_chain_hash <> COALESCE(c.entry_hash, {ZERO}) "
    "ORDER BY 1, 2"
)


@dataclass(frozen=True)
class Check:
    name: str
    description: str
    sql: str


CHECKS = (
    Check(
        "ledger_chain",
        "each account's ledger entries form an unbroken hash chain ending at its head",
        CHAIN_SQL,
    ),
    Check(
        "line_balance",
        "a line's balance equals the sum of its ledger entries",
        "SELECT l.id, l.balance_cents, COALESCE(SUM(e.amount_cents), 0) AS ledger "
        "FROM charge_lines l LEFT JOIN ledger_entries e ON e.line_id = l.id "
        "WHERE :tenant IS NULL OR l.tenant_id = :tenant "
        "GROUP BY l.id HAVING l.balance_cents <> COALESCE(SUM(e.amount_cents), 0)",
    ),
    Check(
        "visit_balance",
        "a visit's balance equals the sum of its lines",
        "SELECT v.id, v.balance_cents, COALESCE(SUM(l.balance_cents), 0) AS lines "
        "FROM visits v LEFT JOIN charge_lines l ON l.visit_id = v.id "
        "WHERE :tenant IS NULL OR v.tenant_id = :tenant "
        "GROUP BY v.id HAVING v.balance_cents <> COALESCE(SUM(l.balance_cents), 0)",
    ),
    Check(
        "account_balance",
        "an account's balance equals the sum of its visits",
        "SELECT a.id, a.balance_cents, COALESCE(SUM(v.balance_cents), 0) AS visits "
        "FROM accounts a LEFT JOIN visits v ON v.account_id = a.id "
        "WHERE :tenant IS NULL OR a.tenant_id = :tenant "
        "GROUP BY a.id HAVING a.balance_cents <> COALESCE(SUM(v.balance_cents), 0)",
    ),
    Check(
        "reduction_below_zero",
        "no write-off or adjustment took a line below zero",
        "SELECT e.id, e.kind, r.balance_after_cents FROM ledger_entries e "
        "JOIN audit_rows r ON r.entry_id = e.id AND r.paired_audit_id IS NULL "
        "WHERE (:tenant IS NULL OR e.tenant_id = :tenant) "
        "AND e.kind IN ('WRITEOFF', 'ADJUSTMENT') "
        "AND e.reverses_entry_id IS NULL AND e.amount_cents < 0 AND r.balance_after_cents < 0",
    ),
    Check(
        "command_applied_twice",
        "a command's entries were all written by one transaction",
        "SELECT command_id, COUNT(DISTINCT created_at) AS transactions FROM ledger_entries "
        "WHERE command_id IS NOT NULL AND (:tenant IS NULL OR tenant_id = :tenant) "
        "GROUP BY command_id HAVING COUNT(DISTINCT created_at) > 1",
    ),
    Check(
        "entries_of_unapplied_command",
        "only an APPLIED command has ledger entries",
        "SELECT c.id, c.status FROM commands c "
        "WHERE c.status <> 'APPLIED' AND (:tenant IS NULL OR c.tenant_id = :tenant) "
        "AND EXISTS (SELECT 1 FROM ledger_entries e WHERE e.command_id = c.id)",
    ),
    Check(
        "reversal_mismatch",
        "a reversal negates its original exactly (same line and kind, opposite amounts)",
        "SELECT r.id, o.id AS original FROM ledger_entries r "
        "JOIN ledger_entries o ON o.id = r.reverses_entry_id "
        "WHERE (:tenant IS NULL OR r.tenant_id = :tenant) AND (r.line_id <> o.line_id "
        "OR r.kind <> o.kind OR r.amount_cents <> -o.amount_cents "
        "OR r.memo_amount_cents IS DISTINCT FROM -o.memo_amount_cents "
        "OR o.reverses_entry_id IS NOT NULL)",
    ),
    Check(
        "entry_without_audit",
        "every ledger entry has its audit row",
        "SELECT e.id FROM ledger_entries e WHERE (:tenant IS NULL OR e.tenant_id = :tenant) "
        "AND NOT EXISTS (SELECT 1 FROM audit_rows r WHERE r.entry_id = e.id)",
    ),
    Check(
        "transaction_unbalanced",
        "a posted transaction's applications sum to its amount",
        "SELECT t.id, t.amount_cents, COALESCE(SUM(a.amount_cents), 0) AS applied "
        "FROM transactions t LEFT JOIN transaction_applications a ON a.transaction_id = t.id "
        "WHERE t.status IN ('POSTED', 'VOIDING', 'VOIDED') "
        "AND (:tenant IS NULL OR t.tenant_id = :tenant) "
        "GROUP BY t.id HAVING t.amount_cents <> COALESCE(SUM(a.amount_cents), 0)",
    ),
    Check(
        "voided_transaction_not_zero",
        "a voided transaction's entries net to zero",
        "SELECT e.transaction_id, SUM(e.amount_cents) AS net FROM ledger_entries e "
        "JOIN transactions t ON t.id = e.transaction_id AND t.status = 'VOIDED' "
        "WHERE :tenant IS NULL OR e.tenant_id = :tenant "
        "GROUP BY e.transaction_id HAVING SUM(e.amount_cents) <> 0",
    ),
    Check(
        "bulk_item_unmatched",
        "an applied bulk row has its entry or transaction, and a job's counters add up",
        "SELECT j.id, j.total_items, "
        "j.applied_items + j.skipped_items + j.cancelled_items AS done, "
        "(SELECT COUNT(*) FROM bulk_job_items i WHERE i.job_id = j.id AND i.status = 'APPLIED' "
        " AND i.entry_id IS NULL AND i.transaction_id IS NULL) AS orphans "
        "FROM bulk_jobs j WHERE (:tenant IS NULL OR j.tenant_id = :tenant) AND ("
        "(j.finished_at IS NOT NULL AND j.total_items <> "
        " j.applied_items + j.skipped_items + j.cancelled_items) OR EXISTS ("
        " SELECT 1 FROM bulk_job_items i WHERE i.job_id = j.id AND i.status = 'APPLIED' "
        " AND i.entry_id IS NULL AND i.transaction_id IS NULL))",
    ),
)


@dataclass(frozen=True)
class Finding:
    """One offending row of one check."""

    check: str
    description: str
    row: tuple[object, ...]
    columns: tuple[str, ...] = ()
    """The names of `row`'s values."""

    @property
    def named(self) -> str:
        """The row as `name=value, …` (positional when the names are unknown)."""
        if len(self.columns) != len(self.row):
            return ", ".join(map(str, self.row))
        pairs = zip(self.columns, self.row, strict=True)
        return ", ".join(f"{name}={value}" for name, value in pairs)

    def __str__(self) -> str:
        return f"{self.check}: {self.description} — violated by ({self.named})"


async def verify(session: AsyncSession, tenant_id: int | None = None) -> list[Finding]:
    """Every invariant violation for `tenant_id` (or every tenant), at most `LIMIT` per check."""
    findings: list[Finding] = []
    for check in CHECKS:
        rows = await session.execute(
            text(f"{check.sql} LIMIT {LIMIT}").bindparams(
                bindparam("tenant", tenant_id, type_=BigInteger)
            )
        )
        columns = tuple(rows.keys())
        findings += [Finding(check.name, check.description, tuple(row), columns) for row in rows]
    return findings
