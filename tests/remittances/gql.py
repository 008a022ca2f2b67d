"""Talking to the remittance API over HTTP: the documents, a multipart upload built per the
GraphQL multipart request spec (`operations`, `map`, then the file part), tokens, waiting for a
remittance to settle, and counting what a tenant stores."""

import asyncio
import json
import time
from datetime import date
from typing import Any

import httpx
from sqlalchemy import func, select

from arledger.config import Settings
from arledger.tokens import issue_token
from domain.bulk.models import BulkJob
from domain.db import SessionFactory
from domain.models import AuditRow, Command, LedgerEntry, Tenant
from domain.remittances.generate import (
    AdjustmentSpec,
    ClaimSpec,
    LineSpec,
    ProviderAdjustmentSpec,
    RemittanceSpec,
    generate_835,
)
from domain.remittances.models import Remittance, RemittanceClaim, RemittanceFile
from tests.support.client import gql

READ = "billing.read"
PAYMENT = "billing.payment.write"
ADJUST = "billing.adjustment.write"
EVERY = f"{READ} {PAYMENT} {ADJUST}"

ERRORS = "userErrors { field code message }"
SUMMARY = """claimSummary { claimCount matchedCount unmatchedCount postedCount deniedCount
  reversedCount skippedCount unappliedCount }"""
REMITTANCE = f"""id traceNumber payerIdentifier payerName payeeName payeeIdentifier paymentMethod
  handlingCode paid paymentDate status balanced posted unapplied providerAdjustmentTotal
  postingJob {{ id kind status }} reversalJob {{ id kind status }} {SUMMARY}"""
IMPORT = f"""mutation($input: ImportRemittanceInput!) {{ importRemittance(input: $input) {{
  remittances {{ {REMITTANCE} }} replayed {ERRORS} }} }}"""
POST = f"""mutation($id: ID!) {{ postRemittance(remittanceId: $id) {{
  remittance {{ {REMITTANCE} reviewedBy }} {ERRORS} }} }}"""
REVERSE = f"""mutation($input: ReverseRemittanceInput!) {{ reverseRemittance(input: $input) {{
  remittance {{ {REMITTANCE} reversalReason }} {ERRORS} }} }}"""
ADJUSTMENTS = "group groupCode reasonCode reasonText amount quantity effect"
DETAIL = f"""query($id: ID!) {{ remittance(id: $id) {{ {REMITTANCE} productionDate version
  controlNumber importedBy reviewedBy
  imbalances {{ level reference segment expected actual difference message }}
  issues {{ segment tag code message }}
  file {{ filename sha256 sizeBytes importedBy }}
  providerAdjustments {{ reasonCode reasonText reference amount postedAt }}
  transaction {{ type amount status applications {{ amount }} }}
  claims {{ nodes {{ patientControlNumber statusCode statusText charge paid
    patientResponsibility payerClaimControlNumber patientName serviceDate outcome code message
    posted unapplied visit {{ id balance }} adjustments {{ {ADJUSTMENTS} }}
    lines {{ procedureQualifier procedureCode modifiers serviceDate charge paid units
      controlNumber unmatchedCode chargeLine {{ id balance }}
      adjustments {{ {ADJUSTMENTS} }} }} }} }} }} }}"""
STATUS = "query($id: ID!) { remittance(id: $id) { status } }"


def token(settings: Settings, slug: str, scopes: str = EVERY, subject: str = "remitter") -> str:
    return issue_token(settings, tenant=slug, scopes=scopes.split(), subject=subject)


def headers(bearer: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {bearer}"} if bearer else {}


async def slug_of(sessions: SessionFactory, tenant_id: int) -> str:
    async with sessions() as session:
        slug = await session.scalar(select(Tenant.slug).where(Tenant.id == tenant_id))
    assert slug is not None
    return slug


def multipart(data: bytes, filename: str = "era.835", **fields: Any) -> dict[str, Any]:
    """httpx arguments of an `importRemittance` upload: `operations` (the file variable null),
    `map` (part "0" → variables.input.file), then the file part itself."""
    operations = {"query": IMPORT, "variables": {"input": {"file": None, **fields}}}
    return {
        "data": {
            "operations": json.dumps(operations),
            "map": json.dumps({"0": ["variables.input.file"]}),
        },
        "files": {"0": (filename, data, "application/edi-x12")},
    }


async def upload(
    client: httpx.AsyncClient,
    data: bytes,
    bearer: str | None,
    filename: str = "era.835",
    **fields: Any,
) -> httpx.Response:
    """POST the file as a multipart upload (the response, whatever its status)."""
    return await client.post(
        "/graphql", headers=headers(bearer), **multipart(data, filename, **fields)
    )


async def imported(response: httpx.Response) -> dict[str, Any]:
    """The importRemittance payload of a 200 response without top-level errors."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return dict(body["data"]["importRemittance"])


async def payload(
    client: httpx.AsyncClient, document: str, variables: dict[str, Any], bearer: str | None
) -> dict[str, Any]:
    """The single payload of a mutation (no top-level errors)."""
    body = await gql(client, document, variables, bearer)
    assert "errors" not in body, body
    [found] = body["data"].values()
    return dict(found)


async def import_text(
    client: httpx.AsyncClient, text: str, bearer: str | None, **fields: Any
) -> dict[str, Any]:
    return await payload(client, IMPORT, {"input": {"text": text, **fields}}, bearer)


async def detail(client: httpx.AsyncClient, remittance_id: str, bearer: str) -> dict[str, Any]:
    body = await gql(client, DETAIL, {"id": remittance_id}, bearer)
    assert "errors" not in body, body
    return dict(body["data"]["remittance"])


async def settled(
    client: httpx.AsyncClient, remittance_id: str, bearer: str, within: float = 60
) -> str:
    """The remittance's status once no job of it is running."""
    deadline = time.monotonic() + within
    while True:
        body = await gql(client, STATUS, {"id": remittance_id}, bearer)
        status = str(body["data"]["remittance"]["status"])
        if status not in ("POSTING", "REVERSING"):
            return status
        assert time.monotonic() < deadline, f"remittance {remittance_id} still {status}"
        await asyncio.sleep(0.05)


async def stored(sessions: SessionFactory, tenant_id: int) -> dict[str, int]:
    """How many rows of each kind the tenant holds (what an import or a posting adds)."""
    found = {}
    async with sessions() as session:
        for model in (
            RemittanceFile,
            Remittance,
            RemittanceClaim,
            Command,
            BulkJob,
            LedgerEntry,
            AuditRow,
        ):
            count = select(func.count()).select_from(model).where(model.tenant_id == tenant_id)
            found[model.__tablename__] = int(await session.scalar(count) or 0)
    return found


# --- files --------------------------------------------------------------------------------------


def claim(number: str, status: str = "1", sign: int = 1, pcn: str = "PCN1") -> ClaimSpec:
    """A 100.00 charge of 99213 on 2026-01-05: CO-45 20.00, PR-2 10.00, paid 70.00."""
    line = LineSpec(
        "99213",
        sign * 10000,
        sign * 7000,
        modifiers=("25",),
        service_date=date(2026, 1, 5),
        units=None,
        adjustments=(
            AdjustmentSpec("CO", "45", sign * 2000),
            AdjustmentSpec("PR", "2", sign * 1000),
        ),
        control_number=f"{number}-L1",
    )
    return ClaimSpec(
        number,
        sign * 10000,
        sign * 7000,
        status,
        patient_responsibility_cents=sign * 1000,
        payer_claim_number=pcn,
        lines=(line,),
    )


def unbalanced(number: str) -> ClaimSpec:
    """CLP03 - CLP04 = 30.00 but the CAS say 25.00 (claim and line levels both off by 5.00)."""
    line = LineSpec("99213", 10000, 7000, adjustments=(AdjustmentSpec("CO", "45", 2500),))
    return ClaimSpec(number, 10000, 7000, lines=(line,))


def file_of(trace: str, *claims: ClaimSpec, plb: tuple[ProviderAdjustmentSpec, ...] = ()) -> bytes:
    spec = RemittanceSpec(trace, "1999999999", tuple(claims), provider_adjustments=plb)
    return generate_835([spec]).encode()
