"""The remittance API's closed sets as GraphQL enums, values exactly as the domain stores them
(`domain.remittances.models`), in the style of `api.enums` (which keeps the shared ones).

`CasGroup` is not `api.enums.CarcGroup`: CarcGroup is what a tenant can configure (CO, OA, PI,
PR), while a CAS segment of a 4010 file may also carry CR (corrections and reversals).
"""

from enum import StrEnum

import strawberry

from api.enums import described


@described(
    NEEDS_REVIEW="Held: it does not balance or a lenient import kept issues; nothing posted "
    "until a person posts it anyway (`postRemittance`).",
    POSTING="Its posting job runs (follow it with the `bulkJob` subscription).",
    POSTED="Every matched claim posted or skipped with its reason.",
    REVERSING="Its reversal job runs.",
    REVERSED="Everything it posted has been reversed and its payment voided.",
)
@strawberry.enum(description="Where an imported 835 remittance is between review and posting.")
class RemittanceStatus(StrEnum):
    NEEDS_REVIEW = "NEEDS_REVIEW"
    POSTING = "POSTING"
    POSTED = "POSTED"
    REVERSING = "REVERSING"
    REVERSED = "REVERSED"


@described(
    PENDING="Matched, waiting for the posting job.",
    POSTED="Its payment and adjustments posted (a payer reversal: the earlier posting undone).",
    DENIED="A denial (CLP02 4): memo entries only, the visit flagged for follow-up.",
    REVERSED="Posted, then undone by a later payer reversal (CLP02 22).",
    UNMATCHED="No visit has its claim number (or no earlier posting to reverse); its money "
    "stays unapplied. `code` and `message` say why.",
    SKIPPED="Matched, but refused under lock or not attempted; `code` and `message` say why.",
    NOTHING_TO_POST="No money moves (e.g. CLP02 23 or 25, or nothing to post).",
)
@strawberry.enum(description="What matching and posting did with one claim (CLP loop).")
class RemittanceClaimOutcome(StrEnum):
    PENDING = "PENDING"
    POSTED = "POSTED"
    DENIED = "DENIED"
    REVERSED = "REVERSED"
    UNMATCHED = "UNMATCHED"
    SKIPPED = "SKIPPED"
    NOTHING_TO_POST = "NOTHING_TO_POST"


@described(
    REDUCE="Lowers the balance (CO and CR, and OA/PI unless the tenant posts them as memo).",
    MEMO="Recorded without changing the balance (PR, a denial's reasons, memo OA/PI).",
)
@strawberry.enum(description="How a CAS adjustment posts.")
class AdjustmentEffect(StrEnum):
    REDUCE = "REDUCE"
    MEMO = "MEMO"


@described(
    CO="Contractual obligation: the provider may not bill the patient.",
    PR="Patient responsibility (deductible, coinsurance, copay).",
    OA="Other adjustment.",
    PI="Payer-initiated reduction.",
    CR="Correction and reversal (4010 only; 5010 reverses with CLP02 22).",
)
@strawberry.enum(description="A CAS01 claim adjustment group code as an 835 carries it.")
class CasGroup(StrEnum):
    CO = "CO"
    PR = "PR"
    OA = "OA"
    PI = "PI"
    CR = "CR"


@described(
    TRANSACTION="BPR02 = Σ CLP04 - Σ PLB does not hold.",
    CLAIM="CLP03 - CLP04 = Σ claim and line CAS does not hold.",
    LINE="SVC02 - SVC03 = Σ line CAS does not hold.",
)
@strawberry.enum(description="Which of an 835's three balancing equations fails.")
class ImbalanceLevel(StrEnum):
    TRANSACTION = "transaction"
    CLAIM = "claim"
    LINE = "line"


REMITTANCE_ENUMS: tuple[type[StrEnum], ...] = (
    RemittanceStatus,
    RemittanceClaimOutcome,
    AdjustmentEffect,
    CasGroup,
    ImbalanceLevel,
)
