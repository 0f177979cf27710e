// The dashboard's buttons and forms (mockwise/templates/control). A static file, so no page needs
// an inline script under its CSP. Each acts through the control plane itself: a same-origin
// fetch with a JSON body (Content-Type: application/json, as control-plane writes require).
//
//   <button data-call="POST clock/advance" data-body='{"seconds": 3600}'>  a fixed request
//   <form data-call="POST faults">  a body from the form's named inputs, typed by data-type
//   <form data-call="PATCH settings" data-setting="oauth.refresh_token_rotation">  {key: value}
//
// Paths are relative to the tenant (<body data-base="/_mockwise/tenants/ID">). After a change the
// page reloads to show the new state, and says what happened (kept in sessionStorage meanwhile).
"use strict";
(() => {
  const base = document.body.dataset.base || "";
  const status = document.getElementById("status");
  const OUTCOME = "mockwise-dashboard-outcome";

  function show(text, ok) {
    if (!status) return;
    status.textContent = text;
    status.className = ok === null ? "busy" : ok ? "ok" : "bad";
  }

  const kept = sessionStorage.getItem(OUTCOME);
  if (kept) {
    sessionStorage.removeItem(OUTCOME);
    try {
      const outcome = JSON.parse(kept);
      show(outcome.text, outcome.ok);
    } catch (_) { /* a stale value: ignore it */ }
  }

  async function call(method, path, body) {
    const url = path.startsWith("/") ? path : `${base}/${path}`;
    const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(url, init);
    const text = await response.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch (_) { data = text; }
    }
    return { ok: response.ok, status: response.status, data };
  }

  function summary(data) {
    if (data === null || typeof data !== "object") return data ? String(data) : "";
    if (data.message) return data.message;
    if (data.client_secret) return `new client secret: ${data.client_secret}`;
    if (Array.isArray(data.ended)) return `${data.ended.length} token(s) ended`;
    if (data.now) return `tenant clock now ${data.now}`;
    if (data.kind && data.id) return `fault ${data.kind}#${data.id} armed`;
    return "";
  }

  async function act(label, method, path, body) {
    let result;
    show(`${label}…`, null); // the last outcome goes: what is shown next is this action's
    try {
      result = await call(method, path, body);
    } catch (error) {
      show(`${label}: ${error}`, false);
      return;
    }
    const detail = summary(result.data);
    const text = `${label}: ${result.ok ? "done" : "refused"} (${result.status})${detail ? ` — ${detail}` : ""}`;
    if (!result.ok) {
      show(text, false);
      return;
    }
    sessionStorage.setItem(OUTCOME, JSON.stringify({ text, ok: true }));
    location.reload();
  }

  function typed(raw, type) {
    switch (type) {
      case "int": {
        const value = Number(raw);
        if (!Number.isInteger(value)) throw new Error(`${raw} is not a whole number`);
        return value;
      }
      case "number": {
        const value = Number(raw);
        if (!Number.isFinite(value)) throw new Error(`${raw} is not a number`);
        return value;
      }
      case "bool": return raw === "true";
      case "null-bool": return raw === "" ? null : raw === "true";
      case "user": return /^\d+$/.test(raw) ? Number(raw) : raw;  // a user id or an e-mail
      case "times": return raw === "always" ? null : typed(raw, "int");
      case "instant": {
        // <input type=datetime-local>: the tenant's clock is shown in UTC, so read it as UTC
        const full = /T\d\d:\d\d$/.test(raw) ? `${raw}:00` : raw;
        return /[Zz]|[+-]\d\d:\d\d$/.test(full) ? full : `${full}Z`;
      }
      default: return raw;
    }
  }

  function bodyOf(form) {
    const body = {};
    for (const input of form.querySelectorAll("[name]")) {
      const raw = input.value.trim();
      const type = input.dataset.type || "str";
      if (raw === "" && type !== "null-bool") continue;  // optional and left empty
      body[input.name] = typed(raw, type);
    }
    if (form.dataset.setting) return { [form.dataset.setting]: body.value };
    return body;
  }

  for (const button of document.querySelectorAll("button[data-call]")) {
    button.addEventListener("click", () => {
      if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
      const [method, path] = button.dataset.call.split(" ");
      const body = button.dataset.body ? JSON.parse(button.dataset.body) : (method === "DELETE" ? undefined : {});
      act(button.textContent.trim(), method, path, body);
    });
  }

  for (const form of document.querySelectorAll("form[data-call]")) {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const [method, path] = form.dataset.call.split(" ");
      let body;
      try {
        body = bodyOf(form);
      } catch (error) {
        show(`${form.dataset.label || path}: ${error.message}`, false);
        return;
      }
      act(form.dataset.label || path, method, path, body);
    });
  }
})();
