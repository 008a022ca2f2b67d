"""Results of one run: rows of (phase, figure, ceiling, ratio), the table and the JSON file."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


class BenchError(RuntimeError):
    """A phase could not produce a trustworthy figure (errors, timeouts, a dead process)."""


@dataclass
class Row:
    """One measured figure and, when it has one, the ceiling it is compared with."""

    phase: str
    figure: float
    unit: str
    ceiling: float | None = None
    ceiling_of: str = ""
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """figure / ceiling (throughput: fraction reached; latency: times slower)."""
        if self.ceiling is None or self.ceiling == 0:
            return None
        return self.figure / self.ceiling


@dataclass
class Results:
    """Everything one run measured, filled in phase by phase (kept even when a phase fails)."""

    meta: dict[str, Any] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    drift: dict[str, list[str]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        return row

    def figure(self, phase: str) -> float | None:
        """The figure of an earlier row, to serve as a ceiling (None if it was not measured)."""
        return next((r.figure for r in self.rows if r.phase == phase), None)


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (NaN for no values)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def _num(value: float | None, unit: str = "") -> str:
    if value is None or math.isnan(value):
        return "-"
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"
    return f"{text} {unit}".rstrip()


def render_table(results: Results) -> str:
    """A plain-text table: phase, figure, ceiling (and what it is), ratio."""
    header = ("phase", "figure", "ceiling", "ceiling is", "ratio")
    body = [
        (
            r.phase,
            _num(r.figure, r.unit),
            _num(r.ceiling, r.unit) if r.ceiling is not None else "-",
            r.ceiling_of or "-",
            "-" if r.ratio is None else f"{r.ratio:.2f}",
        )
        for r in results.rows
    ]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    right = {1, 2, 4}
    for row in body:
        cells = [
            cell.rjust(w) if i in right else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells))
    lines.append(
        "ratio = figure / ceiling: for rates the share of the ceiling reached, "
        "for latencies how many times the ceiling's"
    )
    notes = [f"  {r.phase}: {r.note}" for r in results.rows if r.note]
    if notes:
        lines += ["", "notes:", *notes]
    return "\n".join(lines)


def _finite(row: dict[str, Any]) -> dict[str, Any]:
    """NaN (a percentile of nothing) becomes null, so the file stays strict JSON."""
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}


def write_json(results: Results, path: Path) -> None:
    """Write the results (rows with their ratios) as JSON."""
    data = {
        "meta": results.meta,
        "rows": [_finite({**asdict(r), "ratio": r.ratio}) for r in results.rows],
        "drift": results.drift,
        "extra": results.extra,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
