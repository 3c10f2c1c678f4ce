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
  if (!url || !window.EventSource) return;
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

function adminForm() {
  const form = document.getElementById("admin");
  const input = document.getElementById("admin-token");
  const forget = document.getElementById("admin-forget");
  const show = () => {
    const has = !!sessionStorage.getItem(TOKEN_KEY);
    form.classList.toggle("has-token", has);
    forget.hidden = !has;
    input.placeholder = has ? "token set" : "admin token";
  };
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (input.value) sessionStorage.setItem(TOKEN_KEY, input.value);
    input.value = "";
    show();
  });
  forget.addEventListener("click", () => { sessionStorage.removeItem(TOKEN_KEY); show(); });
  show();
}

async function adminAction(button) {
  const [method, url] = button.dataset.action.split(" ");
  if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
  let body;
  if (button.dataset.prompt) {
    const reason = window.prompt(button.dataset.prompt, "");
    if (reason === null) return;
    body = JSON.stringify({ reason });
  }
  const token = sessionStorage.getItem(TOKEN_KEY);
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  if (body) headers["Content-Type"] = "application/json";
  try {
    const response = await fetch(url, { method, headers, body });
    if (response.ok) {
      flash(button.dataset.done || "done", false);
    } else {
      let detail = response.statusText;
      try { detail = (await response.json()).detail || detail; } catch (e) { /* not JSON */ }
      flash(token ? detail : `${detail} (enter the admin token at the top right)`, true);
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
