// The Settings page's virtual keys and teams (admin keys only): list, create, rotate, revoke
// keys; list and create teams. Every change is one /v1/admin/keys or /v1/admin/teams call; the
// router validates it, and its error (message and the field at fault) shows beside the form.
//
// A secret is shown once, in a box of its own: it lives in one <input>'s value (never an
// attribute, never sessionStorage or localStorage), and "Done" removes that input from the page.

import * as api from "./api.js";
import { byId, fillTable, h } from "./dom.js";
import * as fmt from "./format.js";
import { act, splitList } from "./settings.js";

// Overlap of a rotation when the row's field is left empty (the API's own default: one hour).
const DEFAULT_OVERLAP_S = 3600;

let latest = 0;
let teams = [];
let afterChange = async () => {};

/** Redraw the section now, then the whole dashboard (`refresh`: the audit log shows the change). */
async function changed() {
  await refreshVirtualKeys({ admin: true }, { force: true });
  afterChange({});
}

/** Wire the create forms and the secret box; call once. `refresh` reloads the dashboard. */
export function initVirtualKeys(refresh) {
  afterChange = refresh;
  byId("key-new").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    let key;
    try {
      key = keyBody(form);
    } catch (err) {
      form.querySelector("[data-role=error]").textContent = err.message;
      return;
    }
    let created = null;
    const done = await act(
      form,
      async () => {
        created = await api.createKey(key);
      },
      `Key ${key.name} created.`,
    );
    if (done) {
      form.reset();
      showSecret(`New key ${created.name} (${created.id})`, created.secret);
      await changed();
    }
  });
  byId("team-new").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const team = { name: form.elements.name.value.trim(), budgets: budgets(form) };
    const done = await act(form, () => api.createTeam(team), `Team ${team.name} created.`);
    if (done) {
      form.reset();
      await changed();
    }
  });
  byId("key-secret-done").addEventListener("click", hideSecret);
  byId("key-secret-copy").addEventListener("click", copySecret);
}

/** Fetch and draw keys and teams for an admin `caller`; for anyone else hide and empty the
 * section (nothing of it stays in the page). While a row's field has focus the 30-second
 * refresh leaves the table alone, unless `force` (after a change). */
export async function refreshVirtualKeys(caller, { force = false } = {}) {
  const mine = ++latest;
  const admin = !caller || caller.admin;
  const section = byId("settings-keys-section");
  section.hidden = !admin;
  if (!admin) {
    hideSecret();
    teams = [];
    fillTable("settings-keys", [], "");
    fillTable("settings-teams", [], "");
    byId("key-new-team").replaceChildren(h("option", { value: "" }, "(no team)"));
    return;
  }
  const [keys, teamList] = await Promise.all([
    api.listKeys().catch((err) => err),
    api.listTeams().catch((err) => err),
  ]);
  if (mine !== latest) return;
  if (!(teamList instanceof Error)) teams = teamList.teams;
  renderTeams(teamList);
  const table = byId("settings-keys");
  if (force || !table.contains(document.activeElement)) renderKeys(keys);
}

function renderKeys(keys) {
  if (keys instanceof Error) {
    fillTable("settings-keys", [], `The keys are unavailable: ${keys.message}`);
    return;
  }
  const now = Date.now();
  fillTable("settings-keys", keys.keys.map((k) => keyRow(k, now)), "No virtual key yet.");
}

function renderTeams(list) {
  if (list instanceof Error) {
    fillTable("settings-teams", [], `The teams are unavailable: ${list.message}`);
  } else {
    fillTable("settings-teams", list.teams.map(teamRow), "No team yet.");
  }
  // Keep the operator's choice across refreshes.
  const select = byId("key-new-team");
  const chosen = select.value;
  select.replaceChildren(
    h("option", { value: "" }, "(no team)"),
    ...teams.map((t) => h("option", { value: t.id }, `${t.name} (${t.id})`)),
  );
  if (teams.some((t) => t.id === chosen)) select.value = chosen;
}

/** active, rotating (the previous secret still works), revoked or expired, at `now` (ms). */
export function keyState(k, now) {
  if (k.revoke_time) return "revoked";
  if (k.expire_time && Date.parse(k.expire_time) <= now) return "expired";
  if (k.previous_secret_expire_time && Date.parse(k.previous_secret_expire_time) > now) return "rotating";
  return "active";
}

const STATE_PILL = { active: "ok", rotating: "warn", revoked: "bad", expired: "bad" };

function statePill(k, state) {
  const title =
    state === "rotating"
      ? `the previous secret works until ${fmt.time(k.previous_secret_expire_time)} UTC`
      : state === "revoked"
        ? `revoked ${fmt.time(k.revoke_time)} UTC`
        : "";
  return h("span", { class: `pill ${STATE_PILL[state]}`, title }, state);
}

function budgetText(list) {
  if (!list || !list.length) return "–";
  return list
    .map((b) => {
      const period = b.period === "rolling" ? `${b.rolling_seconds} s` : b.period;
      const soft = b.soft_usd === null ? "" : `soft ${fmt.usd(b.soft_usd)}, `;
      const hard = b.hard_usd === null ? "no hard limit" : `hard ${fmt.usd(b.hard_usd)}`;
      return `${period}: ${soft}${hard}`;
    })
    .join("; ");
}

function teamName(id) {
  if (!id) return "–";
  const team = teams.find((t) => t.id === id);
  return team ? team.name : id;
}

function keyRow(k, now) {
  const state = keyState(k, now);
  const row = h("tr", { dataset: { key: k.id, state } });
  const live = state === "active" || state === "rotating";
  const overlap = h("input", {
    type: "number",
    name: "overlap_seconds",
    min: 0,
    step: 1,
    placeholder: String(DEFAULT_OVERLAP_S),
    class: "overlap",
    "aria-label": `Overlap in seconds for ${k.name}`,
    title: "seconds the current secret keeps working (empty: one hour)",
  });
  const rotate = h("button", { type: "button", class: "secondary", dataset: { action: "rotate" } }, "Rotate");
  rotate.addEventListener("click", async () => {
    const text = overlap.value.trim();
    const seconds = text === "" ? DEFAULT_OVERLAP_S : Number(text);
    let rotated = null;
    const done = await act(
      row,
      async () => {
        rotated = await api.rotateKey(k.id, seconds);
      },
      `Key ${k.name} rotated.`,
    );
    if (done) {
      showSecret(`New secret of ${rotated.name} (${rotated.id})`, rotated.secret);
      await changed();
    }
  });
  const revoke = h("button", { type: "button", class: "danger", dataset: { action: "revoke" } }, "Revoke");
  revoke.addEventListener("click", async () => {
    if (!window.confirm(`Revoke key ${k.name} (${k.id})? Its secrets stop working at once.`)) return;
    if (await act(row, () => api.revokeKey(k.id), `Key ${k.name} revoked.`)) {
      await changed();
    }
  });
  row.append(
    h("td", null, k.name),
    h("td", { class: "small" }, k.id),
    h("td", { dataset: { team: k.team_id || "" } }, teamName(k.team_id)),
    h("td", null, k.role),
    h("td", { class: "small" }, k.allowed_models.length ? k.allowed_models.join(", ") : "all"),
    h("td", { class: "num" }, k.rpm_limit === null ? "–" : fmt.count(k.rpm_limit)),
    h("td", { class: "num" }, k.tpm_limit === null ? "–" : fmt.count(k.tpm_limit)),
    h("td", { class: "small" }, budgetText(k.budgets)),
    h("td", null, fmt.time(k.create_time)),
    h("td", null, k.expire_time ? fmt.time(k.expire_time) : "never"),
    h("td", { dataset: { role: "state" } }, statePill(k, state)),
    h(
      "td",
      { class: "row-actions" },
      live ? [overlap, rotate, revoke] : null,
      h("span", { class: "error small", dataset: { role: "error" } }),
    ),
  );
  return row;
}

function teamRow(t) {
  return h(
    "tr",
    { dataset: { team: t.id } },
    h("td", null, t.name),
    h("td", { class: "small" }, t.id),
    h("td", { class: "small" }, budgetText(t.budgets)),
    h("td", null, fmt.time(t.create_time)),
  );
}

/** A form's one budget: [] when no period is chosen, else [{period, soft_usd?, hard_usd?}]. */
function budgets(form) {
  const period = form.elements["budgets[0].period"].value;
  if (!period) return [];
  const budget = { period };
  for (const limit of ["soft_usd", "hard_usd"]) {
    const input = form.elements[`budgets[0].${limit}`];
    if (input && input.value.trim() !== "") budget[limit] = Number(input.value);
  }
  return [budget];
}

function optionalInteger(input) {
  const text = input.value.trim();
  return text === "" ? undefined : Number(text);
}

/** The create form as a POST /v1/admin/keys body (the router checks the values). */
function keyBody(form) {
  const e = form.elements;
  const key = { name: e.name.value.trim(), role: e.role.value, budgets: budgets(form) };
  if (e.team_id.value) key.team_id = e.team_id.value;
  const models = splitList(e.allowed_models.value);
  if (models.length) key.allowed_models = models;
  const rpm = optionalInteger(e.rpm_limit);
  if (rpm !== undefined) key.rpm_limit = rpm;
  const tpm = optionalInteger(e.tpm_limit);
  if (tpm !== undefined) key.tpm_limit = tpm;
  if (e.expire_time.value) {
    // datetime-local is the browser's local time; the API wants an instant with its offset.
    const when = new Date(e.expire_time.value);
    if (Number.isNaN(when.getTime())) throw new Error("expire_time: not a valid time.");
    key.expire_time = when.toISOString();
  }
  return key;
}

/** Show `secret` once; the previous one, if still shown, is replaced. */
function showSecret(label, secret) {
  const value = h("input", {
    id: "key-secret-value",
    type: "text",
    readonly: true,
    spellcheck: "false",
    autocomplete: "off",
    "aria-label": "Secret",
  });
  value.value = secret; // a property, not an attribute: it leaves with the element
  byId("key-secret-label").textContent = label;
  byId("key-secret-status").textContent = "";
  byId("key-secret-field").replaceChildren(value);
  byId("key-secret").hidden = false;
  value.focus();
  value.select();
}

function hideSecret() {
  byId("key-secret-field").replaceChildren();
  byId("key-secret-label").textContent = "";
  byId("key-secret-status").textContent = "";
  byId("key-secret").hidden = true;
}

async function copySecret() {
  const value = byId("key-secret-value");
  if (!value) return;
  const status = byId("key-secret-status");
  try {
    await navigator.clipboard.writeText(value.value);
    status.textContent = "Copied.";
  } catch {
    // No clipboard API outside secure contexts (plain http to a remote host): select it instead.
    value.focus();
    value.select();
    status.textContent = document.execCommand("copy") ? "Copied." : "Selected: press Ctrl+C to copy.";
  }
}
