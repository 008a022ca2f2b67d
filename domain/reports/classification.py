"""Reporting keeps write-offs and adjustments apart (the seed's separate widgets).

BD transactions post as write-offs and CW/AD as adjustments (`domain.transactions.rules`); the
CONTRACTUAL and BAD_DEBT kinds are kept for entries that carry them explicitly.
"""

WRITE_OFF_KINDS = ("WRITEOFF", "BAD_DEBT")
ADJUSTMENT_KINDS = ("ADJUSTMENT", "CONTRACTUAL")


def reduction(totals: dict[str, int], kinds: tuple[str, ...]) -> int:
    """How much entries of `kinds` reduced a balance, net of their reversals (positive)."""
    return -sum(totals.get(kind, 0) for kind in kinds)


PAYMENT_KINDS = ("PAYMENT",)
CHARGE_KINDS = ("CHARGE",)
"""Charges in the KPI sense: billed procedures (finance and additional charges are not)."""

CONTRACTUAL_SQL = (
    "(e.kind = 'CONTRACTUAL' OR (e.kind = 'ADJUSTMENT' AND "
    "(e.category = 'contractual' OR e.carc_group = 'CO')))"
)
"""A contractual adjustment, for an entry `e`: the CONTRACTUAL kind, or an adjustment of the
`contractual` category (CW transactions, remittance CO-45) or of CARC group CO (contractual
obligation, e.g. CO-45, CO-253). Informational entries match too but move nothing."""


def kinds_sql(kinds: tuple[str, ...]) -> str:
    """`kinds` as a SQL list literal, e.g. `('WRITEOFF', 'BAD_DEBT')` (constants only)."""
    return "(" + ", ".join(f"'{kind}'" for kind in kinds) + ")"
