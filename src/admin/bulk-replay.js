// edgehooks admin page, bulk replay panel: replays every event the event filters above select
// (provider, source, type, event and step status, time range; plus an optional step name and an
// optional connection, chosen from the connections list: the events it takes now, and only its
// step unless "whole event" is ticked), a page per click. "Dry run" asks POST /admin/api/replay
// for the counts (events, steps to run again and to add, per step name, connection steps
// included; a count cut short by its scan bound is continued with count_cursor and summed) and
// fixes the pass (start_cursor); "Replay next page" runs one page (saying dry_run: false, as the
// API wants of an unfiltered pass) and keeps next_cursor, so each
// event is replayed once. Loaded after admin.js, whose helpers (api, el, $, guard, filterParams)
// it uses. Data is only ever inserted as text.
"use strict";

const bulk = { cursor: null, filter: null, done: 0 };
/** Dry-run calls one click makes at most while the count continues (each reads ≤ 10 pages). */
const BULK_COUNT_CALLS = 20;

/** Event-list searches with no bulk equivalent, left out of the bulk filter. */
const LIST_ONLY = new Set(["q", "pointer", "equals", "contains"]);

/** The event filters as the bulk replay body (the list's searches are left out: `LIST_ONLY`). */
function bulkFilter() {
  const filter = {};
  for (const [k, v] of filterParams()) {
    if (LIST_ONLY.has(k)) continue;
    filter[k] = k === "from" || k === "to" ? Number(v) : v;
  }
  const step = $("#bulk-step").value.trim();
  if (step) filter.step = step;
  const connection = $("#bulk-connection").value;
  if (connection) {
    filter.connection = connection;
    filter.scope = $("#bulk-whole-event").checked ? "event" : "connection";
  }
  return filter;
}

/** Fill the connection choice from the connections list (enabled ones: a disabled one takes nothing). */
async function bulkLoadConnections() {
  const { connections } = await api("connections");
  const chosen = $("#bulk-connection").value;
  const options = connections.filter((c) => c.enabled).map((c) =>
    el("option", { value: c.name }, `${c.name} (${c.source} → ${c.destination})`));
  $("#bulk-connection").replaceChildren(el("option", { value: "" }, "any event (no connection)"), ...options);
  $("#bulk-connection").value = connections.some((c) => c.name === chosen) ? chosen : "";
}

/** Sum dry-run answers (a count continued with count_cursor) into one. */
function bulkSum(total, part) {
  if (!total) return { ...part, steps: part.steps.map((s) => ({ ...s })) };
  for (const key of ["events", "would_run", "would_add", "unavailable", "scanned"]) total[key] += part[key];
  for (const step of part.steps) {
    const mine = total.steps.find((s) => s.name === step.name);
    if (!mine) total.steps.push({ ...step });
    else for (const key of ["run", "add", "already_done", "in_progress"]) mine[key] += step[key];
  }
  total.steps.sort((a, b) => (a.name < b.name ? -1 : 1));
  total.sample = total.sample.concat(part.sample).slice(0, 10);
  total.complete = part.complete;
  return total;
}

function bulkSay(...children) {
  $("#bulk-result").replaceChildren(...children);
}

async function bulkDryRun() {
  bulk.filter = bulkFilter();
  let plan = null;
  let countCursor = null;
  for (let call = 0; call < BULK_COUNT_CALLS && (call === 0 || countCursor); call++) {
    const body = { ...bulk.filter, dry_run: true, ...(countCursor ? { cursor: countCursor } : {}) };
    const part = await api("replay", { method: "POST", body: JSON.stringify(body) });
    countCursor = part.count_cursor;
    plan = bulkSum(plan, part);
  }
  plan.calls = Math.ceil(plan.events / plan.limit);
  bulk.cursor = plan.events > 0 ? plan.start_cursor : null;
  bulk.done = 0;
  const rows = plan.steps.map((s) =>
    el("tr", { "data-step": s.name }, el("td", { class: "mono" }, s.name), el("td", {}, s.run), el("td", {}, s.add),
      el("td", {}, s.already_done), el("td", {}, s.in_progress)));
  bulkSay(
    el("p", { id: "bulk-summary" }, `${plan.events} events match; ${plan.would_run} steps would run again and ${plan.would_add} would be added, in ${plan.calls} page(s) of ${plan.limit}.` +
      (plan.unavailable ? ` ${plan.unavailable} would be skipped (payload gone).` : "") +
      (plan.complete ? "" : ` Counted the first ${plan.scanned} events scanned; more remain.`)),
    el("table", { id: "bulk-steps" },
      el("thead", {}, el("tr", {}, ...["step", "run", "add", "done", "in progress"].map((h) => el("th", {}, h)))),
      el("tbody", {}, ...rows)),
    el("p", { class: "muted mono" }, plan.sample.length ? `sample: ${plan.sample.join(", ")}` : ""),
  );
  $("#bulk-run").disabled = !bulk.cursor;
}

async function bulkRunPage() {
  if (!bulk.cursor) return;
  // Explicit: a request without filters would otherwise be a dry run (the API's safe default).
  const page = await api("replay", { method: "POST", body: JSON.stringify({ ...bulk.filter, cursor: bulk.cursor, dry_run: false }) });
  bulk.done += page.replayed.length;
  bulk.cursor = page.next_cursor;
  $("#bulk-run").disabled = !bulk.cursor;
  const skipped = page.skipped.length ? `, ${page.skipped.length} skipped (payload gone)` : "";
  const stopped = page.interrupted ? ` Stopped at ${page.interrupted.event_id}: ${page.interrupted.error}; run again to continue.` : "";
  $("#bulk-progress").textContent =
    `Replayed ${bulk.done} events so far (${page.requeued} steps sent again, ${page.added} added in this page${skipped}). ${bulk.cursor ? "More remain." : "Done."}${stopped}`;
  await Promise.all([loadTotals(), loadEvents(true)]);
}

document.addEventListener("DOMContentLoaded", () => {
  $("#bulk-dry-run").addEventListener("click", guard(bulkDryRun));
  $("#bulk-run").addEventListener("click", guard(bulkRunPage));
  $("#bulk-replay").addEventListener("toggle", () => $("#bulk-replay").open && guard(bulkLoadConnections)());
  // Another connection or scope is another pass.
  for (const input of ["#bulk-connection", "#bulk-whole-event", "#bulk-step"]) {
    $(input).addEventListener("change", () => {
      bulk.cursor = null;
      $("#bulk-run").disabled = true;
    });
  }
  // Changing the filters invalidates a pass planned with the old ones.
  $("#filters").addEventListener("change", () => {
    bulk.cursor = null;
    $("#bulk-run").disabled = true;
  });
});
