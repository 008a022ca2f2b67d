"""Helpers for the audit-row-set tests: one mutation sent under a request id of our choosing,
the audit rows that request left (by `audit_rows.request_id`), their provenance, and a shape
of each row that can be compared exactly.
"""

import secrets
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import select, text

from api.ids import decode_any
from arledger.config import Settings
from arledger.tokens import issue_token
from domain.db import SessionFactory
from domain.models import AuditRow, Command, LedgerEntry
from tests.security.world import EVERY_SCOPE
from tests.support.factories import World
from tests.transactions.ops import setup_codes

SCOPES = sorted(EVERY_SCOPE)


def request_id(label: str) -> str:
    return f"audit-{label}-{secrets.token_hex(4)}"


async def send(
    client: httpx.AsyncClient,
    document: str,
    variables: dict[str, Any],
    token: str,
    rid: str,
) -> dict[str, Any]:
    """The single payload of a mutation sent with `X-Request-ID: rid` (which must be echoed)."""
    response = await client.post(
        "/graphql",
        json={"query": document, "variables": variables},
        headers={"Authorization": f"Bearer {token}", "X-Request-ID": rid},
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-request-id"] == rid
    body = response.json()
    assert "errors" not in body, body
    [payload] = body["data"].values()
    return dict(payload)


@dataclass
class Run:
    """One audited mutation on a fresh tenant: who sends it, under which request id, and the
    requests the test sends again (a replay) or instead (a refusal)."""

    client: httpx.AsyncClient
    sessions: SessionFactory
    world: World
    actor: str
    token: str
    rid: str
    lines: dict[int, str] = field(default_factory=dict)
    answer: dict[str, Any] = field(default_factory=dict)
    replay: tuple[str, dict[str, Any]] | None = None
    refusal: tuple[str, dict[str, Any], list[tuple[str | None, str]]] | None = None
    payer: str | None = None

    @classmethod
    async def start(
        cls, client: httpx.AsyncClient, sessions: SessionFactory, settings: Settings, world: World
    ) -> "Run":
        actor = f"auditor-{secrets.token_hex(3)}"
        token = issue_token(settings, tenant=world.slug, scopes=SCOPES, subject=actor)
        lines = {pk: f"L{n + 1}" for n, pk in enumerate(world.line_ids)}
        return cls(client, sessions, world, actor, token, request_id("main"), lines)

    async def setup(self, document: str, variables: dict[str, Any]) -> dict[str, Any]:
        """A request that prepares the scene (its own request id), which must succeed."""
        payload = await send(self.client, document, variables, self.token, request_id("setup"))
        assert payload["userErrors"] == [], payload
        return payload

    async def mutate(
        self, document: str, variables: dict[str, Any], *, replayable: bool = True
    ) -> dict[str, Any]:
        """The audited mutation, which must succeed; remembered as the replay when it has a key."""
        payload = await send(self.client, document, variables, self.token, self.rid)
        assert payload["userErrors"] == [], payload
        self.answer = payload
        if replayable:
            self.replay = (document, variables)
        return payload

    def refuse_with(
        self, document: str, variables: dict[str, Any], *errors: tuple[str | None, str]
    ) -> None:
        """A request of the same mutation that must be refused with these (field, code)."""
        self.refusal = (document, variables, list(errors))

    async def payer_with_codes(self) -> str:
        """Payer 1's global id, once it has codes <TYPE>01/02 with <TYPE>01 its defaults."""
        if self.payer is None:
            self.payer = (await setup_codes(self.sessions, self.world)).payer_gid
        return self.payer


def ident(payload: dict[str, Any]) -> dict[str, Any]:
    """The ids of the objects a mutation payload names (command, job, transaction …)."""
    return {k: v.get("id") for k, v in payload.items() if isinstance(v, dict)}


def errors(payload: dict[str, Any]) -> list[tuple[str | None, str]]:
    return [(e["field"], e["code"]) for e in payload["userErrors"]]


async def charge_entry(sessions: SessionFactory, line_id: int) -> int:
    async with sessions() as session:
        found = await session.scalar(
            select(LedgerEntry.id).where(
                LedgerEntry.line_id == line_id, LedgerEntry.kind == "CHARGE"
            )
        )
    assert found is not None
    return found


def pk(global_id: str) -> int:
    decoded = decode_any(global_id)
    assert decoded is not None, global_id
    return decoded[1]


async def audit_set(sessions: SessionFactory, rid: str) -> list[AuditRow]:
    """Every audit row the request `rid` left, oldest first."""
    async with sessions() as session:
        rows = await session.scalars(
            select(AuditRow).where(AuditRow.request_id == rid).order_by(AuditRow.id)
        )
        return list(rows.all())


async def commands_of(sessions: SessionFactory, rid: str) -> list[Command]:
    """The commands stored for the request `rid` (chunks of its bulk job included)."""
    async with sessions() as session:
        rows = await session.scalars(
            select(Command).where(Command.request_id == rid).order_by(Command.id)
        )
        return list(rows.all())


async def rows_of_commands(sessions: SessionFactory, command_ids: list[int]) -> list[int]:
    """Ids of every audit row linked to these commands, whatever its request id."""
    async with sessions() as session:
        rows = await session.scalars(
            select(AuditRow.id).where(AuditRow.command_id.in_(command_ids)).order_by(AuditRow.id)
        )
        return list(rows.all())


async def entries_of(sessions: SessionFactory, command_ids: list[int]) -> dict[int, LedgerEntry]:
    async with sessions() as session:
        rows = await session.scalars(
            select(LedgerEntry).where(LedgerEntry.command_id.in_(command_ids))
        )
        return {e.id: e for e in rows}


async def entry_kinds(sessions: SessionFactory, entry_ids: set[int]) -> dict[int, tuple[str, bool]]:
    """(kind, is a reversal) of each entry."""
    async with sessions() as session:
        rows = await session.execute(
            select(LedgerEntry.id, LedgerEntry.kind, LedgerEntry.reverses_entry_id).where(
                LedgerEntry.id.in_(entry_ids)
            )
        )
        return {i: (kind, reverses is not None) for i, kind, reverses in rows}


async def shape(run: Run, rows: list[AuditRow]) -> list[tuple[Any, ...]]:
    """Each row as (action, entry kind, names a reversal, line, before, after, paired, details):
    lines by their name (L1, L2 …), a pair as True when its partner is in the same set."""
    kinds = await entry_kinds(run.sessions, {r.entry_id for r in rows if r.entry_id})
    ids = {r.id for r in rows}
    return [
        (
            r.action,
            *(kinds[r.entry_id] if r.entry_id else (None, None)),
            run.lines.get(r.line_id or 0),
            r.balance_before_cents,
            r.balance_after_cents,
            r.paired_audit_id in ids if r.paired_audit_id else None,
            r.details,
        )
        for r in rows
    ]


def provenance(rows: list[AuditRow]) -> set[tuple[Any, ...]]:
    """The distinct (tenant, actor, scopes, request id) the rows record."""
    return {(r.tenant_id, r.actor, tuple(r.scopes or ()), r.request_id) for r in rows}


FAILING_AUDIT = """
CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'audit insert refused by the test ({name})'; END $$;
CREATE TRIGGER {name} BEFORE INSERT ON audit_rows FOR EACH ROW
WHEN (NEW.tenant_id = {tenant}) EXECUTE FUNCTION {name}();
"""


async def fail_audit_inserts(sessions: SessionFactory, tenant_id: int) -> str:
    """Make every audit-row insert of this tenant fail (a fault in the audit write itself);
    the trigger's name, for `stop_failing`."""
    name = f"test_fail_audit_{tenant_id}"
    async with sessions() as session, session.begin():
        for statement in FAILING_AUDIT.format(name=name, tenant=int(tenant_id)).split(";\n"):
            if statement.strip():
                await session.execute(text(statement))
    return name


async def stop_failing(sessions: SessionFactory, name: str) -> None:
    async with sessions() as session, session.begin():
        await session.execute(text(f"DROP TRIGGER IF EXISTS {name} ON audit_rows"))
        await session.execute(text(f"DROP FUNCTION IF EXISTS {name}()"))
