"""Who may watch the live dashboard, as with `accountBalance`: a refused token closes the socket
4403 naming the refusal; a token without `billing.read` gets FORBIDDEN for that subscription
(the socket stays usable); each tenant sees its own figures only."""

import asyncio
import contextlib
import json

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from arledger.config import Settings
from arledger.tokens import issue_token
from domain.db import SessionFactory
from tests.reports.live import DASHBOARD, dashboards, figures, queried
from tests.reports.world import World, add_visit, days_ago, new_world

READ = "billing.read"


async def one_visit(sessions: SessionFactory, cents: int) -> World:
    w = await new_world(sessions)
    await add_visit(
        sessions,
        w,
        "V",
        account="X1",
        payer="1",
        dos=days_ago(w, 3),
        lines=[cents],
        charged_at=w.at(days_ago(w, 2)),
    )
    return w


def refused_token(kind: str, settings: Settings, w: World) -> str | None:
    if kind == "none":
        return None
    if kind == "garbage":
        return "not-a-jwt"
    if kind == "unknown_tenant":
        return issue_token(settings, tenant="t-no-such", scopes=[READ], subject="x")
    return issue_token(settings, tenant=w.slug, scopes=[READ], subject="x", ttl_seconds=-10)


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        ("none", "UNAUTHENTICATED"),
        ("garbage", "TOKEN_MALFORMED"),
        ("unknown_tenant", "UNKNOWN_TENANT"),
        ("expired", "TOKEN_EXPIRED"),
    ],
)
async def test_a_refused_token_closes_the_socket_4403(
    server: str, sessions: SessionFactory, settings: Settings, kind: str, code: str
) -> None:
    w = await one_visit(sessions, 1000)
    url = server.replace("http", "ws", 1) + "/graphql"
    async with (
        asyncio.timeout(10),
        connect(url, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws,
    ):
        token = refused_token(kind, settings, w)
        payload = {"authorization": f"Bearer {token}"} if token else {}
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        with contextlib.suppress(ConnectionClosed):
            subscribe = {"query": DASHBOARD, "variables": {}}
            await ws.send(json.dumps({"id": "d", "type": "subscribe", "payload": subscribe}))
        with pytest.raises(ConnectionClosed):
            await ws.recv()
    assert (ws.close_code, ws.close_reason) == (4403, f"Forbidden: {code}")


async def test_without_billing_read_the_subscription_is_forbidden(
    server: str, sessions: SessionFactory, settings: Settings
) -> None:
    w = await one_visit(sessions, 1000)
    async with dashboards(server, w.token(settings, "billing.payment.write billing.admin")) as b:
        await b.subscribe("d")
        await b.wait(lambda: len(b.errors) >= 2, within=10)
        await b.send({"type": "ping"})
        await b.wait(lambda: len(b.errors) >= 3, within=10)
    [failed, done, pong] = b.errors
    assert failed["payload"] == {
        "data": None,
        "errors": [
            {
                "message": "Scope 'billing.read' is required.",
                "extensions": {"code": "FORBIDDEN"},
            }
        ],
    }
    assert (done, pong) == ({"id": "d", "type": "complete"}, {"type": "pong"})
    assert b.pushes == []


async def test_each_tenant_sees_only_its_own_dashboard(
    client: httpx.AsyncClient, server: str, sessions: SessionFactory, settings: Settings
) -> None:
    # given tenant A (one visit of 100.00) and tenant B (one of 40.00), same filter
    a, b = await one_visit(sessions, 10000), await one_visit(sessions, 4000)
    period = (days_ago(a, 29).isoformat(), a.today().isoformat())
    async with (
        dashboards(server, a.token(settings)) as da,
        dashboards(server, b.token(settings)) as db,
    ):
        await da.subscribe("d")
        await db.subscribe("d")
        mine, theirs = await da.next("d"), await db.next("d")
    # then each sees its own figures and entries, equal to its own queries
    assert mine["aging"]["total"]["net"] == "100.00"
    assert theirs["aging"]["total"]["net"] == "40.00"
    assert [x["amount"] for x in mine["activity"]] == ["100.00"]
    assert [x["amount"] for x in theirs["activity"]] == ["40.00"]
    assert (mine["seq"], theirs["seq"]) == (1, 1)  # one group per tenant, never shared
    assert figures(mine) == await queried(client, a.token(settings), *period)
    assert figures(theirs) == await queried(client, b.token(settings), *period)
