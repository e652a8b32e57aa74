#!/usr/bin/env node
// Through-workerd benchmark: start the downstream fake on a free port and `scripts/dev`
// (wrangler dev, local KV/D1/Queues) on a non-default port with a throwaway EDGEHOOKS_STATE,
// time the cold start (spawn -> first 200), run bench/load.mjs for Stripe single events and
// SendGrid batches at each concurrency, then let the queue drain and count rows in local D1, so
// the report says whether everything accepted under load was stored and its steps finished.
// Prints one JSON object (results) on stdout; progress goes to stderr.
//
// Usage: node bench/workerd.mjs [--port 8911] [--requests 400] [--sendgrid-requests 100]
//          [--concurrency 1,8,32] [--keep-state]
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { startFakeDownstream } from "../tests/helpers/fake-downstream.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { values: args } = parseArgs({
  options: {
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

const fake = await startFakeDownstream();
const state = mkdtempSync(path.join(os.tmpdir(), "edgehooks-bench-"));
const downstream = {
  HUBSPOT_API_BASE: fake.url,
  SENDGRID_API_BASE: fake.url,
  STRIPE_API_BASE: fake.url,
  SLACK_WEBHOOK_URL: `${fake.url}/services/T000/B000/bench`,
};
const varArgs = [...Object.entries(downstream).map(([k, v]) => `${k}:${v}`), ...args.var].flatMap((kv) => ["--var", kv]);

const t0 = Date.now();
let servingAt = null;
let output = "";
const dev = spawn(path.join(ROOT, "scripts/dev"), ["--inspector-port", args["inspector-port"], "--log-level", args["dev-log-level"], ...varArgs], {
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

function stop() {
  try {
    process.kill(-dev.pid, "SIGTERM");
  } catch {}
}
process.on("exit", stop);
process.on("SIGINT", () => process.exit(130));

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
      counts = Object.fromEntries(d1Snapshot("SELECT status, COUNT(*) AS n FROM steps GROUP BY status").map((r) => [r.status, r.n]));
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

const results = { started: new Date().toISOString(), port: PORT, runs: [] };
try {
  // Cold start: poll /health every 20 ms until the first 200.
  let firstOk = null;
  while (firstOk === null) {
    if (dev.exitCode !== null) throw new Error(`scripts/dev exited early:\n${output}`);
    if (Date.now() - t0 > 300_000) throw new Error(`scripts/dev did not serve within 300 s:\n${output}`);
    try {
      if ((await fetch(`${BASE}/health`)).ok) firstOk = Date.now();
    } catch {}
    if (firstOk === null) await sleep(20);
  }
  results.cold_start = {
    spawn_to_first_200_ms: firstOk - t0,
    wrangler_dev_to_first_200_ms: servingAt ? firstOk - servingAt : null,
    note: "spawn includes scripts/setup (no-op) and D1 migrations apply; wrangler_dev_* starts when scripts/dev launches wrangler dev (which runs the no-op scripts/build first)",
  };
  log("cold start", JSON.stringify(results.cold_start));

  const load = (kind, concurrency, requests) => {
    const out = execFileSync(
      process.execPath,
      [path.join(ROOT, "bench/load.mjs"), "--base", BASE, "--kind", kind, "--concurrency", String(concurrency), "--requests", String(requests)],
      { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] },
    );
    return JSON.parse(out.trim().split("\n").pop());
  };
  results.profile = [];
  for (const spec of args.profile.split(",").filter(Boolean)) {
    const [kind, c, n] = spec.split(":");
    const r = load(kind, Number(c), Number(n));
    log("profile", JSON.stringify(r));
    results.profile.push(r);
  }
  // The profile runs left steps for the consumer: let it finish before the measured runs.
  await drainSteps(60_000);

  for (const kind of args["skip-main"] ? [] : ["stripe", "sendgrid"]) {
    for (const c of args.concurrency.split(",").map(Number)) {
      const n = kind === "stripe" ? Number(args.requests) : Number(args["sendgrid-requests"]);
      const r = load(kind, c, Math.max(n, c * 2));
      log(JSON.stringify(r));
      results.runs.push(r);
      await sleep(2000); // let the queue consumer catch up a little between runs
    }
  }

  // Drain: every accepted event is stored, and its steps reach a terminal state.
  const expectedStripe = results.runs.filter((r) => r.kind === "stripe").reduce((n, r) => n + r.requests, 0);
  const drainStarted = Date.now();
  const counts = await drainSteps(Number(args["drain-seconds"]) * 1000);
  stop();
  await sleep(2000);
  results.drain = {
    events_by_provider: Object.fromEntries(d1("SELECT provider, COUNT(*) AS n FROM events GROUP BY provider").map((r) => [r.provider, r.n])),
    steps_by_status_final: Object.fromEntries(d1("SELECT status, COUNT(*) AS n FROM steps GROUP BY status").map((r) => [r.status, r.n])),
    attempts_by_outcome: Object.fromEntries(d1("SELECT outcome, COUNT(*) AS n FROM attempts GROUP BY outcome").map((r) => [r.outcome, r.n])),
    steps_by_status: counts,
    drain_seconds: Math.round((Date.now() - drainStarted) / 1000),
    downstream_calls: fake.calls.length,
    stripe_requests_sent_including_warmup: expectedStripe + results.runs.filter((r) => r.kind === "stripe").length * 20,
  };
  log("drain", JSON.stringify(results.drain));
} finally {
  stop();
  writeFileSync(path.join(ROOT, "target/bench-workerd-dev.log"), output);
  await fake.close();
  if (!args["keep-state"]) rmSync(state, { recursive: true, force: true });
}
console.log(JSON.stringify(results, null, 2));
writeFileSync(path.join(ROOT, "target/bench-workerd.json"), JSON.stringify(results, null, 2));
process.exit(0);
