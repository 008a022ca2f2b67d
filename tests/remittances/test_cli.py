"""`arledger remit import …` run as a subprocess against the session's database and real worker:
generated files and a sample read in place, summarised per file to the cent; refusals, an
unknown tenant, `--no-wait` and a file imported twice."""

import asyncio
import os
import re
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from domain.db import SessionFactory
from domain.models import Visit
from domain.remittances.models import Remittance
from domain.remittances.parser import parse_835
from tests.conftest import ROOT
from tests.remittances.gql import claim, file_of, slug_of, stored, unbalanced
from tests.remittances.samples import sample_path
from tests.remittances.world import RemitWorld, world_for

pytestmark = pytest.mark.usefixtures("settings", "worker")

DENIAL = "03_pyx12_denials_mult_svc_loops.835"


async def remit(*args: str) -> tuple[int, str, str]:
    """Run `arledger remit <args>`; (exit status, stdout, stderr)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "arledger.cli",
        "remit",
        *args,
        cwd=ROOT,
        env=dict(os.environ),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 180)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def ids(stdout: str) -> list[int]:
    """The remittance numbers of the `  remittance N, …` lines."""
    return [int(n) for n in re.findall(r"^  remittance (\d+), ", stdout, re.MULTILINE)]


async def balances(sessions: SessionFactory, world: RemitWorld) -> dict[str, int]:
    async with sessions() as session:
        rows = await session.execute(
            select(Visit.claim_number, Visit.balance_cents).where(
                Visit.tenant_id == world.tenant_id
            )
        )
        return {number: cents for number, cents in rows}


async def test_files_are_imported_posted_and_summarised_to_the_cent(
    sessions: SessionFactory, tmp_path: Path
) -> None:
    # given a payment (R1 paid, NOBODY names no visit), a held file, the payer's reversal of R1
    # and sample 03 (a denial), in one tenant
    paid = file_of("T-CLI-1", claim("R1", pcn="P-77"), claim("NOBODY"))
    held = file_of("T-CLI-2", unbalanced("U1"))
    reversal = file_of("T-CLI-3", claim("R1", status="22", sign=-1, pcn="P-77"))
    denial = sample_path(DENIAL)
    parsed = [*parse_835(paid), *parse_835(held), *parse_835(denial.read_bytes())]
    world = await world_for(sessions, parsed, skip=["NOBODY"])
    slug = await slug_of(sessions, world.tenant_id)
    files = [
        write(tmp_path, "paid.835", paid),
        write(tmp_path, "held.835", held),
        write(tmp_path, "reversal.835", reversal),
        str(denial),
    ]
    # when they are imported in one run
    status, out, err = await remit("import", *files, "--tenant", slug)
    # then each file is summarised, after its posting job, and every one was imported
    assert status == 0, err
    n1, n2, n3, n4 = ids(out)
    lines = [line for line in out.splitlines() if not line.startswith(("Job ", "  amount"))]
    held_why = "claim U1 (segment 13): CLP03 - CLP04 is 30.00 but Σ claim and line CAS is 25.00"
    assert lines == [
        f"{files[0]}: 1 remittance, claims matched 1, posted 1, unapplied claims 1, denied 0, "
        "reversed 0; posted $70.00, unapplied $70.00",
        f"  remittance {n1}, trace T-CLI-1, payer 1999999999, paid $140.00: POSTED",
        f"{files[1]}: 1 remittance, claims matched 1, posted 0, unapplied claims 0, denied 0, "
        "reversed 0; posted $0.00, unapplied $0.00",
        f"  remittance {n2}, trace T-CLI-2, payer 1999999999, paid $70.00: NEEDS_REVIEW: "
        f"{held_why} (off by 5.00)",
        f"{files[2]}: 1 remittance, claims matched 1, posted 0, unapplied claims 0, denied 0, "
        "reversed 1; posted $0.00, unapplied $0.00",
        f"  remittance {n3}, trace T-CLI-3, payer 1999999999, paid -$70.00: POSTED",
        f"{files[3]}: 1 remittance, claims matched 1, posted 0, unapplied claims 0, denied 1, "
        "reversed 0; posted $0.00, unapplied $0.00",
        f"  remittance {n4}, trace 000000000, payer 1386000134, paid $0.00: POSTED",
    ]
    assert out.count(" DONE: ") == 3  # the three posting jobs, followed
    # and the ledger says the same: R1 paid then reversed, U1 untouched, the denial memo only
    assert await balances(sessions, world) == {"R1": 10000, "U1": 10000, "2005555A": 91539}


async def test_a_refused_file_is_named_with_its_error_and_the_others_still_import(
    sessions: SessionFactory, tmp_path: Path
) -> None:
    good = file_of("T-CLI-OK", claim("G1"))
    world = await world_for(sessions, parse_835(good))
    slug = await slug_of(sessions, world.tenant_id)
    bad = write(tmp_path, "notes.txt", b"hello world, not an 835")
    missing = str(tmp_path / "missing.835")
    # when a bad file, a missing one and a good one are imported
    ok = write(tmp_path, "ok.835", good)
    status, out, err = await remit("import", bad, missing, ok, "--tenant", slug)
    # then the run fails, naming each refusal, and the good file was imported all the same
    assert status == 1
    assert err.splitlines()[:2] == [
        f"{bad}: refused: REMITTANCE_NOT_835 not an X12 file: it starts with 'hello world, "
        "not an ', not ISA",
        f"{missing}: refused: UNREADABLE No such file or directory",
    ]
    assert f"{tmp_path / 'ok.835'}: 1 remittance, claims matched 1, posted 1," in out
    assert (await stored(sessions, world.tenant_id))["remittance_files"] == 1


async def test_an_unknown_tenant_is_bad_input(tmp_path: Path) -> None:
    path = write(tmp_path, "a.835", file_of("T-CLI-NONE", claim("X1")))
    status, out, err = await remit("import", path, "--tenant", "no-such-tenant")
    assert (status, out) == (2, "")
    assert err == "tenant: TENANT_NOT_FOUND No tenant 'no-such-tenant'.\n"


async def test_no_wait_summarises_at_once_and_the_same_file_again_posts_nothing(
    sessions: SessionFactory, tmp_path: Path
) -> None:
    data = file_of("T-CLI-NOWAIT", claim("W1"))
    world = await world_for(sessions, parse_835(data))
    slug = await slug_of(sessions, world.tenant_id)
    path = write(tmp_path, "w.835", data)
    # when it is imported without waiting
    status, out, err = await remit("import", path, "--tenant", slug, "--no-wait")
    # then no job is followed, and the summary shows it posting
    assert status == 0, err
    assert " DONE: " not in out
    assert re.search(r"^  remittance \d+, trace T-CLI-NOWAIT, .*: POSTING$", out, re.MULTILINE)
    # when the worker has posted it and the file is imported again
    [remittance_id] = ids(out)
    assert await _posted(sessions, remittance_id)
    before = await stored(sessions, world.tenant_id)
    status, out, err = await remit("import", path, "--tenant", slug)
    # then it is the same remittance, posted once
    assert status == 0, err
    assert out.splitlines() == [
        f"{path}: imported before (the same file): its remittances, nothing posted again",
        f"{path}: 1 remittance, claims matched 1, posted 1, unapplied claims 0, denied 0, "
        "reversed 0; posted $70.00, unapplied $0.00",
        f"  remittance {remittance_id}, trace T-CLI-NOWAIT, payer 1999999999, paid $70.00: POSTED",
    ]
    assert await stored(sessions, world.tenant_id) == before
    assert (await balances(sessions, world))["W1"] == 1000


async def _posted(sessions: SessionFactory, remittance_id: int, within: float = 60) -> bool:
    """Whether the remittance settles POSTED (waiting for its job)."""
    deadline = time.monotonic() + within
    query = select(Remittance.status).where(Remittance.id == remittance_id)
    while True:
        async with sessions() as session:
            status = await session.scalar(query)
        if status != "POSTING" or time.monotonic() > deadline:
            return status == "POSTED"
        await asyncio.sleep(0.05)
