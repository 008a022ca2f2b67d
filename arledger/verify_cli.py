"""`arledger verify [--tenant SLUG]`: run the correctness oracle (`domain.ledger.verify`).

Every check is listed with `ok` or its number of violations and the offending rows (at most
`domain.ledger.verify.LIMIT` per check). Exit status: 0 when every check holds, 1 when any does not,
2 for bad arguments (an unknown tenant included).

It connects as the worker's role (`WORKER_DATABASE_URL`), which row-level security lets see
every tenant: the owner of the tables sees no rows at all (security is forced on it too), so a
report made as the owner would be empty, not clean. Heavy modules are imported when the
command runs, so `arledger token` stays fast.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from domain.ledger.verify import Finding

EXIT_HELP = "exit status: 0 every check holds, 1 a check failed, 2 bad arguments"


class UnknownTenant(Exception):
    """No tenant has the slug asked for."""


def add_verify_command(sub: Any) -> None:
    """Add `verify` to the `arledger` subcommands `sub`."""
    help_ = "Check the ledger and every balance invariant, for one tenant or the whole database."
    parser: argparse.ArgumentParser = sub.add_parser(
        "verify", help=help_, description=help_, epilog=EXIT_HELP
    )
    parser.add_argument("--tenant", metavar="SLUG", help="only this tenant (default: every one)")
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> None:
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    try:
        findings, scope = asyncio.run(_verify(args.tenant))
    except UnknownTenant as error:
        print(f"arledger verify: {error}", file=sys.stderr)
        sys.exit(2)
    sys.exit(report(console, scope, findings))


async def _verify(slug: str | None) -> tuple[list[Finding], str]:
    """The findings for tenant `slug` (or every tenant), and what was checked, in words."""
    from sqlalchemy import select

    from arledger.config import get_settings
    from domain.db import make_engine, make_session_factory
    from domain.ledger.verify import verify
    from domain.models import Tenant

    engine = make_engine(get_settings().worker_database_url, pool_size=1)
    try:
        async with make_session_factory(engine)() as session:
            tenant_id, scope = None, "the whole database"
            if slug is not None:
                tenant_id = await session.scalar(select(Tenant.id).where(Tenant.slug == slug))
                if tenant_id is None:
                    raise UnknownTenant(f"unknown tenant {slug!r} (no tenant has that slug)")
                scope = f"tenant {slug!r} (id {tenant_id})"
            return await verify(session, tenant_id), scope
    finally:
        await engine.dispose()


def report(console: Console, scope: str, findings: list[Finding]) -> int:
    """Print one line per check (and its offending rows); the exit status."""
    from domain.ledger.verify import CHECKS, LIMIT

    console.print(f"arledger verify: {scope}")
    for check in CHECKS:
        rows = [f for f in findings if f.check == check.name]
        if not rows:
            console.print(f"  [green]ok[/green]  {check.name}: {check.description}")
            continue
        count = f"{len(rows)}{'+' if len(rows) >= LIMIT else ''}"
        noun = "violation" if len(rows) == 1 else "violations"
        console.print(f"  [red]{count} {noun}[/red]  {check.name}: {check.description}")
        for finding in rows:
            console.print(f"      {finding.named}", markup=False)
    failed = len({f.check for f in findings})
    if failed:
        console.print(f"[red]{failed} of {len(CHECKS)} checks failed[/red]")
        return 1
    console.print(f"[green]all {len(CHECKS)} checks hold[/green]")
    return 0
