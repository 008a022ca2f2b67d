"""A real chromium page on a second origin (a static page served from a thread) calling the API
over HTTP and the websocket: it succeeds against an API that lists its origin, and fails
against one that does not."""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.async_api import Browser

from arledger.config import Settings
from domain.db import SessionFactory
from tests.pages.browser import browser  # noqa: F401 (the session's chromium, a fixture)
from tests.support.factories import World, make_world
from tests.support.prod_server import api_server

ACCOUNTS = "{ accounts { nodes { accountNumber } } }"


class PageServer:
    """Serves `PAGE` at / from a thread: the second origin a browser test's page lives on."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = PAGE.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self._http.server_address[1]}"
        threading.Thread(target=self._http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()


@pytest.fixture(scope="module")
def page_server() -> Iterator[PageServer]:
    pages = PageServer()
    yield pages
    pages.close()


@pytest.fixture(scope="module")
def cors_api(
    settings: Settings, page_server: PageServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """An API whose CORS_ORIGINS lists the page server's origin."""
    log = tmp_path_factory.mktemp("cors-browser") / "api.log"
    with api_server({"CORS_ORIGINS": page_server.origin}, log) as base:
        yield base


@pytest.fixture(scope="module")
async def world(sessions: SessionFactory) -> World:
    return await make_world(sessions, [10000])


PAGE = """<!doctype html><meta charset="utf-8"><title>SPA</title>
<script>
async function call(api, token, path, body) {
  const headers = {"Authorization": "Bearer " + token, "X-Request-ID": "page-1"};
  if (body) headers["Content-Type"] = "application/json";
  try {
    const r = await fetch(api + path, {method: body ? "POST" : "GET", headers, body});
    return {status: r.status, type: r.headers.get("content-type"),
            requestId: r.headers.get("x-request-id"), body: await r.json()};
  } catch (error) {
    return {error: error.name};
  }
}
function socket(api, token) {
  return new Promise(resolve => {
    const ws = new WebSocket(api.replace("http", "ws") + "/graphql", "graphql-transport-ws");
    ws.onopen = () => ws.send(JSON.stringify(
      {type: "connection_init", payload: {authorization: "Bearer " + token}}));
    ws.onmessage = event => { resolve({message: JSON.parse(event.data).type}); ws.close(); };
    ws.onclose = event => resolve({closed: event.code});
  });
}
</script>"""


async def test_a_page_on_a_listed_origin_calls_the_api_and_another_cannot(
    browser: Browser,  # noqa: F811
    page_server: PageServer,
    cors_api: str,
    server: str,
    world: World,
    settings: Settings,
) -> None:
    token = world.token(settings, "billing.read")
    context = await browser.new_context()
    try:
        page = await context.new_page()
        await page.goto(page_server.origin + "/")
        query = json.dumps({"query": ACCOUNTS})
        fhir = f"/fhir/Account/{world.account_id}"
        # when the page (on its own origin) calls the API that lists it, and the one that does not
        listed = await page.evaluate(
            "([a, t, b]) => call(a, t, '/graphql', b)", [cors_api, token, query]
        )
        read = await page.evaluate("([a, t, p]) => call(a, t, p)", [cors_api, token, fhir])
        unlisted = await page.evaluate(
            "([a, t, b]) => call(a, t, '/graphql', b)", [server, token, query]
        )
        ws_listed = await page.evaluate("([a, t]) => socket(a, t)", [cors_api, token])
        ws_unlisted = await page.evaluate("([a, t]) => socket(a, t)", [server, token])
    finally:
        await context.close()
    # then the listed API's answers reach the page (the request id too); the other's never do
    assert listed == {
        "status": 200,
        "type": "application/json",
        "requestId": "page-1",
        "body": {"data": {"accounts": {"nodes": [{"accountNumber": "A1"}]}}},
    }
    assert (read["status"], read["type"], read["body"]["name"]) == (
        200,
        "application/fhir+json",
        "Pat Doe",
    )
    assert unlisted == {"error": "TypeError"}
    assert ws_listed == {"message": "connection_ack"}
    assert ws_unlisted == {"closed": 1006}
