"""The Money scalar: a decimal string, never a float.

Input is passed through as text so the domain can answer a bad amount with a typed userError
instead of a document-level error; output is always two decimals.
"""

from typing import TYPE_CHECKING, Any, NewType

import strawberry

from domain.money import format_cents


def _parse(value: object) -> str:
    if isinstance(value, bool):
        return "invalid"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value
    return f"not-a-decimal-string:{value!r}"


if TYPE_CHECKING:
    Money = Any  # cents (int) on output, text on input
else:
    Money = NewType("Money", str)

MONEY = strawberry.scalar(
    name="Money",
    description="An amount of money as a decimal string with at most two decimals, e.g. 50.25.",
    serialize=lambda cents: format_cents(int(cents)),
    parse_value=_parse,
)
# Hand to the schema as StrawberryConfig(scalar_map=SCALARS).
SCALARS = {Money: MONEY}
