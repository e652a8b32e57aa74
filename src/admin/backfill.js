// edgehooks admin page: the Stripe backfill panel (loaded after admin.js, whose api/el/say/
// guard/time helpers it uses). Shows whether the backfill is enabled, its checkpoint and last
// runs (GET /admin/api/backfill), and runs it from a chosen time: "Dry run" first (listed and
// missing), then "Run now" for that same window. Data is only ever inserted as text.
"use strict";

const backfillState = { dryRunSince: null };

function backfillSince() {
  const hours = Number($("#backfill-hours").value);
  return Math.floor(Date.now() / 1000) - Math.max(0, Math.min(720, hours)) * 3600;
}

function backfillRunRow(r) {
  const counts = r.dry_run ? `${r.listed} listed, ${r.ingested} missing` : `${r.listed} listed, ${r.ingested} ingested, ${r.duplicates} duplicates`;
  return el("tr", {},
    el("td", {}, time(r.started_at)),
    el("td", {}, r.origin + (r.dry_run ? " (dry run)" : "")),
    el("td", {}, counts),
    el("td", { class: "mono" }, r.error ?? (r.complete ? "complete" : `stopped at ${r.next_cursor}`)));
}

async function loadBackfill() {
  const panel = $("#backfill");
  if (!panel) return;
  const s = await api("backfill");
  $("#backfill-status").textContent = s.backfill === "enabled"
    ? `enabled; checkpoint ${s.checkpoint ? time(s.checkpoint * 1000) : "not set yet"}${s.not_before ? `; backing off until ${time(s.not_before)}` : ""}`
    : s.backfill;
  $("#backfill-dry").disabled = s.backfill !== "enabled";
  $("#backfill-run").disabled = backfillState.dryRunSince === null;
  const rows = s.runs.map(backfillRunRow);
  $("#backfill-runs tbody").replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: 4, class: "muted" }, "No run yet."))]));
}

async function runBackfill(dryRun) {
  const since = dryRun ? backfillSince() : backfillState.dryRunSince;
  const r = await api("backfill/stripe", { method: "POST", body: JSON.stringify({ since, dry_run: dryRun }) });
  const stopped = r.complete !== false ? "" : ` Stopped early${r.error ? ` (${r.error})` : ""}; run again to continue.`;
  backfillState.dryRunSince = dryRun ? since : null;
  // The result is written last, once the buttons and the runs table show this run, so whoever
  // reads it (a person or a test) sees a panel that agrees with it.
  await loadBackfill();
  $("#backfill-result").textContent = dryRun
    ? `Dry run: ${r.listed} listed, ${r.missing} missing.${stopped}`
    : `Ran: ${r.listed} listed, ${r.ingested} ingested, ${r.duplicates} duplicates.${stopped}`;
}

document.addEventListener("DOMContentLoaded", () => {
  if (!$("#backfill")) return;
  $("#backfill-dry").addEventListener("click", guard(() => runBackfill(true)));
  $("#backfill-run").addEventListener("click", guard(() => runBackfill(false)));
  $("#backfill-hours").addEventListener("change", () => {
    backfillState.dryRunSince = null;
    $("#backfill-run").disabled = true;
  });
});
