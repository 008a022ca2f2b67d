"""The ledger kernel: locks, the hash chain, append-only tables, the oracle, subscriptions."""
