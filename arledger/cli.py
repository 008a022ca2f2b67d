"""The `arledger` command line: migrate, seed, tokens, the API, the worker, `make dev`,
bulk jobs (`arledger bulk …`, see `arledger.bulk_cli`), 835 remittances (`arledger remit
import …`, see `arledger.remit_cli`) and `arledger verify` (the correctness oracle, see
`arledger.verify_cli`).

Heavy modules (SQLAlchemy engines, uvicorn, Celery, the GraphQL schema) are imported inside
the subcommand that needs them, so `arledger token` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from arledger.bulk_cli import add_bulk_command
from arledger.config import get_settings
from arledger.remit_cli import add_remit_command
from arledger.verify_cli import add_verify_command


def _migrate(args: argparse.Namespace) -> None:
    import asyncio

    from domain.migrations.run import set_role_passwords, upgrade

    settings = get_settings()
    upgrade(settings.database_url)
    print("database is at the latest revision")
    passwords = {"arledger_api": settings.api_database_password,
                 "arledger_worker": settings.worker_database_password}  # fmt: skip
    for role in asyncio.run(set_role_passwords(settings.database_url, passwords)):
        print(f"password of role {role} set")


def _seed_demo(args: argparse.Namespace) -> None:
    import asyncio

    from arledger.demo import DEMO_ACCOUNTS, DEMO_NAME, DEMO_SLUG, seed_demo
    from domain.db import make_engine, make_session_factory

    async def run() -> bool:
        engine = make_engine(get_settings().worker_database_url, pool_size=1)
        try:
            return await seed_demo(make_session_factory(engine))
        finally:
            await engine.dispose()

    if asyncio.run(run()):
        print(f"seeded tenant {DEMO_SLUG!r} ({DEMO_NAME}) with {DEMO_ACCOUNTS} accounts")
    else:
        print(f"tenant {DEMO_SLUG!r} already exists; nothing to do")


def _token(args: argparse.Namespace) -> None:
    from arledger.tokens import SCOPES, issue_token

    scopes = args.scopes.split()
    if unknown := [s for s in scopes if s not in SCOPES]:
        print(f"warning: unknown scopes {' '.join(unknown)} (known: {' '.join(SCOPES)})",
              file=sys.stderr)  # fmt: skip
    token = issue_token(get_settings(), tenant=args.tenant, scopes=scopes,
                        subject=args.subject, ttl_seconds=args.ttl)  # fmt: skip
    print(token)


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def _api(args: argparse.Namespace) -> None:
    import uvicorn

    # An import string and a factory, so that each of uvicorn's worker processes builds its
    # own app: its own engine pool, pub/sub connection and Celery producer (workers=1: one
    # process, no supervisor).
    workers = args.workers or get_settings().api_worker_count
    os.environ["API_PROCESSES"] = str(workers)  # each spaces its wake-ups for all (config.py)
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=workers,
        ws="websockets-sansio",
        ws_max_size=get_settings().max_request_bytes,
        ws_per_message_deflate=get_settings().ws_compression,
        log_level=get_settings().log_level.lower(),
    )


def _worker(args: argparse.Namespace) -> None:
    settings = get_settings()
    argv = [sys.executable, "-m", "celery", "-A", "workers.app", "worker",
            "--loglevel", "INFO", "-Q", settings.worker_queues,
            "--concurrency", str(args.concurrency), "--pool", "prefork"]  # fmt: skip
    if not args.no_beat:
        # Keep beat's schedule file out of the working tree.
        schedule = Path(tempfile.gettempdir()) / f"arledger-celerybeat-{os.getuid()}"
        argv += ["-B", "--schedule", str(schedule)]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, argv)


def _export_schema(args: argparse.Namespace) -> None:
    from strawberry.printer import print_schema

    from api.schema import schema

    print(print_schema(schema))


def _dev(args: argparse.Namespace) -> None:
    from arledger.devstack import run_dev

    run_dev()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="arledger", description="arledger command line")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, run: Callable[[argparse.Namespace], None], help_: str
                ) -> argparse.ArgumentParser:  # fmt: skip
        cmd = sub.add_parser(name, help=help_, description=help_)
        cmd.set_defaults(run=run)
        return cmd

    command("migrate", _migrate, "Upgrade the database to the latest migration.")
    command("seed-demo", _seed_demo, "Create the demo tenant (no-op if it exists).")
    token = command("token", _token, "Print a signed bearer token (last line of stdout).")
    token.add_argument("--tenant", required=True, help="tenant slug")
    token.add_argument("--scopes", required=True, help='space-separated, e.g. "billing.read"')
    token.add_argument("--subject", default="dev")
    token.add_argument("--ttl", type=int, default=86400, help="lifetime in seconds")
    api = command("api", _api, "Serve the GraphQL API with uvicorn.")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8000)
    api.add_argument("--workers", type=_positive_int, metavar="N",
                     help="processes (default: API_WORKERS, else one per CPU)")  # fmt: skip
    worker = command("worker", _worker, "Run the Celery worker (with beat unless --no-beat).")
    worker.add_argument("--concurrency", type=int, default=2)
    worker.add_argument("--no-beat", action="store_true", help="do not embed the beat scheduler")
    command("export-schema", _export_schema, "Print the GraphQL schema (SDL).")
    command("dev", _dev, "Run the whole stack locally until Ctrl-C.")
    add_bulk_command(sub)
    add_remit_command(sub)
    add_verify_command(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `arledger` console script."""
    args = _parser().parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
