"""Reporting keeps write-offs and adjustments apart (the seed's separate widgets).

BD transactions post as write-offs and CW/AD as adjustments (`domain.transactions.rules`); the
CONTRACTUAL and BAD_DEBT kinds are kept for entries that carry them explicitly.
"""

WRITE_OFF_KINDS = ("WRITEOFF", "BAD_DEBT")
ADJUSTMENT_KINDS = ("ADJUSTMENT", "CONTRACTUAL")


def reduction(totals: dict[str, int], kinds: tuple[str, ...]) -> int:
    """How much entries of `kinds` reduced a balance, net of their reversals (positive)."""
    return -sum(totals.get(kind, 0) for kind in kinds)
