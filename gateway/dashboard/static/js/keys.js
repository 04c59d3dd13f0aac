// The Analytics page's keys and teams: spend, tokens and requests per API key and per team over
// the window (GET /v1/costs grouped by api_key,team and by team), with what remains of each
// budget rule that applies (a <meter>: full is the whole hard limit left). A key that is not an
// admin key gets its own row only (the gateway scopes the report), and no teams table.

import * as api from "./api.js";
import { byId, fillTable, h } from "./dom.js";
import * as fmt from "./format.js";

/** One budget: "alice-daily $0.99 of $1.00 left · day" over a meter of what remains. */
function budget(b) {
  const left = Math.max(0, b.remaining_usd);
  return h(
    "div",
    { class: "budget", dataset: { budget: b.id, remaining: b.remaining_usd, hard: b.hard_usd } },
    h("meter", {
      min: 0,
      max: b.hard_usd,
      value: left,
      low: b.hard_usd * 0.2,
      high: b.hard_usd * 0.5,
      optimum: b.hard_usd,
      title: `${fmt.percent(b.hard_usd ? left / b.hard_usd : 0)} left`,
    }),
    h(
      "span",
      { class: "small" },
      `${b.id} ${fmt.usd(b.remaining_usd)} of ${fmt.usd(b.hard_usd)} left · ${b.period}`,
    ),
  );
}

function budgets(list) {
  return list && list.length ? list.map(budget) : "–";
}

function row(g, withKey) {
  return h(
    "tr",
    {
      dataset: {
        key: withKey ? g.api_key_id : undefined,
        team: g.team_id,
        requests: g.requests,
        tokens: g.total_tokens,
        cost: g.cost_usd,
      },
    },
    withKey ? h("td", null, g.api_key_id || "(no key)") : null,
    h("td", null, g.team_id || (withKey ? "–" : "(no team)")),
    h("td", { class: "num" }, fmt.count(g.requests)),
    h("td", { class: "num" }, fmt.count(g.total_tokens)),
    h("td", { class: "num" }, fmt.usd(g.cost_usd)),
    h("td", { class: "budgets" }, budgets(g.budgets)),
  );
}

let latest = 0;

/** Fetch and draw both tables for the window `since`; only the newest refresh draws. A failed
 * report leaves its table saying so, never the page. The teams table is an admin's only. */
export async function refreshKeys(since, caller) {
  const mine = ++latest;
  const admin = !caller || caller.admin;
  const optional = (promise) => promise.catch(() => null);
  const [byKey, byTeam] = await Promise.all([
    optional(api.costsBy("api_key,team", since)),
    admin ? optional(api.costsBy("team", since)) : null,
  ]);
  if (mine === latest) renderKeys(byKey, byTeam, caller);
}

/** `byKey` and `byTeam` are /v1/costs reports (null when they could not be read). */
function renderKeys(byKey, byTeam, caller) {
  const failed = "The usage could not be read.";
  fillTable(
    "analytics-keys",
    byKey ? byKey.groups.map((g) => row(g, true)) : [],
    byKey ? "No requests in this window." : failed,
  );
  const admin = !caller || caller.admin;
  byId("analytics-teams-section").hidden = !admin;
  if (admin) {
    fillTable(
      "analytics-teams",
      byTeam ? byTeam.groups.map((g) => row(g, false)) : [],
      byTeam ? "No requests in this window." : failed,
    );
  }
}
