"""`arledger bulk …`: the bulk jobs of the API, from a shell, through the same domain calls.

This module only declares the arguments; the work is in `arledger.bulk_ops` (imported when a
bulk command runs, so `arledger token` stays fast). Exit status: 0 when the job ends DONE (or
was cancelled by `cancel`, or `--no-wait` returned after submission), 1 when it ends FAILED or
CANCELLED, 2 for bad input (each problem printed as `field: CODE message`).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

EXIT_HELP = (
    "exit status: 0 job DONE (cancel: job cancelled; --no-wait: submitted), "
    "1 job FAILED or CANCELLED, 2 bad input"
)


def _run(args: argparse.Namespace) -> None:
    """Run the chosen bulk action and exit with its status."""
    from arledger.bulk_ops import run

    try:
        status = run(args)
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. `arledger bulk status --skipped | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        status = 1
    sys.exit(status)


def _filter_flags(parser: argparse.ArgumentParser) -> None:
    """The selection filter, as in the API's `BulkFilterInput`."""
    group = parser.add_argument_group("filter")
    group.add_argument("--payer-id", type=int, help="the payer's id")
    group.add_argument("--balance-min", help="lowest balance, e.g. 0.01 (default 0.01)")
    group.add_argument("--balance-max", help="highest balance, e.g. 5.00")
    group.add_argument(
        "--min-age-days", type=int, help="days since the visit's date of service, at least"
    )
    group.add_argument(
        "--visit-state",
        action="append",
        default=[],
        metavar="STATE",
        help="a visit state to include (repeatable)",
    )
    group.add_argument(
        "--account",
        action="append",
        default=[],
        metavar="NUMBER",
        help="an account number to include (repeatable)",
    )


def _common(parser: argparse.ArgumentParser, *, key: bool = True, wait: bool = True) -> None:
    parser.add_argument("--tenant", required=True, metavar="SLUG", help="the tenant's slug")
    if key:
        parser.add_argument(
            "--key",
            help="idempotency key (default: a fresh uuid, printed; rerun with it to get the "
            "same job back)",
        )
    if wait:
        parser.add_argument(
            "--no-wait", action="store_true", help="return right after submitting the job"
        )


def _action(
    sub: Any, name: str, help_: str, *, key: bool = True, wait: bool = True
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=help_, description=help_, epilog=EXIT_HELP
    )
    parser.set_defaults(run=_run, bulk_action=name)
    _common(parser, key=key, wait=wait)
    return parser


def add_bulk_command(sub: Any) -> None:
    """Add `bulk` and its actions to the `arledger` subcommands `sub`."""
    bulk = sub.add_parser(
        "bulk",
        help="Run, follow, cancel, reverse and inspect bulk jobs.",
        description="Bulk jobs from a shell, as actor cli:<os user> with every billing scope. "
        "Submitting actions wait for the job with a progress bar unless --no-wait.",
        epilog=EXIT_HELP,
    )
    actions = bulk.add_subparsers(dest="bulk_action", required=True, metavar="ACTION")

    write_off = _action(actions, "write-off", "Write off each selected line's whole balance.")
    write_off.add_argument("--reason", required=True, help="a write-off reason, e.g. charity")
    write_off.add_argument("--note", help="a note (required for reason 'other')")
    write_off.add_argument(
        "--line-ids", metavar="ID,ID", help="explicit line ids (instead of a filter)"
    )
    write_off.add_argument(
        "--all", action="store_true", help="select every line with a balance (an empty filter)"
    )
    _filter_flags(write_off)

    self_pay = _action(actions, "self-pay", "Post one self-pay transaction per selected visit.")
    self_pay.add_argument("--type", required=True, type=str.upper, metavar="BD|FC|AC|AD|RF")
    self_pay.add_argument("--amount", help="FC, AC, AD: a fixed amount per visit")
    self_pay.add_argument("--percent", help="FC only: percent of the visit balance")
    self_pay.add_argument("--payer-code", default="1", help="the self-pay payer (default 1)")
    self_pay.add_argument("--date", metavar="YYYY-MM-DD", help="transaction date (default today)")
    _filter_flags(self_pay)

    reverse = _action(actions, "reverse", "Reverse everything a finished job applied, as a job.")
    reverse.add_argument("--job", required=True, type=int, help="the job to reverse")
    reverse.add_argument("--reason", required=True, help="why it is reversed")

    cancel = _action(actions, "cancel", "Stop a queued or running job between chunks.", key=False)
    cancel.add_argument("--job", required=True, type=int)

    status = _action(actions, "status", "Show a job's state and totals.", key=False, wait=False)
    status.add_argument("--job", required=True, type=int)
    status.add_argument("--skipped", action="store_true", help="list every skipped row and why")
