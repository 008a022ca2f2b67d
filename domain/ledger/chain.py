"""The per-account hash chain of ledger entries: tampering with the ledger is detectable.

Each entry stores `prev_hash` (its account's previous entry's hash; 32 zero bytes for the
first) and `entry_hash = SHA-256(prev_hash || encode(entry))`, and the account stores the head
(`accounts.ledger_chain_hash`, the hash of its last entry). Entries chain in id order per
account: ids are reserved while the account row is locked, so they ascend along an account.

`encode` is the one canonical encoding of the fields an entry has when it is written (not
`created_at`, which the database stamps). Migration 0007 creates its SQL twin,
`arledger_entry_hash(prev bytea, e ledger_entries)`, which `domain.ledger.verify` recomputes with;
the two must agree byte for byte (tests/ledger/test_chain.py proves it). Changing the
encoding means a new migration that changes the SQL function and rechains every entry.
"""

from collections.abc import Mapping, MutableMapping, Sequence
from datetime import date
from hashlib import sha256
from typing import Any

ZERO_HASH = bytes(32)
"""The `prev_hash` of an account's first entry, and the head of an account without entries."""

HASHED_FIELDS = (
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
"""The fields an entry's hash covers, in encoding order (the SQL twin lists the same)."""


def encode(entry: Mapping[str, Any]) -> bytes:
    """The canonical bytes of an entry's hashed fields, in `HASHED_FIELDS` order.

    A NULL (or missing) field is one 0x00 byte; a value is 0x01, the length of its UTF-8 text
    as 4 bytes big-endian, then that text: integers in decimal, dates as YYYY-MM-DD.
    """
    out = bytearray()
    for name in HASHED_FIELDS:
        value = entry.get(name)
        if value is None:
            out += b"\x00"
            continue
        data = (value.isoformat() if isinstance(value, date) else str(value)).encode()
        out += b"\x01"
        out += len(data).to_bytes(4, "big")
        out += data
    return bytes(out)


def entry_hash(prev_hash: bytes, entry: Mapping[str, Any]) -> bytes:
    """SHA-256 of the previous hash followed by the entry's canonical encoding."""
    return sha256(prev_hash + encode(entry)).digest()


def link(entries: Sequence[dict[str, Any]], heads: MutableMapping[int, bytes]) -> None:
    """Chain `entries` (ids set, ascending per account) onto their accounts' `heads`.

    Sets each entry's `prev_hash` and `entry_hash` and moves `heads[account_id]` to the last
    one; an account missing from `heads` starts a new chain. This is the only place a chain
    hash is computed in Python.
    """
    last_ids: dict[int, int] = {}
    for entry in entries:
        account_id = entry["account_id"]
        if entry["id"] <= last_ids.get(account_id, 0):
            raise ValueError(f"entry {entry['id']} is out of id order on account {account_id}")
        last_ids[account_id] = entry["id"]
        prev = heads.get(account_id, ZERO_HASH)
        entry["prev_hash"] = prev
        entry["entry_hash"] = heads[account_id] = entry_hash(prev, entry)
