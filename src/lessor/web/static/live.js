// lessor's UI: live updates, ticking ages, hook logs and admin actions. No framework, no CDN.
//
// Every page has a #live region. When the server announces an event on the
// SSE stream (/api/v1/events/stream), the page asks for its own URL again with
// the X-Lessor-Live header and gets just that region back, which replaces the
// old one. Bursts of events are coalesced; one refresh runs at a time.
"use strict";

const TOKEN_KEY = "lessor-admin-token";
let timer = null;
let busy = false;
let again = false;

function duration(seconds) {
  // As the server's `duration` filter: two units at most.
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

function tick() {
  const now = Date.now() / 1000;
  for (const el of document.querySelectorAll("[data-since]")) {
    el.textContent = duration(now - parseFloat(el.dataset.since));
  }
}

function schedule() {
  if (!timer) timer = setTimeout(refresh, 120);
}

async function refresh() {
  timer = null;
  if (busy) { again = true; return; }
  busy = true;
  try {
    const response = await fetch(location.href, { headers: { "X-Lessor-Live": "1" } });
    if (response.ok) swap(await response.text());
  } catch (e) {
    // The server may be restarting; the stream reconnects and refreshes again.
  } finally {
    busy = false;
    if (again) { again = false; schedule(); }
  }
}

function swap(html) {
  const live = document.getElementById("live");
  const open = [...live.querySelectorAll("details[open][data-log]")].map((d) => d.dataset.log);
  live.innerHTML = html;
  for (const src of open) {
    const d = live.querySelector(`details[data-log="${CSS.escape(src)}"]`);
    if (d) d.open = true;  // its toggle handler loads the log again
  }
  tick();
  document.dispatchEvent(new CustomEvent("lessor:refreshed"));
}

function connect() {
  const status = document.getElementById("live-status");
  const url = document.body.dataset.stream;
  if (!url || !window.EventSource) {
    status.title = "live updates: none on this page";
    return;
  }
  // Only events from now on: the page was just rendered with everything before.
  const source = new EventSource(url + (url.includes("?") ? "&" : "?") + "limit=0");
  let lost = false;
  source.onopen = () => {
    status.classList.add("on");
    status.title = "live updates: connected";
    if (lost) { lost = false; schedule(); }  // events may have been missed meanwhile
  };
  source.onmessage = schedule;
  source.onerror = () => {
    status.classList.remove("on");
    status.title = "live updates: reconnecting";
    lost = true;  // EventSource reconnects by itself
  };
}

async function loadLog(details) {
  const pre = details.querySelector("pre");
  try {
    const response = await fetch(details.dataset.log);
    pre.textContent = response.ok ? await response.text() : `(${response.status}) ${await response.text()}`;
    pre.scrollTop = pre.scrollHeight;
  } catch (e) {
    pre.textContent = `cannot load the log: ${e}`;
  }
}

function flash(message, error) {
  const el = document.getElementById("flash");
  el.hidden = false;
  el.textContent = message;
  el.className = error ? "error" : "";
}

// The admin token is kept in this tab's sessionStorage: sent only in the
// Authorization header of the calls below (never automatically, as a cookie
// would be), gone when the tab closes, and not shared with other tabs.
const NOT_ACCEPTED = "token not accepted: it is not the server's admin token";
const NOT_CONFIGURED = "admin actions are disabled: no admin token is configured on the server";

function adminShown(state) {
  // "ok": the server accepted the token; "checking": it is asking; "none".
  const form = document.getElementById("admin");
  if (!form) return;
  form.classList.toggle("has-token", state === "ok");
  form.classList.toggle("checking", state === "checking");
  document.getElementById("admin-forget").hidden = state !== "ok";
  document.getElementById("admin-token").placeholder = state === "ok" ? "token accepted" : "admin token";
}

async function verifyToken(token, typed) {
  // "admin ✓" only for a token the server accepts; a rejected one is not kept.
  adminShown("checking");
  let me;
  try {
    const response = await fetch("/api/v1/whoami", {
      headers: { Authorization: `Bearer ${token}` }, cache: "no-store",
    });
    if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
    me = await response.json();
  } catch (e) {
    adminShown("none");
    flash(`cannot check the admin token: ${e}`, true);
    return;
  }
  if (me.admin) {
    sessionStorage.setItem(TOKEN_KEY, token);
    adminShown("ok");
    if (typed) flash("admin token accepted", false);
  } else {
    sessionStorage.removeItem(TOKEN_KEY);
    adminShown("none");
    flash(me.admin_configured ? NOT_ACCEPTED : NOT_CONFIGURED, true);
  }
}

function adminForm() {
  const form = document.getElementById("admin");
  if (!form) {  // the server has no admin token: nothing to keep
    sessionStorage.removeItem(TOKEN_KEY);
    return;
  }
  const input = document.getElementById("admin-token");
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const token = input.value;
    input.value = "";
    if (token) verifyToken(token, true);
  });
  document.getElementById("admin-forget").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    adminShown("none");
  });
  const kept = sessionStorage.getItem(TOKEN_KEY);
  if (kept) verifyToken(kept, false); else adminShown("none");
}

async function adminAction(button) {
  const [method, url] = button.dataset.action.split(" ");
  if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
  let payload = {};
  if (button.dataset.prompt) {
    const reason = window.prompt(button.dataset.prompt, "");
    if (reason === null) return;
    payload = { reason };
  }
  // Every state-changing call is JSON, a body of {} when there is nothing to say: the
  // server refuses other content types (and other origins; the browser sends ours), so
  // that no other site's page can make a visitor's browser change anything here.
  const token = sessionStorage.getItem(TOKEN_KEY);
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  try {
    const response = await fetch(url, {
      method, headers, body: JSON.stringify(payload), credentials: "same-origin", cache: "no-store",
    });
    if (response.ok) {
      flash(button.dataset.done || "done", false);
    } else if (response.status === 401) {
      if (token) {  // the server's token changed since it was accepted
        sessionStorage.removeItem(TOKEN_KEY);
        adminShown("none");
        flash(NOT_ACCEPTED, true);
      } else {
        flash("this needs the admin token: enter it at the top right", true);
      }
    } else {
      let detail = response.statusText;
      try { detail = (await response.json()).detail || detail; } catch (e) { /* not JSON */ }
      flash(detail, true);
    }
  } catch (e) {
    flash(`the server did not answer: ${e}`, true);
  }
  schedule();
}

document.addEventListener("DOMContentLoaded", () => {
  adminForm();
  connect();
  tick();
  setInterval(tick, 1000);
  document.addEventListener("click", (ev) => {
    const button = ev.target.closest("[data-action]");
    if (button) { ev.preventDefault(); adminAction(button); }
  });
  document.addEventListener("toggle", (ev) => {
    if (ev.target.matches && ev.target.matches("details[data-log]") && ev.target.open) loadLog(ev.target);
  }, true);
});
