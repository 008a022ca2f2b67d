"""Where the shared third-party 835 samples are read from, in place (never copied here).

`$ARLEDGER_X12_SAMPLES` when set, else `../shared/x12` next to the repository. Without them the
tests that read them fail, saying where they looked: they are never skipped.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLES = Path(os.environ.get("ARLEDGER_X12_SAMPLES") or REPO / ".." / "shared" / "x12")


def sample_path(name: str) -> Path:
    """A sample by file name: files 01-11 in 835/, the CDDL files 12-14 in 835/cddl/."""
    folder = SAMPLES / "835"
    path = folder / name
    return path if path.exists() else folder / "cddl" / name


def sample(name: str) -> bytes:
    """A sample's bytes, exactly as stored."""
    path = sample_path(name)
    if not path.exists():
        pytest.fail(f"835 sample {name} not found under {SAMPLES} (set ARLEDGER_X12_SAMPLES)")
    return path.read_bytes()
