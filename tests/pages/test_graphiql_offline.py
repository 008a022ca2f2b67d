"""GraphiQL on a closed network (a hospital without internet): GET /graphql in chromium renders
the IDE from assets the API serves itself, sends queries with the bearer token over HTTP and
subscriptions over graphql-transport-ws with the token in `connection_init`, and nothing the
page does tries to leave this machine."""

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from playwright.async_api import Page, Request

from api.pages.document import STATIC_PATH
from api.pages.graphiql import SCRIPTS, STYLESHEETS
from arledger.config import Settings
from domain.db import SessionFactory
from tests.pages.browser import (
    OfflinePage,
    assert_no_inline_code,
    assert_stayed_local,
    csp_of,
    screenshot,
)
from tests.support.client import WRITE_OFF, gid, gql, wait_final, write_off_input
from tests.support.factories import World, make_world

QUERY_EDITOR = ".graphiql-query-editor .CodeMirror"
HEADERS_EDITOR = ".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror"
RESPONSE = ".graphiql-response .CodeMirror"
PAYERS = "{ payers(first: 1) { edges { node { code name } } } }"
RENDER_TIMEOUT_MS = 30_000

MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


async def editor_text(page: Page, selector: str) -> str:
    text = await page.eval_on_selector(selector, "element => element.CodeMirror.getValue()")
    assert isinstance(text, str)
    return text


async def open_graphiql(offline: OfflinePage, server: str, token: str | None) -> Page:
    """Open GET /graphql (with `?token=` when given) and wait until the editors are up."""
    page = offline.page
    url = f"{server}/graphql" + (f"?token={token}" if token else "")
    response = await page.goto(url)
    assert response is not None and response.status == 200
    await page.wait_for_selector(QUERY_EDITOR, timeout=RENDER_TIMEOUT_MS)
    await page.wait_for_selector(HEADERS_EDITOR, timeout=RENDER_TIMEOUT_MS)
    return page


async def run(page: Page, query: str, *, expect: str) -> dict[str, Any]:
    """Put `query` in the editor, press the run button, wait for a result containing `expect`."""
    await page.eval_on_selector(
        QUERY_EDITOR, "(element, query) => element.CodeMirror.setValue(query)", query
    )
    # GraphiQL parses the editor after a change; running before that would send the previous
    # document's operation type (a subscription would go over HTTP as a query).
    await page.wait_for_function(
        """([selector, query]) => {
            const ast = document.querySelector(selector).CodeMirror.documentAST;
            return ast != null && ast.loc != null && ast.loc.source.body === query;
        }""",
        arg=[QUERY_EDITOR, query],
        timeout=RENDER_TIMEOUT_MS,
    )
    await page.click(".graphiql-execute-button")
    await page.wait_for_function(
        """([selector, expected]) => {
            const editor = document.querySelector(selector);
            return editor !== null && editor.CodeMirror.getValue().includes(expected);
        }""",
        arg=[RESPONSE, expect],
        timeout=RENDER_TIMEOUT_MS,
    )
    return json.loads(await editor_text(page, RESPONSE))


# ---------------------------------------------------------------------------------------------
# the page and its assets over plain HTTP
# ---------------------------------------------------------------------------------------------


async def test_page_references_only_its_own_origin_and_allows_only_self(
    client: httpx.AsyncClient, server: str
) -> None:
    # when a browser asks for /graphql
    response = await client.get("/graphql", headers={"Accept": "text/html"})
    page = response.text
    # then it gets the GraphiQL page, locked to its own origin, with no inline script
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "<title>arledger GraphiQL</title>" in page
    policy = csp_of(response.headers)
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'"
    assert policy["connect-src"] == "'self'"
    assert policy["style-src"].startswith("'self' 'sha256-")
    assert policy["frame-ancestors"] == "'none'"
    assert "unsafe" not in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    urls = re.findall(r"(?:https?|wss?)://[^\s\"'<>]+", page)
    assert [u for u in urls if urlsplit(u).netloc != urlsplit(server).netloc] == []
    assert_no_inline_code(page)
    references = re.findall(r"""\b(?:src|href)="([^"]*)\"""", page)
    assert references == [
        "data:,",
        *(f"{STATIC_PATH}/{s}" for s in STYLESHEETS),
        *(f"{STATIC_PATH}/{s}" for s in SCRIPTS),
    ]


async def test_static_assets_are_served_with_their_content_types(
    client: httpx.AsyncClient,
) -> None:
    for asset in (*SCRIPTS, *STYLESHEETS):
        # when each asset the page references is fetched
        response = await client.get(f"{STATIC_PATH}/{asset}")
        # then it is there, typed for what it is, never sniffed
        assert response.status_code == 200, asset
        assert response.headers["content-type"] == MEDIA_TYPES[Path(asset).suffix], asset
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["etag"]
        assert len(response.content) > 100, asset
        # and a revalidation costs nothing
        again = await client.get(
            f"{STATIC_PATH}/{asset}", headers={"If-None-Match": response.headers["etag"]}
        )
        assert again.status_code == 304
    licences = await client.get(f"{STATIC_PATH}/vendor/graphiql/LICENSES.md")
    assert licences.status_code == 200
    assert "graphiql | 3.9.0 | MIT" in licences.text
    missing = await client.get(f"{STATIC_PATH}/vendor/graphiql/../../graphiql.py")
    assert missing.status_code == 404


async def test_requests_that_are_not_a_browser_opening_the_page_still_reach_graphql(
    client: httpx.AsyncClient,
) -> None:
    # when /graphql is asked for JSON, with a GET query, or POSTed (without a token)
    as_json = await client.get("/graphql", headers={"Accept": "application/json"})
    get_query = await client.get(
        "/graphql", params={"query": "{ __typename }"}, headers={"Accept": "text/html"}
    )
    post = await client.post("/graphql", json={"query": "{ __typename }"})
    # then none of them gets the page: GraphQL answers them as before
    for response in (as_json, get_query, post):
        assert "text/html" not in response.headers.get("content-type", ""), response.text
        assert "arledger GraphiQL" not in response.text
    assert post.status_code == 200


# ---------------------------------------------------------------------------------------------
# in chromium, offline
# ---------------------------------------------------------------------------------------------


async def test_graphiql_renders_offline_and_runs_a_query_with_the_token(
    offline_page: OfflinePage,
    server: str,
    sessions: SessionFactory,
    settings: Settings,
) -> None:
    # given a tenant (Self Pay is its payer) and a token for it in the page URL
    world = await make_world(sessions, [1000])
    token = world.token(settings)
    posts: list[dict[str, str]] = []

    def record(request: Request) -> None:
        if request.method == "POST" and request.url == f"{server}/graphql":
            posts.append(request.headers)

    offline_page.page.on("request", record)
    # when GraphiQL is opened with only this machine reachable
    page = await open_graphiql(offline_page, server, token)
    # then the token is in the header editor, and out of the address bar
    headers = json.loads(await editor_text(page, HEADERS_EDITOR))
    assert headers == {"Authorization": f"Bearer {token}"}
    assert page.url == f"{server}/graphql"
    # and the schema loaded (the docs explorer knows the Query type)
    await page.click("button[aria-label='Show Documentation Explorer']")
    await page.wait_for_selector(".graphiql-doc-explorer >> text=Query", timeout=RENDER_TIMEOUT_MS)
    # when a query is run
    result = await run(page, PAYERS, expect="Self Pay")
    # then the answer is shown
    assert result == {"data": {"payers": {"edges": [{"node": {"code": "1", "name": "Self Pay"}}]}}}
    shot = await screenshot(page, "graphiql-query")
    assert shot.stat().st_size > 10_000
    # and it went as JSON over POST with the bearer token
    assert posts, "no POST /graphql was seen"
    for sent in posts:
        assert sent["content-type"] == "application/json"
        assert sent["authorization"] == f"Bearer {token}"
    # and nothing tried to reach beyond this machine; no script error, no CSP violation
    assert_stayed_local(offline_page, server)


async def test_graphiql_subscription_runs_over_graphql_transport_ws_with_the_token(
    offline_page: OfflinePage,
    client: httpx.AsyncClient,
    server: str,
    sessions: SessionFactory,
    settings: Settings,
) -> None:
    # given a $10.00 account and GraphiQL opened with its tenant's token
    world: World = await make_world(sessions, [1000])
    token = world.token(settings)
    page = await open_graphiql(offline_page, server, token)
    account = gid("Account", world.account_id)
    subscription = (
        f'subscription {{ accountBalance(accountId: "{account}") {{ balance version snapshot }} }}'
    )
    # when the subscription is run: the snapshot comes first
    snapshot = await run(page, subscription, expect='"snapshot": true')
    assert snapshot == {
        "data": {"accountBalance": {"balance": "10.00", "version": 0, "snapshot": True}}
    }
    # and when $1.00 is written off elsewhere, the change streams in
    body = await gql(
        client, WRITE_OFF, write_off_input("graphiql-1", [(world.line_ids[0], "1")]), token
    )
    assert "errors" not in body, body
    final = await wait_final(client, body["data"]["writeOff"]["command"]["id"], token)
    assert final["status"] == "APPLIED"
    await page.wait_for_function(
        """selector => document.querySelector(selector).CodeMirror.getValue().includes('"9.00"')""",
        arg=RESPONSE,
        timeout=RENDER_TIMEOUT_MS,
    )
    change = json.loads(await editor_text(page, RESPONSE))
    assert change == {
        "data": {"accountBalance": {"balance": "9.00", "version": 1, "snapshot": False}}
    }
    await screenshot(page, "graphiql-subscription")
    # then the websocket spoke graphql-transport-ws, the token in connection_init's payload
    messages = [json.loads(m) for m in offline_page.ws_sent]
    assert messages[0] == {
        "type": "connection_init",
        "payload": {"authorization": f"Bearer {token}"},
    }
    assert messages[1]["type"] == "subscribe"
    assert_stayed_local(offline_page, server)


async def test_without_a_token_the_header_editor_asks_for_one_and_the_api_says_why(
    offline_page: OfflinePage, server: str
) -> None:
    # when GraphiQL is opened without ?token=
    page = await open_graphiql(offline_page, server, None)
    # then the header editor shows where the token goes
    headers = json.loads(await editor_text(page, HEADERS_EDITOR))
    assert headers == {"Authorization": "Bearer <paste a bearer token here>"}
    # and a query run as is is refused for want of a token (the placeholder is not sent)
    result = await run(page, PAYERS, expect="UNAUTHENTICATED")
    assert [e["extensions"]["code"] for e in result["errors"]] == ["UNAUTHENTICATED"]
    await screenshot(page, "graphiql-no-token")
    # and the dialogs open without a CSP violation (their scroll lock's <style> is allowed)
    for dialog in ("Open settings dialog", "Open short keys dialog"):
        await page.click(f"button[aria-label='{dialog}']")
        await page.wait_for_selector("[role=dialog]")
        await page.keyboard.press("Escape")
        await page.wait_for_selector("[role=dialog]", state="detached")
    assert_stayed_local(offline_page, server)
