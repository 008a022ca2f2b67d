"""How far an import is: what a person importing a large 835 sees move while it runs.

An import is one transaction (nothing is stored unless all of it is), so its progress is not
stored or published: the caller hears it (`arledger remit import` draws a bar). Once the
import answers, the posting job's progress is followed like any bulk job's.
"""

from collections.abc import Callable
from dataclasses import dataclass

READING, MATCHING, STORING, DONE = "READING", "MATCHING", "STORING", "DONE"
STAGES = (READING, MATCHING, STORING, DONE)


@dataclass(frozen=True)
class ImportProgress:
    """`done` of `total` in `stage`: segments read, claims matched, rows stored."""

    stage: str
    done: int
    total: int

    @property
    def unit(self) -> str:
        return {READING: "segments", MATCHING: "claims", STORING: "rows"}.get(self.stage, "")

    def describe(self) -> str:
        """`reading 60,000/170,010 segments`."""
        if self.stage == DONE:
            return "imported"
        return f"{self.stage.lower()} {self.done:,}/{self.total:,} {self.unit}"


OnProgress = Callable[[ImportProgress], None]


def ignore(progress: ImportProgress) -> None:
    """The default listener: nobody is watching."""
