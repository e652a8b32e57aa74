#!/usr/bin/env node
// Through-workerd benchmark: start the downstream fake on a free port and `scripts/dev`
// (wrangler dev, local KV/D1/Queues) on a non-default port with a throwaway EDGEHOOKS_STATE,
// time the cold start (spawn -> first 200), run bench/load.mjs for Stripe single events and
// SendGrid batches at each concurrency, then let the queue drain and count rows in local D1, so
// the report says whether everything accepted under load was stored and its steps finished.
// Prints one JSON object (results) on stdout; progress goes to stderr.
//
// `--runtime miniflare` serves the same build from the same workerd binary and the same local
// KV/D1/Queues simulators (persisted to disk, like wrangler dev), but through Miniflare directly:
// no wrangler ProxyWorker and no InspectorProxyWorker. wrangler dev's inspector proxy enables the
// DevTools Network domain on the worker and relays every subrequest event (each KV/D1/Queue call,
// bodies included) to wrangler's Node process, which under load costs more than the worker does;
// comparing the two runtimes in one run shows that cost. While loads run, the RSS of every
// workerd process and the worker's wasm memory (admin stats) are sampled every second.
//
// Usage: node bench/workerd.mjs [--runtime wrangler|miniflare] [--port 8911] [--requests 400]
//          [--sendgrid-requests 100] [--concurrency 1,8,32] [--keep-state] [--out target/bench-workerd.json]
import { spawn, execFile, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { promisify } from "node:util";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { startFakeDownstream } from "../tests/helpers/fake-downstream.mjs";
import { startWorker } from "../tests/helpers/worker.mjs";
import { Miniflare } from "miniflare";
import { devVars } from "./dev-vars.mjs";
import { bindingOptions, readWranglerConfig } from "../scripts/wrangler-config.mjs";

const pick = (object, keys) => Object.fromEntries(keys.map((k) => [k, object[k]]));

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { values: args } = parseArgs({
  options: {
    runtime: { type: "string", default: "wrangler" },
    // Plan no steps for the benchmark's event types (ROUTES_JSON), so no queue or consumer work
    // competes with ingest: the ingest path alone.
    "ingest-only": { type: "boolean", default: false },
    // Miniflare only: keep KV and D1 in memory instead of on disk (wrangler dev always persists).
    "in-memory": { type: "boolean", default: false },
    out: { type: "string", default: "target/bench-workerd.json" },
    port: { type: "string", default: "8911" },
    "inspector-port": { type: "string", default: "9311" },
    requests: { type: "string", default: "400" },
    "sendgrid-requests": { type: "string", default: "60" },
    concurrency: { type: "string", default: "1,8,32" },
    "keep-state": { type: "boolean", default: false },
    // Extra runs after the main ones, to see where time goes: kind:concurrency:requests,...
    profile: { type: "string", default: "health:32:400,forged:32:400,duplicate:32:400,stripe:32:400" },
    "skip-main": { type: "boolean", default: false },
    "drain-seconds": { type: "string", default: "300" },
    "dev-log-level": { type: "string", default: "warn" },
    // Extra wrangler vars, e.g. --var 'ROUTES_JSON:{"sendgrid":{"open":[]}}' to profile ingest alone.
    var: { type: "string", multiple: true, default: [] },
  },
});
const PORT = Number(args.port);
const BASE = `http://127.0.0.1:${PORT}`;
const log = (...a) => console.error("[bench]", ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const execFileAsync = promisify(execFile);

const fake = await startFakeDownstream();
const state = mkdtempSync(path.join(os.tmpdir(), "edgehooks-bench-"));
const downstream = {
  HUBSPOT_API_BASE: fake.url,
  SENDGRID_API_BASE: fake.url,
  STRIPE_API_BASE: fake.url,
  SLACK_WEBHOOK_URL: `${fake.url}/services/T000/B000/bench`,
};
if (args["ingest-only"]) {
  args.var.push('ROUTES_JSON:{"stripe":{"checkout.session.completed":[]},"sendgrid":{"delivered":[],"open":[]}}');
}
const varArgs = [...Object.entries(downstream).map(([k, v]) => `${k}:${v}`), ...args.var].flatMap((kv) => ["--var", kv]);


const t0 = Date.now();
let servingAt = null;
let output = "";
let dev = null;
let miniflare = null;

if (args.runtime === "wrangler") {
  dev = spawn(path.join(ROOT, "scripts/dev"), ["--inspector-port", args["inspector-port"], "--log-level", args["dev-log-level"], ...varArgs], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(PORT), EDGEHOOKS_STATE: state, DEV_FAKE_DOWNSTREAM: "0" },
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const onOutput = (d) => {
    output += d;
    if (servingAt === null && /serving edgehooks/.test(String(d))) servingAt = Date.now();
  };
  dev.stdout.on("data", onOutput);
  dev.stderr.on("data", onOutput);
} else if (args.runtime === "miniflare") {
  const extra = Object.fromEntries(args.var.map((kv) => [kv.slice(0, kv.indexOf(":")), kv.slice(kv.indexOf(":") + 1)]));
  servingAt = Date.now();
  miniflare = await startWorker({
    port: PORT,
    vars: { ...devVars(), ...downstream, ...extra },
    miniflare: args["in-memory"] ? {} : { d1Persist: path.join(state, "d1"), kvPersist: path.join(state, "kv") },
  });
} else if (args.runtime === "control") {
  // bench/control-worker.js: the same binding calls in plain JS, on the same simulators.
  servingAt = Date.now();
  const mf = new Miniflare({
    modules: true,
    scriptPath: path.join(ROOT, "bench/control-worker.js"),
    // Date, flags, KV and D1 as wrangler.toml declares them; no queues (the control stores only).
    ...pick(bindingOptions(await readWranglerConfig()), ["compatibilityDate", "compatibilityFlags", "kvNamespaces", "d1Databases"]),
    ...(args["in-memory"] ? {} : { d1Persist: path.join(state, "d1"), kvPersist: path.join(state, "kv") }),
    host: "127.0.0.1",
    port: PORT,
    cf: false,
  });
  await mf.ready;
  const db = await mf.getD1Database("DB");
  await db.exec("CREATE TABLE control_events (id TEXT PRIMARY KEY, payload TEXT)");
  miniflare = { all: async () => [], dispose: () => mf.dispose() };
} else {
  throw new Error(`--runtime must be wrangler, miniflare or control, not ${args.runtime}`);
}

function stop() {
  try {
    if (dev) process.kill(-dev.pid, "SIGTERM");
  } catch {}
}
process.on("exit", stop);
process.on("SIGINT", () => process.exit(130));

/** Live read-only query, whichever runtime serves. */
async function query(sql) {
  return miniflare ? miniflare.all(sql) : d1Snapshot(sql);
}

/**
 * Memory while loads run: RSS of every workerd process (wrangler dev runs two: its proxy and the
 * worker with the simulators; Miniflare one) and, from admin stats, the worker's wasm linear memory
 * and its isolate's start time and fetch count (a reset isolate shows a new start time).
 */
const memory = [];
let sampling = null;
async function isolateStats() {
  try {
    const res = await fetch(`${BASE}/admin/api/stats`, { headers: { authorization: `Bearer ${devVars().ADMIN_TOKEN}` } });
    return (await res.json()).isolate ?? null;
  } catch {
    return null;
  }
}
/** RSS of the workerd processes this benchmark started (descendants of this process only). */
function workerdRss() {
  const rss = {};
  try {
    const rows = execFileSync("ps", ["-eo", "pid=,ppid=,rss=,comm="], { encoding: "utf8" })
      .split("\n")
      .map((line) => line.trim().split(/\s+/))
      .filter((cols) => cols.length === 4);
    const parent = new Map(rows.map(([pid, ppid]) => [pid, ppid]));
    const ours = (pid) => {
      for (let p = pid, hops = 0; p && p !== "0" && hops < 20; p = parent.get(p), hops += 1) {
        if (p === String(process.pid)) return true;
      }
      return false;
    };
    for (const [pid, , kb, comm] of rows) if (comm === "workerd" && ours(pid)) rss[pid] = Math.round(Number(kb) / 1024);
  } catch {}
  return rss;
}
// RSS every second (cheap); isolate stats (a D1-backed admin request) only around each load.
function startSampling(label) {
  sampling = setInterval(() => memory.push({ label, t_ms: Date.now() - t0, workerd_rss_mb: workerdRss() }), 1000);
}
function stopSampling() {
  clearInterval(sampling);
}

/**
 * Read-only query while wrangler dev runs: on a copy of the local D1 file (its SQLite file and
 * WAL), with python3's sqlite3, because `wrangler d1 execute` on the live file takes locks that
 * make the running worker's own D1 calls fail with SQLITE_BUSY (perturbing what is measured).
 */
function d1Snapshot(sql) {
  const script = `
import glob, json, os, shutil, sqlite3, sys, tempfile
src = [p for p in glob.glob(os.path.join(sys.argv[1], "v3/d1/**/*.sqlite"), recursive=True) if "metadata" not in p][0]
tmp = tempfile.mkdtemp()
for suffix in ("", "-wal"):
    if os.path.exists(src + suffix):
        shutil.copy(src + suffix, os.path.join(tmp, "db.sqlite" + suffix))
con = sqlite3.connect(os.path.join(tmp, "db.sqlite"))
con.row_factory = sqlite3.Row
print(json.dumps([dict(r) for r in con.execute(sys.argv[2])]))
shutil.rmtree(tmp)
`;
  return JSON.parse(execFileSync("python3", ["-c", script, state, sql], { encoding: "utf8" }));
}

/** Query the local D1 with wrangler (only once wrangler dev has stopped). */
function d1(sql) {
  const out = execFileSync(
    path.join(ROOT, "node_modules/.bin/wrangler"),
    ["d1", "execute", "DB", "--local", "--persist-to", state, "--json", "--command", sql],
    { cwd: ROOT, env: { ...process.env, CI: "true", WRANGLER_SEND_METRICS: "false" }, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] },
  );
  return JSON.parse(out)[0].results;
}

/** Wait (up to `ms`) until no step is pending, enqueued or running; returns counts by status. */
async function drainSteps(ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    let counts;
    try {
      counts = Object.fromEntries((await query("SELECT status, COUNT(*) AS n FROM steps GROUP BY status")).map((r) => [r.status, r.n]));
    } catch (error) {
      log("snapshot failed, retrying", error.message.split("\n")[0]);
      await sleep(2000);
      continue;
    }
    const open = (counts.pending ?? 0) + (counts.enqueued ?? 0) + (counts.running ?? 0);
    if (open === 0 || Date.now() > deadline) return counts;
    log("waiting for steps to drain", JSON.stringify(counts));
    await sleep(5000);
  }
}

const results = { started: new Date().toISOString(), runtime: args.runtime, ingest_only: args["ingest-only"], port: PORT, runs: [] };
try {
  // Cold start: poll /health every 20 ms until the first 200.
  let firstOk = null;
  while (firstOk === null) {
    if (dev && dev.exitCode !== null) throw new Error(`scripts/dev exited early:\n${output}`);
    if (Date.now() - t0 > 300_000) throw new Error(`scripts/dev did not serve within 300 s:\n${output}`);
    try {
      if ((await fetch(`${BASE}/health`)).ok) firstOk = Date.now();
    } catch {}
    if (firstOk === null) await sleep(20);
  }
  results.cold_start = miniflare
    ? { spawn_to_first_200_ms: firstOk - t0, note: "new Miniflare (workerd start, D1 migrations) to the first 200 on /health" }
    : {
        spawn_to_first_200_ms: firstOk - t0,
        wrangler_dev_to_first_200_ms: servingAt ? firstOk - servingAt : null,
        note: "spawn includes scripts/setup (no-op) and D1 migrations apply; wrangler_dev_* starts when scripts/dev launches wrangler dev (which runs the no-op scripts/build first)",
      };
  log("cold start", JSON.stringify(results.cold_start));

  // The load client is its own process (async, so this one keeps serving the downstream fake and
  // sampling memory while it runs).
  const load = async (kind, concurrency, requests) => {
    const label = `${kind}:${concurrency}`;
    const before = args.runtime === "control" ? null : await isolateStats();
    startSampling(label);
    try {
      const { stdout } = await execFileAsync(
        process.execPath,
        [path.join(ROOT, "bench/load.mjs"), "--base", BASE, "--kind", kind, "--concurrency", String(concurrency), "--requests", String(requests)],
        { cwd: ROOT, encoding: "utf8", maxBuffer: 64 << 20 },
      );
      return JSON.parse(stdout.trim().split("\n").pop());
    } finally {
      stopSampling();
      const after = args.runtime === "control" ? null : await isolateStats();
      memory.push({ label, t_ms: Date.now() - t0, workerd_rss_mb: workerdRss(), isolate_before: before, isolate_after: after });
    }
  };
  results.profile = [];
  for (const spec of args.profile.split(",").filter(Boolean)) {
    const [kind, c, n] = spec.split(":");
    const r = await load(kind, Number(c), Number(n));
    log("profile", JSON.stringify(r));
    results.profile.push(r);
  }
  // The profile runs left steps for the consumer: let it finish before the measured runs.
  await drainSteps(60_000);

  for (const kind of args["skip-main"] ? [] : ["stripe", "sendgrid"]) {
    for (const c of args.concurrency.split(",").map(Number)) {
      const n = kind === "stripe" ? Number(args.requests) : Number(args["sendgrid-requests"]);
      const r = await load(kind, c, Math.max(n, c * 2));
      log(JSON.stringify(r));
      results.runs.push(r);
      // A fixed pause between measured runs, not a wait for a condition: the consumer keeps
      // draining while the next run loads (the final drain below waits for it to finish).
      await sleep(2000);
    }
  }

  // Drain: every accepted event is stored, and its steps reach a terminal state.
  const expectedStripe = results.runs.filter((r) => r.kind === "stripe").reduce((n, r) => n + r.requests, 0);
  const drainStarted = Date.now();
  const counts = await drainSteps(Number(args["drain-seconds"]) * 1000);
  // wrangler dev holds the D1 file: stop it and read with wrangler; Miniflare is read live.
  let final = query;
  if (dev) {
    const exited = dev.exitCode !== null ? Promise.resolve() : new Promise((resolve) => dev.once("exit", resolve));
    stop();
    await Promise.race([exited, sleep(10_000)]); // wrangler dev releases the D1 file when it exits
    final = async (sql) => d1(sql);
  }
  const grouped = async (sql) => Object.fromEntries((await final(sql)).map((r) => [r.k, r.n]));
  results.drain = {
    events_by_provider: await grouped("SELECT provider AS k, COUNT(*) AS n FROM events GROUP BY provider"),
    steps_by_status_final: await grouped("SELECT status AS k, COUNT(*) AS n FROM steps GROUP BY status"),
    attempts_by_outcome: await grouped("SELECT outcome AS k, COUNT(*) AS n FROM attempts GROUP BY outcome"),
    steps_by_status: counts,
    drain_seconds: Math.round((Date.now() - drainStarted) / 1000),
    downstream_calls: fake.calls.length,
    stripe_requests_sent_including_warmup: expectedStripe + results.runs.filter((r) => r.kind === "stripe").length * 20,
  };
  log("drain", JSON.stringify(results.drain));
  results.memory = memory;
} finally {
  stop();
  if (miniflare) await miniflare.dispose();
  if (dev) writeFileSync(path.join(ROOT, "target/bench-workerd-dev.log"), output);
  await fake.close();
  if (!args["keep-state"]) rmSync(state, { recursive: true, force: true });
}
console.log(JSON.stringify(results, null, 2));
writeFileSync(path.resolve(ROOT, args.out), JSON.stringify(results, null, 2));
process.exit(0);
