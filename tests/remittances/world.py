"""Test worlds for remittances: a tenant whose visits and lines are the ones an 835 names.

`world_for(parsed)` builds, for every claim number (CLP01) of the file's claims that are not
payer reversals, an account with one visit of that claim number and one charge line per
service line of those claims (procedure code, modifiers, service date, charge and REF*6R as
billed; a claim without service lines gets one line of CLP03), each line's balance its charge.
Some payers' files repeat a CLP01 (a patient account number) over several claims: their lines
all sit on the one visit. The insurance payer `2` has default PY
and CW codes; `1` is Self Pay. `Remit` imports files as the API does and waits for the worker.
"""

import asyncio
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select

from domain.bulk.models import BulkJob
from domain.db import SessionFactory
from domain.ledger.batch import Posting, post
from domain.ledger.verify import verify
from domain.locks import lock_lines
from domain.models import (
    Account,
    ChargeLine,
    LedgerEntry,
    Payer,
    PayerDefaultCode,
    Tenant,
    TransactionCode,
    Visit,
)
from domain.remittances.imports import Imported, import_file
from domain.remittances.models import Remittance, RemittanceClaim
from domain.remittances.parsed import Claim
from domain.remittances.parsed import Remittance as Parsed
from domain.remittances.posting_jobs import reverse_remittance, start_posting
from domain.tenants.settings import add_default_categories
from domain.uow import UnitOfWork
from tests.bulk.ops import Bulk

ACTOR = "remitter"
SCOPES = frozenset({"billing.read", "billing.payment.write", "billing.adjustment.write"})


@dataclass
class RemitWorld:
    tenant_id: int
    payer_id: int
    visits: dict[str, int]
    """claim number (CLP01) → visit id"""
    lines: dict[str, list[int]]
    """claim number → its charge line ids in line order"""


async def world_for(
    sessions: SessionFactory,
    parsed: Iterable[Parsed],
    *,
    skip: Iterable[str] = (),
    memo_groups: tuple[str, ...] = (),
) -> RemitWorld:
    """A fresh tenant holding the visits these remittances' claims name (but `skip`)."""
    slug = f"remit-{secrets.token_hex(6)}"
    claims: dict[str, list[Claim]] = {}
    for remittance in parsed:
        for claim in remittance.claims:
            if not claim.is_reversal and claim.patient_control_number not in skip:
                claims.setdefault(claim.patient_control_number, []).append(claim)
    async with sessions() as session, session.begin():
        tenant = Tenant(slug=slug, name=slug, remittance_memo_groups=list(memo_groups))
        session.add(tenant)
        await session.flush()
        await add_default_categories(session, tenant.id)
        self_pay = Payer(tenant_id=tenant.id, code="1", name="Self Pay")
        insurer = Payer(tenant_id=tenant.id, code="2", name="Insurer")
        codes = {
            t: TransactionCode(tenant_id=tenant.id, code=f"{t}01", type=t, description=t)
            for t in ("PY", "CW")
        }
        session.add_all([self_pay, insurer, *codes.values()])
        await session.flush()
        session.add_all(
            PayerDefaultCode(payer_id=insurer.id, type=t, transaction_code_id=c.id)
            for t, c in codes.items()
        )
        visits, lines = await _visits(session, tenant.id, insurer.id, claims)
    return RemitWorld(tenant.id, insurer.id, visits, lines)


async def _visits(
    session: Any, tenant_id: int, payer_id: int, claims: dict[str, list[Claim]]
) -> tuple[dict[str, int], dict[str, list[int]]]:
    visits: dict[str, Visit] = {}
    charge_lines: dict[str, list[ChargeLine]] = {}
    for n, (number, same) in enumerate(claims.items(), start=1):
        account = Account(tenant_id=tenant_id, account_number=f"A{n}", name=f"Patient {n}")
        session.add(account)
        await session.flush()
        claim = same[0]
        served = claim.date_of("232") or _first_date(claim) or date.today() - timedelta(days=30)
        visits[number] = Visit(
            tenant_id=tenant_id,
            account_id=account.id,
            visit_number=1,
            claim_number=number,
            date_of_service=served,
            payer_id=payer_id,
            billed_cents=sum(c.charge_cents for c in same),
        )
        session.add(visits[number])
        await session.flush()
        billed = [
            (
                (svc.original_procedure or svc.procedure),
                svc.service_date,
                svc.control_number,
                svc.charge_cents,
            )
            for c in same
            for svc in c.lines or [None]
            if svc is not None
        ] + [(None, None, None, c.charge_cents) for c in same if not c.lines]
        charge_lines[number] = [
            ChargeLine(
                tenant_id=tenant_id,
                account_id=account.id,
                visit_id=visits[number].id,
                line_number=k,
                procedure_code="CLAIM" if code is None else code.code,
                modifiers=[] if code is None else [m for m in code.modifiers if m],
                service_date=served_on,
                control_number=control,
                billed_cents=cents,
            )
            for k, (code, served_on, control, cents) in enumerate(billed, start=1)
        ]
        session.add_all(charge_lines[number])
    await session.flush()
    every = [line for ls in charge_lines.values() for line in ls]
    locked = await lock_lines(session, tenant_id, [line.id for line in every])
    postings = [Posting(line.id, line.billed_cents, "CHARGE", "CHARGE_POSTED") for line in every]
    await post(session, tenant_id, locked, postings, "seed", None)
    return (
        {number: v.id for number, v in visits.items()},
        {number: [line.id for line in ls] for number, ls in charge_lines.items()},
    )


def _first_date(claim: Claim) -> date | None:
    return next((svc.service_date for svc in claim.lines if svc.service_date), None)


@dataclass
class Remit:
    """Importing, posting and reversing remittances against the session's real worker."""

    sessions: SessionFactory
    bulk: Bulk

    async def import_(
        self, tenant_id: int, data: bytes, name: str = "test.835", lenient: bool = False
    ) -> Imported:
        async with UnitOfWork(self.sessions) as uow:
            imported = await import_file(
                uow,
                tenant_id=tenant_id,
                actor=ACTOR,
                scopes=SCOPES,
                data=data,
                filename=name,
                enqueue=self.bulk.enqueue,
                lenient=lenient,
            )
            await uow.commit()
        return imported

    async def post_anyway(self, tenant_id: int, remittance_id: int) -> Remittance:
        async with UnitOfWork(self.sessions) as uow:
            remittance = await start_posting(
                uow, tenant_id, ACTOR, remittance_id, self.bulk.enqueue, review=True
            )
            await uow.commit()
        return remittance

    async def reverse(self, tenant_id: int, remittance_id: int, key: str = "rev") -> BulkJob:
        async with UnitOfWork(self.sessions) as uow:
            job = await reverse_remittance(
                uow,
                tenant_id=tenant_id,
                actor=ACTOR,
                scopes=SCOPES,
                idempotency_key=key,
                remittance_id=remittance_id,
                reason="posted to the wrong practice",
                enqueue=self.bulk.enqueue,
            )
            await uow.commit()
        return job

    async def remittance(self, remittance_id: int) -> Remittance:
        async with self.sessions() as session:
            return await session.get_one(Remittance, remittance_id)

    async def settled(self, remittance_id: int, within: float = 30) -> Remittance:
        """The remittance once its posting or reversal job has closed it."""
        deadline = time.monotonic() + within
        while (r := await self.remittance(remittance_id)).status in ("POSTING", "REVERSING"):
            assert time.monotonic() < deadline, f"remittance {remittance_id} still {r.status}"
            await asyncio.sleep(0.05)
        return r

    async def claims(self, remittance_id: int) -> list[RemittanceClaim]:
        async with self.sessions() as session:
            rows = await session.scalars(
                select(RemittanceClaim)
                .where(RemittanceClaim.remittance_id == remittance_id)
                .order_by(RemittanceClaim.seq)
            )
            return list(rows)

    async def entries(self, visit_id: int) -> list[LedgerEntry]:
        async with self.sessions() as session:
            rows = await session.scalars(
                select(LedgerEntry)
                .where(LedgerEntry.visit_id == visit_id, LedgerEntry.kind != "CHARGE")
                .order_by(LedgerEntry.id)
            )
            return list(rows)

    async def visit(self, visit_id: int) -> Visit:
        async with self.sessions() as session:
            return await session.get_one(Visit, visit_id)

    async def entry_count(self, tenant_id: int) -> int:
        async with self.sessions() as session:
            return int(
                await session.scalar(select(func.count()).where(LedgerEntry.tenant_id == tenant_id))
                or 0
            )

    async def oracle(self, tenant_id: int) -> list[Any]:
        """Every violated invariant of the tenant (empty when sound)."""
        async with self.sessions() as session:
            return list(await verify(session, tenant_id))
