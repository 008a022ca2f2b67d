"""Aging buckets: ranges of days given by their upper edges.

Edges (30, 60, 90, 120) make five buckets: 0-30, 31-60, 61-90, 91-120 and 121+. An age is
whole days from the aging date (date of service, or first billed date) to the as-of date; a
date after the as-of date ages 0 days (it falls in the first bucket).
"""

from dataclasses import dataclass

from domain.errors import DomainError, Problem

DEFAULT_EDGES = (30, 60, 90, 120)
MAX_EDGES = 12
MAX_EDGE_DAYS = 36_500


@dataclass(frozen=True)
class Bucket:
    """Ages from `min_days` to `max_days` inclusive; `max_days` None is open-ended."""

    min_days: int
    max_days: int | None

    @property
    def label(self) -> str:
        if self.max_days is None:
            return f"{self.min_days}+"
        return f"{self.min_days}-{self.max_days}"


def buckets_of(edges: tuple[int, ...]) -> tuple[Bucket, ...]:
    """The buckets `edges` (ascending, validated) make: one per edge, then the open one."""
    lows = (0, *(edge + 1 for edge in edges))
    return tuple(Bucket(low, high) for low, high in zip(lows, (*edges, None), strict=True))


def thresholds(edges: tuple[int, ...]) -> list[int]:
    """The lower bounds of the buckets after the first, for SQL `width_bucket(age, …)`, which
    answers 0 for the first bucket, 1 for the second and so on."""
    return [edge + 1 for edge in edges]


def validate_edges(edges: list[int] | tuple[int, ...], field: str = "buckets") -> tuple[int, ...]:
    """`edges` as a tuple, or a DomainError naming every problem: 1 to 12 whole days, strictly
    ascending, the first at least 1, the last at most 36,500."""
    problems: list[Problem] = []
    if not 1 <= len(edges) <= MAX_EDGES:
        problems.append(
            Problem(field, "INVALID_BUCKETS", f"Give 1 to {MAX_EDGES} bucket edges (days).")
        )
    for index, edge in enumerate(edges):
        where = f"{field}.{index}"
        if not 1 <= edge <= MAX_EDGE_DAYS:
            problems.append(
                Problem(where, "INVALID_BUCKET_EDGE", f"An edge is 1 to {MAX_EDGE_DAYS} days.")
            )
        elif index and edge <= edges[index - 1]:
            problems.append(
                Problem(where, "BUCKETS_NOT_ASCENDING", "Edges must be strictly ascending.")
            )
    if problems:
        raise DomainError(*problems)
    return tuple(edges)
