/*
 * The AR dashboard's widgets: each renders one part of an `arDashboard` push into its container
 * (replacing what was there). Aging cells are buttons that call `drill({ title, filter })` with
 * the `AccountFilter` that selects exactly that cell's accounts.
 */

import { cents, count, day, el, humanize, money, num, percent, table, when } from "./dashboard-format.js";

const KINDS = {
  CHARGE: "Charge", PAYMENT: "Payment", WRITEOFF: "Write-off", ADJUSTMENT: "Adjustment",
  CONTRACTUAL: "Contractual", BAD_DEBT: "Bad debt", FINANCE_CHARGE: "Finance charge",
  ADDITIONAL_CHARGE: "Additional charge", REFUND: "Refund",
};

function bucketInput(bucket) {
  return { minDays: bucket.minDays, maxDays: bucket.maxDays };
}

function drillButton(label, description, drill, title, filter) {
  return el("button", {
    type: "button", className: "link", "aria-label": description,
    onclick: () => drill({ title, filter }),
  }, label);
}

function kpi(id, label, value, note) {
  return el("div", { className: "kpi" },
    el("dt", { text: label }),
    el("dd", { id, className: "kpi-value", text: value }),
    note ? el("dd", { className: "kpi-note", text: note }) : null);
}

export function renderKpis(container, k) {
  const days = k.daysInAr === null ? "—" : `${k.daysInAr}`;
  container.replaceChildren(
    kpi("kpi-total-ar", "Total AR", money(k.totalAr), `${money(k.creditBalances)} in credits`),
    kpi("kpi-days-in-ar", "Days in AR", days, `${money(k.charges)} charged in the period`),
    kpi("kpi-over-90", "AR over 90 days", percent(k.percentOver90), money(k.arOver90)),
    kpi("kpi-over-120", "AR over 120 days", percent(k.percentOver120), money(k.arOver120)),
    kpi("kpi-ncr", "Net collection rate", percent(k.netCollectionRate), `${money(k.payments)} collected`),
    kpi("kpi-write-off-rate", "Write-offs / charges", percent(k.writeOffPercentOfCharges), money(k.writeOffs)),
    kpi("kpi-adjustment-rate", "Adjustments / charges", percent(k.adjustmentPercentOfCharges), money(k.adjustments)),
  );
}

export function renderAging(container, aging, drill) {
  const total = aging.total;
  const basis = aging.basis;
  const largest = Math.max(1, ...total.buckets.map((c) => cents(c.amount)));
  const rows = total.buckets.map((cell) => {
    const label = cell.bucket.label;
    const fill = el("span", { className: "fill" });
    fill.style.width = `${(100 * Math.max(0, cents(cell.amount))) / largest}%`;
    return el("tr", { dataset: { bucket: label } },
      el("th", { scope: "row" }, drillButton(`${label} days`, `Accounts aged ${label} days`, drill,
        `Accounts aged ${label} days`, { agingBucket: bucketInput(cell.bucket), basis })),
      el("td", { className: "bar-cell" }, el("span", { className: "bar", "aria-hidden": "true" }, fill)),
      num(money(cell.amount), { className: "num amount" }),
      num(count(cell.visits)),
      num(percent(cell.percent)));
  });
  const foot = [
    el("tr", { className: "total" },
      el("th", { scope: "row", text: "Total debit balances" }), el("td"),
      num(money(total.debitTotal), { id: "aging-total", className: "num amount" }),
      num(count(total.debitVisits)), num("")),
    el("tr", {},
      el("th", { scope: "row" }, drillButton("Credit balances", "Accounts with a credit balance", drill,
        "Accounts with a credit balance", { creditBalance: true, basis })),
      el("td"), num(money(total.credits.amount), { className: "num amount" }),
      num(count(total.credits.visits)), num("")),
    el("tr", { className: "net" },
      el("th", { scope: "row", text: "Net AR" }), el("td"),
      num(money(total.net), { id: "aging-net", className: "num amount" }), num(""), num("")),
  ];
  container.replaceChildren(table({
    caption: `Debit balances by age in days (${humanize(basis).toLowerCase()}), as of ${day(aging.asOf)}. Select a bucket to list its accounts.`,
    // The share bars are decorative (aria-hidden; the % column says it): no header, no width.
    head: ["Bucket", el("td"), { text: "Amount", className: "num" },
      { text: "Visits", className: "num" }, { text: "%", className: "num" }],
    rows, foot,
  }));
}

export function renderPayers(container, aging, drill) {
  const buckets = aging.buckets;
  const basis = aging.basis;
  const rows = aging.rows.map((row) => {
    const name = row.payer ? row.payer.name : humanize(row.payerClass ?? "All payers");
    const payerId = row.payer ? row.payer.id : null;
    return el("tr", {},
      el("th", { scope: "row", text: name }),
      row.buckets.map((cell) => el("td", { className: "num" }, cents(cell.amount) === 0
        ? el("span", { className: "zero", text: money(cell.amount) })
        : drillButton(money(cell.amount), `${name}, ${cell.bucket.label} days: ${money(cell.amount)}`,
          drill, `${name}: accounts aged ${cell.bucket.label} days`,
          { payerId, agingBucket: bucketInput(cell.bucket), basis }))),
      num(money(row.debitTotal), { className: "num amount" }),
      num(money(row.credits.amount)));
  });
  const t = aging.total;
  const foot = el("tr", { className: "total" },
    el("th", { scope: "row", text: "Total" }),
    t.buckets.map((cell) => num(money(cell.amount))),
    num(money(t.debitTotal), { className: "num amount" }), num(money(t.credits.amount)));
  container.replaceChildren(table({
    caption: "Debit balances by payer and age in days; credits apart",
    captionHidden: true,
    head: ["Payer", ...buckets.map((b) => ({ text: b.label, className: "num" })),
      { text: "Total", className: "num" }, { text: "Credits", className: "num" }],
    rows: rows.length ? rows : [el("tr", {}, el("td", { colspan: buckets.length + 3, className: "empty", text: "No balances." }))],
    foot,
  }));
}

function summaryTable(caption, label, rows, total, idPrefix) {
  return el("div", { className: "scroll" }, summaryRows(caption, label, rows, total, idPrefix));
}

function summaryRows(caption, label, rows, total, idPrefix) {
  const body = rows.map((row) => el("tr", {},
    el("th", { scope: "row", text: label(row) }),
    num(money(row.amount), { className: "num amount" }),
    num(cents(row.memoAmount) ? money(row.memoAmount) : "—", { className: "num memo" }),
    num(count(row.entries))));
  return table({
    caption,
    head: ["", { text: "Amount", className: "num" }, { text: "Memo (info)", className: "num" },
      { text: "Entries", className: "num" }],
    rows: body.length ? body : [el("tr", {}, el("td", { colspan: 4, className: "empty", text: "None in this period." }))],
    foot: el("tr", { className: "total" },
      el("th", { scope: "row", text: "Total" }),
      num(money(total.amount), { id: `${idPrefix}-table-total`, className: "num amount" }),
      num(cents(total.memoAmount) ? money(total.memoAmount) : "—", { id: `${idPrefix}-memo`, className: "num memo" }),
      num(count(total.entries))),
  });
}

function headline(id, amount, memo) {
  return el("p", { className: "headline" },
    el("span", { id, className: "figure", text: money(amount) }),
    el("span", { className: "figure-note", text: cents(memo) ? ` net · ${money(memo)} informational (memo, not in the amount)` : " net in the period" }));
}

export function renderWriteOffs(container, summary) {
  container.replaceChildren(
    headline("write-offs-total", summary.total.amount, summary.total.memoAmount),
    summaryTable("Write-offs by reason", (r) => humanize(r.reason), summary.rows, summary.total, "write-offs"));
}

export function renderAdjustments(container, carcContainer, byCategory, byCarc) {
  container.replaceChildren(
    headline("adjustments-total", byCategory.total.amount, byCategory.total.memoAmount),
    summaryTable("Adjustments by category", (r) => (r.category ? humanize(r.category) : "No category"), byCategory.rows, byCategory.total, "adjustments"));
  carcContainer.replaceChildren(
    summaryTable("Adjustments by CARC", (r) => r.carc ?? "No CARC", byCarc.rows, byCarc.total, "adjustments-carc"));
}

export function renderActivity(container, activity) {
  const rows = activity.map((e) => el("tr", { dataset: { entry: e.entryId } },
    el("td", {}, el("time", { datetime: e.postedAt, text: when(e.postedAt) })),
    el("th", { scope: "row" }, el("span", { className: "acct", text: e.accountNumber }), ` ${e.accountName}`),
    el("td", {}, el("span", { className: `kind kind-${e.kind.toLowerCase()}`, text: KINDS[e.kind] ?? humanize(e.kind) })),
    el("td", { text: e.label }),
    num(cents(e.amount) ? money(e.amount) : "—", { className: `num amount ${cents(e.amount) < 0 ? "down" : ""}` }),
    num(e.memoAmount !== null && e.memoAmount !== undefined ? money(e.memoAmount) : "", { className: "num memo" })));
  container.replaceChildren(table({
    caption: "The latest 20 ledger entries, newest first",
    captionHidden: true,
    head: ["Posted", "Account", "Kind", "Detail", { text: "Amount", className: "num" }, { text: "Memo", className: "num" }],
    rows: rows.length ? rows : [el("tr", {}, el("td", { colspan: 6, className: "empty", text: "No entries yet." }))],
  }));
}

/** The accounts of a drill-down, as a table. */
export function renderAccounts(container, connection) {
  const rows = connection.edges.map(({ node }) => el("tr", {},
    el("th", { scope: "row", className: "acct", text: node.accountNumber }),
    el("td", { text: node.name }),
    num(money(node.balance), { className: "num amount" })));
  container.replaceChildren(table({
    caption: connection.pageInfo.hasNextPage ? "The 50 largest balances (there are more)" : `${count(rows.length)} ${rows.length === 1 ? "account" : "accounts"}, largest balance first`,
    head: ["Account", "Patient", { text: "Balance", className: "num" }],
    rows: rows.length ? rows : [el("tr", {}, el("td", { colspan: 3, className: "empty", text: "No accounts." }))],
  }));
}
