"""GraphiQL at GET /graphql, served from vendored assets so it works without internet access.

strawberry's own GraphiQL page loads React and GraphiQL from a CDN and stays blank on a closed
network. This page loads them from `/static/vendor/graphiql/` (see `LICENSES.md` there) and is
booted by `/static/graphiql-init.js`; the Content-Security-Policy allows nothing but this origin
(no inline script; one inline style, by hash).

Queries go to POST /graphql with the header editor's headers (`Authorization: Bearer …`,
pre-filled from `?token=…` in the page URL); subscriptions use graphql-transport-ws on the same
path with the token in the `connection_init` payload as `authorization`.
"""

import os
from pathlib import Path

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Match, Route
from starlette.staticfiles import NotModifiedResponse, StaticFiles
from starlette.types import Scope

from api.pages.document import render_document

STATIC_DIR = Path(__file__).resolve().parent / "static"
VENDOR = "vendor/graphiql"  # graphiql 3.9.0, react and react-dom 18.3.1: see LICENSES.md there

SCRIPTS = (
    f"{VENDOR}/react.production.min.js",
    f"{VENDOR}/react-dom.production.min.js",
    f"{VENDOR}/graphiql.min.js",
    "graphiql-init.js",
)
STYLESHEETS = (f"{VENDOR}/graphiql.min.css", "graphiql-page.css")

SCROLL_LOCK_STYLE_HASH = "sha256-Y/huXlwoYkVyQlxwSVcCi1RCDGDCSVBzDt0hYP9qlTc="

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        # + the one <style> GraphiQL's dialogs inject (react-remove-scroll-bar's scroll lock;
        # its text is fixed because this page never has a scrollbar): no 'unsafe-inline'.
        f"style-src 'self' '{SCROLL_LOCK_STYLE_HASH}'",
        "img-src 'self' data:",
        "font-src 'self' data:",  # GraphiQL's fonts are data: URLs inside its CSS
        "connect-src 'self'",  # POST /graphql and ws(s)://<this host>/graphql (CSP3 'self')
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)

PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # The page URL may carry ?token=…: never leak it to another origin, never cache the page.
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
}

STATIC_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",  # revalidate (ETag / Last-Modified): files change on upgrades
    "Cross-Origin-Resource-Policy": "same-origin",
}

# Explicit, so the answer does not depend on the host's /etc/mime.types.
MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css", ".md": "text/markdown"}


def render_page(root_path: str = "") -> str:
    """The page's HTML (`api.pages.document.render_document`)."""
    body = """    <div id="graphiql">Loading GraphiQL…</div>
    <noscript>GraphiQL needs JavaScript.</noscript>"""
    return render_document("arledger GraphiQL", body, root_path, STYLESHEETS, SCRIPTS)


def wants_ide(scope: Scope) -> bool:
    """strawberry's rule for showing the IDE: a GET without `query` that accepts HTML."""
    if scope.get("method") not in ("GET", "HEAD"):
        return False
    request = Request(scope)
    accept = request.headers.get("accept", "")
    return "query" not in request.query_params and ("text/html" in accept or "*/*" in accept)


async def graphiql_page(request: Request) -> Response:
    return HTMLResponse(render_page(request.scope.get("root_path", "")), headers=PAGE_HEADERS)


class GraphiQLRoute(Route):
    """GET <path> from a browser; every other request (a POST, a GET with `query`, a GET
    that does not accept HTML, another method) falls through to the GraphQL route after it,
    which answers exactly as it did without this page."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE and not wants_ide(scope):
            return Match.NONE, {}
        return match, child_scope


def graphiql_route(path: str = "/graphql") -> Route:
    return GraphiQLRoute(path, graphiql_page, methods=["GET"], name="graphiql")


class PageStaticFiles(StaticFiles):
    """StaticFiles with fixed media types and hardening headers on every file."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = FileResponse(
            full_path,
            status_code=status_code,
            stat_result=stat_result,
            media_type=MEDIA_TYPES.get(Path(full_path).suffix),
        )
        response.headers.update(STATIC_HEADERS)
        if self.is_not_modified(response.headers, Headers(scope=scope)):
            return NotModifiedResponse(response.headers)
        return response


def static_files() -> StaticFiles:
    return PageStaticFiles(directory=STATIC_DIR)
