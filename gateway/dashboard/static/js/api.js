// The gateway's JSON API, with the operator's key from sessionStorage.
//
// Paths are relative to /dashboard, so the dashboard also works behind a path prefix.

const KEY = "llmrouter.apiKey";

export const authRequired = document.body.dataset.auth === "enabled";

export const session = {
  get key() {
    return sessionStorage.getItem(KEY);
  },
  set key(value) {
    if (value) sessionStorage.setItem(KEY, value);
    else sessionStorage.removeItem(KEY);
  },
};

/** An error answer in OpenAI's shape: message, type, param (the field at fault) and code. */
export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `The gateway answered ${status}.`);
    this.status = status;
    this.param = error.param || null;
    this.code = error.code || null;
  }
}

export async function api(path, { method = "GET", body } = {}) {
  const headers = { accept: "application/json" };
  if (authRequired && session.key) headers.authorization = `Bearer ${session.key}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
    });
  } catch {
    throw new ApiError(0, { error: { message: "The gateway cannot be reached.", code: "network" } });
  }
  const data = await response.json().catch(() => null);
  if (response.status === 401) window.dispatchEvent(new CustomEvent("llmrouter:unauthorized"));
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

/** A file from the gateway (the CSV export), with the key: {blob, filename}. */
export async function download(path) {
  const headers = {};
  if (authRequired && session.key) headers.authorization = `Bearer ${session.key}`;
  let response;
  try {
    response = await fetch(path, { headers, cache: "no-store", credentials: "omit" });
  } catch {
    throw new ApiError(0, { error: { message: "The gateway cannot be reached.", code: "network" } });
  }
  if (response.status === 401) window.dispatchEvent(new CustomEvent("llmrouter:unauthorized"));
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
  const disposition = response.headers.get("content-disposition") || "";
  const named = /filename="([^"]+)"/.exec(disposition);
  return { blob: await response.blob(), filename: named ? named[1] : null };
}

/** /readyz answers 503 with a body saying which service is down; that is data, not an error. */
export async function readiness() {
  try {
    const response = await fetch("readyz", { cache: "no-store", credentials: "omit" });
    return await response.json();
  } catch {
    return null;
  }
}

export const summary = (since) => api(`v1/dashboard/summary?since=${encodeURIComponent(since)}`);
/** /v1/costs over the window grouped by `groupBy` ("api_key,team", "team"): rows with budgets. */
export const costsBy = (groupBy, since) =>
  api(`v1/costs?since=${encodeURIComponent(since)}&group_by=${encodeURIComponent(groupBy)}`);
export const setModelEnabled = (name, enabled) =>
  api(`v1/admin/models/${encodeURIComponent(name)}/enabled`, { method: "POST", body: { enabled } });
export const setProviderEnabled = (name, enabled) =>
  api(`v1/admin/providers/${encodeURIComponent(name)}/enabled`, { method: "POST", body: { enabled } });
export const resetBreaker = (name) =>
  api(`v1/admin/models/${encodeURIComponent(name)}/reset-breaker`, { method: "POST" });
export const createCategory = (category) => api("v1/admin/categories", { method: "POST", body: category });
export const updateCategory = (name, category) =>
  api(`v1/admin/categories/${encodeURIComponent(name)}`, { method: "PUT", body: category });
export const auditLog = (limit) => api(`v1/admin/audit?limit=${limit}`);
export const alerts = (limit) => api(`v1/admin/alerts?limit=${limit}`);
export const deleteCategory = (name) =>
  api(`v1/admin/categories/${encodeURIComponent(name)}`, { method: "DELETE" });

// Virtual keys and teams (admin keys only). Create and rotate answer with `secret`, shown once.
export const listKeys = () => api("v1/admin/keys?include_revoked=true");
export const createKey = (key) => api("v1/admin/keys", { method: "POST", body: key });
export const rotateKey = (id, overlapSeconds) =>
  api(`v1/admin/keys/${encodeURIComponent(id)}/rotate`, {
    method: "POST",
    body: { overlap_seconds: overlapSeconds },
  });
export const revokeKey = (id) => api(`v1/admin/keys/${encodeURIComponent(id)}/revoke`, { method: "POST" });
export const listTeams = () => api("v1/admin/teams");
export const createTeam = (team) => api("v1/admin/teams", { method: "POST", body: team });
