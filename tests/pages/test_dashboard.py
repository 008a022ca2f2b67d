"""The AR dashboard (`/dashboard`) in chromium on a closed network: sign in with a pasted token,
see the figures the report queries give, see a write-off posted through the API arrive live
(within 2 s, no reload), lose the websocket, see "Reconnecting…", and see the page catch up
with what was posted while it was down; drill into an aging bucket; a refused token is said
so. Nothing leaves 127.0.0.1 and nothing is logged to the console as an error."""

import re
import time
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx
from playwright.async_api import Page

from api.pages.dashboard import MODULE, SCRIPTS, STYLESHEETS
from api.pages.document import STATIC_PATH
from arledger.config import Settings
from domain.db import SessionFactory
from tests.pages.browser import (
    OfflinePage,
    assert_no_inline_code,
    assert_stayed_local,
    csp_of,
    screenshot,
)
from tests.reports.ops import ACCOUNTS, ADJUSTMENT_SUMMARY, AGING, KPIS, WRITE_OFF_SUMMARY, data
from tests.reports.world import Entry, World, add_visit, days_ago, new_world, post
from tests.support.client import WRITE_OFF, gql, wait_final, write_off_input

LIVE_MS = 2_000
"""A committed write-off is on the page within this (the issue's bound)."""
RENDER_MS = 20_000
SCOPES = "billing.read billing.payment.write"


def usd(money: str) -> str:
    """A Money string as `Intl.NumberFormat('en-US', {style: 'currency', currency: 'USD'})`
    shows it: "-1234.5" → "-$1,234.50"."""
    value = Decimal(money)
    return f"{'-' if value < 0 else ''}${abs(value):,.2f}"


def percent(value: str | None) -> str:
    return "—" if value is None else f"{value}%"


# ---------------------------------------------------------------------------------------------
# the world and what the API says about it
# ---------------------------------------------------------------------------------------------


async def billing_world(sessions: SessionFactory) -> World:
    """Four accounts, one per aging bucket age (10, 45, 100 and 150 days), three payers, and
    this month's payment, write-off, contractual adjustment and an informational PR memo."""
    w = await new_world(sessions)

    async def visit(account: str, patient: str, payer: str, age: int, lines: list[int]) -> int:
        dos = days_ago(w, age)
        ids = await add_visit(
            sessions,
            w,
            f"v{account}",
            account=account,
            payer=payer,
            dos=dos,
            lines=lines,
            charged_at=w.at(dos, 9),
            patient=patient,
        )
        return ids[0]

    ann = await visit("1001", "Ann Lee", "BC", 10, [12_000, 3_000])
    bob = await visit("1002", "Bob Stone", "AE", 45, [25_000])
    cara = await visit("1003", "Cara Diaz", "1", 100, [8_000])
    dan = await visit("1004", "Dan Roe", "BC", 150, [40_000])
    at = w.at(days_ago(w, 2), 10)
    await post(
        sessions,
        w,
        [
            Entry(ann, "PAYMENT", -5_000, at),
            Entry(cara, "WRITEOFF", -500, at, reason="small-balance"),
            Entry(dan, "ADJUSTMENT", -2_000, at, None, None, "contractual", "CO", "45"),
            Entry(bob, "ADJUSTMENT", 0, at, -1_500, None, None, "PR", "1"),
        ],
    )
    return w


async def figures(client: httpx.AsyncClient, token: str, today: date) -> dict[str, str]:
    """What the page must show, element id → text, from the report queries (last 30 days)."""
    period = {"from": (today - timedelta(days=29)).isoformat(), "to": today.isoformat()}
    aging = (await data(client, AGING, {"groupBy": "PAYER"}, token))["arAging"]
    write_offs = (await data(client, WRITE_OFF_SUMMARY, period, token))["writeOffSummary"]
    by_category = (await data(client, ADJUSTMENT_SUMMARY, period, token))["adjustmentSummary"]
    by_carc = await data(client, ADJUSTMENT_SUMMARY, {**period, "groupBy": "CARC"}, token)
    k = (await data(client, KPIS, period, token))["arKpis"]
    total = aging["total"]
    shown = {
        "aging-total": usd(total["debitTotal"]),
        "aging-net": usd(total["net"]),
        "write-offs-total": usd(write_offs["total"]["amount"]),
        "adjustments-total": usd(by_category["total"]["amount"]),
        "adjustments-memo": usd(by_category["total"]["memoAmount"]),
        "adjustments-carc-table-total": usd(by_carc["adjustmentSummary"]["total"]["amount"]),
        "kpi-total-ar": usd(k["totalAr"]),
        "kpi-days-in-ar": "—" if k["daysInAr"] is None else k["daysInAr"],
        "kpi-over-90": percent(k["percentOver90"]),
        "kpi-over-120": percent(k["percentOver120"]),
        "kpi-ncr": percent(k["netCollectionRate"]),
        "kpi-write-off-rate": percent(k["writeOffPercentOfCharges"]),
        "kpi-adjustment-rate": percent(k["adjustmentPercentOfCharges"]),
    }
    for cell in total["buckets"]:
        shown[f"bucket {cell['bucket']['label']}"] = f"{usd(cell['amount'])} {cell['visits']}"
    return shown


# ---------------------------------------------------------------------------------------------
# the page
# ---------------------------------------------------------------------------------------------


async def on_page(page: Page) -> dict[str, str]:
    """The same figures as the page shows them."""
    shown: dict[str, str] = await page.evaluate(
        """() => {
            const out = {};
            for (const id of ["aging-total", "aging-net", "write-offs-total", "adjustments-total",
                "adjustments-memo", "adjustments-carc-table-total", "kpi-total-ar",
                "kpi-days-in-ar", "kpi-over-90", "kpi-over-120", "kpi-ncr",
                "kpi-write-off-rate", "kpi-adjustment-rate"]) {
                const node = document.getElementById(id);
                out[id] = node ? node.textContent : null;
            }
            for (const row of document.querySelectorAll("#aging tbody tr[data-bucket]")) {
                const cells = row.querySelectorAll("td.num");
                out[`bucket ${row.dataset.bucket}`] =
                    `${cells[0].textContent} ${cells[1].textContent}`;
            }
            return out;
        }"""
    )
    return shown


async def wait_for_texts(page: Page, expected: dict[str, str], timeout_ms: float) -> None:
    """Wait until each element id shows its text."""
    await page.wait_for_function(
        """expected => Object.entries(expected).every(
            ([id, text]) => document.getElementById(id)?.textContent === text)""",
        arg=expected,
        timeout=timeout_ms,
    )


async def status(page: Page) -> str:
    text = await page.text_content("#status")
    return text or ""


async def sign_in(page: Page, token: str) -> None:
    await page.get_by_label("Bearer token").fill(token)
    await page.get_by_role("button", name="Sign in").click()


async def write_off(
    client: httpx.AsyncClient, token: str, key: str, line: int, amount: str
) -> dict[str, Any]:
    body = await gql(client, WRITE_OFF, write_off_input(key, [(line, amount)]), token)
    assert body["data"]["writeOff"]["userErrors"] == [], body
    command: dict[str, Any] = body["data"]["writeOff"]["command"]
    return command


# ---------------------------------------------------------------------------------------------
# tests
# ---------------------------------------------------------------------------------------------


async def test_the_page_is_served_locked_to_its_own_origin(
    client: httpx.AsyncClient, server: str
) -> None:
    # when a browser asks for /dashboard
    response = await client.get("/dashboard", headers={"Accept": "text/html"})
    page = response.text
    # then it gets the page, with nothing but this origin allowed and no inline script or style
    assert response.status_code == 200
    assert "<title>AR dashboard · arledger</title>" in page
    policy = csp_of(response.headers)
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == policy["style-src"] == policy["connect-src"] == "'self'"
    assert "font-src" not in policy
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert_no_inline_code(page)
    assert re.findall(r"""\b(?:src|href)="([^"#]*)\"""", page) == [
        "data:,",
        *(f"{STATIC_PATH}/{s}" for s in STYLESHEETS),
        *(f"{STATIC_PATH}/{s}" for s in SCRIPTS),
        f"{STATIC_PATH}/{MODULE}",
    ]
    # and the vendored client is there with its licence
    for asset in ("vendor/graphql-ws/LICENSE.md", "vendor/graphql-ws/README.md", *SCRIPTS):
        assert (await client.get(f"{STATIC_PATH}/{asset}")).status_code == 200, asset
    readme = await client.get(f"{STATIC_PATH}/vendor/graphql-ws/README.md")
    assert "graphql-ws) | 6.4.2 | MIT" in readme.text


async def test_live_figures_reconnect_catch_up_and_drill_down(
    offline_page: OfflinePage,
    client: httpx.AsyncClient,
    server: str,
    sessions: SessionFactory,
    settings: Settings,
) -> None:
    # given a tenant with balances in four buckets and this month's activity
    world = await billing_world(sessions)
    token = world.token(settings, SCOPES)
    today = world.today()
    page = offline_page.page
    await page.set_viewport_size({"width": 1280, "height": 800})
    # when the dashboard is opened and the token pasted
    response = await page.goto(f"{server}/dashboard")
    assert response is not None and response.status == 200
    assert await status(page) == "Signed out"
    await sign_in(page, token)
    # then it goes live and shows exactly what the report queries say
    await page.wait_for_selector("#status.pill-live", timeout=RENDER_MS)
    assert await status(page) == "Live"
    before = await figures(client, token, today)
    assert await on_page(page) == before
    assert before["aging-total"] == "$805.00"
    assert before["write-offs-total"] == "$5.00"
    assert before["bucket 0-30"] == "$100.00 1"
    assert await page.text_content("#tenant") == f"Tenant {world.slug}"
    await page.evaluate("() => { window.notReloaded = true; }")
    await screenshot(page, "dashboard-1280x800")
    # and at 1280x800 no widget needs a sideways scroll
    overflowing = await page.evaluate(
        """() => [...document.querySelectorAll('.card, .scroll')]
            .filter((e) => e.scrollWidth > e.clientWidth).map((e) => e.className)"""
    )
    assert overflowing == []

    # when $25.00 is written off through the API
    started = time.monotonic()
    command = await write_off(client, token, "dash-1", world.lines["v1001"][0], "25.00")
    # then within 2 s, without a reload, the write-off widget and the aging show it
    await wait_for_texts(page, {"write-offs-total": "$30.00", "aging-total": "$780.00"}, LIVE_MS)
    seen_after = time.monotonic() - started
    assert (await wait_final(client, command["id"], token))["status"] == "APPLIED"
    assert await on_page(page) == await figures(client, token, today)
    assert await page.evaluate("() => window.notReloaded") is True
    first = await page.locator("#activity tbody tr").first.text_content()
    assert first is not None and "Write-off" in first and "-$25.00" in first

    # when the API's websocket goes away and stays away
    offline_page.refuse_websockets = True
    assert await offline_page.cut_websockets() == 1
    # then the page says it is reconnecting
    await page.wait_for_function(
        "() => document.getElementById('status').textContent === 'Reconnecting…'",
        timeout=RENDER_MS,
    )
    # and when $40.00 more is written off meanwhile, the page cannot know yet
    command = await write_off(client, token, "dash-2", world.lines["v1004"][0], "40.00")
    assert (await wait_final(client, command["id"], token))["status"] == "APPLIED"
    assert await page.text_content("#write-offs-total") == "$30.00"
    assert await status(page) == "Reconnecting…"
    # when the API is reachable again, the page reconnects by itself and catches up
    offline_page.refuse_websockets = False
    await wait_for_texts(page, {"write-offs-total": "$70.00", "aging-total": "$740.00"}, RENDER_MS)
    await page.wait_for_selector("#status.pill-live", timeout=RENDER_MS)
    assert await on_page(page) == await figures(client, token, today)
    assert await page.evaluate("() => window.notReloaded") is True

    # when the 121+ bucket is clicked
    await page.get_by_role("button", name="Accounts aged 121+ days").click()
    # then its accounts are listed, as the accounts query lists them
    dialog = page.get_by_role("dialog", name="Accounts aged 121+ days")
    await dialog.locator("tbody tr").first.wait_for(timeout=RENDER_MS)
    listed = await dialog.locator("tbody tr").all_text_contents()
    expected = await data(
        client,
        ACCOUNTS,
        {
            "filter": {"agingBucket": {"minDays": 121, "maxDays": None}},
            "orderBy": {"field": "BALANCE"},
        },
        token,
    )
    assert [e["node"]["accountNumber"] for e in expected["accounts"]["edges"]] == ["1004"]
    assert listed == ["1004Dan Roe$340.00"]
    await screenshot(page, "dashboard-drill-down")
    await page.get_by_role("button", name="Close").click()
    # and a payer's cell lists that payer's accounts of that age
    await page.get_by_role("button", name="Blue Cross, 0-30 days: $75.00").click()
    dialog = page.get_by_role("dialog", name="Blue Cross: accounts aged 0-30 days")
    await dialog.locator("tbody tr").first.wait_for(timeout=RENDER_MS)
    assert await dialog.locator("tbody tr").all_text_contents() == ["1001Ann Lee$75.00"]
    await page.get_by_role("button", name="Close").click()

    # and at tablet size it still shows everything
    await page.set_viewport_size({"width": 768, "height": 1024})
    await screenshot(page, "dashboard-768x1024")
    print(f"write-off on the page {seen_after:.2f} s after the mutation returned")
    # and another period re-subscribes: the page shows the last 7 days
    week = today - timedelta(days=6)
    await page.select_option("#period", "7")
    await page.get_by_text(f"{week:%b} {week.day}, {week.year} \u2013 ").wait_for(timeout=RENDER_MS)
    await wait_for_texts(page, {"write-offs-total": "$70.00"}, RENDER_MS)
    assert_stayed_local(offline_page, server)


async def test_token_from_the_address_bar_signs_in_and_a_refused_one_is_said_so(
    offline_page: OfflinePage, server: str, sessions: SessionFactory, settings: Settings
) -> None:
    world = await billing_world(sessions)
    page = offline_page.page
    # when the page is opened with #token=… (as `make dev` prints it)
    await page.goto(f"{server}/dashboard#token={world.token(settings)}")
    # then it is signed in and live, and the token is gone from the address bar
    await page.wait_for_selector("#status.pill-live", timeout=RENDER_MS)
    assert page.url == f"{server}/dashboard"
    # when signed out
    await page.get_by_role("button", name="Sign out").click()
    assert await status(page) == "Signed out"
    assert await page.evaluate("() => sessionStorage.length") == 0
    # and a forged token is pasted
    await sign_in(page, world.token(settings)[:-4] + "AAAA")
    # then the page says the token was refused, and is signed out
    error = page.locator("#sign-in-error")
    await error.filter(has_text="refused").wait_for(timeout=RENDER_MS)
    assert (await error.text_content() or "").startswith("The token was refused (Forbidden: ")
    assert await status(page) == "Signed out"
    assert await page.get_by_label("Bearer token").is_visible()
    assert_stayed_local(offline_page, server)
