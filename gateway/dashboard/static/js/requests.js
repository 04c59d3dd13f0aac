// The Requests page: the request log (GET /v1/requests), filtered, paged with the tokens the
// gateway hands out, each row linked to its trace, and the same filter exported as CSV.

import * as api from "./api.js";
import { byId, fillTable, h, setText } from "./dom.js";
import * as fmt from "./format.js";

const WINDOWS_MS = { "1h": 3_600_000, "24h": 86_400_000, "7d": 604_800_000, "30d": 2_592_000_000 };

// The filter as applied (its window start fixed then: a page token is valid only with the
// exact filter it came with), and the token of each page seen so far ("" for the first).
const state = { filter: null, tokens: [""], page: 0, loading: null };

/** The form's values as query parameters, the window turned into a fixed start. */
function readFilter() {
  const form = byId("requests-filter");
  const params = new URLSearchParams();
  for (const name of ["key", "model", "status"]) {
    const value = form.elements[name].value.trim();
    if (value) params.set(name, value);
  }
  const since = WINDOWS_MS[form.elements.since.value];
  if (since) params.set("start", new Date(Date.now() - since).toISOString());
  return params;
}

function query(extra) {
  const params = new URLSearchParams(state.filter);
  for (const [name, value] of Object.entries(extra)) if (value) params.set(name, value);
  return params.toString();
}

function row(r) {
  const ok = r.status === "succeeded";
  return h(
    "tr",
    { dataset: { request: r.request_id, attempts: r.attempts, status: r.status, cost: r.cost_usd } },
    h("td", { title: r.request_id }, fmt.time(r.time)),
    h("td", null, r.api_key_id || "–"),
    h("td", null, r.category || "–"),
    h("td", { class: "chain", dataset: { role: "chain" } }, r.models.join(" → ")),
    h("td", { class: "num" }, fmt.count(r.attempts)),
    h(
      "td",
      { title: r.error_type || null },
      h("span", { class: `pill ${ok ? "ok" : r.status === "cancelled" ? "warn" : "bad"}` }, r.status),
      ok || !r.error_type ? null : h("span", { class: "muted small" }, ` ${r.error_type}`),
    ),
    h("td", { class: "num", title: `${fmt.count(r.prompt_tokens)} in, ${fmt.count(r.completion_tokens)} out` },
      fmt.count(r.total_tokens)),
    h("td", { class: "num" }, fmt.usd(r.cost_usd)),
    h("td", { class: "num" }, fmt.duration(r.latency_ms)),
    h(
      "td",
      null,
      r.trace_url ? h("a", { href: r.trace_url, target: "_blank", rel: "noopener noreferrer" }, "Trace ↗") : "–",
    ),
  );
}

async function load() {
  const page = state.page;
  const limit = byId("requests-limit").value;
  const body = await api.api(`v1/requests?${query({ limit, page_token: state.tokens[page] })}`);
  if (page !== state.page) return; // a newer load took over
  fillTable("requests-table", body.data.map(row), "No requests match.");
  if (body.next_page_token) state.tokens[page + 1] = body.next_page_token;
  else state.tokens.length = page + 1;
  byId("requests-newer").disabled = page === 0;
  byId("requests-older").disabled = !body.has_more;
  setText("requests-page", `page ${page + 1}`);
  byId("requests-csv").href = `v1/requests.csv?${query({})}`;
  document.body.dataset.requests = String(Number(document.body.dataset.requests || 0) + 1);
}

/** Load the current page; failures are shown above the table (a 401 brings the login). */
export async function refreshRequests() {
  if (state.filter === null) state.filter = readFilter();
  setText("requests-error", "");
  try {
    await load();
  } catch (err) {
    if (err.status !== 401) setText("requests-error", err.message);
  }
}

function go(page) {
  state.page = page;
  refreshRequests();
}

/** Save the CSV export with the key (a plain link cannot send the Authorization header). */
async function exportCsv(event) {
  event.preventDefault();
  setText("requests-error", "");
  try {
    const { blob, filename } = await api.download(byId("requests-csv").getAttribute("href"));
    const url = URL.createObjectURL(blob);
    const link = h("a", { href: url, download: filename || "requests.csv", hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  } catch (err) {
    if (err.status !== 401) setText("requests-error", err.message);
  }
}

export function initRequests() {
  byId("requests-filter").addEventListener("submit", (event) => {
    event.preventDefault();
    state.filter = readFilter();
    state.tokens = [""];
    go(0);
  });
  byId("requests-limit").addEventListener("change", () => {
    state.tokens = [""];
    go(0);
  });
  byId("requests-older").addEventListener("click", () => go(state.page + 1));
  byId("requests-newer").addEventListener("click", () => go(Math.max(state.page - 1, 0)));
  byId("requests-csv").addEventListener("click", exportCsv);
}
