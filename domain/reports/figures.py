"""Ratios of integer cents as exact decimals: computed in integers, rounded once, half-up.

No float anywhere: `ratio(1, 3, 100)` is 100/3 = 33.333… → `Decimal("33.33")`; `ratio(1, 8,
100)` is 12.5 → `Decimal("12.50")`; a half is rounded away from zero (`ROUND_HALF_UP`), so
1/200 of 100 (0.5) is `0.50` and 1/800 (0.125) to two places is `0.13`.
"""

from decimal import Decimal

PLACES = 2
"""Decimal places of every ratio, percentage and day count the reports give."""


def ratio(numerator: int, denominator: int, scale: int = 1, places: int = PLACES) -> Decimal | None:
    """`numerator * scale / denominator` rounded half-up (away from zero) to `places`, or None
    when the denominator is zero (a ratio of nothing is not zero)."""
    if denominator == 0:
        return None
    negative = (numerator < 0) != (denominator < 0)
    quotient, remainder = divmod(abs(numerator) * scale * 10**places, abs(denominator))
    if 2 * remainder >= abs(denominator):
        quotient += 1
    return Decimal(-quotient if negative else quotient).scaleb(-places)


def percent(part: int, whole: int) -> Decimal | None:
    """`part` as a percentage of `whole`, two places, half-up; None when `whole` is zero."""
    return ratio(part, whole, 100)


def round_cents(numerator: int, denominator: int) -> int:
    """`numerator / denominator` cents rounded half-up to a whole cent (0 for a zero
    denominator)."""
    value = ratio(numerator, denominator, places=0)
    return 0 if value is None else int(value)
