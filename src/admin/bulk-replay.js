// edgehooks admin page, bulk replay panel: replays every event the event filters above select
// (provider, source, type, event and step status, time range; plus an optional step name), a
// page per click. "Dry run" asks POST /admin/api/replay for the counts (events, steps to run again
// and to add, per step name) and fixes the pass (start_cursor); "Replay next page" runs one page
// and keeps next_cursor, so each event is replayed once. Loaded after admin.js, whose helpers
// (api, el, $, guard, filterParams) it uses. Data is only ever inserted as text.
"use strict";

const bulk = { cursor: null, filter: null, done: 0 };

/** The event filters as the bulk replay body (`q` has no bulk equivalent and is left out). */
function bulkFilter() {
  const filter = {};
  for (const [k, v] of filterParams()) {
    if (k === "q") continue;
    filter[k] = k === "from" || k === "to" ? Number(v) : v;
  }
  const step = $("#bulk-step").value.trim();
  if (step) filter.step = step;
  return filter;
}

function bulkSay(...children) {
  $("#bulk-result").replaceChildren(...children);
}

async function bulkDryRun() {
  bulk.filter = bulkFilter();
  const plan = await api("replay", { method: "POST", body: JSON.stringify({ ...bulk.filter, dry_run: true }) });
  bulk.cursor = plan.events > 0 ? plan.start_cursor : null;
  bulk.done = 0;
  const rows = plan.steps.map((s) =>
    el("tr", { "data-step": s.name }, el("td", { class: "mono" }, s.name), el("td", {}, s.run), el("td", {}, s.add),
      el("td", {}, s.already_done), el("td", {}, s.in_progress)));
  bulkSay(
    el("p", { id: "bulk-summary" }, `${plan.events} events match; ${plan.would_run} steps would run again and ${plan.would_add} would be added, in ${plan.calls} page(s) of ${plan.limit}.`),
    el("table", { id: "bulk-steps" },
      el("thead", {}, el("tr", {}, ...["step", "run", "add", "done", "in progress"].map((h) => el("th", {}, h)))),
      el("tbody", {}, ...rows)),
    el("p", { class: "muted mono" }, plan.sample.length ? `sample: ${plan.sample.join(", ")}` : ""),
  );
  $("#bulk-run").disabled = !bulk.cursor;
}

async function bulkRunPage() {
  if (!bulk.cursor) return;
  const page = await api("replay", { method: "POST", body: JSON.stringify({ ...bulk.filter, cursor: bulk.cursor }) });
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
  // Changing the filters invalidates a pass planned with the old ones.
  $("#filters").addEventListener("change", () => {
    bulk.cursor = null;
    $("#bulk-run").disabled = true;
  });
});
