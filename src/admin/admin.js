// edgehooks admin page script: asks for a token once (sessionStorage; empty behind Cloudflare
// Access, whose header then signs the page in), then reads
// /admin/api/* with it: totals, the event list with filters and "load more" (opaque cursor), one
// event's steps and attempt timeline with replay (dry run first), dead letters with redrive
// buttons, and rejection counts. Data is only ever inserted as text, never as HTML.
"use strict";

const KEY = "edgehooks-admin-token";
const $ = (sel) => document.querySelector(sel);
const state = { cursor: null, selected: null };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child ?? ""));
  return node;
}
const time = (ms) => (ms == null ? "" : new Date(ms).toLocaleString());
const badge = (status) => el("span", { class: `status status-${status}` }, status);

async function api(path, options = {}) {
  const token = sessionStorage.getItem(KEY);
  const res = await fetch(`/admin/api/${path}`, {
    ...options,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), "content-type": "application/json" },
  });
  if (res.status === 401) {
    signOut("That token was not accepted.");
    throw new Error("unauthorized");
  }
  const body = await res.json().catch(() => ({}));
  const field = body.field ? ` (${body.field})` : "";
  if (!res.ok) throw new Error(body.detail ? `${body.error}${field}: ${body.detail}` : body.error || res.status);
  return body;
}

function say(text) {
  const m = $("#message");
  m.textContent = text;
  m.hidden = !text;
}

function signOut(error) {
  sessionStorage.removeItem(KEY);
  $("#app").hidden = true;
  $("#nav").hidden = true;
  $("#login").hidden = false;
  $("#login-error").hidden = !error;
  $("#login-error").textContent = error || "";
  $("#token").focus();
}

async function start() {
  $("#login").hidden = true;
  $("#app").hidden = false;
  $("#nav").hidden = false;
  await Promise.all([loadTotals(), loadEvents(true), loadDashboard(), typeof loadBackfill === "function" && loadBackfill(),
    window.edgehooksAudit?.whoami()]);
}

/** The dashboard (dashboard.js) draws its charts with this page's authorized `api`. */
const loadDashboard = () => window.edgehooksDashboard?.load(api);

async function loadTotals() {
  const s = await api("stats");
  const cards = [
    ["events", s.events.accepted],
    ["rejected deliveries", s.events.rejected],
    ...Object.entries(s.steps).map(([k, v]) => [`${k} steps`, v]),
    ["bad signatures (24h)", s.rejections_24h],
  ];
  $("#totals").replaceChildren(
    ...cards.map(([label, n]) =>
      el("div", { class: `card${(label === "dead steps" && n > 0) ? " bad" : ""}`, "data-total": label },
        el("b", {}, n), el("small", {}, label))),
  );
}

function filterParams() {
  const params = new URLSearchParams();
  for (const [k, v] of new FormData($("#filters"))) {
    if (!v) continue;
    params.set(k, (k === "from" || k === "to") ? String(new Date(v).getTime()) : v);
  }
  return params;
}

async function loadEvents(reset) {
  const params = filterParams();
  if (!reset && state.cursor) params.set("cursor", state.cursor);
  const page = await api(`events?${params}`);
  const tbody = $("#events-table tbody");
  if (reset) tbody.replaceChildren();
  for (const e of page.events) {
    const steps = e.steps ? `${e.steps_done}/${e.steps} done${e.steps_dead ? `, ${e.steps_dead} dead` : ""}` : "none";
    tbody.append(el("tr", { "data-event-id": e.id, onclick: () => showEvent(e.id) },
      el("td", {}, time(e.received_at)),
      el("td", {}, e.provider, e.source ? el("div", { class: "muted" }, `source ${e.source}`) : ""),
      el("td", {}, e.type, e.status === "rejected" ? el("div", {}, badge("rejected"), " ", rejection(e)) : ""),
      el("td", { class: "mono" }, e.dedupe_key, e.account ? el("div", { class: "muted" }, e.account) : ""),
      el("td", {}, steps)));
  }
  if (reset && !page.events.length) tbody.append(el("tr", {}, el("td", { colspan: 5, class: "muted" }, "No events match.")));
  state.cursor = page.next_cursor;
  $("#more").hidden = !page.next_cursor;
  $("#scan-stopped").hidden = !page.scan_stopped;
}

/** Why a delivery (or one element of a batch, by its index) was rejected. */
function rejection(e) {
  const where = e.batch_index == null ? "" : `element ${e.batch_index}: `;
  return el("span", { class: "mono muted rejection" }, where + (e.error ?? ""));
}

async function showEvent(id) {
  state.selected = id;
  for (const tr of document.querySelectorAll("tr.selected")) tr.classList.remove("selected");
  document.querySelector(`tr[data-event-id="${CSS.escape(id)}"]`)?.classList.add("selected");
  const { event: e, steps, timeline } = await api(`events/${encodeURIComponent(id)}`);
  const detail = $("#detail");
  const meta = el("dl", {});
  for (const [k, v] of [["id", e.id], ["provider", e.provider], ["source", e.source || "default"], ["type", e.type], ["status", e.status],
    ["dedupe key", e.dedupe_key], ["account", e.account], ["occurred", time(e.occurred_at)],
    ["received", time(e.received_at)], ["error", e.error], ["batch element", e.batch_index],
    ["secret #", e.key_index], ["bytes", e.payload_bytes]]) {
    if (v !== null && v !== undefined && v !== "") meta.append(el("dt", {}, k), el("dd", { class: "mono" }, v));
  }
  const stepRows = steps.map((s) => el("tr", { "data-step-id": s.id },
    el("td", {}, s.name), el("td", {}, badge(s.status)), el("td", {}, s.attempts),
    el("td", { class: "mono" }, s.last_status ?? "", " ", s.last_error ?? "")));
  const items = timeline.map((t) => el("li", { class: `outcome-${t.outcome || t.kind}` },
    el("span", { class: "muted" }, time(t.at), " "),
    t.kind === "received" ? `received (${t.detail})`
      : el("span", {}, `${t.step} attempt ${t.n}: `, badge(t.outcome),
        ` ${t.status ?? "no response"} in ${t.duration_ms} ms`, t.error ? el("div", { class: "mono muted" }, t.error) : "")));
  const headers = Object.entries(e.headers ?? {});
  const headerList = el("table", { id: "headers" }, el("tbody", {},
    ...headers.map(([name, value]) => el("tr", {}, el("td", { class: "mono" }, name), el("td", { class: "mono" }, value)))));
  let payload;
  try { payload = e.payload == null ? null : JSON.stringify(JSON.parse(e.payload), null, 2); } catch { payload = e.payload; }
  detail.replaceChildren(
    el("h2", {}, `${e.provider} ${e.type}`), meta,
    el("div", { class: "actions" },
      el("button", { type: "button", id: "replay-dry", onclick: () => replay(id, true) }, "Replay (dry run)"),
      el("button", { type: "button", id: "replay", class: "primary", onclick: () => replay(id, false) }, "Replay")),
    el("h2", {}, "Steps"),
    el("table", { id: "steps" }, el("thead", {}, el("tr", {}, el("th", {}, "step"), el("th", {}, "status"),
      el("th", {}, "attempts"), el("th", {}, "last"))), el("tbody", {}, ...stepRows)),
    el("h2", {}, "Timeline"), el("ol", { id: "timeline" }, ...items),
    el("h2", {}, "Request headers"),
    headers.length ? headerList : el("p", { class: "muted", id: "no-headers" }, "No headers stored (a backfill, an older event, or dropped with the payload)."),
    el("h2", {}, "Payload"),
    payload == null ? el("p", { class: "muted", id: "redacted" }, "Payload redacted or purged.") : el("pre", { id: "payload" }, payload));
  detail.hidden = false;
  await window.edgehooksGateway?.eventActions(id, detail);
}

async function replay(id, dryRun) {
  const r = await api(`events/${encodeURIComponent(id)}/replay?dry_run=${dryRun}`, { method: "POST" });
  const runs = r.steps.filter((s) => s.action === "run").map((s) => s.name);
  const done = r.steps.filter((s) => s.action === "already_done").map((s) => s.name);
  const added = r.added_steps.map((s) => s.name);
  say(dryRun
    ? `Dry run: would run ${runs.join(", ") || "nothing"}; would add (new in the routes) ${added.join(", ") || "nothing"}; already done: ${done.join(", ") || "nothing"}.`
    : `Replayed: ${r.requeued.length} step(s) re-enqueued, ${r.added.length} added, ${r.sent} sent.`);
  if (!dryRun) { await showEvent(id); await loadTotals(); }
}

async function loadDead() {
  const d = await api("dead");
  $("#dead-groups tbody").replaceChildren(...d.groups.map((g) => el("tr", {},
    el("td", {}, g.destination), el("td", { class: "mono" }, g.error || "(none)"), el("td", {}, g.count),
    el("td", {}, time(g.newest)),
    el("td", {}, el("button", { type: "button", class: "redrive-group",
      onclick: () => redrive({ destination: g.destination, error: g.error }) }, "Redrive group")))));
  $("#dead-steps tbody").replaceChildren(...d.steps.map((s) => el("tr", { "data-step-id": s.id },
    el("td", {}, time(s.updated_at)), el("td", {}, s.name),
    el("td", { class: "mono" }, `${s.provider} ${s.event_type}`, el("div", { class: "muted" }, s.event_id)),
    el("td", {}, s.attempts), el("td", { class: "mono" }, s.last_status ?? "", " ", s.last_error ?? ""),
    el("td", {}, el("button", { type: "button", class: "redrive-step", "data-step-id": s.id,
      onclick: () => redrive({ step_ids: [s.id] }) }, "Redrive")))));
  if (!d.steps.length) $("#dead-steps tbody").append(el("tr", {}, el("td", { colspan: 6, class: "muted" }, "No dead steps.")));
}

async function redrive(filter) {
  const dry = await api("redrive", { method: "POST", body: JSON.stringify({ ...filter, dry_run: true }) });
  if (!dry.matched) return say("Nothing to redrive.");
  const r = await api("redrive", { method: "POST", body: JSON.stringify({ ...filter, dry_run: false }) });
  say(`Redrove ${r.redriven.length} step(s) (${r.sent} sent)${r.more ? "; more remain" : ""}.`);
  await Promise.all([loadDead(), loadTotals()]);
}

async function loadRejections() {
  const r = await api("rejections");
  $("#rejections tbody").replaceChildren(...r.rejections.map((x) => el("tr", {},
    el("td", {}, x.provider), el("td", { class: "mono" }, x.reason), el("td", {}, x.count), el("td", {}, time(x.last_hour * 1000)))));
  if (!r.rejections.length) $("#rejections tbody").append(el("tr", {}, el("td", { colspan: 4, class: "muted" }, "None.")));
}

const VIEWS = ["events", "dead", "rejections", "gateway", "sources", "audit"];

function show(view) {
  for (const name of VIEWS) {
    $(`#view-${name}`).hidden = name !== view;
    $(`#tab-${name}`).classList.toggle("active", name === view);
  }
  say("");
  const loaders = { events: () => loadEvents(true), dead: loadDead, rejections: loadRejections,
    gateway: () => window.edgehooksGateway.load(), sources: () => window.edgehooksSources.load(),
    audit: () => window.edgehooksAudit.load() };
  return Promise.all([loaders[view](), loadTotals()]);
}

// The connections and sources screens (connections.js, sources.js) use these.
window.edgehooksAdmin = { api, el, say, badge, time, guard: (fn) => guard(fn) };

const guard = (fn) => (...args) => fn(...args).catch((e) => e.message !== "unauthorized" && say(`Error: ${e.message}`));

document.addEventListener("DOMContentLoaded", () => {
  $("#login-form").addEventListener("submit", guard(async (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(KEY, $("#token").value.trim());
    $("#token").value = "";
    await start();
  }));
  $("#filters").addEventListener("submit", guard(async (ev) => { ev.preventDefault(); await loadEvents(true); }));
  $("#more").addEventListener("click", guard(() => loadEvents(false)));
  $("#tab-events").addEventListener("click", guard(() => show("events")));
  $("#tab-dead").addEventListener("click", guard(() => show("dead")));
  $("#tab-rejections").addEventListener("click", guard(() => show("rejections")));
  $("#tab-gateway").addEventListener("click", guard(() => show("gateway")));
  $("#tab-sources").addEventListener("click", guard(() => show("sources")));
  $("#tab-audit").addEventListener("click", guard(() => show("audit")));
  $("#refresh").addEventListener("click", guard(async () => {
    const view = VIEWS.find((v) => !$(`#view-${v}`).hidden);
    await Promise.all([show(view), loadDashboard()]);
    if (typeof loadBackfill === "function") await loadBackfill();
    if (view === "events" && state.selected) await showEvent(state.selected);
  }));
  $("#logout").addEventListener("click", () => signOut(""));
  // Errors thrown inside row/button handlers end up here.
  window.addEventListener("unhandledrejection", (ev) => {
    if (ev.reason?.message !== "unauthorized") say(`Error: ${ev.reason?.message ?? ev.reason}`);
  });
  if (sessionStorage.getItem(KEY) !== null) guard(start)(); else signOut("");
});
