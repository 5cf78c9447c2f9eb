// OCSP Lab console: plain JavaScript against the API of `testca serve`.
// The token lives in sessionStorage (this tab only) and goes out as the
// Authorization header; nothing is stored in cookies.
"use strict";

const TOKEN_KEY = "ocsplab-api-token";
const REASONS = ["unspecified", "keyCompromise", "cACompromise", "affiliationChanged",
  "superseded", "cessationOfOperation", "certificateHold", "removeFromCRL", "privilegeWithdrawn", "aACompromise"];

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const child of children) {
    if (child !== null && child !== undefined) {
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
  }
  return node;
}

class ApiError extends Error {
  constructor(status, detail) { super(detail); this.status = status; }
}

async function api(method, path, body) {
  return (await request(method, path, body)).value;
}

// Every certificate: the list comes a page at a time, the next page named by the Link header.
async function listCertificates() {
  const all = [];
  let path = "/api/v1/certificates?limit=1000";
  while (path) {
    const { value, response } = await request("GET", path);
    all.push(...value);
    const next = /<([^>]*)>;\s*rel="next"/.exec(response.headers.get("Link") || "");
    path = next ? next[1] : null;
  }
  return all;
}

async function request(method, path, body) {
  const headers = { "Authorization": "Bearer " + (sessionStorage.getItem(TOKEN_KEY) || "") };
  const init = { method, headers, cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, "cannot reach testca serve: " + e.message);
  }
  const text = await response.text();
  let value = null;
  try { value = text ? JSON.parse(text) : null; } catch (e) { value = null; }
  if (!response.ok) {
    const detail = value && value.detail ? value.detail : `HTTP ${response.status}: ${text}`;
    if (response.status === 401) showLogin(detail);
    throw new ApiError(response.status, detail);
  }
  return { value, response };
}

function showError(node, error) {
  node.textContent = error ? (error.message || String(error)) : "";
}

function badge(word) {
  const cls = { good: "good", revoked: "revoked", "no staple": "warn", "not served": "muted",
    unknown: "warn" }[word] || "warn";
  return el("span", { class: "badge " + cls, "data-badge": word }, word);
}

// ------------------------------------------------------------ session

function showLogin(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  $("main").hidden = true;
  $("login").hidden = false;
  $("forget-token").hidden = true;
  $("session-state").textContent = "not signed in";
  $("login-error").textContent = message || "";
  $("token-input").focus();
}

async function signIn(token) {
  sessionStorage.setItem(TOKEN_KEY, token.trim());
  try {
    await api("GET", "/api/v1/faults");
  } catch (e) {
    if (e.status !== 401) showLogin(e.message);
    return;
  }
  $("login").hidden = true;
  $("main").hidden = false;
  $("forget-token").hidden = false;
  $("session-state").textContent = "token set for this tab";
  await reloadAll();
}

// ------------------------------------------------------------ certificates

let certificates = [];

async function reloadAll() {
  showError($("toolbar-error"), null);
  try {
    const all = await listCertificates();
    // Leaves first (what QA revokes), then the CAs and signers.
    const rank = (c) => (c.kind === "leaf" ? 0 : 1);
    certificates = all.map((c, i) => [c, i]).sort((a, b) => rank(a[0]) - rank(b[0]) || a[1] - b[1]).map((p) => p[0]);
  } catch (e) {
    showError($("toolbar-error"), e);
    return;
  }
  renderCertificates();
  fillFaultCertificates();
  await Promise.all([loadFaults(), loadStaples()]);
}

function isLeafWithFiles(cert) {
  return cert.kind === "leaf" && cert.files && cert.files.length > 0;
}

function renderCertificates() {
  const body = $("certs").querySelector("tbody");
  body.replaceChildren();
  for (const cert of certificates) {
    const current = isLeafWithFiles(cert);
    const row = el("tr", { "data-name": cert.name, "data-serial": cert.serial,
      class: current || cert.kind !== "leaf" ? "" : "superseded" });
    const status = el("td", { class: "status" }, badge(cert.status));
    if (cert.status === "revoked") {
      status.append(el("div", { class: "small" }, `${cert.reason} at ${cert.revoked_at}`));
    }
    const staple = el("td", { class: "staple", "data-staple": cert.name },
      current ? el("span", { class: "muted" }, "…") : "");
    const actions = el("td", { class: "actions" });
    if (current) {
      const reason = el("select", { class: "reason", "data-name": cert.name, title: "revocation reason" },
        ...REASONS.map((r) => el("option", { value: r === "unspecified" ? "" : r }, r)));
      const revoke = el("button", { type: "button", "data-action": "revoke", "data-name": cert.name }, "Revoke");
      const unrevoke = el("button", { type: "button", "data-action": "unrevoke", "data-name": cert.name }, "Unrevoke");
      const details = el("button", { type: "button", "data-action": "details", "data-name": cert.name }, "Details");
      if (cert.status === "revoked") { revoke.disabled = true; reason.disabled = true; } else { unrevoke.disabled = true; }
      revoke.addEventListener("click", () => revokeCert(cert.name, reason.value, row));
      unrevoke.addEventListener("click", () => unrevokeCert(cert.name, row));
      details.addEventListener("click", () => toggleDetails(cert, row));
      actions.append(reason, revoke, unrevoke, details);
    }
    actions.append(el("div", { class: "error", role: "alert", "data-error": cert.name }));
    const serial = el("td", { class: "serial", title: cert.serial }, cert.serial);
    row.append(
      el("td", {}, el("strong", {}, cert.name), cert.must_staple ? el("span", { class: "tag" }, "must-staple") : null),
      el("td", { class: "nowrap" }, cert.kind), serial, status, staple,
      el("td", { class: "small nowrap", title: `${cert.not_before} to ${cert.not_after}` }, cert.not_after.slice(0, 10)), actions);
    body.append(row);
  }
}

function rowError(row, error) {
  showError(row.querySelector(".actions .error"), error);
}

async function revokeCert(name, reason, row) {
  rowError(row, null);
  const body = reason ? { reason } : {};
  try {
    await api("POST", `/api/v1/certificates/${encodeURIComponent(name)}/revoke`, body);
  } catch (e) { rowError(row, e); return; }
  await reloadAll();
}

async function unrevokeCert(name, row) {
  rowError(row, null);
  try {
    await api("POST", `/api/v1/certificates/${encodeURIComponent(name)}/unrevoke`);
  } catch (e) { rowError(row, e); return; }
  await reloadAll();
}

// ------------------------------------------------------------ staples

async function loadStaples() {
  const state = $("stapler-state");
  let status;
  try {
    status = await api("GET", "/api/v1/stapler");
    state.textContent = `stapler serves ${status.length} certificate(s)`;
    state.className = "muted";
  } catch (e) {
    state.textContent = "stapler: " + e.message;
    state.className = "error";
    for (const cell of document.querySelectorAll("td.staple[data-staple]")) {
      if (cell.textContent === "…") cell.replaceChildren(el("span", { class: "muted" }, "unknown"));
    }
    return;
  }
  for (const cert of certificates.filter(isLeafWithFiles)) {
    const cell = document.querySelector(`tr[data-serial="${cert.serial}"] td.staple`);
    if (!cell) continue;
    const entry = status.find((s) => sameSerial(s.serial, cert.serial));
    cell.replaceChildren(stapleBadge(entry));
  }
}

function sameSerial(a, b) {
  const norm = (s) => (s || "").replace(/:/g, "").toUpperCase().replace(/^0+/, "");
  return norm(a) === norm(b);
}

function stapleBadge(entry) {
  if (!entry) return badge("not served");
  if (entry.staple) {
    const word = entry.staple.status;
    const node = badge(word);
    node.title = `thisUpdate ${entry.staple.this_update}, nextUpdate ${entry.staple.next_update}`;
    return node;
  }
  const node = badge("no staple");
  node.title = entry.disabled_reason || entry.last_error || "no answer fetched yet";
  return node;
}

async function refreshStapler() {
  const button = $("stapler-refresh");
  showError($("toolbar-error"), null);
  button.disabled = true;
  $("stapler-state").textContent = "refreshing…";
  try {
    await api("POST", "/api/v1/stapler/refresh");
  } catch (e) {
    showError($("toolbar-error"), e);
  } finally {
    button.disabled = false;
  }
  await reloadAll();
}

// ------------------------------------------------------------ details

function field(dl, name, value) {
  if (value === null || value === undefined || value === "") return;
  dl.append(el("dt", {}, name), el("dd", {}, String(value)));
}

async function toggleDetails(cert, row) {
  const next = row.nextElementSibling;
  if (next && next.classList.contains("details")) { next.remove(); return; }
  const ocsp = el("div", { class: "panel", "data-panel": "ocsp" }, el("h3", {}, "Responder's answer"), el("p", { class: "muted" }, "asking…"));
  const staple = el("div", { class: "panel", "data-panel": "staple" }, el("h3", {}, "Stapler's staple"), el("p", { class: "muted" }, "asking…"));
  const checkButton = el("button", { type: "button", "data-action": "check", "data-name": cert.name }, "Check now");
  const check = el("div", { class: "panel", "data-panel": "check" }, el("h3", {}, "stapler check"), checkButton,
    el("div", { class: "check-result" }));
  checkButton.addEventListener("click", () => runCheck(cert, check));
  const detailsRow = el("tr", { class: "details", "data-details": cert.name },
    el("td", { colSpan: 7 }, el("div", { class: "panels" }, ocsp, staple, check)));
  row.after(detailsRow);
  await Promise.all([loadOcsp(cert, ocsp), loadStaple(cert, staple)]);
}

async function loadOcsp(cert, panel) {
  const title = panel.firstChild;
  let answer;
  try {
    answer = await api("GET", `/api/v1/certificates/${encodeURIComponent(cert.name)}/ocsp`);
  } catch (e) {
    panel.replaceChildren(title, el("p", { class: "error" }, e.message));
    return;
  }
  const dl = el("dl");
  field(dl, "asked", answer.url);
  field(dl, "responseStatus", answer.response_status);
  field(dl, "error", answer.error);
  const status = answer.cert_status ? badge(answer.cert_status) : null;
  if (status) { dl.append(el("dt", {}, "certStatus"), el("dd", { "data-ocsp-status": answer.cert_status }, status)); }
  field(dl, "reason", answer.reason);
  field(dl, "revocationTime", answer.revoked_at);
  field(dl, "thisUpdate", answer.this_update);
  field(dl, "nextUpdate", answer.next_update || (answer.cert_status ? "none" : ""));
  field(dl, "producedAt", answer.produced_at);
  field(dl, "signer", answer.signer);
  field(dl, "responderID", answer.responder_id);
  if (answer.cert_id) {
    field(dl, "CertID hash", answer.cert_id.hash_algorithm);
    field(dl, "CertID serial", answer.cert_id.serial);
    field(dl, "issuerNameHash", answer.cert_id.issuer_name_hash);
    field(dl, "issuerKeyHash", answer.cert_id.issuer_key_hash);
  }
  const der = el("details", {}, el("summary", {}, `DER (${answer.bytes} bytes, base64)`),
    el("pre", { class: "der" }, answer.der_base64));
  panel.replaceChildren(title, dl, der);
}

async function loadStaple(cert, panel) {
  const title = panel.firstChild;
  let staple;
  try {
    staple = await api("GET", `/api/v1/certificates/${encodeURIComponent(cert.name)}/staple`);
  } catch (e) {
    panel.replaceChildren(title, el("p", { class: "error" }, e.message));
    return;
  }
  const dl = el("dl");
  dl.append(el("dt", {}, "verdict"), el("dd", {}, badge(staple.verdict)));
  field(dl, "detail", staple.detail);
  const entry = staple.entry;
  if (entry) {
    field(dl, "last fetch", entry.last_fetch);
    field(dl, "next refresh", entry.next_refresh);
    field(dl, "last error", entry.last_error);
    if (entry.staple) field(dl, "signed by", entry.staple.signer);
  }
  field(dl, "stapler", staple.stapler);
  panel.replaceChildren(title, dl);
}

async function runCheck(cert, panel) {
  const out = panel.querySelector(".check-result");
  const button = panel.querySelector("button");
  button.disabled = true;
  out.replaceChildren(el("p", { class: "muted" }, "checking…"));
  try {
    const result = await api("POST", `/api/v1/certificates/${encodeURIComponent(cert.name)}/check`);
    const dl = el("dl");
    dl.append(el("dt", {}, "verdict"), el("dd", { "data-check-verdict": result.verdict }, badge(result.verdict)));
    field(dl, "summary", result.summary);
    field(dl, "remedy", result.remedy);
    field(dl, "server", result.target + " (SNI " + result.servername + ")");
    out.replaceChildren(dl, el("details", {}, el("summary", {}, "full report"), el("pre", {}, result.report)));
  } catch (e) {
    out.replaceChildren(el("p", { class: "error" }, e.message));
  } finally {
    button.disabled = false;
  }
}

// ------------------------------------------------------------ faults

function fillFaultCertificates() {
  const select = $("fault-cert");
  const chosen = select.value;
  select.replaceChildren(el("option", { value: "" }, "every certificate"),
    ...certificates.filter(isLeafWithFiles).map((c) => el("option", { value: c.name }, c.name)));
  select.value = chosen;
}

async function loadFaults() {
  let faults;
  try {
    faults = await api("GET", "/api/v1/faults");
  } catch (e) {
    showError($("faults-error"), e);
    return;
  }
  $("faults-summary").textContent = faults.length === 0
    ? "no faults: the responder answers correctly" : `${faults.length} fault(s) in force`;
  $("faults-summary").className = faults.length === 0 ? "muted" : "warn-text";
  $("faults-list").replaceChildren(...faults.map((f) => el("li", { "data-fault": f.mode },
    el("strong", {}, f.mode), " for ", f.certificate ? `${f.certificate} (serial ${f.serial})` : "every certificate",
    " until ", f.expires_at || "cleared")));
}

async function setFault(event) {
  event.preventDefault();
  showError($("faults-error"), null);
  const body = { mode: $("fault-mode").value };
  if ($("fault-cert").value) body.certificate = $("fault-cert").value;
  if ($("fault-for").value.trim()) body.for = $("fault-for").value.trim();
  try {
    await api("POST", "/api/v1/faults", body);
  } catch (e) { showError($("faults-error"), e); return; }
  await loadFaults();
}

async function clearFaults() {
  showError($("faults-error"), null);
  try {
    await api("DELETE", "/api/v1/faults");
  } catch (e) { showError($("faults-error"), e); return; }
  await loadFaults();
}

// ------------------------------------------------------------ start

document.addEventListener("DOMContentLoaded", () => {
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn($("token-input").value);
  });
  $("forget-token").addEventListener("click", () => showLogin("token forgotten"));
  $("reload").addEventListener("click", reloadAll);
  $("stapler-refresh").addEventListener("click", refreshStapler);
  $("fault-form").addEventListener("submit", setFault);
  $("fault-clear").addEventListener("click", clearFaults);
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) signIn(token); else showLogin("");
});
