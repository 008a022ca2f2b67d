"""The ledger kernel: postings (`LedgerBatch`), the hash chain, many-row SQL, availability
and the correctness oracle."""
