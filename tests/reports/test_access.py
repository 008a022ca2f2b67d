"""Who may read reports and set the aging buckets: no token, a bad token, another tenant's
token, a token without the scope, and one with exactly the scope needed."""

from dataclasses import dataclass
from typing import Any

import pytest

from arledger.config import Settings
from arledger.tokens import issue_token
from domain.db import SessionFactory
from domain.models import Tenant
from tests.reports.ops import (
    ACCOUNTS,
    ADJUSTMENT_SUMMARY,
    AGING,
    KPIS,
    SET_EDGES,
    WRITE_OFF_SUMMARY,
    data,
)
from tests.reports.world import Entry, World, add_visit, days_ago, new_world, post
from tests.support.client import gql

READ = "billing.read"
WRITE = "billing.payment.write"
ADMIN = "billing.admin"


@dataclass
class Pair:
    a: World
    b: World


@pytest.fixture(scope="module")
async def pair(sessions: SessionFactory) -> Pair:
    """Tenant A: one self-pay visit of 100.00 with 25.00 written off and 5.00 adjusted;
    tenant B: one of 40.00, nothing else."""
    a = await new_world(sessions)
    [line] = await add_visit(
        sessions,
        a,
        "V",
        account="A1",
        payer="1",
        dos=days_ago(a, 3),
        lines=[10000],
        charged_at=a.at(days_ago(a, 2)),
    )
    at = a.at(days_ago(a, 1))
    await post(
        sessions,
        a,
        [
            Entry(line, "WRITEOFF", -2500, at, reason="charity"),
            Entry(
                line,
                "ADJUSTMENT",
                -500,
                at,
                None,
                "payer-error-corrected",
                "payer-error",
                "OA",
                "129",
            ),
        ],
    )
    b = await new_world(sessions)
    await add_visit(
        sessions,
        b,
        "V",
        account="B1",
        payer="1",
        dos=days_ago(b, 3),
        lines=[4000],
        charged_at=b.at(days_ago(b, 2)),
    )
    return Pair(a, b)


def _period(w: World) -> dict[str, Any]:
    return {"from": days_ago(w, 10).isoformat(), "to": w.today().isoformat()}


READS: dict[str, tuple[str, Any, Any]] = {
    # field: (document, variables, what A's own answer says / what B's says)
    "arAging": (AGING, lambda w: {}, lambda d: d["total"]["net"]),
    "writeOffSummary": (WRITE_OFF_SUMMARY, _period, lambda d: d["total"]["amount"]),
    "adjustmentSummary": (ADJUSTMENT_SUMMARY, _period, lambda d: d["total"]["amount"]),
    "arKpis": (KPIS, _period, lambda d: (d["totalAr"], d["charges"])),
    "accounts": (
        ACCOUNTS,
        lambda w: {"filter": {"balanceMin": "0.01"}, "orderBy": {"field": "BALANCE"}},
        lambda d: [e["node"]["accountNumber"] for e in d["edges"]],
    ),
}
OWN = {
    "arAging": ("70.00", "40.00"),
    "writeOffSummary": ("25.00", "0.00"),
    "adjustmentSummary": ("5.00", "0.00"),
    "arKpis": (("70.00", "100.00"), ("40.00", "40.00")),
    "accounts": (["A1"], ["B1"]),
}


def _token(settings: Settings, w: World, kind: str) -> str | None:
    if kind == "none":
        return None
    if kind == "garbage":
        return "not-a-jwt"
    if kind == "unknown_tenant":
        return issue_token(settings, tenant="t-no-such", scopes=[READ], subject="x")
    if kind == "expired":
        return issue_token(settings, tenant=w.slug, scopes=[READ], subject="x", ttl_seconds=-10)
    if kind == "missing_scope":
        return w.token(settings, f"{WRITE} {ADMIN}")
    return w.token(settings, READ)


@pytest.mark.parametrize("field", sorted(READS))
@pytest.mark.parametrize(
    ("kind", "code"),
    [
        ("none", "UNAUTHENTICATED"),
        ("garbage", "TOKEN_MALFORMED"),
        ("unknown_tenant", "UNKNOWN_TENANT"),
        ("expired", "TOKEN_EXPIRED"),
        ("missing_scope", "FORBIDDEN"),
    ],
)
async def test_reports_refuse_callers_without_billing_read(
    client, pair: Pair, settings: Settings, field: str, kind: str, code: str
) -> None:
    document, variables, _ = READS[field]
    body = await gql(client, document, variables(pair.a), _token(settings, pair.a, kind))
    assert [(e["path"], e["extensions"]["code"]) for e in body["errors"]] == [([field], code)]
    assert body["data"] is None


@pytest.mark.parametrize("field", sorted(READS))
async def test_each_tenant_reads_only_its_own(
    client, pair: Pair, settings: Settings, field: str
) -> None:
    document, variables, read = READS[field]
    answers = []
    for world in (pair.a, pair.b):
        # A's token asks with A's variables; B's token with the same variables as A
        body = await data(client, document, variables(pair.a), world.token(settings, READ))
        answers.append(read(body[field]))
    assert tuple(answers) == OWN[field]


async def test_setting_aging_buckets_needs_billing_admin(
    client, sessions: SessionFactory, settings: Settings
) -> None:
    w = await new_world(sessions)
    other = await new_world(sessions)
    for kind, code in (("none", "UNAUTHENTICATED"), ("missing_scope", "FORBIDDEN")):
        token = (
            _token(settings, w, kind) if kind == "none" else w.token(settings, f"{READ} {WRITE}")
        )
        body = await gql(client, SET_EDGES, {"edges": [10, 20]}, token)
        payload = body["data"]["setAgingBucketEdges"]
        assert payload["edges"] is None
        assert [e["code"] for e in payload["userErrors"]] == [code]
    # with billing.admin the caller's own tenant changes, and only it
    admin = w.token(settings, f"{READ} {ADMIN}")
    payload = (await data(client, SET_EDGES, {"edges": [10, 20]}, admin))["setAgingBucketEdges"]
    assert payload["edges"] == [10, 20] and payload["userErrors"] == []
    async with sessions() as session:
        mine = await session.get(Tenant, w.tenant_id)
        theirs = await session.get(Tenant, other.tenant_id)
        assert mine is not None and theirs is not None
        assert (mine.aging_bucket_edges, theirs.aging_bucket_edges) == ([10, 20], [30, 60, 90, 120])
