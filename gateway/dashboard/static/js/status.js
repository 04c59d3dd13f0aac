// The Status page: services, models, fallback availability, today's fallbacks and tokens.

import { byId, fillTable, h, setFigure, setText } from "./dom.js";
import * as fmt from "./format.js";

const CIRCUIT = {
  closed: ["closed", "ok"],
  half_open: ["half-open", "warn"],
  open: ["open", "bad"],
  unspecified: ["unknown", ""],
};

export function circuitPill(model) {
  const [text, tone] = CIRCUIT[model.breaker_state] || CIRCUIT.unspecified;
  const title =
    model.breaker_state === "open" && model.breaker_retry_after_ms !== null
      ? `next probe in ${fmt.duration(model.breaker_retry_after_ms)}`
      : null;
  return h("span", { class: `pill ${tone}`, title, dataset: { state: model.breaker_state } }, text);
}

export function enabledPill(enabled) {
  return h("span", { class: `pill ${enabled ? "ok" : "bad"}` }, enabled ? "enabled" : "disabled");
}

function serviceCard(name, state) {
  const up = state === "SERVING";
  return h(
    "div",
    { class: `card kpi service ${up ? "up" : "down"}`, id: `service-${name}`, dataset: { up: String(up) } },
    h("div", { class: "label" }, name),
    h("div", { class: "value" }, up ? "up" : "down"),
    h("div", { class: "hint" }, state || "no answer"),
  );
}

/** `ready` is the body of /readyz (null when the gateway did not answer). */
export function renderStatus(summary, ready) {
  byId("services").replaceChildren(
    serviceCard("gateway", ready ? "SERVING" : "UNREACHABLE"),
    serviceCard("router", ready && ready.router),
    serviceCard("metrics", ready && ready.metrics),
  );

  setFigure("kpi-fallbacks-today", summary.fallbacks_today, fmt.count(summary.fallbacks_today ?? 0));
  setFigure("kpi-fallbacks-week", summary.fallbacks_week, fmt.count(summary.fallbacks_week ?? 0));
  setFigure("kpi-tokens-hour", summary.tokens_this_hour, fmt.count(summary.tokens_this_hour ?? 0));
  if (summary.hourly) {
    const hour = summary.hourly[summary.hourly.length - 1];
    setText("kpi-tokens-hour-hint", `since ${fmt.hourLabel(hour.bucket_start)} UTC, ${fmt.usd(hour.cost_usd)}`);
  }

  const categories = summary.categories;
  if (categories) {
    const covered = categories.filter((c) => c.available).length;
    setFigure("kpi-availability", covered, `${covered} / ${categories.length}`);
    byId("kpi-availability").dataset.total = String(categories.length);
    byId("kpi-availability").classList.toggle("error", covered < categories.length);
  } else {
    setFigure("kpi-availability", null, "");
  }

  const models = summary.models;
  fillTable(
    "status-models",
    (models || []).map((m) =>
      h(
        "tr",
        { dataset: { model: m.model } },
        h("td", null, m.model, m.local ? h("span", { class: "muted small" }, " local") : null),
        h("td", null, m.provider),
        h("td", null, enabledPill(m.enabled)),
        h("td", null, circuitPill(m)),
        h("td", { class: "num" }, fmt.rateOrDash(m.success_rate)),
        h("td", { class: "num" }, fmt.duration(m.ewma_latency_ms)),
        h("td", { class: "num" }, fmt.count(m.consecutive_failures)),
        h("td", { title: fmt.time(m.last_failure_time) }, m.last_error_type || "–"),
      ),
    ),
    models ? "No models." : "The router is unavailable.",
  );

  fillTable(
    "status-categories",
    (categories || []).map((c) =>
      h(
        "tr",
        { dataset: { category: c.name, available: String(c.available) } },
        h("td", null, c.name),
        h("td", null, c.chain.join(" → ")),
        h("td", null, c.available_models.join(", ") || "none"),
        h("td", null, h("span", { class: `pill ${c.available ? "ok" : "bad"}` }, c.available ? "available" : "unavailable")),
      ),
    ),
    categories ? "No categories." : "The router is unavailable.",
  );

  setText("providers-window", `attempts in the ${windowName(summary.since)}`);
  const providers = summary.provider_health;
  fillTable(
    "status-providers",
    (providers || []).map((p) =>
      h(
        "tr",
        null,
        h("td", null, p.provider),
        h("td", { class: "num" }, fmt.count(p.requests)),
        h("td", { class: "num" }, fmt.percent(p.success_rate)),
        h("td", { class: "num" }, fmt.duration(p.average_latency_ms)),
        h("td", null, fmt.time(p.last_success_time)),
        h("td", null, fmt.time(p.last_failure_time)),
        h("td", null, p.last_error_type || "–"),
      ),
    ),
    providers ? "No attempts in this window." : "The metrics service is unavailable.",
  );
}

export function windowName(since) {
  return { "24h": "last 24 hours", "7d": "last 7 days", "30d": "last 30 days" }[since] || `last ${since}`;
}
