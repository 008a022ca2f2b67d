"""`python -m bench.remit_parse [--claims N] [--lines L] [--pyx12]`: how long an 835 takes to read.

Generates a balanced 5010 835 (N claims x L service lines, default 10,000 x 3), then times the
tokenizer, the typed parse, balancing and, with --pyx12, the optional TR3 validation. Prints one
line per step; the best of --repeat runs counts (the machine is shared).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from domain.remittances.balance import check_remittance
from domain.remittances.generate import Layout, generate_835, synthetic_remittance
from domain.remittances.parser import parse_835
from domain.remittances.x12 import tokenize


def best_of(repeat: int, step: Callable[[], object]) -> float:
    """The fastest of `repeat` runs, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--claims", type=int, default=10_000)
    parser.add_argument("--lines", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pyx12", action="store_true", help="also time pyx12 validation (slow)")
    args = parser.parse_args()
    data = generate_835(
        [synthetic_remittance(args.claims, args.lines)], Layout(newlines=True)
    ).encode()
    (remittance,) = parse_835(data)
    segments = len(tokenize(data).segments)
    print(f"{args.claims} claims, {len(remittance.service_lines)} lines, {segments} segments, "
          f"{len(data) / 1e6:.1f} MB")  # fmt: skip
    steps: dict[str, Callable[[], object]] = {
        "tokenize": lambda: tokenize(data),
        "parse_835 (tokenize + envelope + typed)": lambda: parse_835(data),
        "check_remittance": lambda: check_remittance(remittance),
    }
    for name, step in steps.items():
        print(f"{name:42s} {best_of(args.repeat, step):7.3f} s")
    if args.pyx12:
        from domain.remittances.validate import validate_835

        seconds = best_of(1, lambda: validate_835(data))
        print(f"{'validate_835 (pyx12)':42s} {seconds:7.3f} s ({segments / seconds:,.0f} seg/s)")


if __name__ == "__main__":
    main()
