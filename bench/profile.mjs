#!/usr/bin/env node
// CPU profile of the worker's isolate under load: where the isolate's own time goes per request,
// split into the Rust code (wasm), the wasm-bindgen/workers-rs JavaScript glue (build/index.js),
// the runtime's built-in JS (the KV/D1/Queue client code workerd runs inside the isolate), the
// garbage collector, and idle time (waiting on I/O). Serves the built worker with Miniflare
// (KV/D1 on disk, the downstream fake for steps) with the V8 inspector on, starts the sampling
// profiler over the DevTools protocol, drives bench/load.mjs, and writes one JSON line per load
// to stdout (and target/bench-profile.json). The simulators run in the same workerd process, on
// the same thread, in other isolates: their time is neither this isolate's busy nor its idle
// time, but the part of the wall time its samples do not cover (1 - `sampled_share`). Figures
// are sample counts times the median sampling interval (see `categorize`).
//
// Usage: [DRAIN_MS=12000] node --experimental-websocket bench/profile.mjs [--port 8913]
//          [--inspector-port 9313] [--loads stripe:8:400,sendgrid:8:60] [--ingest-only | --routes JSON]
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs, promisify } from "node:util";
import { startFakeDownstream } from "../tests/helpers/fake-downstream.mjs";
import { downstreamVars, startWorker } from "../tests/helpers/worker.mjs";
import { devVar } from "./dev-vars.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { values: args } = parseArgs({
  options: {
    port: { type: "string", default: "8913" },
    "inspector-port": { type: "string", default: "9313" },
    loads: { type: "string", default: "health:8:2000,stripe:8:400,sendgrid:8:60" },
    "ingest-only": { type: "boolean", default: false },
    routes: { type: "string" },
  },
});
if (typeof WebSocket !== "function") throw new Error("run with node --experimental-websocket (Node 20) or Node 22+");

const SECRETS = ["STRIPE_WEBHOOK_SECRETS", "SENDGRID_WEBHOOK_PUBLIC_KEYS", "ADMIN_TOKEN"];
const fake = await startFakeDownstream();
const state = mkdtempSync(path.join(os.tmpdir(), "edgehooks-profile-"));
const vars = { ...downstreamVars(fake.url), ...Object.fromEntries(SECRETS.map((name) => [name, devVar(name)])) };
if (args["ingest-only"]) vars.ROUTES_JSON = '{"stripe":{"checkout.session.completed":[]},"sendgrid":{"delivered":[],"open":[]}}';
else if (args.routes) vars.ROUTES_JSON = args.routes;
const worker = await startWorker({
  port: Number(args.port),
  vars,
  miniflare: { d1Persist: path.join(state, "d1"), kvPersist: path.join(state, "kv"), inspectorPort: Number(args["inspector-port"]) },
});

/** A minimal DevTools protocol client for the worker's inspector target. */
async function inspector() {
  const targets = await (await fetch(`http://127.0.0.1:${args["inspector-port"]}/json`)).json();
  const target = targets.find((t) => t.id?.includes("edgehooks") || t.title?.includes("edgehooks")) ?? targets[0];
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = reject;
  });
  let id = 0;
  const pending = new Map();
  ws.onmessage = (event) => {
    const msg = JSON.parse(event.data);
    if (msg.id && pending.has(msg.id)) {
      pending.get(msg.id)(msg);
      pending.delete(msg.id);
    }
  };
  const send = (method, params = {}) =>
    new Promise((resolve, reject) => {
      id += 1;
      pending.set(id, (msg) => (msg.error ? reject(new Error(`${method}: ${msg.error.message}`)) : resolve(msg.result)));
      ws.send(JSON.stringify({ id, method, params }));
    });
  return { send, close: () => ws.close(), target: target.id };
}

/**
 * Self time per category from a V8 CPU profile, by sample count: each sample stands for the
 * profile's typical (median) sampling interval. Not by the time since the previous sample: in
 * Miniflare every isolate (this worker, the KV/D1/Queue simulators, the downstream fake's
 * dispatch) runs on workerd's one main thread, and while another isolate runs this one is not
 * sampled, so that gap used to be charged to whatever frame was sampled next (it was most of
 * the wall time under load, and it inflated every figure, see BENCHMARKS.md "session 7").
 * `sampled_share` is the part of the profile's wall time the samples stand for.
 */
function categorize(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const deltas = (profile.timeDeltas ?? []).slice(1).sort((a, b) => a - b);
  const interval = deltas[deltas.length >> 1] ?? 0;
  const selfUs = new Map();
  for (const nodeId of profile.samples) selfUs.set(nodeId, (selfUs.get(nodeId) ?? 0) + interval);
  const sampledShare = (profile.samples.length * interval) / Math.max(1, profile.endTime - profile.startTime);
  const totals = { wasm: 0, glue: 0, runtime_js: 0, gc: 0, idle: 0, program: 0 };
  const top = new Map();
  for (const [nodeId, us] of selfUs) {
    const frame = byId.get(nodeId)?.callFrame ?? {};
    const name = frame.functionName ?? "";
    const url = frame.url ?? "";
    let kind;
    if (name === "(idle)") kind = "idle";
    else if (name === "(garbage collector)") kind = "gc";
    else if (name === "(program)" || name === "(root)") kind = "program";
    else if (url.startsWith("wasm://") || /^\$?func\d+|wasm-function/.test(name)) kind = "wasm";
    else if (url.includes("index.js") || url.includes("/build/")) kind = "glue";
    else kind = "runtime_js";
    totals[kind] += us;
    if (kind !== "idle") {
      const label = `${kind} ${name || "(anonymous)"} ${url.split("/").pop()}:${frame.lineNumber ?? ""}`;
      top.set(label, (top.get(label) ?? 0) + us);
    }
  }
  return { totals, top, interval, sampledShare };
}

const execFileAsync = promisify(execFile);
const results = [];
try {
  const devtools = await inspector();
  await devtools.send("Profiler.enable");
  await devtools.send("Profiler.setSamplingInterval", { interval: 100 });
  for (const spec of args.loads.split(",").filter(Boolean)) {
    const [kind, concurrency, requests] = spec.split(":");
    await devtools.send("Profiler.start");
    const { stdout } = await execFileAsync(
      process.execPath,
      [path.join(ROOT, "bench/load.mjs"), "--base", `http://127.0.0.1:${args.port}`, "--kind", kind, "--concurrency", concurrency, "--requests", requests, "--warmup", "0"],
      { cwd: ROOT, encoding: "utf8", maxBuffer: 64 << 20 },
    );
    // DRAIN_MS: keep profiling after the load while the queue consumer works through its steps.
    if (process.env.DRAIN_MS) await new Promise((resolve) => setTimeout(resolve, Number(process.env.DRAIN_MS)));
    const { profile } = await devtools.send("Profiler.stop");
    // The raw profile, for DevTools or bench/profile-callers.mjs (who calls a hot frame).
    writeFileSync(path.join(ROOT, `target/profile-${kind}-c${concurrency}.cpuprofile`), JSON.stringify(profile));
    const load = JSON.parse(stdout.trim().split("\n").pop());
    const { totals, top, interval, sampledShare } = categorize(profile);
    const busy = totals.wasm + totals.glue + totals.runtime_js + totals.gc + totals.program;
    const perRequest = (us) => Math.round((us / load.requests) * 10) / 10;
    const row = {
      kind,
      concurrency: Number(concurrency),
      requests: load.requests,
      rps: load.rps,
      sample_interval_us: interval,
      sampled_share: Math.round(sampledShare * 1000) / 1000,
      isolate_busy_share: Math.round((busy / (busy + totals.idle)) * 1000) / 1000,
      busy_us_per_request: perRequest(busy),
      us_per_request: Object.fromEntries(Object.entries(totals).map(([k, v]) => [k, perRequest(v)])),
      share_of_busy: Object.fromEntries(
        Object.entries(totals)
          .filter(([k]) => k !== "idle")
          .map(([k, v]) => [k, Math.round((v / busy) * 1000) / 1000]),
      ),
      top_self_us_per_request: [...top]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 12)
        .map(([label, us]) => [label, perRequest(us)]),
    };
    console.log(JSON.stringify(row));
    results.push(row);
  }
  devtools.close();
} finally {
  await worker.dispose();
  await fake.close();
  rmSync(state, { recursive: true, force: true });
}
writeFileSync(path.join(ROOT, "target/bench-profile.json"), JSON.stringify({ started: new Date().toISOString(), ingest_only: args["ingest-only"], results }, null, 2));
process.exit(0);
