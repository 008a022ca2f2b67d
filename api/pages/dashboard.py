"""The AR dashboard at GET /dashboard: served by the API itself, no build step, no CDN.

A billing manager's live view of one tenant: aging by bucket and by payer, write-offs (by
reason) and adjustments (by category and by CARC) apart, the KPIs and the latest ledger
activity. `/static/dashboard.js` (plain ES modules) subscribes to `arDashboard` over
graphql-transport-ws with the vendored `graphql-ws` client (`/static/vendor/graphql-ws/`, MIT,
see its README there), reconnects forever with a short backoff and takes a fresh snapshot on
every reconnect (catch-up); an aging cell drills down into the `accounts` worklist over HTTP.

Sign-in is a pasted bearer token kept in `sessionStorage` (`#token=…` in the URL signs in and is
removed from the address bar). The Content-Security-Policy allows this origin only: no inline
script or style, no fonts or images from anywhere else.
"""

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from api.pages.document import render_document
from api.pages.graphiql import PAGE_HEADERS

VENDOR = "vendor/graphql-ws"  # graphql-ws 6.4.2 (MIT): see README.md and LICENSE.md there

SCRIPTS = (f"{VENDOR}/graphql-ws.min.js",)
"""Classic scripts, loaded before the module (the UMD build defines `window.graphqlWs`)."""
MODULE = "dashboard.js"
STYLESHEETS = ("dashboard.css",)

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",  # POST /graphql and ws(s)://<this host>/graphql (CSP3 'self')
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)

DASHBOARD_HEADERS = {**PAGE_HEADERS, "Content-Security-Policy": CONTENT_SECURITY_POLICY}
"""GraphiQL's hardening (no referrer: the URL may carry `#token=`; no caching; no framing)."""

BODY = """\
    <a class="skip" href="#board">Skip to the dashboard</a>
    <header class="topbar">
      <div class="brand">
        <h1>Accounts receivable</h1>
        <p class="tenant" id="tenant"></p>
      </div>
      <div class="connection">
        <p id="status" class="pill pill-out" role="status" aria-live="polite">Signed out</p>
        <p id="freshness" class="freshness" aria-live="off"></p>
        <button type="button" id="sign-out" class="ghost" hidden>Sign out</button>
      </div>
    </header>
    <main id="main">
      <section id="sign-in" class="card sign-in" aria-labelledby="sign-in-title">
        <h2 id="sign-in-title">Sign in</h2>
        <p class="hint">Paste the bearer token you were given (it stays in this browser tab
          only and is forgotten when the tab closes).</p>
        <form id="sign-in-form" novalidate>
          <label for="token">Bearer token</label>
          <input id="token" name="token" type="password" autocomplete="off" spellcheck="false"
            required aria-describedby="sign-in-error">
          <button type="submit" class="primary">Sign in</button>
        </form>
        <p id="sign-in-error" class="error" role="alert"></p>
      </section>
      <div id="board" class="board" hidden tabindex="-1">
        <div class="toolbar" role="group" aria-label="Dashboard options">
          <label>Period
            <select id="period">
              <option value="7">Last 7 days</option>
              <option value="30" selected>Last 30 days</option>
              <option value="90">Last 90 days</option>
              <option value="365">Last 365 days</option>
            </select>
          </label>
          <label>Age from
            <select id="basis">
              <option value="DATE_OF_SERVICE" selected>Date of service</option>
              <option value="FIRST_BILLED">First billed</option>
            </select>
          </label>
          <p class="period" id="period-range"></p>
        </div>
        <p id="board-error" class="error" role="alert"></p>
        <section class="kpis" aria-labelledby="kpis-title">
          <h2 id="kpis-title" class="visually-hidden">Key figures</h2>
          <dl id="kpis" class="kpi-grid"></dl>
        </section>
        <div class="grid">
          <section class="card aging" aria-labelledby="aging-title">
            <h2 id="aging-title">Aging by bucket</h2>
            <div id="aging"></div>
          </section>
          <section class="card payers" aria-labelledby="payers-title">
            <h2 id="payers-title">Aging by payer</h2>
            <div id="payers" class="scroll"></div>
          </section>
          <section class="card write-offs" aria-labelledby="write-offs-title">
            <h2 id="write-offs-title">Write-offs</h2>
            <p class="sub">Decisions to stop collecting, by reason</p>
            <div id="write-offs"></div>
          </section>
          <section class="card adjustments" aria-labelledby="adjustments-title">
            <h2 id="adjustments-title">Adjustments</h2>
            <p class="sub">Reductions to the contract or rule amount</p>
            <div id="adjustments"></div>
            <div id="adjustments-carc"></div>
          </section>
          <section class="card activity" aria-labelledby="activity-title">
            <h2 id="activity-title">Latest ledger activity</h2>
            <div id="activity" class="scroll"></div>
          </section>
        </div>
      </div>
      <dialog id="drilldown" aria-labelledby="drilldown-title">
        <div class="dialog-head">
          <h2 id="drilldown-title">Accounts</h2>
          <button type="button" id="drilldown-close" class="ghost">Close</button>
        </div>
        <p id="drilldown-note" class="sub"></p>
        <div id="drilldown-body" class="scroll" aria-live="polite"></div>
      </dialog>
    </main>
    <noscript>The dashboard needs JavaScript.</noscript>"""


def render_dashboard(root_path: str = "") -> str:
    """The page's HTML (`render_document`)."""
    return render_document(
        "AR dashboard · arledger", BODY, root_path, STYLESHEETS, SCRIPTS, modules=[MODULE]
    )


async def dashboard_page(request: Request) -> Response:
    return HTMLResponse(
        render_dashboard(request.scope.get("root_path", "")), headers=DASHBOARD_HEADERS
    )


def dashboard_route(path: str = "/dashboard") -> Route:
    return Route(path, dashboard_page, methods=["GET"], name="dashboard")
