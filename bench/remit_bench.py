"""Phase 6: remittance import + post. A generated, balanced 835 (`synthetic_remittance`: N
claims of 3 service lines, CO-45 and PR-2 on each line, REF*6R line control numbers) against a
tenant whose visits and lines are the ones it names, seeded in bulk SQL. The clock runs from
the import call (parse, balance, match, store, start the posting job, as the API's
`importRemittance` does) to the posting job's `finished_at`. Progress is what a person
importing the file sees: the import's own reports while it runs (segments read, claims matched,
rows stored: what `arledger remit import` draws), then the posting job's Redis channel.
Afterwards every claim must be POSTED, nothing unapplied, each visit owing exactly its patient
responsibility, and the oracle clean.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field
from functools import partial
from itertools import pairwise

import asyncpg
from celery import Celery
from redis.asyncio import Redis

from arledger.config import get_settings
from bench.bulk_bench import BULK_TASK, listen_progress, wait_finished
from bench.data import charge_every_line
from bench.report import BenchError
from bench.stack import Stack
from domain.db import make_engine, make_session_factory
from domain.ledger.verify import verify
from domain.remittances.generate import RemittanceSpec, generate_835, synthetic_remittance
from domain.remittances.imports import import_file
from domain.uow import UnitOfWork

SCOPES = frozenset({"billing.payment.write", "billing.adjustment.write"})


@dataclass
class RemitRun:
    claims: int
    lines: int
    file_bytes: int = 0
    job_id: int = 0
    remittance_id: int = 0
    seconds: float = 0.0  # import call → the posting job's finished_at
    import_seconds: float = 0.0  # the importing transaction (parse … commit)
    event_times: list[float] = field(default_factory=list)  # import reports + job events
    import_events: int = 0
    status: str = ""

    @property
    def max_gap(self) -> float:
        """The longest wait for news from the import call: the import's reports, then the
        job's events."""
        marks = [0.0, *sorted(self.event_times)]
        return max((b - a for a, b in pairwise(marks)), default=0.0)

    @property
    def max_posting_gap(self) -> float:
        """The longest wait for news once the import answered (the job exists from then)."""
        marks = [
            self.import_seconds,
            *sorted(t for t in self.event_times if t > self.import_seconds),
        ]
        return max((b - a for a, b in pairwise(marks)), default=0.0)


async def seed_for(conn: asyncpg.Connection, spec: RemittanceSpec) -> int:
    """A tenant holding one account and visit per claim of `spec`, one line per service line,
    and an insurer whose default PY and CW codes the posting uses; its id."""
    slug = f"bench-remit-{secrets.token_hex(4)}"
    claims = spec.claims
    lines = [(i, k, line) for i, c in enumerate(claims, 1) for k, line in enumerate(c.lines, 1)]
    async with conn.transaction():
        tid = await conn.fetchval(
            "INSERT INTO tenants (slug, name) VALUES ($1, $1) RETURNING id", slug
        )
        payer = await conn.fetchval(
            "INSERT INTO payers (tenant_id, code, name) VALUES ($1, '2', 'Insurer') RETURNING id",
            tid,
        )
        for kind in ("PY", "CW"):
            await conn.execute(
                """WITH c AS (INSERT INTO transaction_codes (tenant_id, code, type, description)
                   VALUES ($1, $2 || '01', $2, $2) RETURNING id)
                   INSERT INTO payer_default_codes (payer_id, type, transaction_code_id)
                   SELECT $3, $2, id FROM c""",
                tid,
                kind,
                payer,
            )
        await conn.execute(
            """INSERT INTO accounts (tenant_id, account_number, name)
               SELECT $1, 'A' || g, 'Remit Patient ' || g FROM generate_series(1, $2) g""",
            tid,
            len(claims),
        )
        await conn.execute(
            """INSERT INTO visits (tenant_id, account_id, visit_number, claim_number,
                                   date_of_service, payer_id, billed_cents)
               SELECT $1, a.id, 1, u.claim, DATE '2026-01-01', $2, u.charge
               FROM unnest($3::text[], $4::bigint[]) WITH ORDINALITY AS u(claim, charge, n)
               JOIN accounts a ON a.tenant_id = $1 AND a.account_number = 'A' || u.n""",
            tid,
            payer,
            [c.claim_id for c in claims],
            [c.charge_cents for c in claims],
        )
        await conn.execute(
            """INSERT INTO charge_lines (tenant_id, account_id, visit_id, line_number,
                   procedure_code, modifiers, service_date, control_number, billed_cents)
               SELECT $1, v.account_id, v.id, u.k, u.code, string_to_array(u.mods, ':'),
                      u.served, u.control, u.charge
               FROM unnest($2::text[], $3::int[], $4::text[], $5::text[], $6::date[],
                           $7::text[], $8::bigint[]) AS u(claim, k, code, mods, served,
                                                          control, charge)
               JOIN visits v ON v.tenant_id = $1 AND v.claim_number = u.claim""",
            tid,
            [claims[i - 1].claim_id for i, _, _ in lines],
            [k for _, k, _ in lines],
            [line.code for _, _, line in lines],
            [":".join(line.modifiers) for _, _, line in lines],
            [line.service_date for _, _, line in lines],
            [line.control_number for _, _, line in lines],
            [line.charge_cents for _, _, line in lines],
        )
        await charge_every_line(conn, tid)
    await conn.execute("ANALYZE accounts, visits, charge_lines, ledger_entries")
    return int(tid)


async def run_remit(
    stack: Stack, conn: asyncpg.Connection, app: Celery, claims: int, lines_per_claim: int
) -> RemitRun:
    """Import one generated 835 of `claims` claims and time it to the end of its posting."""
    spec = synthetic_remittance(claims, lines_per_claim, seed=7)
    data = generate_835([spec]).encode()
    tenant_id = await seed_for(conn, spec)
    run = RemitRun(claims, claims * lines_per_claim, len(data))
    settings = get_settings()
    redis = Redis.from_url(settings.redis_url)
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    await pubsub.psubscribe(f"{settings.channel_prefix}:{tenant_id}:bulkjob:*")
    engine = make_engine(settings.database_url, pool_size=1)
    done = asyncio.Event()

    async def enqueue(command_id: int) -> None:
        send = partial(app.send_task, BULK_TASK, args=[command_id], queue=stack.bulk_queue)
        await asyncio.to_thread(send)

    try:
        start = time.time()
        listener = asyncio.create_task(listen_progress(pubsub, run.event_times, start, done))
        async with UnitOfWork(make_session_factory(engine)) as uow:
            imported = await import_file(
                uow,
                tenant_id=tenant_id,
                actor="bench",
                scopes=SCOPES,
                data=data,
                filename="bench.835",
                enqueue=enqueue,
                on_progress=lambda _: run.event_times.append(time.time() - start),
            )
            run.import_events = len(run.event_times)
            await uow.commit()
        run.import_seconds = time.time() - start
        run.remittance_id = imported.remittance_ids[0]
        run.job_id = await conn.fetchval(
            "SELECT job_id FROM remittances WHERE id = $1", run.remittance_id
        )
        await wait_finished(conn, run.job_id, 300, stack)
        await asyncio.wait_for(done.wait(), 5)
        listener.cancel()
        row = await conn.fetchrow(
            "SELECT status, extract(epoch FROM finished_at)::float8 AS finished "
            "FROM bulk_jobs WHERE id = $1",
            run.job_id,
        )
        run.seconds, run.status = row["finished"] - start, row["status"]
    except TimeoutError:
        raise BenchError(f"remittance job {run.job_id}: no finished event within 5 s") from None
    finally:
        await pubsub.aclose()
        await redis.aclose()
        await engine.dispose()
    return run


async def problems(conn: asyncpg.Connection, run: RemitRun) -> list[str]:
    """What posting should have done and did not, and every oracle finding."""
    found = []
    remittance = await conn.fetchrow(
        "SELECT tenant_id, status, posted_cents, unapplied_cents, paid_cents FROM remittances "
        "WHERE id = $1",
        run.remittance_id,
    )
    if (remittance["status"], remittance["unapplied_cents"]) != ("POSTED", 0) or remittance[
        "posted_cents"
    ] != remittance["paid_cents"]:
        found.append(f"remittance {run.remittance_id}: {dict(remittance)}")
    not_posted = await conn.fetchval(
        "SELECT count(*) FROM remittance_claims WHERE remittance_id = $1 AND outcome <> 'POSTED'",
        run.remittance_id,
    )
    if not_posted:
        found.append(f"{not_posted} claims not posted")
    owing = await conn.fetchval(
        """SELECT count(*) FROM visits v JOIN remittance_claims c ON c.visit_id = v.id
           WHERE c.remittance_id = $1
             AND v.balance_cents <> coalesce(c.patient_responsibility_cents, 0)""",
        run.remittance_id,
    )
    if owing:
        found.append(f"{owing} visits do not owe exactly their patient responsibility")
    engine = make_engine(get_settings().database_url, pool_size=1)
    try:
        async with make_session_factory(engine)() as session:
            findings = await verify(session, remittance["tenant_id"])
    finally:
        await engine.dispose()
    return found + [str(f) for f in findings if f.check != "entry_without_audit"]
