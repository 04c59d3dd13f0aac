// The Quality page: the router's quality estimates per model x category, learned from feedback
// (GET /v1/admin/quality, admin keys only): the configured quality (the prior), the scores seen
// (users' and judges'), the posterior mean with its 90 % credible interval drawn as a bar, and
// whether weighted scoring uses it yet.

import * as api from "./api.js";
import { byId, fillTable, h, setText } from "./dom.js";
import * as fmt from "./format.js";

const state = { loading: null };

/** A mark placed along 0..1 (CSSOM: the page's CSP allows no style attributes). */
function mark(cls, from, width) {
  const pct = (x) => `${(Math.min(1, Math.max(0, x)) * 100).toFixed(1)}%`;
  const el = h("span", { class: cls });
  el.style.left = pct(from);
  if (width !== undefined) el.style.width = pct(width);
  return el;
}

/** The interval [lower, upper] over 0..1 as a bar, the estimate and the prior as ticks. */
function interval(e) {
  return h(
    "div",
    {
      class: "interval",
      title: `90 % credible interval ${e.lower.toFixed(2)}–${e.upper.toFixed(2)}`,
      role: "img",
      "aria-label": `estimate ${e.estimate.toFixed(2)}, interval ${e.lower.toFixed(2)} to ${e.upper.toFixed(2)}, prior ${e.prior.toFixed(2)}`,
    },
    mark("range", e.lower, e.upper - e.lower),
    mark("tick prior", e.prior),
    mark("tick estimate", e.estimate),
  );
}

function row(e) {
  return h(
    "tr",
    {
      dataset: {
        model: e.model,
        category: e.category,
        estimate: e.estimate,
        samples: e.samples,
        inUse: String(e.in_use),
      },
    },
    h("td", null, e.model),
    h("td", null, e.category || "–"),
    h("td", { class: "num" }, e.prior.toFixed(2)),
    h("td", { class: "num", title: `${e.user_samples} user, ${e.judge_samples} judge` }, fmt.count(e.samples)),
    h("td", { class: "num" }, e.samples ? e.observed_mean.toFixed(2) : "–"),
    h("td", { class: "num", dataset: { role: "estimate" } }, e.estimate.toFixed(2)),
    h("td", { class: "num" }, `${e.lower.toFixed(2)}–${e.upper.toFixed(2)}`),
    h("td", { class: "interval-cell" }, interval(e)),
    h(
      "td",
      null,
      h("span", { class: `pill ${e.in_use ? "ok" : "warn"}` }, e.in_use ? "estimate" : "prior"),
    ),
  );
}

async function load() {
  try {
    const data = await api.api("v1/admin/quality");
    setText("quality-error", "");
    setText("quality-min-samples", `scoring uses an estimate once its scores weigh ${data.min_samples}`);
    fillTable("quality-table", data.estimates.map(row), "No feedback yet: every model is scored by its configured quality.");
  } catch (err) {
    const text = err.status === 403 ? "The quality estimates need an admin key." : err.message;
    setText("quality-error", text);
    fillTable("quality-table", [], "–");
  }
}

/** Fetch and draw the estimates; a refresh asked for while one runs waits for it. */
export async function refreshQuality() {
  while (state.loading) await state.loading;
  state.loading = load().finally(() => {
    state.loading = null;
  });
  return state.loading;
}

/** Forget what was shown (sign-out). */
export function clearQuality() {
  fillTable("quality-table", [], "–");
  setText("quality-error", "");
  byId("quality-min-samples").textContent = "";
}
