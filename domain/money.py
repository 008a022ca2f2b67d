"""Money is integer cents everywhere inside arledger; strings only at the edge.

Accepted: `50`, `50.5`, `50.00`, `-12.30` (sign allowed, callers decide whether it is valid).
Rejected: more than two decimals, exponents, NaN/Infinity, blanks, thousands separators and
amounts of `MAX_CENTS` or more.
"""

import re

from domain.errors import InvalidMoney, Problem

MAX_CENTS = 10**13  # $100 billion: far beyond any real balance, far inside BIGINT.
_MONEY = re.compile(r"^(?P<sign>-)?(?P<whole>\d+)(?:\.(?P<frac>\d{1,2}))?$", re.ASCII)


def parse_money(text: str) -> int:
    """Parse a decimal money string into integer cents, or raise `InvalidMoney`."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidMoney("INVALID_AMOUNT", "Amount is required.")
    match = _MONEY.match(text.strip())
    if match is None:
        if re.match(r"^-?\d+\.\d{3,}$", text.strip(), re.ASCII):
            raise InvalidMoney("TOO_MANY_DECIMALS", "Amount has more than two decimals.")
        raise InvalidMoney("INVALID_AMOUNT", f"'{text}' is not an amount like 50, 50.5 or 50.00.")
    whole = match["whole"].lstrip("0") or "0"
    if len(whole) > 15:
        raise InvalidMoney("AMOUNT_TOO_LARGE", "Amount is too large.")
    cents = int(whole) * 100 + int((match["frac"] or "0").ljust(2, "0"))
    if cents >= MAX_CENTS:
        raise InvalidMoney("AMOUNT_TOO_LARGE", "Amount is too large.")
    return -cents if match["sign"] else cents


def format_cents(cents: int) -> str:
    """Render cents as a decimal string with exactly two decimals, e.g. `-12.30`."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{whole}.{frac:02d}"


def positive_cents(field: str, text: str, problems: list[Problem]) -> int | None:
    """Cents for a required amount above zero; otherwise note the problem and return None."""
    try:
        cents = parse_money(text)
    except InvalidMoney as error:
        problems.append(Problem(field, error.code, str(error)))
        return None
    if cents <= 0:
        problems.append(Problem(field, "AMOUNT_NOT_POSITIVE", "Amount must be more than zero."))
        return None
    return cents
