"""Importing an 835 file: parse, balance, match and store it, then start posting.

The whole file is stored or nothing is: a file that does not parse, or names a remittance
(payer + trace number) another file already brought, is refused with a typed error naming the
segment. Wrong SE/GE/IEA counts or control numbers, an empty required element or an impossible
date are refused too, unless the import is `lenient` (payers do send such files): then they
are kept as the remittance's issues and it waits for review. The same file again (by SHA-256)
returns what the first import stored and posts nothing. A balanced remittance without issues
starts posting at once (a bulk job of its claims, applied by the workers); any other waits as
NEEDS_REVIEW until a person posts it anyway.
"""

import hashlib
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from domain.commands.store import Enqueue
from domain.errors import DomainError
from domain.ledger.sql_rows import insert_columns, next_ids
from domain.models import AuditRow
from domain.remittances import rows as columns
from domain.remittances.balance import check_remittance
from domain.remittances.lookups import posted_claims, visits_by_claim_number
from domain.remittances.matching import match_claim
from domain.remittances.models import Remittance, RemittanceFile
from domain.remittances.parsed import Remittance as Parsed
from domain.remittances.parser import parse_835
from domain.remittances.posting_jobs import require_scopes, start_posting
from domain.remittances.progress import (
    DONE,
    MATCHING,
    READING,
    STORING,
    ImportProgress,
    OnProgress,
    ignore,
)
from domain.tenants.policy import load_policy
from domain.uow import UnitOfWork

TRACE_KEY = "uq_remittances_tenant_id_payer_identifier_trace_number_trace_part"
MATCH_TICK = 2_000
"""Claims matched between two progress reports."""
STORE_CHUNK = 15_000
"""Rows per INSERT: a report after each, well under a second apart."""


@dataclass(frozen=True)
class Imported:
    """What an import stored (or, for the same file again, had stored)."""

    file_id: int
    remittance_ids: tuple[int, ...]
    replayed: bool


async def import_file(
    uow: UnitOfWork,
    *,
    tenant_id: int,
    actor: str,
    scopes: frozenset[str],
    data: bytes,
    filename: str | None,
    enqueue: Enqueue,
    lenient: bool = False,
    on_progress: OnProgress = ignore,
) -> Imported:
    """Store the file's remittances and start posting the balanced ones; `on_progress` hears
    how far it got (segments read, claims matched, rows stored) at least every ~0.5 s."""
    require_scopes(scopes)
    digest = hashlib.sha256(data).digest()
    if replay := await _replay(uow, tenant_id, digest):
        return replay

    def reading(done: int, total: int) -> None:
        on_progress(ImportProgress(READING, done, total))

    parsed = parse_835(data, strict=not lenient, tick=reading)
    await _refuse_taken_traces(uow, tenant_id, parsed)
    file = RemittanceFile(
        tenant_id=tenant_id,
        sha256=digest,
        filename=(filename or "")[:255] or None,
        raw_text=_text(data),
        size_bytes=len(data),
        imported_by=actor,
    )
    uow.session.add(file)
    await uow.session.flush()
    remittance_ids = await _store(uow, tenant_id, actor, file.id, parsed, on_progress)
    for remittance_id in remittance_ids:
        await start_posting(uow, tenant_id, actor, remittance_id, enqueue, review=False)
    uow.session.add(
        AuditRow(
            tenant_id=tenant_id,
            actor=actor,
            action="REMITTANCE_IMPORTED",
            details={"file": file.id, "remittances": remittance_ids, "filename": filename},
        )
    )
    on_progress(ImportProgress(DONE, len(remittance_ids), len(remittance_ids)))
    return Imported(file.id, tuple(remittance_ids), False)


async def _replay(uow: UnitOfWork, tenant_id: int, digest: bytes) -> Imported | None:
    file_id = await uow.session.scalar(
        select(RemittanceFile.id).where(
            RemittanceFile.tenant_id == tenant_id, RemittanceFile.sha256 == digest
        )
    )
    if file_id is None:
        return None
    ids = await uow.session.scalars(
        select(Remittance.id).where(Remittance.file_id == file_id).order_by(Remittance.seq)
    )
    return Imported(file_id, tuple(ids), True)


def _text(data: bytes) -> str:
    """The file as text (X12 is ASCII; a stray Latin-1 byte in a name is kept, not refused)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _trace_reused(payer: str, trace: str, where: str) -> DomainError:
    return DomainError.of(
        "file",
        "REMITTANCE_TRACE_REUSED",
        f"Payer {payer!r} trace number {trace!r} appears {where}: a remittance is imported "
        "once (the same file again returns it).",
    )


async def _refuse_taken_traces(uow: UnitOfWork, tenant_id: int, parsed: list[Parsed]) -> None:
    for r in parsed:
        taken = await uow.session.scalar(
            select(Remittance.id).where(
                Remittance.tenant_id == tenant_id,
                Remittance.payer_identifier == r.payer_id,
                Remittance.trace_number == r.trace.number,
            )
        )
        if taken is not None:
            raise _trace_reused(r.payer_id, r.trace.number, "in a remittance already imported")


async def _store(
    uow: UnitOfWork,
    tenant_id: int,
    actor: str,
    file_id: int,
    parsed: list[Parsed],
    on_progress: OnProgress,
) -> list[int]:
    session = uow.session
    claims = [c for r in parsed for c in r.claims]
    on_progress(ImportProgress(MATCHING, 0, len(claims)))  # matching begins with the lookup
    numbers = {c.patient_control_number for c in claims}
    visits = await visits_by_claim_number(session, tenant_id, numbers)
    priors = await posted_claims(session, tenant_id, [c for c in claims if c.is_reversal])
    policy = await load_policy(session, tenant_id)
    remittance_ids = await next_ids(session, "remittances_id_seq", len(parsed))
    claim_ids = iter(await next_ids(session, "remittance_claims_id_seq", len(claims)))
    line_ids = iter(
        await next_ids(session, "remittance_lines_id_seq", sum(len(c.lines) for c in claims))
    )
    parts: Counter[tuple[str, str]] = Counter()
    taken: set[int] = set()
    rows = columns.Rows()
    for seq, (remittance, remittance_id) in enumerate(
        zip(parsed, remittance_ids, strict=True), start=1
    ):
        matches = []
        for index, claim in enumerate(remittance.claims, start=1):
            match = match_claim(claim, visits, priors, taken)
            ids = (next(claim_ids), [next(line_ids) for _ in claim.lines])
            rows.add_claim(
                tenant_id, remittance_id, ids, index, claim, match, policy.remittance_memo_groups
            )
            matches.append(match)
            if len(rows.claims) % MATCH_TICK == 0:
                on_progress(ImportProgress(MATCHING, len(rows.claims), len(claims)))
        rows.add_provider_adjustments(tenant_id, remittance_id, remittance)
        payers = Counter(m.payer_id for m in matches if m.payer_id is not None)
        parts[remittance.payer_id, remittance.trace.number] += 1
        row = _remittance_row(tenant_id, actor, file_id, seq, remittance_id, remittance, payers)
        row["trace_part"] = parts[remittance.payer_id, remittance.trace.number]
        rows.remittances.append(row)
    on_progress(ImportProgress(MATCHING, len(claims), len(claims)))
    await _insert(uow, rows, parsed, on_progress)
    return remittance_ids


def _remittance_row(
    tenant_id: int,
    actor: str,
    file_id: int,
    seq: int,
    remittance_id: int,
    r: Parsed,
    payers: Counter[int],
) -> dict[str, Any]:
    balance = check_remittance(r)
    return {
        "id": remittance_id,
        "tenant_id": tenant_id,
        "file_id": file_id,
        "seq": seq,
        "payer_identifier": r.payer_id,
        "trace_number": r.trace.number,
        "control_number": r.control_number,
        "version": r.version,
        "payer_name": r.payer.name,
        "payee_name": r.payee.name,
        "payee_identifier": r.payee.identifier,
        "handling_code": r.payment.handling_code,
        "payment_method": r.payment.method,
        "credit_debit": r.payment.credit_debit,
        "paid_cents": r.payment.cents,
        "payment_date": r.payment.payment_date,
        "production_date": r.production_date,
        "balanced": balance.balanced,
        "imbalances": columns.imbalance_rows(balance),
        "issues": [
            {"segment": i.segment, "tag": i.tag, "code": i.code, "message": i.message}
            for i in r.issues
        ],
        "status": "NEEDS_REVIEW",
        "payer_id": payers.most_common(1)[0][0] if payers else None,
        "provider_adjustment_cents": sum(p.cents for p in r.provider_adjustments),
        "imported_by": actor,
    }


async def _insert(
    uow: UnitOfWork, rows: columns.Rows, parsed: list[Parsed], on_progress: OnProgress
) -> None:
    """The remittances (through the ORM: their natural key may clash with a concurrent
    import), then every child table in chunks of `STORE_CHUNK` rows, parents first."""
    session = uow.session
    try:
        await session.execute(insert(Remittance), rows.remittances)
    except IntegrityError as error:  # another import of the same payer + trace committed first
        if TRACE_KEY not in str(error.orig):
            raise
        first = parsed[0]
        raise _trace_reused(first.payer_id, first.trace.number, "in a concurrent import") from None
    tables = (
        ("remittance_claims", columns.CLAIM_COLUMNS, rows.claims),
        ("remittance_lines", columns.LINE_COLUMNS, rows.lines),
        ("remittance_adjustments", columns.ADJUSTMENT_COLUMNS, rows.adjustments),
        (
            "remittance_provider_adjustments",
            columns.PROVIDER_ADJUSTMENT_COLUMNS,
            rows.provider_adjustments,
        ),
    )
    total, stored = sum(len(table_rows) for *_, table_rows in tables), 0
    on_progress(ImportProgress(STORING, stored, total))
    for table, names, table_rows in tables:
        for start in range(0, len(table_rows), STORE_CHUNK):
            chunk = table_rows[start : start + STORE_CHUNK]
            await insert_columns(session, table, names, chunk)
            stored += len(chunk)
            on_progress(ImportProgress(STORING, stored, total))
