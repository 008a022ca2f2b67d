"""`arledger remit import FILE… [--tenant SLUG] [--lenient] [--no-wait]`: import 835 files from a
shell, each through the API's own domain call (`domain.remittances.imports.import_file`) in its
own unit of work, as actor `cli:<os user>` with every billing scope.

On a terminal, each import shows its own progress bar (segments read, claims matched, rows
stored: a 10,000-claim file takes seconds). Unless `--no-wait`, each posting job is then
followed with the progress bar of `arledger bulk`; then
a line per file: `FILE: N remittances, claims matched M, posted P, unapplied claims U, denied D,
reversed R; posted $X, unapplied $Y`, and one per remittance with its status (a held one with
its first imbalance or issue). Like `arledger bulk`, it connects as the worker's role. Heavy
modules are imported when the command runs, so `arledger token` stays fast.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

    from arledger.bulk_ops import Operator
    from domain.remittances.imports import Imported
    from domain.remittances.models import Remittance
    from domain.remittances.progress import ImportProgress
    from domain.remittances.summary import ClaimCounts

DEFAULT_TENANT = "demo"
EXIT_HELP = (
    "exit status: 0 every file imported (posted, or held for review), 1 a file was refused "
    "(its error printed as FILE: refused: CODE message), 2 bad arguments (an unknown tenant)"
)


def add_remit_command(sub: Any) -> None:
    """Add `remit` and its actions to the `arledger` subcommands `sub`."""
    remit = sub.add_parser(
        "remit",
        help="Import 835 remittance files (ERA) and post them.",
        description="835 remittances from a shell, as actor cli:<os user> with every billing "
        "scope, through the same domain calls as the API.",
    )
    actions = remit.add_subparsers(dest="remit_action", required=True, metavar="ACTION")
    help_ = "Import 835 files; balanced remittances post at once, others wait for review."
    parser: argparse.ArgumentParser = actions.add_parser(
        "import", help=help_, description=help_, epilog=EXIT_HELP
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="an 835 file (X12)")
    parser.add_argument(
        "--tenant",
        default=DEFAULT_TENANT,
        metavar="SLUG",
        help=f"the tenant's slug (default: {DEFAULT_TENANT})",
    )
    parser.add_argument(
        "--lenient",
        action="store_true",
        help="keep wrong counts, empty required elements and impossible dates as issues (the "
        "remittance then waits for review) instead of refusing the file",
    )
    parser.add_argument(
        "--no-wait", action="store_true", help="do not follow the posting jobs; summarise at once"
    )
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> None:
    sys.exit(asyncio.run(_import_files(args)))


async def _import_files(args: argparse.Namespace) -> int:
    """Import every file in turn; the exit status."""
    from redis.asyncio import Redis
    from sqlalchemy import select

    from arledger.bulk_ops import Operator
    from arledger.config import get_settings
    from domain.db import make_engine, make_session_factory
    from domain.models import Tenant
    from workers.app import make_celery

    settings = get_settings()
    engine = make_engine(settings.worker_database_url, pool_size=2)
    redis = Redis.from_url(settings.redis_url)
    op = Operator(args, make_session_factory(engine), redis, make_celery())
    try:
        async with op.sessions() as session:
            tenant_id = await session.scalar(select(Tenant.id).where(Tenant.slug == args.tenant))
        if tenant_id is None:
            print(f"tenant: TENANT_NOT_FOUND No tenant {args.tenant!r}.", file=sys.stderr)
            return 2
        op.tenant_id = tenant_id
        refused = [path for path in args.files if not await _import(op, path)]
        return 1 if refused else 0
    finally:
        op.celery.close()
        await redis.aclose()
        await engine.dispose()


async def _import(op: Operator, path: str) -> bool:
    """Import one file, follow its postings, print its summary; False when it was refused."""
    from domain.errors import DomainError
    from domain.remittances.imports import import_file

    try:
        data = await asyncio.to_thread(Path(path).read_bytes)
    except OSError as error:
        print(f"{path}: refused: UNREADABLE {error.strerror or error}", file=sys.stderr)
        return False
    try:
        async with op.uow() as uow:
            with ImportBar(Path(path).name) as bar:
                imported = await import_file(
                    uow,
                    tenant_id=op.tenant_id,
                    actor=op.actor,
                    scopes=op.scopes,
                    data=data,
                    filename=Path(path).name,
                    enqueue=op.enqueue,
                    lenient=op.args.lenient,
                    on_progress=bar.show,
                )
            await uow.commit()
    except DomainError as error:
        for problem in error.problems:
            print(f"{path}: refused: {problem.code} {problem.message}", file=sys.stderr)
        return False
    if imported.replayed:
        print(f"{path}: imported before (the same file): its remittances, nothing posted again")
    if not op.args.no_wait:
        for job_id in await _running_jobs(op, imported):
            await op.watcher().follow(job_id)
    for line in await summary(op, path, imported):
        print(line)
    return True


class ImportBar:
    """`Import a.835  storing  ━━━━━━━━━━╺━━━━━  55,000/99,997 rows  0:00:02` on stderr while
    a file imports (only on a terminal: a log or a pipe gets the summary lines alone)."""

    def __init__(self, name: str, console: Console | None = None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        console = console or Console(stderr=True)
        self.progress: Progress = Progress(
            TextColumn(f"Import {name}  {{task.fields[stage]:<8}}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[unit]}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        )
        self.task = self.progress.add_task("import", total=None, stage="", unit="")

    def __enter__(self) -> ImportBar:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def show(self, progress: ImportProgress) -> None:
        """Move the bar to what the import reports."""
        self.progress.update(
            self.task,
            total=progress.total or None,
            completed=progress.done,
            stage=progress.stage.lower(),
            unit=progress.unit,
        )


async def _remittances(op: Operator, imported: Imported) -> list[Remittance]:
    from sqlalchemy import select

    from domain.remittances.models import Remittance

    async with op.sessions() as session:
        rows = await session.scalars(
            select(Remittance)
            .where(Remittance.id.in_(imported.remittance_ids))
            .order_by(Remittance.seq)
        )
        return list(rows)


async def _running_jobs(op: Operator, imported: Imported) -> list[int]:
    """The posting jobs of the file's remittances still posting."""
    found = await _remittances(op, imported)
    return [r.job_id for r in found if r.status == "POSTING" and r.job_id is not None]


async def summary(op: Operator, path: str, imported: Imported) -> list[str]:
    """The file's line, then one line per remittance with its status."""
    from domain.remittances.summary import claim_counts, total

    remittances = await _remittances(op, imported)
    async with op.sessions() as session:
        counts = await claim_counts(session, op.tenant_id, imported.remittance_ids)
    every = total(counts.values())
    posted = sum(r.posted_cents for r in remittances)
    unapplied = sum(r.unapplied_cents for r in remittances)
    money = f"posted {dollars(posted)}, unapplied {dollars(unapplied)}"
    head = f"{path}: {_file_line(len(remittances), every)}; {money}"
    return [head, *(f"  {_remittance_line(r)}" for r in remittances)]


def _file_line(n: int, c: ClaimCounts) -> str:
    return (
        f"{n} remittance{'' if n == 1 else 's'}, claims matched {c.matched}, posted {c.posted}, "
        f"unapplied claims {c.unapplied}, denied {c.denied}, reversed {c.reversed}"
    )


def _remittance_line(r: Remittance) -> str:
    """`remittance 12, trace T-1, payer 1999999999, paid $215.00: POSTED` (held: and why)."""
    head = (
        f"remittance {r.id}, trace {r.trace_number}, payer {r.payer_identifier}, "
        f"paid {dollars(r.paid_cents)}: {r.status}"
    )
    if r.status != "NEEDS_REVIEW":
        return head
    first = (r.imbalances or r.issues or [{"message": "held for review"}])[0]
    return f"{head}: {first['message']}"


def dollars(cents: int) -> str:
    """Cents as dollars, e.g. `$1,234.50`, `-$3.00` (integer arithmetic)."""
    from arledger.bulk_watch import money

    return f"{'-' if cents < 0 else ''}${money(abs(cents))}"
