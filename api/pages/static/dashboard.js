/*
 * The AR dashboard (GET /dashboard): sign-in, the live `arDashboard` subscription, drill-down.
 *
 * - Sign-in: a pasted bearer token, kept in sessionStorage (this tab only). `#token=<jwt>` in
 *   the URL signs in and is removed from the address bar at once.
 * - Live: graphql-transport-ws on /graphql (vendored graphql-ws, global `graphqlWs`), the
 *   token in connection_init's payload as `authorization`. Reconnects forever with a short
 *   backoff; every (re)subscription starts with a fresh snapshot, so a reconnect catches up.
 *   A refused token (close 4401/4403, or an UNAUTHENTICATED/FORBIDDEN error) signs out.
 * - Drill-down: an aging cell asks POST /graphql `accounts(filter, orderBy)` for its accounts.
 */

import { clock, day, el } from "./dashboard-format.js";
import {
  renderAccounts, renderActivity, renderAdjustments, renderAging, renderKpis, renderPayers,
  renderWriteOffs,
} from "./dashboard-widgets.js";

const TOKEN_KEY = "arledger.dashboard.token";
const REFUSED_CLOSE_CODES = new Set([4401, 4403]);
const REFUSED_ERROR_CODES = new Set(["UNAUTHENTICATED", "FORBIDDEN", "UNKNOWN_TENANT"]);
const PONG_TIMEOUT_MS = 5000;

const SUMMARY = "amount memoAmount entries reversals";
const CELL = "bucket { label minDays maxDays } amount visits percent";
const ROW = `buckets { ${CELL} } debitTotal debitVisits credits { amount visits } net`;
const DASHBOARD = `subscription Dashboard($filter: DashboardFilter) {
  arDashboard(filter: $filter) {
    seq snapshot computedAt
    aging { asOf basis groupBy buckets { label minDays maxDays }
      rows { payer { id code name } payerClass ${ROW} } total { ${ROW} } }
    writeOffs { from to rows { reason ${SUMMARY} } total { ${SUMMARY} } }
    adjustments { rows { category ${SUMMARY} } total { ${SUMMARY} } }
    adjustmentsByCarc { rows { carc ${SUMMARY} } total { ${SUMMARY} } }
    kpis { from to totalAr debitAr creditBalances charges payments daysInAr arOver90 arOver120
      percentOver90 percentOver120 netCollectionRate writeOffs adjustments
      writeOffPercentOfCharges adjustmentPercentOfCharges }
    activity { entryId accountId accountNumber accountName kind amount memoAmount label postedAt }
  }
}`;
const ACCOUNTS = `query Drill($filter: AccountFilter, $orderBy: AccountOrder) {
  accounts(first: 50, filter: $filter, orderBy: $orderBy) {
    edges { node { id accountNumber name balance } } pageInfo { hasNextPage }
  }
}`;

const $ = (id) => document.getElementById(id);
const wsUrl = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/graphql`;

let token = null;
let client = null;
let unsubscribe = null;
let live = false;

/* ---------------------------------------------------------------- status */

function setStatus(text, kind) {
  const pill = $("status");
  if (pill.textContent !== text) pill.textContent = text;
  pill.className = `pill pill-${kind}`;
}

function tenantOf(jwt) {
  try {
    const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part)).tenant ?? "";
  } catch {
    return "";
  }
}

/* ---------------------------------------------------------------- sign-in */

function normalise(raw) {
  return String(raw || "").trim().replace(/^bearer\s+/i, "");
}

function tokenFromAddress() {
  const match = /^#token=(.+)$/.exec(location.hash);
  if (!match) return null;
  history.replaceState(null, "", location.pathname + location.search);
  return normalise(decodeURIComponent(match[1]));
}

function signIn(raw) {
  token = normalise(raw);
  if (!token) return signOut("Paste a bearer token first.");
  sessionStorage.setItem(TOKEN_KEY, token);
  $("sign-in").hidden = true;
  $("board").hidden = false;
  $("sign-out").hidden = false;
  $("token").value = "";
  $("sign-in-error").textContent = "";
  const tenant = tenantOf(token);
  $("tenant").textContent = tenant ? `Tenant ${tenant}` : "";
  connect();
}

function signOut(message = "") {
  stop();
  token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  $("board").hidden = true;
  $("sign-out").hidden = true;
  $("sign-in").hidden = false;
  $("tenant").textContent = "";
  $("freshness").textContent = "";
  $("sign-in-error").textContent = message;
  setStatus("Signed out", "out");
  $("token").focus();
}

/* ---------------------------------------------------------------- live data */

function stop() {
  live = false;
  if (unsubscribe) unsubscribe();
  unsubscribe = null;
  if (client) client.dispose();
  client = null;
}

function filter() {
  return { periodDays: Number($("period").value), basis: $("basis").value, agingGroupBy: "PAYER" };
}

function connect() {
  stop();
  setStatus("Connecting…", "wait");
  let pongTimer = null;
  const current = graphqlWs.createClient({
    url: wsUrl,
    connectionParams: () => ({ authorization: `Bearer ${token}` }),
    retryAttempts: Infinity,
    shouldRetry: (event) => !(event && REFUSED_CLOSE_CODES.has(event.code)),
    retryWait: (retries) => new Promise((resolve) =>
      setTimeout(resolve, Math.min(250 * 2 ** retries, 3000) + Math.random() * 250)),
    keepAlive: 15000,
    on: {
      connecting: () => { if (client === current) setStatus(live ? "Reconnecting…" : "Connecting…", "wait"); },
      closed: () => {
        clearTimeout(pongTimer);
        if (client === current && token) setStatus("Reconnecting…", "wait");
      },
      ping: (received) => {
        if (!received) pongTimer = setTimeout(() => current.terminate(), PONG_TIMEOUT_MS);
      },
      pong: (received) => { if (received) clearTimeout(pongTimer); },
    },
  });
  client = current;
  subscribe();
}

function subscribe() {
  if (unsubscribe) unsubscribe();
  const current = client;
  unsubscribe = current.subscribe({ query: DASHBOARD, variables: { filter: filter() } }, {
    next: (result) => { if (client === current) received(result); },
    error: (error) => { if (client === current) failed(error); },
    complete: () => {
      // The server ended the stream (a restart): start again, a fresh snapshot follows.
      if (client === current && token) setTimeout(() => client === current && subscribe(), 1000);
    },
  });
}

function received(result) {
  if (result.errors && result.errors.length) return failed(result.errors);
  const board = result.data.arDashboard;
  live = true;
  setStatus("Live", "live");
  $("board-error").textContent = "";
  render(board);
}

function render(board) {
  const drill = drillDown;
  renderKpis($("kpis"), board.kpis);
  renderAging($("aging"), board.aging, drill);
  renderPayers($("payers"), board.aging, drill);
  renderWriteOffs($("write-offs"), board.writeOffs);
  renderAdjustments($("adjustments"), $("adjustments-carc"), board.adjustments, board.adjustmentsByCarc);
  renderActivity($("activity"), board.activity);
  $("period-range").textContent = `${day(board.kpis.from)} – ${day(board.kpis.to)}`;
  const at = new Date(board.computedAt);
  const freshness = $("freshness");
  freshness.replaceChildren(
    el("span", { id: "seq", text: `seq ${board.seq}` }), " · updated ",
    el("time", { id: "updated", datetime: board.computedAt, text: clock(at) }));
}

function failed(error) {
  if (error && typeof error.code === "number") {
    if (REFUSED_CLOSE_CODES.has(error.code)) {
      return signOut(`The token was refused (${error.reason || error.code}). Paste a valid token.`);
    }
    return showError(`The connection was closed (${error.code}${error.reason ? `: ${error.reason}` : ""}).`);
  }
  const errors = Array.isArray(error) ? error : [error];
  const codes = errors.map((e) => e && e.extensions && e.extensions.code);
  const text = errors.map((e) => (e && e.message) || String(e)).join(" ");
  if (codes.some((code) => REFUSED_ERROR_CODES.has(code) || String(code).startsWith("TOKEN_"))) {
    return signOut(`The token was refused: ${text}`);
  }
  return showError(`The dashboard could not be loaded: ${text}`);
}

function showError(text) {
  live = false;
  setStatus("Error", "error");
  $("board-error").textContent = text;
}

/* ---------------------------------------------------------------- drill-down */

async function drillDown({ title, filter: accountFilter }) {
  const dialog = $("drilldown");
  $("drilldown-title").textContent = title;
  $("drilldown-note").textContent = "";
  $("drilldown-body").replaceChildren(el("p", { className: "sub", text: "Loading accounts…" }));
  if (!dialog.open) dialog.showModal();
  $("drilldown-close").focus();
  try {
    const response = await fetch("/graphql", {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
      body: JSON.stringify({
        query: ACCOUNTS,
        variables: { filter: accountFilter, orderBy: { field: "BALANCE" } },
      }),
    });
    const body = await response.json();
    if (body.errors && body.errors.length) throw new Error(body.errors.map((e) => e.message).join(" "));
    renderAccounts($("drilldown-body"), body.data.accounts);
  } catch (error) {
    $("drilldown-body").replaceChildren(el("p", { className: "error", role: "alert", text: `Could not load the accounts: ${error.message}` }));
  }
}

/* ---------------------------------------------------------------- boot */

function boot() {
  $("sign-in-form").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn($("token").value);
  });
  $("sign-out").addEventListener("click", () => signOut());
  $("drilldown-close").addEventListener("click", () => $("drilldown").close());
  $("period").addEventListener("change", () => client && subscribe());
  $("basis").addEventListener("change", () => client && subscribe());
  window.addEventListener("hashchange", () => {
    const fromHash = tokenFromAddress();
    if (fromHash) signIn(fromHash);
  });
  const initial = tokenFromAddress() || sessionStorage.getItem(TOKEN_KEY);
  if (initial) signIn(initial);
  else signOut();
}

boot();
