"""The remittance (one 835 transaction set) and its claims, as the API shows them."""

from datetime import date, datetime
from typing import Self

import strawberry
from sqlalchemy import select

from api.bulk.types import BulkJob
from api.context import Info
from api.ids import encode_id, encode_optional_id
from api.ledger.types import Visit
from api.pagination import Connection, paginate
from api.remittances.enums import RemittanceClaimOutcome, RemittanceStatus
from api.remittances.loaders import remittance_loaders
from api.remittances.parts import (
    RemittanceAdjustment,
    RemittanceClaimSummary,
    RemittanceFile,
    RemittanceImbalance,
    RemittanceIssue,
    RemittanceLine,
    RemittanceProviderAdjustment,
)
from api.scalars import Money
from api.transactions.payers import Payer
from api.transactions.types import Transaction
from api.types import Node
from domain.remittances import codes
from domain.remittances import models as remit


@strawberry.type(description="One claim (CLP loop) of a remittance and what became of it.")
class RemittanceClaim:
    id: strawberry.ID
    pk: strawberry.Private[int]
    remittance_pk: strawberry.Private[int]
    visit_pk: strawberry.Private[int | None]
    seq: int
    segment: int = strawberry.field(description="The CLP segment's number in the file.")
    patient_control_number: str = strawberry.field(description="CLP01: the claim number sent.")
    status_code: str = strawberry.field(description="CLP02, e.g. 1, 4 (denied), 22 (reversal).")
    charge: Money
    paid: Money
    patient_responsibility: Money | None
    payer_claim_control_number: str = strawberry.field(description="CLP07.")
    patient_name: str | None
    service_date: date | None
    outcome: RemittanceClaimOutcome
    code: str | None = strawberry.field(description="Why it is unmatched, skipped or not posted.")
    message: str | None
    posted: Money = strawberry.field(description="The payment posted (negative for a reversal).")
    unapplied: Money = strawberry.field(description="Money of the claim left unapplied.")
    reverses_claim_id: strawberry.ID | None = strawberry.field(
        description="A payer reversal's original: the claim whose posting it undoes."
    )

    @classmethod
    def from_row(cls, row: remit.RemittanceClaim) -> Self:
        return cls(
            id=strawberry.ID(encode_id("RemittanceClaim", row.id)),
            pk=row.id,
            remittance_pk=row.remittance_id,
            visit_pk=row.visit_id,
            seq=row.seq,
            segment=row.segment,
            patient_control_number=row.patient_control_number,
            status_code=row.status_code,
            charge=row.charge_cents,
            paid=row.paid_cents,
            patient_responsibility=row.patient_responsibility_cents,
            payer_claim_control_number=row.payer_claim_control_number,
            patient_name=row.patient_name,
            service_date=row.service_date,
            outcome=RemittanceClaimOutcome(row.outcome),
            code=row.code,
            message=row.message,
            posted=row.posted_cents,
            unapplied=row.unapplied_cents,
            reverses_claim_id=encode_optional_id("RemittanceClaim", row.reverses_claim_id),
        )

    @strawberry.field(description="The CLP02 status in words, e.g. Processed as Primary.")
    def status_text(self) -> str | None:
        return codes.claim_status_text(self.status_code)

    @strawberry.field(description="The visit it matched (by claim number); null if none.")
    async def visit(self, info: Info) -> Visit | None:
        if self.visit_pk is None:
            return None
        row = await info.context.loaders.visit.load(self.visit_pk)
        return None if row is None else Visit.from_row(row)

    @strawberry.field
    async def remittance(self, info: Info) -> "Remittance":
        return Remittance.from_row(
            await remittance_loaders(info).remittance.load(self.remittance_pk)
        )

    @strawberry.field(description="Its service lines (SVC loops), in file order.")
    async def lines(self, info: Info) -> list[RemittanceLine]:
        rows = await remittance_loaders(info).lines_by_claim.load(self.pk)
        return [RemittanceLine.from_row(r) for r in rows]

    @strawberry.field(description="Its claim-level CAS adjustments, in file order.")
    async def adjustments(self, info: Info) -> list[RemittanceAdjustment]:
        rows = await remittance_loaders(info).adjustments_by_claim.load(self.pk)
        return [RemittanceAdjustment.from_row(r) for r in rows if r.line_id is None]


@strawberry.type(description="An imported 835 transaction set: one payment and its claims.")
class Remittance(Node):
    pk: strawberry.Private[int]
    file_pk: strawberry.Private[int]
    payer_pk: strawberry.Private[int | None]
    job_pk: strawberry.Private[int | None]
    reversal_job_pk: strawberry.Private[int | None]
    transaction_pk: strawberry.Private[int | None]
    trace_number: str = strawberry.field(description="TRN02: the check or EFT trace number.")
    payer_identifier: str = strawberry.field(description="TRN03, else the N1*PR identifier.")
    payer_name: str
    payee_name: str
    payee_identifier: str
    control_number: str = strawberry.field(description="ST02.")
    version: str | None = strawberry.field(description="GS08, e.g. 005010X221A1.")
    handling_code: str = strawberry.field(description="BPR01: C, I, H, D …")
    payment_method: str = strawberry.field(description="BPR04: ACH, CHK, NON, BOP, FWT.")
    paid: Money = strawberry.field(description="BPR02: the payment's total.")
    payment_date: date | None = strawberry.field(description="BPR16.")
    production_date: date | None = strawberry.field(description="DTM*405.")
    status: RemittanceStatus
    balanced: bool = strawberry.field(description="All three balancing levels hold.")
    imbalances: list[RemittanceImbalance]
    issues: list[RemittanceIssue]
    posted: Money = strawberry.field(description="Payments posted to visits.")
    unapplied: Money = strawberry.field(description="Claims' money not applied to any visit.")
    provider_adjustment_total: Money = strawberry.field(description="Σ PLB (+ withheld).")
    imported_by: str
    reviewed_by: str | None = strawberry.field(description="Who posted it while it was held.")
    reversal_reason: str | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: remit.Remittance) -> Self:
        return cls(
            id=strawberry.ID(encode_id("Remittance", row.id)),
            pk=row.id,
            file_pk=row.file_id,
            payer_pk=row.payer_id,
            job_pk=row.job_id,
            reversal_job_pk=row.reversal_job_id,
            transaction_pk=row.transaction_id,
            trace_number=row.trace_number,
            payer_identifier=row.payer_identifier,
            payer_name=row.payer_name,
            payee_name=row.payee_name,
            payee_identifier=row.payee_identifier,
            control_number=row.control_number,
            version=row.version,
            handling_code=row.handling_code,
            payment_method=row.payment_method,
            paid=row.paid_cents,
            payment_date=row.payment_date,
            production_date=row.production_date,
            status=RemittanceStatus(row.status),
            balanced=row.balanced,
            imbalances=[RemittanceImbalance.from_json(i) for i in row.imbalances],
            issues=[RemittanceIssue(**i) for i in row.issues],
            posted=row.posted_cents,
            unapplied=row.unapplied_cents,
            provider_adjustment_total=row.provider_adjustment_cents,
            imported_by=row.imported_by,
            reviewed_by=row.reviewed_by,
            reversal_reason=row.reversal_reason,
            created_at=row.created_at,
        )

    @strawberry.field(description="The tenant's payer the payment is booked under (matched).")
    async def payer(self, info: Info) -> Payer | None:
        if self.payer_pk is None:
            return None
        return Payer.from_row(await info.context.loaders.payer.load(self.payer_pk))

    @strawberry.field
    async def file(self, info: Info) -> RemittanceFile:
        return RemittanceFile.from_row(await remittance_loaders(info).file.load(self.file_pk))

    @strawberry.field(description="Claims in file order, optionally of one outcome.")
    async def claims(
        self,
        info: Info,
        outcome: RemittanceClaimOutcome | None = None,
        first: int = 100,
        after: str | None = None,
    ) -> Connection[RemittanceClaim]:
        c = remit.RemittanceClaim
        query = select(c).where(c.remittance_id == self.pk, c.tenant_id == info.context.tenant_id)
        if outcome is not None:
            query = query.where(c.outcome == outcome.value)
        sessions = info.context.sessions
        return await paginate(sessions, query, c.id, first, after, RemittanceClaim.from_row)

    @strawberry.field
    async def claim_summary(self, info: Info) -> RemittanceClaimSummary:
        return RemittanceClaimSummary.of(await remittance_loaders(info).counts.load(self.pk))

    @strawberry.field(description="PLB adjustments, in file order.")
    async def provider_adjustments(self, info: Info) -> list[RemittanceProviderAdjustment]:
        rows = await remittance_loaders(info).provider_adjustments.load(self.pk)
        return [RemittanceProviderAdjustment.from_row(r) for r in rows]

    @strawberry.field(description="The job posting it (follow it with `bulkJob(id)`).")
    async def posting_job(self, info: Info) -> BulkJob | None:
        return await _job(info, self.job_pk)

    @strawberry.field(description="The job reversing it, once `reverseRemittance` was asked.")
    async def reversal_job(self, info: Info) -> BulkJob | None:
        return await _job(info, self.reversal_job_pk)

    @strawberry.field(description="The PY transaction of the payment, once posted.")
    async def transaction(self, info: Info) -> Transaction | None:
        if self.transaction_pk is None:
            return None
        row = await remittance_loaders(info).transaction.load(self.transaction_pk)
        return None if row is None else Transaction.from_row(row)


async def _job(info: Info, pk: int | None) -> BulkJob | None:
    if pk is None:
        return None
    row = await remittance_loaders(info).job.load(pk)
    return None if row is None else BulkJob.from_row(row)
