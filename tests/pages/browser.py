"""A session-wide headless chromium (Debian's, not Playwright's download) and pages whose
network is this machine only.

chromium is `$CHROMIUM_PATH`, else `chromium` / `chromium-browser` on PATH
(`scripts/ensure_chromium.sh` finds or installs it for `make test`). Without it the fixture
FAILS: a browser test that cannot run must never pass as skipped.

The async API throughout: the suite runs on pytest-asyncio's session loop, where Playwright's
sync API cannot run.
"""

import os
import re
import shutil
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import pytest_asyncio
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Route,
    WebSocketRoute,
    async_playwright,
)

# Headless, and nothing that reaches for the (closed) network on its own.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def chromium_path() -> str | None:
    """`$CHROMIUM_PATH` when set (it must then exist), else chromium on PATH."""
    configured = os.environ.get("CHROMIUM_PATH")
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    """Headless chromium for the whole session."""
    path = chromium_path()
    if path is None:
        pytest.fail(
            "chromium not found: set CHROMIUM_PATH to an executable chromium "
            f"(now {os.environ.get('CHROMIUM_PATH')!r}) or install it "
            "(`scripts/ensure_chromium.sh`, or `apt-get install -y chromium`). "
            "Browser tests never skip.",
            pytrace=False,
        )
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=path, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            await launched.close()


def is_local(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "ws", "wss"):
        return True  # data:, blob:, about: never leave the machine
    return parts.hostname in LOCAL_HOSTS


@dataclass
class OfflinePage:
    """A page in its own context whose requests may reach this machine only.

    Every HTTP(S) request and websocket to another host is refused and recorded in `blocked`;
    `errors` collects page exceptions and console errors (CSP violations among them);
    `ws_sent` the messages the page sent on its (local) websockets; `sockets` each local
    websocket (its page side and its server side), which `cut_websockets` closes, and
    `refuse_websockets` keeps refusing new ones until it is set back to False."""

    context: BrowserContext
    page: Page
    blocked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    ws_sent: list[str | bytes] = field(default_factory=list)
    sockets: list[tuple[WebSocketRoute, WebSocketRoute]] = field(default_factory=list)
    refuse_websockets: bool = False

    async def cut_websockets(self, code: int = 1012, reason: str = "service restart") -> int:
        """Cut every local websocket: the API's end is closed and the page sees `code` (as
        when the API restarts); how many there were."""
        cut, self.sockets = self.sockets, []
        for page_side, server_side in cut:
            await server_side.close(code=code, reason=reason)
            await page_side.close(code=code, reason=reason)
        return len(cut)


@pytest_asyncio.fixture(loop_scope="session")
async def offline_page(browser: Browser) -> AsyncIterator[OfflinePage]:
    context = await browser.new_context(viewport={"width": 1400, "height": 900})
    page = await context.new_page()
    handle = OfflinePage(context, page)

    async def guard(route: Route) -> None:
        url = route.request.url
        handle.requests.append(url)
        if is_local(url):
            await route.continue_()
        else:
            handle.blocked.append(url)
            await route.abort("blockedbyclient")

    async def guard_websocket(ws: WebSocketRoute) -> None:
        handle.requests.append(ws.url)
        if is_local(ws.url) and handle.refuse_websockets:
            await ws.close(code=1013, reason="offline test: the API is unreachable")
        elif is_local(ws.url):
            server = ws.connect_to_server()
            handle.sockets.append((ws, server))

            def to_server(message: str | bytes) -> None:
                handle.ws_sent.append(message)
                server.send(message)

            ws.on_message(to_server)  # the server's messages reach the page untouched
        else:
            handle.blocked.append(ws.url)
            await ws.close(code=1008, reason="offline test: not this machine")

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            handle.errors.append(f"console: {message.text}")

    await context.route("**/*", guard)
    await context.route_web_socket(re.compile(r".*"), guard_websocket)
    page.on("console", console)
    page.on("pageerror", lambda error: handle.errors.append(f"pageerror: {error}"))
    try:
        yield handle
    finally:
        await context.close()


SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
"""Where the browser tests leave their screenshots (kept after the run; `build/` is ignored)."""


async def screenshot(page: Page, name: str) -> Path:
    """The whole page as `build/screenshots/<name>.png`."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    assert path.stat().st_size > 20_000
    return path


def assert_stayed_local(offline: "OfflinePage", server: str) -> None:
    """The page asked nothing of any other host and logged no error."""
    assert offline.blocked == [], f"the page tried to leave this machine: {offline.blocked}"
    assert {urlsplit(url).netloc for url in offline.requests} == {urlsplit(server).netloc}
    assert offline.errors == []


def csp_of(headers: "Mapping[str, str]") -> dict[str, str]:
    """The response's Content-Security-Policy as {directive: sources}."""
    return dict(
        directive.strip().split(" ", 1)
        for directive in headers["content-security-policy"].split(";")
    )


def assert_no_inline_code(page: str) -> None:
    """No inline script and no inline style: everything the page runs comes from a file."""
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page) == []
    assert "style=" not in page and "<style" not in page
