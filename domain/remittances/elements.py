"""Typed element values: X12 decimals to integer cents (never float), quantities, dates.

`x12_cents` is the one strict money helper: `-1008.1` → -100810, `24.21` → 2421, `300` → 30000,
`.5` → 50; more than two decimals, exponents, signs other than a leading minus, blanks inside,
or garbage raise `BadElement`. `Fields` wraps the helpers for the parser: it names the segment
and element in every message, raises MALFORMED for garbage and hands empty required elements and
impossible calendar dates to `Issues` (raised when strict, kept when lenient).
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

from domain.remittances.errors import MALFORMED, Issues, RemittanceError
from domain.remittances.x12 import Segment

MAX_CENTS = 10**13
"""Amounts of $100 billion or more are refused: far beyond any remittance, inside BIGINT."""

_QUANTITY = re.compile(r"-?(?:\d{1,15}(?:\.\d{0,6})?|\.\d{1,6})\Z", re.ASCII)
_DATE = re.compile(r"\d{8}\Z", re.ASCII)


class BadElement(ValueError):
    """An element whose text is not a value of its type; the message says why."""


def x12_cents(text: str) -> int:
    """An X12 decimal (R type) as integer cents; raise `BadElement` for anything else."""
    whole, _, frac = text.removeprefix("-").partition(".")
    if not (_digits(whole) and _digits(frac)) or not (whole or frac):
        raise BadElement(f"{text[:20]!r} is not an amount (digits, an optional - and .)")
    if len(frac) > 2:
        raise BadElement(f"{text!r} has more than two decimals")
    if len(whole.lstrip("0")) > 12:
        raise BadElement(f"{text[:20]!r} is too large")
    cents = int(whole or "0") * 100 + int(frac.ljust(2, "0"))
    if cents >= MAX_CENTS:
        raise BadElement(f"{text!r} is too large")
    return -cents if text.startswith("-") else cents


def _digits(text: str) -> bool:
    """Only ASCII digits (or nothing): str.isdigit alone would accept "²" or "٣"."""
    return not text or (text.isdigit() and text.isascii())


def x12_quantity(text: str) -> Decimal:
    """An X12 decimal quantity (units, days) as a Decimal; raise `BadElement` otherwise."""
    if not _QUANTITY.match(text):
        raise BadElement(f"{text!r} is not a quantity")
    return Decimal(text)


def x12_date(text: str) -> date:
    """A CCYYMMDD date; raise `BadElement` for another shape or an impossible day."""
    if not _DATE.match(text):
        raise BadElement(f"{text!r} is not a date CCYYMMDD")
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        raise BadElement(f"{text!r} is not a calendar date") from None


class Fields:
    """Reads typed elements of one transaction set, reporting defects by segment number."""

    def __init__(self, issues: Issues, component: str) -> None:
        self.issues = issues
        self.component = component

    def text(self, segment: Segment, position: int) -> str | None:
        """The element's text, or None when empty."""
        return segment.get(position) or None

    def required_text(self, segment: Segment, position: int) -> str:
        """A required element's text ("" after an issue when it is empty)."""
        value = segment.get(position)
        if not value.strip():
            self._missing(segment, position)
        return value

    def cents(self, segment: Segment, position: int) -> int | None:
        """An optional amount in cents; garbage raises MALFORMED."""
        value = segment.get(position)
        if not value:
            return None
        try:
            return x12_cents(value)
        except BadElement as error:
            raise self._malformed(segment, position, str(error)) from None

    def required_cents(self, segment: Segment, position: int) -> int:
        """A required amount in cents (0 after an issue when it is empty)."""
        value = self.cents(segment, position)
        if value is None:
            self._missing(segment, position)
            return 0
        return value

    def quantity(self, segment: Segment, position: int) -> Decimal | None:
        """An optional decimal quantity; garbage raises MALFORMED."""
        value = segment.get(position)
        if not value:
            return None
        try:
            return x12_quantity(value)
        except BadElement as error:
            raise self._malformed(segment, position, str(error)) from None

    def date(self, segment: Segment, position: int) -> date | None:
        """An optional CCYYMMDD date: a wrong shape raises, an impossible day is an issue."""
        value = segment.get(position)
        if not value:
            return None
        if not _DATE.match(value):
            raise self._malformed(segment, position, f"{value!r} is not a date CCYYMMDD")
        try:
            return x12_date(value)
        except BadElement as error:
            self.issues.add(
                segment.number, segment.tag, MALFORMED, f"{segment.name(position)} {error}"
            )
            return None

    def composite(self, segment: Segment, position: int) -> tuple[str, ...]:
        """A composite element split by the component separator (empty tuple when absent)."""
        value = segment.get(position)
        return tuple(value.split(self.component)) if value else ()

    def _missing(self, segment: Segment, position: int) -> None:
        self.issues.add(
            segment.number, segment.tag, MALFORMED, f"{segment.name(position)} is required"
        )

    def _malformed(self, segment: Segment, position: int, why: str) -> RemittanceError:
        return RemittanceError.at(
            segment.number, segment.tag, MALFORMED, f"{segment.name(position)} {why}"
        )
