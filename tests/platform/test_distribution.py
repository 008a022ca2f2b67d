"""The Citus rule, read from the SQLAlchemy metadata (docs/SCALING.md, "PostgreSQL past one
machine"): distributed by `tenant_id`, a table keeps every one of its rows' constraints on one
shard only when

- its primary key, every unique constraint and every unique index include `tenant_id`;
- every foreign key includes `tenant_id` on both sides (`(tenant_id, x_id) → (tenant_id, id)`),
  unless it points at a reference table (replicated to every node: `tenants`);
- a table without `tenant_id` is a reference table, and a reference table has no foreign key
  to a distributed one.

Today's schema breaks the rule in known places. They are listed, each with its reason, in
ALLOWLIST (the same list as docs/SCALING.md). The test fails when a table or a constraint
breaks the rule and is not listed, so a new table must follow it; and when a listed breach no
longer exists, so the list shrinks as the schema is fixed (delete the line, and the row in
SCALING.md). Every model module under domain/ (`models.py`, `*_models.py`) is imported, so a
new capability's tables are checked without anyone registering them.
"""

import importlib
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
)

import domain
from domain.models import Base

DISTRIBUTION_COLUMN = "tenant_id"
REFERENCE_TABLES = {
    "tenants": "one small row per tenant, read by every path: replicated to every node",
}
MIGRATIONS = Path(domain.__file__).resolve().parent / "migrations"

# Today's breaches: what breaks the rule, and why it is allowed for now (docs/SCALING.md lists
# the same ones, with the migration that removes them). Keys are `Breach.key` strings.
GLOBAL_ID = (
    "ids come from one sequence per table, unique without tenant_id; becomes (tenant_id, id)"
)
PER_PARENT = "unique within a parent that belongs to one tenant; becomes (tenant_id, …)"
BY_GLOBAL_ID = "refers to the global id alone; becomes (tenant_id, x_id) → (tenant_id, id)"
ALLOWLIST: dict[str, str] = {
    "adjustment_categories: primary key (id)": GLOBAL_ID,
    "payers: primary key (id)": GLOBAL_ID,
    "transaction_codes: primary key (id)": GLOBAL_ID,
    "accounts: primary key (id)": GLOBAL_ID,
    "visits: primary key (id)": GLOBAL_ID,
    "charge_lines: primary key (id)": GLOBAL_ID,
    "commands: primary key (id)": GLOBAL_ID,
    "ledger_entries: primary key (id)": GLOBAL_ID,
    "audit_rows: primary key (id)": GLOBAL_ID,
    "transactions: primary key (id)": GLOBAL_ID,
    "transaction_applications: primary key (id)": GLOBAL_ID,
    "bulk_jobs: primary key (id)": GLOBAL_ID,
    "bulk_job_items: primary key (id)": GLOBAL_ID,
    "remittance_files: primary key (id)": GLOBAL_ID,
    "remittances: primary key (id)": GLOBAL_ID,
    "remittance_claims: primary key (id)": GLOBAL_ID,
    "remittance_lines: primary key (id)": GLOBAL_ID,
    "remittance_adjustments: primary key (id)": GLOBAL_ID,
    "remittance_provider_adjustments: primary key (id)": GLOBAL_ID,
    "payer_default_codes: no tenant_id": "its tenant is its payer's (RLS reads it through payers)",
    "payer_default_codes: primary key (payer_id, type)": "no tenant_id to put in it yet",
    "payer_default_codes: foreign key (payer_id) → payers (id)": "no tenant_id to put in it yet",
    "payer_default_codes: foreign key (transaction_code_id) → transaction_codes (id)": "no "
    "tenant_id to put in it yet",
    "visits: unique (account_id, visit_number)": PER_PARENT,
    "charge_lines: unique (visit_id, line_number)": PER_PARENT,
    "ledger_entries: unique (reverses_entry_id)": "an entry is reversed at most once, and only "
    "within its tenant; becomes (tenant_id, reverses_entry_id)",
    "transaction_applications: unique (transaction_id, visit_id)": PER_PARENT,
    "bulk_jobs: unique (reverses_job_id)": "a job is reversed at most once (a partial unique "
    "index), within its tenant; becomes (tenant_id, reverses_job_id)",
    "bulk_job_items: unique (job_id, seq)": PER_PARENT,
    "remittances: unique (file_id, seq)": PER_PARENT,
    "remittance_claims: unique (remittance_id, seq)": PER_PARENT,
    "remittance_lines: unique (claim_id, seq)": PER_PARENT,
    "visits: foreign key (account_id) → accounts (id)": BY_GLOBAL_ID,
    "visits: foreign key (payer_id) → payers (id)": BY_GLOBAL_ID,
    "charge_lines: foreign key (account_id) → accounts (id)": BY_GLOBAL_ID,
    "charge_lines: foreign key (visit_id) → visits (id)": BY_GLOBAL_ID,
    "ledger_entries: foreign key (line_id) → charge_lines (id)": BY_GLOBAL_ID,
    "ledger_entries: foreign key (command_id) → commands (id)": BY_GLOBAL_ID,
    "ledger_entries: foreign key (transaction_code_id) → transaction_codes (id)": BY_GLOBAL_ID,
    "ledger_entries: foreign key (reverses_entry_id) → ledger_entries (id)": BY_GLOBAL_ID,
    "transactions: foreign key (payer_id) → payers (id)": BY_GLOBAL_ID,
    "transactions: foreign key (transaction_code_id) → transaction_codes (id)": BY_GLOBAL_ID,
    "transaction_applications: foreign key (transaction_id) → transactions (id)": BY_GLOBAL_ID,
    "transaction_applications: foreign key (account_id) → accounts (id)": BY_GLOBAL_ID,
    "transaction_applications: foreign key (visit_id) → visits (id)": BY_GLOBAL_ID,
    "bulk_jobs: foreign key (reverses_job_id) → bulk_jobs (id)": BY_GLOBAL_ID,
    "bulk_job_items: foreign key (job_id) → bulk_jobs (id)": BY_GLOBAL_ID,
    "remittances: foreign key (file_id) → remittance_files (id)": BY_GLOBAL_ID,
    "remittances: foreign key (payer_id) → payers (id)": BY_GLOBAL_ID,
    "remittance_claims: foreign key (remittance_id) → remittances (id)": BY_GLOBAL_ID,
    "remittance_lines: foreign key (claim_id) → remittance_claims (id)": BY_GLOBAL_ID,
    "remittance_adjustments: foreign key (claim_id) → remittance_claims (id)": BY_GLOBAL_ID,
    "remittance_adjustments: foreign key (line_id) → remittance_lines (id)": BY_GLOBAL_ID,
    "remittance_provider_adjustments: foreign key (remittance_id) → remittances (id)": BY_GLOBAL_ID,
}


@dataclass(frozen=True)
class Breach:
    """One way a table breaks the rule."""

    table: str
    what: str
    """`primary key`, `unique`, `foreign key`, `no tenant_id`, `reference → distributed`."""
    columns: tuple[str, ...] = ()
    target: str = ""
    """A foreign key's referred table and columns."""

    @property
    def key(self) -> str:
        columns = f" ({', '.join(self.columns)})" if self.columns else ""
        target = f" → {self.target}" if self.target else ""
        return f"{self.table}: {self.what}{columns}{target}"


def breaches(
    metadata: MetaData, reference: set[str], column: str = DISTRIBUTION_COLUMN
) -> list[Breach]:
    """Every way the tables of `metadata` break the rule for distribution column `column`."""
    found: list[Breach] = []
    for table in sorted(metadata.tables.values(), key=lambda t: t.name):
        foreign_keys = sorted(
            (c for c in table.constraints if isinstance(c, ForeignKeyConstraint)),
            key=lambda c: [e.parent.name for e in c.elements],
        )
        if table.name in reference:
            for fk in foreign_keys:
                if fk.referred_table.name not in reference:
                    found.append(_fk_breach(table, fk, "reference → distributed"))
            continue
        if column not in table.c:
            found.append(Breach(table.name, f"no {column}"))
        pk = tuple(c.name for c in table.primary_key.columns)
        if column not in pk:
            found.append(Breach(table.name, "primary key", pk))
        uniques = [
            tuple(c.name for c in u.columns)
            for u in table.constraints
            if isinstance(u, UniqueConstraint) and not isinstance(u, PrimaryKeyConstraint)
        ]
        uniques += [tuple(c.name for c in ix.columns) for ix in table.indexes if ix.unique]
        found += [
            Breach(table.name, "unique", cols) for cols in sorted(uniques) if column not in cols
        ]
        for fk in foreign_keys:
            if fk.referred_table.name in reference:
                continue
            pairs = {(e.parent.name, e.column.name) for e in fk.elements}
            if (column, column) not in pairs:
                found.append(_fk_breach(table, fk, "foreign key"))
    return found


def _fk_breach(table: Table, fk: ForeignKeyConstraint, what: str) -> Breach:
    local = tuple(e.parent.name for e in fk.elements)
    remote = ", ".join(e.column.name for e in fk.elements)
    return Breach(table.name, what, local, f"{fk.referred_table.name} ({remote})")


def problems(metadata: MetaData, allowlist: dict[str, str], reference: set[str]) -> list[str]:
    """What the rule check reports: unlisted breaches, and listed ones that are gone."""
    found = {b.key for b in breaches(metadata, reference)}
    new = [
        f"breaks the Citus rule and is not allowlisted: {k}" for k in sorted(found - set(allowlist))
    ]
    gone = [
        f"allowlisted but no longer a breach (delete it here and in SCALING.md): {k}"
        for k in sorted(set(allowlist) - found)
    ]
    return new + gone


def model_modules() -> list[str]:
    """Every model module under domain/ (`models.py`, `*_models.py`), migrations excepted."""
    root = Path(domain.__file__).resolve().parent
    found = [p for p in root.rglob("*models.py") if MIGRATIONS not in p.parents and p.is_file()]
    return sorted(".".join(("domain", *p.relative_to(root).with_suffix("").parts)) for p in found)


def schema_metadata() -> MetaData:
    """One MetaData holding every table of every model module (whatever base each uses)."""
    merged = MetaData()
    for name in model_modules():
        module = importlib.import_module(name)
        sources = {Base.metadata} | {
            value.metadata
            for value in vars(module).values()
            if isinstance(getattr(value, "metadata", None), MetaData)
        }
        for metadata in sources:
            for table in metadata.tables.values():
                if table.name not in merged.tables:
                    table.to_metadata(merged)
    return merged


# the schema


def test_every_model_module_is_found() -> None:
    assert {"domain.models", "domain.bulk.models", "domain.remittances.models"} <= set(
        model_modules()
    )


def test_the_schema_keeps_the_citus_rule_except_where_allowlisted() -> None:
    assert problems(schema_metadata(), ALLOWLIST, set(REFERENCE_TABLES)) == []


def test_every_allowlisted_breach_gives_its_reason() -> None:
    assert all(reason.strip() for reason in ALLOWLIST.values())


def test_the_allowlist_is_the_list_in_scaling_md() -> None:
    doc = (Path(domain.__file__).resolve().parent.parent / "docs" / "SCALING.md").read_text()
    listed = set(
        re.findall(r"`([a-z_]+: (?:primary key|unique|foreign key|no tenant_id)[^`]*)`", doc)
    )
    assert sorted(set(ALLOWLIST) - listed) == [], "allowlisted here, missing in SCALING.md"
    assert sorted(listed - set(ALLOWLIST)) == [], "listed in SCALING.md, not allowlisted here"


# the check itself, on a synthetic schema


def _synthetic(*extra: Table) -> MetaData:
    """A reference table, two well-distributed tables, and whatever `extra` adds."""
    md = MetaData()
    Table(
        "tenants",
        md,
        Column("id", BigInteger, primary_key=True),
        Column("slug", String, unique=True),
    )
    Table(
        "widgets",
        md,
        Column("tenant_id", BigInteger, ForeignKey("tenants.id"), primary_key=True),
        Column("id", BigInteger, primary_key=True),
        Column("code", String),
        UniqueConstraint("tenant_id", "code"),
    )
    Table(
        "parts",
        md,
        Column("tenant_id", BigInteger, primary_key=True),
        Column("id", BigInteger, primary_key=True),
        Column("widget_id", BigInteger),
        ForeignKeyConstraint(["tenant_id", "widget_id"], ["widgets.tenant_id", "widgets.id"]),
        Index("ix_parts_tenant_widget", "tenant_id", "widget_id", unique=True),
    )
    for table in extra:
        table.to_metadata(md)
    return md


def _bad_table() -> Table:
    return Table(
        "bad",
        MetaData(),
        Column("id", BigInteger, primary_key=True),
        Column("tenant_id", BigInteger, ForeignKey("tenants.id")),
        Column("code", String, unique=True),
        Column("serial", String),
        Column("widget_id", BigInteger, ForeignKey("widgets.id")),
        Index("ix_bad_serial", "serial", unique=True),
    )


BAD = [
    "bad: primary key (id)",
    "bad: unique (code)",
    "bad: unique (serial)",
    "bad: foreign key (widget_id) → widgets (id)",
]


def test_a_schema_that_keeps_the_rule_has_no_breach() -> None:
    assert breaches(_synthetic(), {"tenants"}) == []
    assert problems(_synthetic(), {}, {"tenants"}) == []


def test_a_new_table_that_breaks_the_rule_fails_naming_each_breach() -> None:
    found = problems(_synthetic(_bad_table()), {}, {"tenants"})
    assert found == [f"breaks the Citus rule and is not allowlisted: {k}" for k in sorted(BAD)]


def test_allowlisted_breaches_pass_and_a_stale_entry_fails() -> None:
    allow = dict.fromkeys(BAD, "reason")
    assert problems(_synthetic(_bad_table()), allow, {"tenants"}) == []
    # the table is fixed (or dropped): its entries must go
    assert problems(_synthetic(), allow, {"tenants"}) == [
        f"allowlisted but no longer a breach (delete it here and in SCALING.md): {k}"
        for k in sorted(BAD)
    ]


def test_a_table_without_tenant_id_must_be_a_reference_table() -> None:
    codes = Table("codes", MetaData(), Column("code", String, primary_key=True))
    assert [b.key for b in breaches(_synthetic(codes), {"tenants"})] == [
        "codes: no tenant_id",
        "codes: primary key (code)",
    ]
    assert breaches(_synthetic(codes), {"tenants", "codes"}) == []


def test_a_reference_table_may_not_point_at_a_distributed_one() -> None:
    settings = Table(
        "settings",
        MetaData(),
        Column("id", BigInteger, primary_key=True),
        Column("default_widget", BigInteger, ForeignKey("widgets.id")),
    )
    assert [b.key for b in breaches(_synthetic(settings), {"tenants", "settings"})] == [
        "settings: reference → distributed (default_widget) → widgets (id)"
    ]


@pytest.mark.parametrize(
    ("fk", "ok"),
    [
        (
            ForeignKeyConstraint(["tenant_id", "widget_id"], ["widgets.tenant_id", "widgets.id"]),
            True,
        ),
        (
            ForeignKeyConstraint(["widget_id", "tenant_id"], ["widgets.id", "widgets.tenant_id"]),
            True,
        ),
        # tenant_id on one side only, or paired with the wrong column: not co-located
        (
            ForeignKeyConstraint(["tenant_id", "widget_id"], ["widgets.id", "widgets.tenant_id"]),
            False,
        ),
        (ForeignKeyConstraint(["widget_id"], ["widgets.id"]), False),
    ],
)
def test_a_foreign_key_must_pair_tenant_id_with_tenant_id(
    fk: ForeignKeyConstraint, ok: bool
) -> None:
    child = Table(
        "child",
        MetaData(),
        Column("tenant_id", BigInteger, primary_key=True),
        Column("id", BigInteger, primary_key=True),
        Column("widget_id", BigInteger),
        fk,
    )
    assert (breaches(_synthetic(child), {"tenants"}) == []) is ok
