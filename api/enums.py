"""The closed sets of the schema as GraphQL enums, so code generators give front ends real types.

Each is a `StrEnum` whose values are exactly the strings the domain stores (`domain.models`,
`domain.bulk`); `tests/platform/test_enums.py` keeps the two from drifting apart. A member equals
and str()s to its stored string, and the API converts explicitly at its edges: output types build
the enum from the row (`CommandStatus(row.status)`), resolvers hand `.value` to the domain.

Sets a tenant can extend stay strings: adjustment categories and reasons, transaction codes,
visit states, and `LedgerEntry.reason` (it holds write-off and adjustment reasons alike). So does
`LedgerEntry.carcGroup`: an entry posted from a remittance carries the file's CAS group, which a
4010 file may give as CR, outside `CarcGroup` (the groups a tenant can configure).
"""

from collections.abc import Callable
from enum import StrEnum
from typing import TypeVar

import strawberry
from strawberry.types.enum import StrawberryEnumDefinition

E = TypeVar("E", bound=type[StrEnum])
M = TypeVar("M", bound=StrEnum)


def described(**descriptions: str) -> Callable[[E], E]:
    """Per-value GraphQL descriptions for a `@strawberry.enum`, by member name (apply it above
    the strawberry decorator). `strawberry.enum_value` cannot carry them: a `StrEnum` member's
    value must be the string itself."""

    def apply(cls: E) -> E:
        definition = cls.__strawberry_definition__  # type: ignore[attr-defined]
        assert isinstance(definition, StrawberryEnumDefinition), cls
        unknown = set(descriptions) - set(cls.__members__)
        assert not unknown, f"{cls.__name__} has no member {sorted(unknown)}"
        for value in definition.values:
            member = cls(value.value)
            value.description = descriptions.get(member.name, value.description)
        return cls

    return apply


@described(
    PY="Payment: reduces the balance; may leave a credit. Posts as PAYMENT.",
    CW="Contractual write-off: reduces the balance, never below zero. Posts as ADJUSTMENT, "
    "category contractual, CO-45.",
    BD="Bad debt (mostly self-pay): reduces the balance, never below zero. Posts as WRITEOFF, "
    "reason bad-debt.",
    FC="Finance charge: increases the balance. Posts as FINANCE_CHARGE.",
    AD="Adjustment: reduces the balance, never below zero. Posts as ADJUSTMENT, category "
    "adjustment, the tenant's synthetic CARC group with reason 45.",
    AC="Additional charge, e.g. an NSF fee: increases the balance. Posts as ADDITIONAL_CHARGE.",
    RF="Refund: entered positive, applied as a debit (increases the balance). Posts as REFUND.",
)
@strawberry.enum(description="A practice-management transaction's type.")
class TransactionType(StrEnum):
    PY = "PY"
    CW = "CW"
    BD = "BD"
    FC = "FC"
    AD = "AD"
    AC = "AC"
    RF = "RF"


@described(
    WORK_IN_PROGRESS="Editable; posts only once its applications sum to its amount. A refused "
    "posting comes back here with `lastErrorCode`.",
    POSTING="Posting requested: a worker posts every application or none.",
    POSTED="Every application posted.",
    VOIDING="Void requested: a worker reverses every entry the posting wrote (back to POSTED "
    "if refused).",
    VOIDED="Every entry the posting wrote has been reversed.",
)
@strawberry.enum(description="Where a transaction is between entry, posting and void.")
class TransactionStatus(StrEnum):
    WORK_IN_PROGRESS = "WORK_IN_PROGRESS"
    POSTING = "POSTING"
    POSTED = "POSTED"
    VOIDING = "VOIDING"
    VOIDED = "VOIDED"


@described(
    PENDING="Stored and queued; a worker has not applied it yet.",
    APPLIED="Applied: its entries, audit rows and balances are committed.",
    REJECTED="Refused by a rule under lock; `errorCode` and `errorMessage` say why. "
    "Nothing was written.",
)
@strawberry.enum(description="A command's status: PENDING until a worker makes it final.")
class CommandStatus(StrEnum):
    PENDING = "PENDING"
    APPLIED = "APPLIED"
    REJECTED = "REJECTED"


@described(
    QUEUED="Submitted; a worker has not selected its rows yet.",
    RUNNING="Rows selected; workers are applying its chunks.",
    DONE="Every row applied or skipped.",
    FAILED="A chunk failed unexpectedly (nothing of that chunk written); the rest not attempted.",
    CANCELLED="Cancelled between chunks; rows not yet applied were not attempted.",
)
@strawberry.enum(description="A bulk job's status.")
class BulkJobStatus(StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    DONE = "DONE"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


@described(
    PENDING="Selected, not applied yet.",
    APPLIED="Applied.",
    SKIPPED="Not applied, by a rule; `code` and `message` say why.",
    CANCELLED="Not attempted: the job was cancelled first.",
    FAILED="Not applied: the job failed.",
)
@strawberry.enum(description="What happened to one row of a bulk job.")
class BulkJobItemStatus(StrEnum):
    PENDING = "PENDING"
    APPLIED = "APPLIED"
    SKIPPED = "SKIPPED"
    CANCELLED = "CANCELLED"
    FAILED = "FAILED"


@described(
    WRITEOFF="Bulk write-off: each selected line's whole balance, with one reason.",
    SELF_PAY="Bulk self-pay transactions: one posted transaction per selected visit.",
    REVERSAL="The reversal of a finished job: everything it applied, reversed or voided.",
    REMITTANCE="The posting of an 835 remittance: its matched claims' payments and adjustments.",
)
@strawberry.enum(description="What a bulk job does.")
class BulkJobKind(StrEnum):
    WRITEOFF = "WRITEOFF"
    SELF_PAY = "SELF_PAY"
    REVERSAL = "REVERSAL"
    REMITTANCE = "REMITTANCE"


@described(
    CHARGE="A billed charge: the line's starting balance.",
    PAYMENT="A payment (PY).",
    WRITEOFF="A write-off: a decision to stop collecting (also BD bad-debt transactions).",
    ADJUSTMENT="An adjustment to the contract or rule amount, with its CARC (also CW and AD "
    "transactions).",
    CONTRACTUAL="A contractual write-off; counted with adjustments.",
    BAD_DEBT="Bad debt; counted with write-offs.",
    FINANCE_CHARGE="A finance charge (FC): increases the balance.",
    ADDITIONAL_CHARGE="An additional charge (AC), e.g. an NSF fee: increases the balance.",
    REFUND="A refund (RF), applied as a debit: increases the balance.",
)
@strawberry.enum(
    description="What a ledger entry is. A reversal has its original's kind and `reverses` set."
)
class LedgerEntryKind(StrEnum):
    CHARGE = "CHARGE"
    PAYMENT = "PAYMENT"
    WRITEOFF = "WRITEOFF"
    ADJUSTMENT = "ADJUSTMENT"
    CONTRACTUAL = "CONTRACTUAL"
    BAD_DEBT = "BAD_DEBT"
    FINANCE_CHARGE = "FINANCE_CHARGE"
    ADDITIONAL_CHARGE = "ADDITIONAL_CHARGE"
    REFUND = "REFUND"


@described(
    CO="Contractual obligation: the provider absorbs it.",
    OA="Other adjustment.",
    PI="Payer-initiated reduction.",
    PR="Patient responsibility.",
)
@strawberry.enum(description="A claim adjustment group code (the group of a CARC, as in CO-45).")
class CarcGroup(StrEnum):
    CO = "CO"
    OA = "OA"
    PI = "PI"
    PR = "PR"


@described(
    BD="Bad debt: the whole balance of visits at least `minAgeDays` old.",
    FC="Finance charge: a fixed `amount` or a `percent` of the balance, rounded half-up.",
    AC="Additional charge: a fixed `amount`.",
    AD="Adjustment: a fixed `amount` (skipped where the visit owes less).",
    RF="Refund of each credit balance.",
)
@strawberry.enum(description="The transaction types a bulk self-pay job can post.")
class BulkSelfPayType(StrEnum):
    BD = "BD"
    FC = "FC"
    AC = "AC"
    AD = "AD"
    RF = "RF"


@described(
    SMALL_BALANCE="Stored as small-balance. Only when the visit's balance is at or under the "
    "tenant's small-balance threshold.",
    PATIENT_UNCOLLECTABLE="Stored as patient-uncollectable.",
    CHARITY="Stored as charity.",
    BAD_DEBT="Stored as bad-debt.",
    DISPUTE_RESOLVED="Stored as dispute-resolved.",
    OTHER="Stored as other. Needs a note.",
)
@strawberry.enum(
    description="Why a balance is written off: the fixed list; a tenant enables or disables "
    "each (`TenantSettings.writeOffReasons`). Values are stored as the hyphenated names."
)
class WriteOffReason(StrEnum):
    SMALL_BALANCE = "small-balance"
    PATIENT_UNCOLLECTABLE = "patient-uncollectable"
    CHARITY = "charity"
    BAD_DEBT = "bad-debt"
    DISPUTE_RESOLVED = "dispute-resolved"
    OTHER = "other"


ENUMS: tuple[type[StrEnum], ...] = (
    TransactionType,
    TransactionStatus,
    CommandStatus,
    BulkJobStatus,
    BulkJobItemStatus,
    BulkJobKind,
    LedgerEntryKind,
    CarcGroup,
    BulkSelfPayType,
    WriteOffReason,
)
"""Every enum of the schema, in the order above."""


def optional(cls: type[M], value: str | None) -> M | None:
    """`cls(value)`, or None for None: for nullable columns."""
    return None if value is None else cls(value)
