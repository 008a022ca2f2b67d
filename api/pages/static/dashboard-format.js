/*
 * Formatting and DOM helpers of the AR dashboard (no dependencies).
 *
 * Money arrives as the API's decimal string ("1234.50", "-3.00"); it is turned into integer
 * cents first (never a float parse of the string) and shown as US dollars.
 */

const USD = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" });
const COUNT = new Intl.NumberFormat("en-US");
const TIME = new Intl.DateTimeFormat("en-US", { hour: "numeric", minute: "2-digit", second: "2-digit" });
const DATE_TIME = new Intl.DateTimeFormat("en-US", {
  month: "short", day: "numeric", hour: "numeric", minute: "2-digit",
});
const DAY = new Intl.DateTimeFormat("en-US", { month: "short", day: "numeric", year: "numeric", timeZone: "UTC" });

/** Integer cents of a Money string ("12.5" → 1250, "-0.07" → -7); 0 for null. */
export function cents(money) {
  if (money === null || money === undefined) return 0;
  const text = String(money).trim();
  const negative = text.startsWith("-");
  const [whole, fraction = ""] = text.replace(/^[-+]/, "").split(".");
  const value = Number(whole || "0") * 100 + Number((fraction + "00").slice(0, 2));
  return negative ? -value : value;
}

/** "$1,234.50" / "-$3.00" from integer cents. */
export function usd(centsValue) {
  return USD.format(centsValue / 100);
}

/** A Money string as US dollars. */
export function money(value) {
  return usd(cents(value));
}

export function count(n) {
  return COUNT.format(n);
}

/** A Decimal percentage ("12.34") as "12.34%", or an em dash when there is none. */
export function percent(value) {
  return value === null || value === undefined ? "—" : `${value}%`;
}

export function clock(date) {
  return TIME.format(date);
}

export function when(iso) {
  return DATE_TIME.format(new Date(iso));
}

/** A calendar date ("2026-12-04") as "Dec 4, 2026". */
export function day(isoDate) {
  return DAY.format(new Date(`${isoDate}T00:00:00Z`));
}

/** "PATIENT_UNCOLLECTABLE" → "Patient uncollectable", "small-balance" → "Small balance". */
export function humanize(code) {
  if (!code) return "—";
  const words = String(code).replace(/[_-]+/g, " ").trim().toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/**
 * An element: `el("td", { className: "num", text: "…" }, child, …)`. Attributes other than
 * className/text/dataset/on* go through setAttribute; children may be strings or nodes.
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "className") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

/** A table with a caption, a header row and body rows (arrays of cells), and a footer. */
export function table({ caption, head, rows, foot, className = "data", captionHidden = false }) {
  const th = (cell, scope = "col") =>
    cell instanceof Node ? cell : el("th", { scope, className: cell.className, text: cell.text ?? cell });
  return el(
    "table",
    { className },
    el("caption", { className: captionHidden ? "visually-hidden" : null, text: caption }),
    el("thead", {}, el("tr", {}, head.map((cell) => th(cell)))),
    el("tbody", {}, rows),
    foot ? el("tfoot", {}, foot) : null,
  );
}

/** A numeric cell. */
export function num(text, props = {}) {
  return el("td", { className: "num", ...props, text });
}
