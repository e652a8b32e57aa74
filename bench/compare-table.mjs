// Render the side-by-side runs of ../shared/peers/compare.sh (one directory per mode and work,
// written by `scripts/bench compare`) as a BENCHMARKS.md-ready table: medians over the
// repetitions of req/s, p99 and server CPU per request, for the peer and edgehooks, with the
// ratios the issue-12 goals are stated in (edgehooks / peer for req/s, peer-relative p99 and CPU).
//   node bench/compare-table.mjs <run dir>...      (each dir: <stamp>-<mode>-<work>/)
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";

const median = (values) => {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  return sorted.length ? sorted[Math.floor((sorted.length - 1) / 2)] : NaN;
};
const fmt = (n, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : "–");
const RUNTIME = { mf: "Miniflare", dev: "wrangler dev" };
const WORK = { full: "full pipeline", ingest: "edgehooks ingest only (peer still full)" };

const rows = [];
for (const dir of process.argv.slice(2)) {
  const [, mode, work] = path.basename(dir).match(/-(mf|dev)-(full|ingest)$/) ?? [];
  if (!mode) continue;
  const runs = {};
  for (const file of readdirSync(dir)) {
    const [, who, conc] = file.match(/^(peer|edgehooks)-c(\d+)-r\d+\.json$/) ?? [];
    if (!who) continue;
    const j = JSON.parse(readFileSync(path.join(dir, file), "utf8"));
    ((runs[conc] ??= { peer: [], edgehooks: [] })[who]).push(j);
  }
  for (const [conc, t] of Object.entries(runs).sort(([a], [b]) => a - b)) {
    const m = (who, pick) => median(t[who].map(pick));
    const peer = { rps: m("peer", (j) => j.rps), p99: m("peer", (j) => j.latency_ms.p99), cpu: m("peer", (j) => j.server_cpu_ms_per_req) };
    const ours = { rps: m("edgehooks", (j) => j.rps), p99: m("edgehooks", (j) => j.latency_ms.p99), cpu: m("edgehooks", (j) => j.server_cpu_ms_per_req) };
    const non2xx = [...t.peer, ...t.edgehooks].reduce((sum, j) => sum + (j.classes?.non_2xx ?? 0), 0);
    const reps = Math.min(t.peer.length, t.edgehooks.length);
    rows.push(`| ${RUNTIME[mode]}, ${WORK[work]} | ${conc} | ${fmt(peer.rps)} | ${fmt(ours.rps)} | ${fmt(ours.rps / peer.rps, 2)} | ${fmt(peer.p99)} | ${fmt(ours.p99)} | ${fmt(ours.p99 / peer.p99, 2)} | ${fmt(peer.cpu, 2)} | ${fmt(ours.cpu, 2)} | ${fmt(ours.cpu / peer.cpu, 2)} | ${reps} | ${non2xx} |`);
  }
}
console.log("| runtime, work | conc | peer req/s | edgehooks req/s | req/s ratio | peer p99 ms | edgehooks p99 ms | p99 ratio | peer CPU ms/req | edgehooks CPU ms/req | CPU ratio | reps | non-2xx |");
console.log("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
for (const row of rows) console.log(row);
