"""Reporting: figures read from the append-only ledger; write-offs and adjustments kept apart."""
