"""Domain exceptions. Each carries a stable code the API maps to a `UserError`."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request: which field, a stable code, a sentence for people."""

    field: str | None
    code: str
    message: str


class DomainError(Exception):
    """A request the rules refuse. `problems` lists every reason found, never empty."""

    def __init__(self, *problems: Problem) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = list(problems)

    @classmethod
    def of(cls, field: str | None, code: str, message: str) -> "DomainError":
        """A DomainError with a single problem."""
        return cls(Problem(field, code, message))

    @property
    def code(self) -> str:
        """The first problem's code (the one recorded on a rejected command)."""
        return self.problems[0].code


class InvalidMoney(ValueError):
    """A money string that is not a positive-or-zero amount with at most two decimals."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
