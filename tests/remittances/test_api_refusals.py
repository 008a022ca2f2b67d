"""What the remittance mutations refuse, and that a refusal stores nothing: bad files (typed
userErrors naming the segment), the source given twice or not at all, and the authorisation
matrix (no token, an unknown tenant, another tenant, each of the two write scopes missing)."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from arledger.config import Settings
from arledger.tokens import issue_token
from domain.db import SessionFactory
from domain.remittances.parser import parse_835
from tests.remittances.gql import (
    ADJUST,
    EVERY,
    IMPORT,
    PAYMENT,
    POST,
    READ,
    REVERSE,
    claim,
    file_of,
    import_text,
    imported,
    payload,
    settled,
    slug_of,
    stored,
    token,
    unbalanced,
    upload,
)
from tests.remittances.world import world_for
from tests.security.world import holdings

pytestmark = pytest.mark.usefixtures("worker")

GOOD = file_of("T-GOOD", claim("G1"))
BAD_SE = GOOD.replace(b"SE*18*", b"SE*17*")
Send = Callable[[httpx.AsyncClient, str], Any]


def _text(text: str, **fields: Any) -> Send:
    async def send(client: httpx.AsyncClient, bearer: str) -> Any:
        return await import_text(client, text, bearer, **fields)

    return send


def _upload(data: bytes, **fields: Any) -> Send:
    async def send(client: httpx.AsyncClient, bearer: str) -> Any:
        return await imported(await upload(client, data, bearer, **fields))

    return send


def _variables(**fields: Any) -> Send:
    async def send(client: httpx.AsyncClient, bearer: str) -> Any:
        return await payload(client, IMPORT, {"input": fields}, bearer)

    return send


BAD_FILES = {
    "not an 835": (
        _text("hello world, not an 835"),
        (
            "text",
            "REMITTANCE_NOT_835",
            "not an X12 file: it starts with 'hello world, not an ', not ISA",
        ),
    ),
    "truncated": (
        _upload(GOOD[:200]),
        (
            "file",
            "REMITTANCE_TRUNCATED",
            "segment 4 (BPR): the data ends inside this segment (no terminator)",
        ),
    ),
    "binary": (
        _upload(bytes(range(256)) * 4),
        ("file", "REMITTANCE_NOT_835", "binary content (a NUL byte at offset 0)"),
    ),
    "wrong SE count, strict": (
        _upload(BAD_SE),
        (
            "file",
            "REMITTANCE_BAD_COUNT",
            "segment 20 (SE): SE01 says 17 segments, the transaction set has 18",
        ),
    ),
    "file and text": (
        _upload(GOOD, text=GOOD.decode()),
        ("text", "FILE_AND_TEXT", "Send the 835 as file or text, not both."),
    ),
    "neither": (
        _variables(lenient=True),
        ("file", "FILE_REQUIRED", "Send the 835 as `file` (a multipart upload) or as `text`."),
    ),
    "file not uploaded": (
        _variables(file=GOOD.decode()),
        ("file", "FILE_NOT_UPLOADED", "Send the 835 as `file` (a multipart upload) or as `text`."),
    ),
}


@pytest.mark.parametrize("case", BAD_FILES)
async def test_a_bad_file_is_refused_typed_and_stores_nothing(
    client: httpx.AsyncClient, sessions: SessionFactory, settings: Settings, case: str
) -> None:
    # given a tenant with the visit the good file names
    world = await world_for(sessions, parse_835(GOOD))
    bearer = token(settings, await slug_of(sessions, world.tenant_id))
    before = await stored(sessions, world.tenant_id)
    send, (field, code, message) = BAD_FILES[case]
    # when the bad input is sent
    answer = await send(client, bearer)
    # then it is refused with one typed error, and no file, remittance or command is stored
    assert answer == {
        "remittances": [],
        "replayed": False,
        "userErrors": [{"field": field, "code": code, "message": message}],
    }
    assert await stored(sessions, world.tenant_id) == before


async def test_a_wrong_se_count_is_kept_as_an_issue_when_lenient(
    client: httpx.AsyncClient, sessions: SessionFactory, settings: Settings
) -> None:
    world = await world_for(sessions, parse_835(GOOD))
    bearer = token(settings, await slug_of(sessions, world.tenant_id))
    answer = await imported(await upload(client, BAD_SE, bearer, lenient=True))
    assert [(r["status"], r["balanced"]) for r in answer["remittances"]] == [("NEEDS_REVIEW", True)]


# --- the authorisation matrix -------------------------------------------------------------------


@dataclass
class Matrix:
    """Tenant A: a remittance held for review, one posted, a file not imported yet; tenant B:
    another tenant (no visits) whose every-scope token asks for A's remittances."""

    a_tenant: int
    a_slug: str
    b_tenant: int
    b_token: str
    held: str
    posted: str
    fresh: bytes


@pytest.fixture(scope="module")
async def matrix(server: str, sessions: SessionFactory, settings: Settings) -> Matrix:
    held, posted = file_of("T-M-HELD", unbalanced("M1")), file_of("T-M-POSTED", claim("M2"))
    fresh = file_of("T-M-FRESH", claim("M3"))
    a = await world_for(sessions, [r for f in (held, posted, fresh) for r in parse_835(f)])
    b = await world_for(sessions, [])
    a_slug = await slug_of(sessions, a.tenant_id)
    bearer = token(settings, a_slug)
    async with httpx.AsyncClient(base_url=server, timeout=30) as client:
        [h] = (await import_text(client, held.decode(), bearer))["remittances"]
        [p] = (await import_text(client, posted.decode(), bearer))["remittances"]
        assert await settled(client, p["id"], bearer) == "POSTED"
    b_token = token(settings, await slug_of(sessions, b.tenant_id))
    return Matrix(a.tenant_id, a_slug, b.tenant_id, b_token, h["id"], p["id"], fresh)


def _request(mutation: str, m: Matrix) -> tuple[str, dict[str, Any]]:
    if mutation == "importRemittance":
        return IMPORT, {"input": {"text": m.fresh.decode()}}
    if mutation == "postRemittance":
        return POST, {"id": m.held}
    undo = {"idempotencyKey": "undo", "remittanceId": m.posted, "reason": "wrong practice"}
    return REVERSE, {"input": undo}


def _credential(kind: str, settings: Settings, m: Matrix) -> str | None:
    scopes = {"read": READ, "payment": f"{READ} {PAYMENT}", "adjustment": f"{READ} {ADJUST}"}
    if kind == "none":
        return None
    if kind == "unknown-tenant":
        return issue_token(settings, tenant="t-no-such-tenant", scopes=EVERY.split(), subject="x")
    if kind == "other-tenant":
        return m.b_token
    return token(settings, m.a_slug, scopes[kind])


DENIED = {
    "none": (None, "UNAUTHENTICATED", "A bearer token is required."),
    "unknown-tenant": (None, "UNKNOWN_TENANT", None),
    "read": (
        None,
        "FORBIDDEN",
        "Scope 'billing.payment.write' or 'billing.adjustment.write' is required.",
    ),
    "payment": (
        None,
        "FORBIDDEN",
        "Remittances need scopes billing.payment.write and "
        "billing.adjustment.write; missing billing.adjustment.write.",
    ),
    "adjustment": (
        None,
        "FORBIDDEN",
        "Remittances need scopes billing.payment.write and "
        "billing.adjustment.write; missing billing.payment.write.",
    ),
    "other-tenant": ("remittanceId", "REMITTANCE_NOT_FOUND", "No such remittance."),
}
MUTATIONS = ("importRemittance", "postRemittance", "reverseRemittance")
CASES = [
    pytest.param(mutation, kind, id=f"{mutation}-{kind}")
    for mutation in MUTATIONS
    for kind in DENIED
    if (mutation, kind) != ("importRemittance", "other-tenant")
]


@pytest.mark.parametrize(("mutation", "kind"), CASES)
async def test_a_refused_caller_gets_a_typed_error_and_changes_nothing(
    client: httpx.AsyncClient,
    sessions: SessionFactory,
    settings: Settings,
    matrix: Matrix,
    mutation: str,
    kind: str,
) -> None:
    # given everything both tenants hold
    before = (await holdings(sessions, matrix.a_tenant), await holdings(sessions, matrix.b_tenant))
    document, variables = _request(mutation, matrix)
    # when the mutation is sent with the credential
    answer = await payload(client, document, variables, _credential(kind, settings, matrix))
    # then it is refused with one typed error, and neither tenant holds anything new
    field, code, message = DENIED[kind]
    [error] = answer.pop("userErrors")
    assert (error["field"], error["code"]) == (field, code)
    assert message is None or error["message"] == message
    assert all(value in (None, [], False) for value in answer.values()), answer
    after = (await holdings(sessions, matrix.a_tenant), await holdings(sessions, matrix.b_tenant))
    assert after == before


async def test_another_tenants_import_lands_in_its_own_tenant_only(
    client: httpx.AsyncClient, sessions: SessionFactory, matrix: Matrix
) -> None:
    # given what A holds
    before = await holdings(sessions, matrix.a_tenant)
    # when B imports the file A has not imported yet (B has no visit it names)
    answer = await import_text(client, matrix.fresh.decode(), matrix.b_token)
    # then B has it, unmatched, and A holds exactly what it held
    [remittance] = answer["remittances"]
    assert (answer["replayed"], answer["userErrors"]) == (False, [])
    assert await settled(client, remittance["id"], matrix.b_token) == "POSTED"
    summary = remittance["claimSummary"]
    assert (summary["matchedCount"], summary["unmatchedCount"]) == (0, 1)
    assert await holdings(sessions, matrix.a_tenant) == before


async def test_with_exactly_both_write_scopes_each_mutation_goes_through(
    client: httpx.AsyncClient, sessions: SessionFactory, settings: Settings
) -> None:
    # given a tenant and a token holding exactly the read and the two write scopes
    held, posted = file_of("T-OK-HELD", unbalanced("K1")), file_of("T-OK-POSTED", claim("K2"))
    world = await world_for(sessions, [*parse_835(held), *parse_835(posted)])
    bearer = token(settings, await slug_of(sessions, world.tenant_id), EVERY)
    # when each mutation is sent
    imported_held = await import_text(client, held.decode(), bearer)
    imported_posted = await import_text(client, posted.decode(), bearer)
    [h], [p] = imported_held["remittances"], imported_posted["remittances"]
    assert await settled(client, p["id"], bearer) == "POSTED"
    reviewed = await payload(client, POST, {"id": h["id"]}, bearer)
    undo = {"idempotencyKey": "ok", "remittanceId": p["id"], "reason": "wrong practice"}
    reversed_ = await payload(client, REVERSE, {"input": undo}, bearer)
    # then every one is accepted
    answers = (imported_held, imported_posted, reviewed, reversed_)
    assert [a["userErrors"] for a in answers] == [[], [], [], []]
    assert (h["status"], p["status"]) == ("NEEDS_REVIEW", "POSTING")
    statuses = (reviewed["remittance"]["status"], reversed_["remittance"]["status"])
    assert statuses == ("POSTING", "REVERSING")
