// The Settings page: model and provider switches, breaker resets, categories and their chains,
// the alerts fired and the audit log. Every change goes through the router's admin RPCs (/v1/admin/*); the
// router validates it and its answer, error or not, is shown here. Each value says whether it
// is the config file's or an admin change made at runtime.

import * as api from "./api.js";
import { byId, fillTable, h, setText } from "./dom.js";
import * as fmt from "./format.js";
import { circuitPill } from "./status.js";

// Audit events shown (the newest ones).
const AUDIT_ROWS = 20;
// Alerts shown (the newest ones).
const ALERT_ROWS = 20;

let afterChange = async () => {};

/** `refresh` reloads the dashboard's data after a successful change. */
export function initSettings(refresh) {
  afterChange = refresh;
  byId("category-new").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const category = {
      name: form.elements.name.value.trim(),
      chain: splitList(form.elements.chain.value),
      keywords: splitList(form.elements.keywords.value),
    };
    const done = await act(form, () => api.createCategory(category), `Category ${category.name} created.`);
    if (done) {
      form.reset();
      await afterChange({ categories: true });
    }
  });
}

function auditRow(e) {
  const who = e.api_key_id ? `${e.actor} (key ${e.api_key_id})` : e.actor;
  return h(
    "tr",
    { dataset: { event: e.id } },
    h("td", null, fmt.time(e.time)),
    h("td", null, who),
    h("td", null, e.action),
    h("td", null, e.target),
    h("td", { class: "small" }, JSON.stringify(e.before)),
    h("td", { class: "small" }, JSON.stringify(e.after)),
  );
}

/** The newest audit events (admin keys only: others would get a 403). */
async function renderAudit() {
  try {
    const log = await api.auditLog(AUDIT_ROWS);
    fillTable("settings-audit", log.events.map(auditRow), "No admin change yet.");
  } catch (err) {
    fillTable("settings-audit", [], `The audit log is unavailable: ${err.message}`);
  }
}

function alertRow(a) {
  const subject = `${a.scope} ${a.subject || "(none)"}`;
  const d = a.delivery;
  const tries = d.attempts === 1 ? "1 try" : `${d.attempts} tries`;
  const delivery = d.status === "no_webhook" ? "kept (no webhook)" : `${d.status}, ${tries}`;
  return h(
    "tr",
    { dataset: { alert: a.alert_id, kind: a.kind } },
    h("td", null, fmt.time(a.time)),
    h("td", null, a.kind.replaceAll("_", " ")),
    h("td", null, subject),
    h("td", null, a.message),
    h("td", { class: "small", title: d.error || "" }, d.error ? `${delivery}: ${d.error}` : delivery),
  );
}

/** The newest alerts (admin keys only). */
async function renderAlerts() {
  try {
    const page = await api.alerts(ALERT_ROWS);
    fillTable("settings-alerts", page.alerts.map(alertRow), "No alert has fired.");
  } catch (err) {
    fillTable("settings-alerts", [], `The alerts are unavailable: ${err.message}`);
  }
}

/** "a, b,,c" -> ["a", "b", "c"]. */
export function splitList(text) {
  return text
    .split(",")
    .map((part) => part.trim())
    .filter(Boolean);
}

function flash(text, failed = false) {
  const box = byId("settings-message");
  box.textContent = text;
  box.classList.toggle("failed", failed);
  box.hidden = false;
}

/** Run one admin call for `form` (or a button's row); show the router's verdict. */
export async function act(form, call, success) {
  const error = form.querySelector("[data-role=error]");
  for (const input of form.querySelectorAll("input, select")) input.removeAttribute("aria-invalid");
  if (error) error.textContent = "";
  const controls = form.querySelectorAll("button, input, select");
  for (const control of controls) control.disabled = true;
  try {
    await call();
    flash(success);
    return true;
  } catch (err) {
    const where = err.param ? `${err.param}: ` : "";
    const text = `${where}${err.message}`;
    if (error) error.textContent = text;
    flash(text, true);
    const field = err.param && err.param.match(/^[a-z_]+/);
    const input = field && form.querySelector(`[name="${CSS.escape(err.param)}"], [name="${field[0]}"]`);
    if (input) input.setAttribute("aria-invalid", "true");
    return false;
  } finally {
    for (const control of controls) control.disabled = false;
  }
}

function modelRow(m) {
  const row = h("tr", { dataset: { model: m.model } });
  const toggle = h("input", {
    type: "checkbox",
    name: "enabled",
    checked: m.enabled,
    "aria-label": `Enable ${m.model}`,
    dataset: { action: "toggle-model" },
  });
  toggle.addEventListener("change", async () => {
    const enabled = toggle.checked;
    const verb = enabled ? "enabled" : "disabled";
    if (await act(row, () => api.setModelEnabled(m.model, enabled), `${m.model} ${verb}.`)) {
      await afterChange({});
    } else {
      toggle.checked = !enabled;
    }
  });
  const reset = h(
    "button",
    { type: "button", class: "secondary", dataset: { action: "reset-breaker" } },
    "Reset breaker",
  );
  reset.addEventListener("click", async () => {
    if (await act(row, () => api.resetBreaker(m.model), `Breaker of ${m.model} closed.`)) {
      await afterChange({});
    }
  });
  row.append(
    h("td", null, m.model),
    h("td", null, m.provider),
    h("td", null, h("label", { class: "switch" }, toggle, m.enabled ? "on" : "off")),
    h("td", { dataset: { role: "source" } }, sourcePill(m.enabled_source)),
    h("td", null, circuitPill(m)),
    h("td", null, reset),
  );
  return row;
}

/** "config" (the router's config file) or "runtime" (an admin change overriding it). */
function sourcePill(source) {
  const runtime = source === "runtime";
  const title = runtime ? "changed at runtime (overrides the config file)" : "from the config file";
  return h("span", { class: `pill ${runtime ? "warn" : "ok"}`, title, dataset: { source } }, source || "–");
}

function providerSwitch(provider) {
  const box = h("div", { class: "card", dataset: { provider } }, h("strong", null, provider));
  for (const enabled of [true, false]) {
    const button = h(
      "button",
      { type: "button", class: enabled ? "secondary" : "danger" },
      enabled ? "Enable all" : "Disable all",
    );
    button.addEventListener("click", async () => {
      const verb = enabled ? "enabled" : "disabled";
      const done = await act(box, () => api.setProviderEnabled(provider, enabled), `All ${provider} models ${verb}.`);
      if (done) await afterChange({});
    });
    box.append(button);
  }
  return box;
}

function categoryForm(c) {
  const form = h(
    "form",
    { class: "category card", dataset: { category: c.name }, autocomplete: "off" },
    h("div", { class: "name" }, c.name, " ", sourcePill(c.source)),
    h(
      "div",
      { class: "field grow" },
      h("label", null, "Chain"),
      h("input", { name: "chain", value: c.chain.join(", "), spellcheck: "false", list: "model-names" }),
    ),
    h(
      "div",
      { class: "field grow" },
      h("label", null, "Keywords"),
      h("input", { name: "keywords", value: c.keywords.join(", "), spellcheck: "false" }),
    ),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit" }, "Save"),
      h("button", { type: "button", class: "danger", dataset: { action: "delete" } }, "Delete"),
    ),
    h("p", { class: "error", dataset: { role: "error" } }),
  );
  form.addEventListener("input", () => {
    form.dataset.dirty = "true";
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    // The page does not edit the quality bound: a save keeps the one the category had.
    const body = {
      chain: splitList(form.elements.chain.value),
      keywords: splitList(form.elements.keywords.value),
      min_quality: c.min_quality ?? null,
    };
    if (await act(form, () => api.updateCategory(c.name, body), `Category ${c.name} saved.`)) {
      await afterChange({ categories: true });
    }
  });
  form.querySelector("[data-action=delete]").addEventListener("click", async () => {
    if (!window.confirm(`Delete category ${c.name}?`)) return;
    if (await act(form, () => api.deleteCategory(c.name), `Category ${c.name} deleted.`)) {
      await afterChange({ categories: true });
    }
  });
  return form;
}

/** Models are redrawn on every refresh; category forms only when asked (or when none is being
 * edited), so the 30-second refresh never throws away what an operator is typing. */
export function renderSettings(summary, { categories = false } = {}) {
  const replicas = byId("settings-replicas");
  replicas.hidden = summary.router_replicas <= 1;
  replicas.textContent =
    `This gateway spreads calls over ${summary.router_replicas} router replicas; each change ` +
    "below reaches one of them, which applies it to every replica sharing its admin store " +
    "(router.admin_database_url) within a second.";

  const models = summary.models;
  fillTable("settings-models", (models || []).map(modelRow), models ? "No models." : "The router is unavailable.");
  const providers = [...new Set((models || []).map((m) => m.provider))];
  byId("settings-providers").replaceChildren(...providers.map(providerSwitch));
  byId("model-names").replaceChildren(...(models || []).map((m) => h("option", { value: m.model })));

  const list = byId("settings-categories");
  const editing = list.querySelector("form[data-dirty=true]") || list.contains(document.activeElement);
  if (summary.categories && (categories || !editing || !list.children.length)) {
    list.replaceChildren(...summary.categories.map(categoryForm));
  }
  setText("classification-mode", summary.classification_mode ? `classification: ${summary.classification_mode}` : "");

  // Only admin keys may change routing (the gateway answers 403 otherwise): say so up front.
  const admin = !summary.caller || summary.caller.admin;
  byId("settings-admin").hidden = admin;
  if (admin) {
    renderAlerts();
    renderAudit();
  } else {
    // An admin may have signed out of this tab: nothing of theirs stays for the next key.
    fillTable("settings-alerts", [], "Admin keys only.");
    fillTable("settings-audit", [], "Admin keys only.");
  }
  for (const control of byId("page-settings").querySelectorAll("input, button, select, textarea")) {
    control.disabled = !admin;
  }
}
