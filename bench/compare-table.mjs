// Render the side-by-side runs of ../shared/peers/compare.sh (one directory per mode and work,
// written by `scripts/bench compare`) as a BENCHMARKS.md-ready table: medians over the
// repetitions of req/s, p99 and server CPU per request, for the peer and edgehooks, with the
// ratios the goals are stated in (edgehooks / peer for req/s, peer-relative p99 and CPU); for a
// work with steps, also issue 25's events completed per second (N / (load + drain)) and server CPU
// per event over load and drain.
//   node bench/compare-table.mjs <run dir>...      (each dir: <stamp>-<mode>-<work>/)
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";

const median = (values) => {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  return sorted.length ? sorted[Math.floor((sorted.length - 1) / 2)] : NaN;
};
const fmt = (n, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : "–");
const RUNTIME = { mf: "Miniflare", dev: "wrangler dev" };
const WORK = {
  equal: "equal work: one SendGrid send per checkout",
  full: "full pipeline: the default two-call routes",
  ingest: "edgehooks ingest only (peer still full)",
};
/** A figure compare.sh wrote beside a run's JSON (`.drain` ms, `.cpu` ms), or NaN. */
const sidecar = (dir, file, ext) => {
  try {
    return Number(readFileSync(path.join(dir, file.replace(/\.json$/, ext)), "utf8"));
  } catch {
    return NaN;
  }
};

const rows = [];
for (const dir of process.argv.slice(2)) {
  const [, mode, work] = path.basename(dir).match(/-(mf|dev)-(equal|full|ingest)$/) ?? [];
  if (!mode) continue;
  const runs = {};
  for (const file of readdirSync(dir)) {
    const [, who, conc] = file.match(/^(peer|edgehooks)-c(\d+)-r\d+\.json$/) ?? [];
    if (!who) continue;
    const j = JSON.parse(readFileSync(path.join(dir, file), "utf8"));
    j.completed = j.count / (j.wall_s + sidecar(dir, file, ".drain") / 1000);
    j.cpu_per_event = sidecar(dir, file, ".cpu") / (j.count + j.warmup);
    ((runs[conc] ??= { peer: [], edgehooks: [] })[who]).push(j);
  }
  for (const [conc, t] of Object.entries(runs).sort(([a], [b]) => a - b)) {
    const m = (who, pick) => median(t[who].map(pick));
    const figures = (who) => ({
      rps: m(who, (j) => j.rps),
      p99: m(who, (j) => j.latency_ms.p99),
      cpu: m(who, (j) => j.server_cpu_ms_per_req),
      completed: m(who, (j) => j.completed),
      cpuEvent: m(who, (j) => j.cpu_per_event),
    });
    const peer = figures("peer");
    const ours = figures("edgehooks");
    const e2e = work === "ingest" ? "– | – | – | – | – | –" : [
      fmt(peer.completed), fmt(ours.completed), fmt(ours.completed / peer.completed, 2),
      fmt(peer.cpuEvent, 2), fmt(ours.cpuEvent, 2), fmt(ours.cpuEvent / peer.cpuEvent, 2),
    ].join(" | ");
    const non2xx = [...t.peer, ...t.edgehooks].reduce((sum, j) => sum + (j.classes?.non_2xx ?? 0), 0);
    const reps = Math.min(t.peer.length, t.edgehooks.length);
    rows.push(`| ${RUNTIME[mode]}, ${WORK[work]} | ${conc} | ${fmt(peer.rps)} | ${fmt(ours.rps)} | ${fmt(ours.rps / peer.rps, 2)} | ${fmt(peer.p99)} | ${fmt(ours.p99)} | ${fmt(ours.p99 / peer.p99, 2)} | ${fmt(peer.cpu, 2)} | ${fmt(ours.cpu, 2)} | ${fmt(ours.cpu / peer.cpu, 2)} | ${e2e} | ${reps} | ${non2xx} |`);
  }
}
console.log("| runtime, work | conc | peer req/s | edgehooks req/s | req/s ratio | peer p99 ms | edgehooks p99 ms | p99 ratio | peer CPU ms/req | edgehooks CPU ms/req | CPU ratio | peer events completed/s | edgehooks events completed/s | completed ratio | peer CPU ms/event | edgehooks CPU ms/event | CPU/event ratio | reps | non-2xx |");
console.log(`|${"---|".repeat(19)}`);
for (const row of rows) console.log(row);
