// The Analytics page: totals, charts, per-model table and recent fallbacks with trace links.

import { bars, doughnut, line } from "./charts.js";
import { byId, fillTable, h, setFigure, setText } from "./dom.js";
import * as fmt from "./format.js";
import { windowName } from "./status.js";

export function renderAnalytics(summary) {
  const totals = summary.totals;
  if (totals) {
    setFigure("kpi-requests", totals.requests, fmt.count(totals.requests));
    setText(
      "kpi-requests-hint",
      `${fmt.count(totals.failures)} failed, ${fmt.count(totals.cancellations)} cancelled, ` +
        windowName(summary.since),
    );
    setFigure("kpi-tokens", totals.total_tokens, fmt.count(totals.total_tokens));
    setText("kpi-tokens-hint", `${fmt.count(totals.prompt_tokens)} in, ${fmt.count(totals.completion_tokens)} out`);
    setFigure(
      "kpi-cost",
      totals.cost_usd,
      // A model without a known price is billed $0: the cost is then a lower bound.
      totals.priced ? fmt.usd(totals.cost_usd) : `${fmt.usd(totals.cost_usd)}+ (unpriced)`,
    );
    setFigure("kpi-fallback-rate", totals.fallback_rate, fmt.percent(totals.fallback_rate));
    setText("kpi-fallback-hint", `${fmt.count(totals.fallback_count)} fallbacks`);
    setFigure("kpi-savings", totals.savings_usd, fmt.usd(totals.savings_usd));
    setText(
      "kpi-savings-hint",
      `${fmt.percent(totals.savings_percent / 100)} vs ${summary.reference_model || "reference"} ` +
        `(${fmt.usd(totals.reference_cost_usd)})`,
    );
    // Answers replayed by the router's response cache: billed $0, this is what they cost
    // when they were first served.
    setFigure("kpi-cache-saved", totals.cache_saved_usd, fmt.usd(totals.cache_saved_usd));
    setText("kpi-cache-hint", `${fmt.count(totals.cache_hits)} ${totals.cache_hits === 1 ? "hit" : "hits"}`);
    setFigure("kpi-latency", totals.average_latency_ms, fmt.duration(totals.average_latency_ms));
    setText("kpi-latency-hint", `average; p95 ${fmt.duration(totals.p95_latency_ms)}`);
  } else {
    for (const id of ["kpi-requests", "kpi-tokens", "kpi-cost", "kpi-fallback-rate", "kpi-savings", "kpi-cache-saved", "kpi-latency"]) {
      setFigure(id, null, "");
    }
  }

  if (summary.hourly) {
    bars(
      "chart-hourly",
      summary.hourly.map((b) => fmt.hourLabel(b.bucket_start)),
      summary.hourly.map((b) => b.total_tokens),
      "Tokens",
      "#2f6fde",
      fmt.count,
    );
  }
  const models = summary.by_model || [];
  doughnut(
    "chart-models",
    models.map((m) => m.model),
    models.map((m) => m.requests),
  );
  if (summary.daily) {
    line(
      "chart-daily",
      summary.daily.map((b) => fmt.dayLabel(b.bucket_start)),
      summary.daily.map((b) => b.cost_usd),
      "Cost",
      "#1a9e77",
      fmt.usd,
    );
  }

  fillTable(
    "analytics-models",
    models.map((m) =>
      h(
        "tr",
        { dataset: { model: m.model, requests: m.requests, tokens: m.total_tokens, cost: m.cost_usd } },
        h("td", null, m.model),
        h("td", { class: "num" }, fmt.count(m.requests)),
        h("td", { class: "num" }, fmt.count(m.total_tokens)),
        h("td", { class: "num" }, fmt.usd(m.cost_usd)),
        h("td", { class: "num" }, fmt.percent(m.success_rate)),
        h("td", { class: "num" }, fmt.duration(m.average_latency_ms)),
        h("td", { class: "num" }, fmt.count(m.fallback_count)),
      ),
    ),
    summary.by_model ? "No requests in this window." : "The metrics service is unavailable.",
  );

  const events = summary.fallback_events;
  fillTable(
    "analytics-events",
    (events || []).map((e) =>
      h(
        "tr",
        { dataset: { request: e.request_id } },
        h("td", null, fmt.time(e.time)),
        h("td", null, e.fallback_from || "–"),
        h("td", null, e.model),
        h("td", null, e.reason || "–"),
        h("td", null, h("span", { class: `pill ${e.status === "succeeded" ? "ok" : "bad"}` }, e.status)),
        h("td", null, e.category || "–"),
        h("td", { class: "small" }, `${e.request_id} #${e.attempt}`),
        h(
          "td",
          null,
          e.trace_url
            ? h("a", { href: e.trace_url, target: "_blank", rel: "noopener noreferrer" }, "Trace ↗")
            : "–",
        ),
      ),
    ),
    events ? "No fallbacks in this window." : "The metrics service is unavailable.",
  );
}
