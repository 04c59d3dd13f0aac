// The dashboard: login, tabs, and the refresh loop that feeds the pages.

import * as api from "./api.js";
import { renderAnalytics } from "./analytics.js";
import { resizeWithin } from "./charts.js";
import { byId, setText } from "./dom.js";
import { refreshKeys } from "./keys.js";
import { clearQuality, refreshQuality } from "./quality.js";
import { initRequests, refreshRequests } from "./requests.js";
import { initSettings, renderSettings } from "./settings.js";
import { renderStatus } from "./status.js";
import { initVirtualKeys, refreshVirtualKeys } from "./virtualkeys.js";

const REFRESH_MS = 30_000;
const PAGES = ["status", "analytics", "requests", "quality", "settings"];
const state = { since: "24h", timer: null, loading: null, renders: 0 };

function showPage() {
  const wanted = location.hash.slice(1);
  const page = PAGES.includes(wanted) ? wanted : "status";
  for (const name of PAGES) {
    byId(`page-${name}`).hidden = name !== page;
    byId(`tab-${name}`).setAttribute("aria-selected", String(name === page));
  }
  document.body.dataset.page = page;
  resizeWithin(byId(`page-${page}`));
  // The request log and the quality estimates are read only while their page is shown.
  if (page === "requests" && !byId("app").hidden) refreshRequests();
  if (page === "quality" && !byId("app").hidden) refreshQuality();
}

function banner(text) {
  const box = byId("banner");
  box.textContent = text || "";
  box.hidden = !text;
}

function showLogin(message) {
  stopTimer();
  api.session.key = null;
  // Nothing of the admin's keys (least of all a secret being shown) outlives the session.
  refreshVirtualKeys({ admin: false });
  clearQuality();
  byId("app").hidden = true;
  byId("signout").hidden = true;
  byId("login").hidden = false;
  byId("login-error").textContent = message || "";
  document.body.dataset.state = "login";
  byId("login-key").focus();
}

function showApp() {
  byId("login").hidden = true;
  byId("app").hidden = false;
  byId("signout").hidden = !api.authRequired;
}

/** Fetch the summary and readiness at once and draw every page. A refresh asked for while
 * one is running waits for it and loads again: a change just made must show. */
async function refresh(options = {}) {
  while (state.loading) await state.loading;
  state.loading = load(options).finally(() => {
    state.loading = null;
  });
  return state.loading;
}

async function load(options) {
  try {
    const [summary, ready] = await Promise.all([api.summary(state.since), api.readiness()]);
    showApp();
    renderStatus(summary, ready);
    renderAnalytics(summary);
    // Once the key is known good: the keys and teams tables fill in after the page is ready.
    refreshKeys(state.since, summary.caller);
    renderSettings(summary, options);
    refreshVirtualKeys(summary.caller);
    if (document.body.dataset.page === "requests") await refreshRequests();
    if (document.body.dataset.page === "quality") await refreshQuality();
    const missing = summary.unavailable.map((u) => `${u.service}: ${u.message}`);
    banner(missing.length ? `Some figures are missing. ${missing.join(" ")}` : "");
    setText("updated", `updated ${new Date().toLocaleTimeString()}`);
    state.renders += 1;
    // Time from navigation to the first full render, for measurements (performance API).
    if (state.renders === 1) performance.mark("dashboard-ready");
    document.body.dataset.renders = String(state.renders);
    document.body.dataset.state = "ready";
  } catch (err) {
    // A 401 has already brought up the login form (the "llmrouter:unauthorized" event).
    if (err.status !== 401) {
      banner(err.message);
      document.body.dataset.state = "error";
    }
  }
}

function startTimer() {
  stopTimer();
  state.timer = setInterval(() => {
    if (!document.hidden) refresh();
  }, REFRESH_MS);
}

function stopTimer() {
  if (state.timer !== null) clearInterval(state.timer);
  state.timer = null;
}

async function start() {
  await refresh();
  if (document.body.dataset.state !== "login") startTimer();
}

window.addEventListener("llmrouter:unauthorized", () => showLogin("This API key was not accepted."));
window.addEventListener("hashchange", showPage);
document.addEventListener("visibilitychange", () => {
  if (!document.hidden && state.timer !== null) refresh();
});
byId("refresh").addEventListener("click", () => refresh());
byId("signout").addEventListener("click", () => showLogin(""));
byId("window").addEventListener("change", (event) => {
  state.since = event.target.value;
  refresh();
});
byId("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const key = byId("login-key").value.trim();
  if (!key) return;
  api.session.key = key;
  byId("login-key").value = "";
  byId("login-error").textContent = "";
  await start();
});
initSettings(refresh);
initVirtualKeys(refresh);
initRequests();
showPage();

if (api.authRequired && !api.session.key) {
  showLogin("");
} else {
  start();
}
