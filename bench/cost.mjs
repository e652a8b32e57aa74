#!/usr/bin/env node
// Issue 25, cost: what one million Stripe checkout events cost on Cloudflare's published prices,
// edgehooks beside the plain JavaScript peer (../shared/peers/js-stripe-worker), from counts
// measured at runtime (not timed, apart from the local D1 latency noted below).
//
// Both workers run in Miniflare (real local KV, D1 and Queues) behind tests/helpers/binding-counts.mjs,
// which records per invocation every D1 round trip with the rows D1 reports read and written
// (`meta.rows_read` / `meta.rows_written`) and its size after (`meta.size_after`), every KV
// operation, every Queue send (messages written) and, per queue invocation, the messages delivered
// and retried. edgehooks is its release build (build/); the peer is its src/index.js bundled
// here with esbuild (as wrangler bundles it: workerd conditions), read-only from ../shared.
// Deployment queue settings on both sides (wrangler.toml: batches of 10, 1 s batch timeout).
//
//  1. Burst: N distinct checkout.session.completed events (bodies from the peer's gen-cases.mjs,
//     each its own customer; each request signed just before it is sent, so none expires), 4 in
//     flight, then until every step has finished; then DUP_SHARE of them delivered again (same
//     body, a fresh signature, as a provider's retry: after the first delivery was stored).
//  2. Trickle: TRICKLE more events one at a time, each waiting until its steps have finished: at
//     1M events a month (0.4/s) a consumer batch seldom holds more than one event's messages, so
//     the queue invocations per event come from this phase; every other count from the burst.
//  3. edgehooks only: two cron ticks (the sweeper), counted apart: a fixed cost per month.
//
// Prices (USD, Workers Paid, as published on these pages when this was written):
//  - Workers: $5/month; 10M requests/month included, then $0.30 per million; 30M CPU ms/month
//    included, then $0.02 per million CPU ms. "Inbound requests" are billed; subrequests are not.
//    https://developers.cloudflare.com/workers/platform/pricing/
//    Queue consumer and Cron Trigger invocations: the page gives them their own CPU limit (15 min)
//    but no request price of their own; they are invocations of the Worker, priced here as
//    requests (shown apart, so a reader who finds otherwise can drop them). cloudflare-docs PR
//    #8825 (2023) "Clarified that Consumer Queues are billed as unbound", i.e. per invocation.
//  - D1: 25 billion rows read/month included, then $0.001 per million; 50M rows written/month
//    included, then $1.00 per million; 5 GB storage included, then $0.75 per GB-month.
//    https://developers.cloudflare.com/d1/platform/pricing/
//    Limits: 10 GB per database. https://developers.cloudflare.com/d1/platform/limits/
//  - KV: 10M reads/month included, then $0.50 per million; 1M writes, 1M deletes, 1M lists/month
//    included each, then $5.00 per million each. https://developers.cloudflare.com/kv/platform/pricing/
//  - Queues: 1M operations/month included, then $0.40 per million. An operation is each 64 KB
//    written, read or deleted; a delivered message is 3 (write, read, delete); each retry adds a
//    read; a message written to a dead letter queue adds a write.
//    https://developers.cloudflare.com/queues/platform/pricing/
//
// D1 throughput: "each individual D1 database is inherently single-threaded, and processes queries
// one at a time … if your average query takes 1 ms, you can run approximately 1,000 queries per
// second" (https://developers.cloudflare.com/d1/platform/limits/, FAQ). So events/s per database
// ≈ 1 / (round trips per event × time per round trip), three estimates: the local wall time per
// round trip measured one event at a time (Miniflare's loopback and SQLite, not D1's network),
// 1 ms per round trip, and 1 ms per statement (a batch's statements run one after another).
//
// CPU ms per event is not measured here (no isolate CPU in Miniflare): the figures are the latest
// `scripts/bench compare` server CPU per event (BENCHMARKS.md, Miniflare: edgehooks 5.2–6.2 ms,
// peer 3.9–4.9 ms), which include the local KV/D1/Queue simulators' CPU and so overstate both;
// --cpu-edgehooks / --cpu-peer take newer figures.
//
//   node bench/cost.mjs [--events 1000] [--dup-share 0.1] [--trickle 20] [--peer path/to/js-stripe-worker]
//   node bench/cost.mjs --from-runs target/bench-cost-runs.json [--cpu-edgehooks 5.2-6.2 --cpu-peer 3.9-4.9]   # re-price saved runs
// Writes target/bench-cost.json (and the raw invocation records, target/bench-cost-runs.json) and
// prints the markdown tables (also target/bench-cost.md).
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { Log, LogLevel, Miniflare } from "miniflare";
import Stripe from "stripe";
import { build as esbuild } from "esbuild";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
import { startWorld } from "../tests/helpers/world.mjs";
import { TEST_SECRETS, ROOT, waitFor } from "../tests/helpers/worker.mjs";
import { countingBuild, invocations } from "../tests/helpers/binding-counts.mjs";
import { bindingOptions, readWranglerConfig } from "../scripts/wrangler-config.mjs";

const { values: args } = parseArgs({
  options: {
    events: { type: "string", default: "1000" },
    "dup-share": { type: "string", default: "0.1" },
    trickle: { type: "string", default: "20" },
    // CPU ms per event, "lo-hi" or one figure: the latest compare.sh cpu/event (see CPU_MS).
    "cpu-edgehooks": { type: "string", default: "5.2-6.2" },
    "cpu-peer": { type: "string", default: "3.9-4.9" },
    // Re-price the runs saved by an earlier run (target/bench-cost-runs.json) without running them.
    "from-runs": { type: "string" },
    // ../shared beside the main checkout, or two levels up from a worktree under wt/
    peer: { type: "string", default: ["..", "../.."].map((up) => path.resolve(ROOT, up, "shared/peers/js-stripe-worker")).find((p) => existsSync(p)) },
  },
});
const saved = args["from-runs"] ? JSON.parse(readFileSync(args["from-runs"], "utf8")) : null;
const N = saved?.events ?? Number(args.events);
const DUPS = saved?.duplicates ?? Math.round(N * Number(args["dup-share"]));
const TRICKLE = saved?.trickle ?? Number(args.trickle);
const PEER = args.peer;
const IN_FLIGHT = 4;
const SECRET = readFileSync(path.join(PEER, ".dev.vars"), "utf8").match(/^STRIPE_WEBHOOK_SECRET=(.*)$/m)[1].trim();
const AUTH = { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}` };
const stripe = new Stripe("sk_test_unused");

export const PRICES = {
  workers: { page: "https://developers.cloudflare.com/workers/platform/pricing/", base: 5, requests: { included: 10e6, perMillion: 0.3 }, cpuMs: { included: 30e6, perMillion: 0.02 } },
  d1: { page: "https://developers.cloudflare.com/d1/platform/pricing/", rowsRead: { included: 25e9, perMillion: 0.001 }, rowsWritten: { included: 50e6, perMillion: 1.0 }, storageGb: { included: 5, perGbMonth: 0.75 }, dbLimitBytes: 10e9 },
  kv: { page: "https://developers.cloudflare.com/kv/platform/pricing/", reads: { included: 10e6, perMillion: 0.5 }, writes: { included: 1e6, perMillion: 5.0 }, deletes: { included: 1e6, perMillion: 5.0 }, lists: { included: 1e6, perMillion: 5.0 } },
  queues: { page: "https://developers.cloudflare.com/queues/platform/pricing/", ops: { included: 1e6, perMillion: 0.4 }, chunkBytes: 64_000 },
};
/** BENCHMARKS.md's latest compare.sh "cpu/event" (Miniflare; includes the simulators' CPU). */
const cpuRange = (text) => (text.includes("-") ? text.split("-") : [text, text]).map(Number);
const CPU_MS = { edgehooks: cpuRange(args["cpu-edgehooks"]), peer: cpuRange(args["cpu-peer"]) };
const CLOUDFLARE_QUERY_MS = 1;
const RETENTION_DAYS = 30;
const CRON_TICKS_PER_MONTH = 30 * 24 * 60; // crons = ["* * * * *"]

/** N distinct signed-later cases from the peer's own generator (a copy, so `stripe` resolves here). */
function cases(count, prefix) {
  const dir = mkdtempSync(path.join(ROOT, "target", "cost-cases-"));
  try {
    cpSync(path.join(PEER, "gen-cases.mjs"), path.join(dir, "gen-cases.mjs"));
    const out = path.join(dir, "cases.ndjson");
    execFileSync("node", [path.join(dir, "gen-cases.mjs"), "--count", String(count), "--secret", SECRET, "--prefix", prefix,
      "--payload", path.join(PEER, "fixtures/checkout.session.completed.json"), "--out", out], { stdio: ["ignore", "ignore", "inherit"] });
    return readFileSync(out, "utf8").trim().split("\n").map((line) => JSON.parse(line).body);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The headers Stripe sends with `body`, signed now. */
function signed(body) {
  return {
    "content-type": "application/json; charset=utf-8",
    "stripe-signature": stripe.webhooks.generateTestHeaderString({ payload: body, secret: SECRET }),
  };
}

/** POST every body (IN_FLIGHT at a time); throws on a non-2xx answer. */
async function deliverAll(post, bodies) {
  let next = 0;
  const lane = async () => {
    while (next < bodies.length) {
      const body = bodies[next++];
      const res = await post(body, signed(body));
      if (res.status < 200 || res.status > 299) throw new Error(`delivery answered ${res.status}: ${res.text?.slice(0, 200)}`);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
}

const settle = () => new Promise((r) => setTimeout(r, 700)); // the last waitUntil (if any) lands

/** edgehooks: burst, duplicates, trickle, cron; the counted records of each phase. */
async function runEdgehooks(bodies, trickleBodies) {
  const build = countingBuild();
  const consumers = bindingOptions(await readWranglerConfig()).queueConsumers; // deployment batch timeout
  const world = await startWorld({
    miniflare: { ...build.miniflare, queueConsumers: consumers },
    vars: {
      STRIPE_WEBHOOK_SECRETS: SECRET,
      // The fake answers without limits and the peer keeps none: a month's trickle never meets
      // HubSpot's 100 calls / 10 s, so the budget must not reshape this burst either.
      RATE_LIMITS_JSON: JSON.stringify({ hubspot: { calls: 100000, per_seconds: 1 }, sendgrid: { calls: 100000, per_seconds: 1 } }),
    },
  });
  try {
    const post = (body, headers) => world.worker.post("/webhooks/stripe", body, headers);
    const finished = async (want) => {
      const [row] = await world.worker.all("SELECT COUNT(*) AS n FROM steps WHERE status = 'succeeded'");
      return row.n >= want;
    };
    const storage = async () => (await world.worker.get("/admin/api/storage", AUTH)).json.bytes_used;
    const calls = () => world.fake.calls.length;
    const mark = async () => (await invocations(world.worker)).length;

    const sizeBefore = await storage();
    const m0 = await mark();
    const c0 = calls();
    await deliverAll(post, bodies);
    await waitFor(() => finished(2 * bodies.length), { timeoutMs: 900_000, intervalMs: 500, what: "edgehooks: every step succeeded" });
    await world.noStepInFlight();
    await settle();
    const sizeAfter = await storage();
    const m1 = await mark();
    await deliverAll(post, bodies.slice(0, DUPS));
    await settle();
    await world.noStepInFlight();
    const m2 = await mark();
    const c2 = calls();
    for (const [i, body] of trickleBodies.entries()) {
      await deliverAll(post, [body]);
      await waitFor(() => finished(2 * (bodies.length + i + 1)), { timeoutMs: 60_000, intervalMs: 50, what: "edgehooks: trickle event finished" });
      await settle();
    }
    const m3 = await mark();
    await world.sweep();
    await world.sweep();
    await settle();
    const all = await invocations(world.worker);
    const counted = (from, to) => all.slice(from, to).filter((r) => !r.detail.startsWith("GET /admin/"));
    return {
      burst: counted(m0, m1),
      dups: counted(m1, m2),
      trickle: counted(m2, m3),
      cron: all.slice(m3).filter((r) => r.kind === "scheduled"),
      downstream: { burst: c2 - c0 /* no calls for duplicates */, trickle: calls() - c2 },
      bytesPerEvent: (sizeAfter - sizeBefore) / bodies.length,
    };
  } finally {
    await world.dispose();
    build.cleanup();
  }
}

/** The peer's src/index.js bundled as wrangler would (workerd conditions), into a temp dir. */
async function bundlePeer() {
  const dir = mkdtempSync(path.join(os.tmpdir(), "cost-peer-"));
  await esbuild({
    entryPoints: [path.join(PEER, "src/index.js")],
    outfile: path.join(dir, "index.js"),
    bundle: true,
    format: "esm",
    platform: "neutral",
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["browser", "module", "main"],
    nodePaths: [path.join(ROOT, "node_modules")],
    logLevel: "warning",
  });
  return dir;
}

/** The peer: the same phases (no cron: it has none). */
async function runPeer(bodies, trickleBodies) {
  const { startFake } = await import(path.join(PEER, "fake.mjs"));
  const bundle = await bundlePeer();
  const build = countingBuild({ from: bundle, style: "object", bindings: { d1: ["DB"], kv: ["IDEMP"], queue: ["STEPS"] } });
  const fake = await startFake(0);
  const { workerOptions } = unstable_getMiniflareWorkerOptions(path.join(PEER, "wrangler.toml"));
  const mf = new Miniflare({
    log: new Log(LogLevel.WARN),
    workers: [{
      ...workerOptions,
      name: "peer",
      modules: true,
      ...build.miniflare,
      bindings: { ...workerOptions.bindings, HUBSPOT_API_BASE: fake.url, SENDGRID_API_BASE: fake.url },
    }],
  });
  try {
    await mf.ready;
    const db = await mf.getD1Database("DB");
    for (const file of execFileSync("ls", [path.join(PEER, "migrations")]).toString().trim().split("\n")) {
      const sql = readFileSync(path.join(PEER, "migrations", file), "utf8");
      for (const statement of sql.split(";").map((s) => s.trim()).filter((s) => s.replace(/--.*$/gm, "").trim())) await db.prepare(statement).run();
    }
    const post = async (body, headers) => {
      const res = await mf.dispatchFetch("http://localhost/webhooks/stripe", { method: "POST", body, headers });
      return { status: res.status, text: await res.text() };
    };
    const stats = async () => (await mf.dispatchFetch("http://localhost/stats")).json();
    const finished = async (want) => (await stats()).steps >= want;
    const all = async () => (await mf.dispatchFetch("http://localhost/__binding_counts")).json();
    const lastSize = async () => {
      await stats();
      return (await all()).findLast((r) => r.detail === "GET /stats").sizeAfter;
    };
    const calls = () => fake.counts.hubspot + fake.counts.sendgrid + fake.counts.other;

    const sizeBefore = await lastSize();
    const m0 = (await all()).length;
    const c0 = calls();
    await deliverAll(post, bodies);
    await waitFor(() => finished(2 * bodies.length), { timeoutMs: 900_000, intervalMs: 500, what: "peer: every step recorded" });
    await settle();
    const sizeAfter = await lastSize();
    const m1 = (await all()).length;
    await deliverAll(post, bodies.slice(0, DUPS));
    await settle();
    const m2 = (await all()).length;
    const c2 = calls();
    for (const [i, body] of trickleBodies.entries()) {
      await deliverAll(post, [body]);
      await waitFor(() => finished(2 * (bodies.length + i + 1)), { timeoutMs: 60_000, intervalMs: 50, what: "peer: trickle event finished" });
      await settle();
    }
    const records = await all();
    const counted = (from, to) => records.slice(from, to).filter((r) => r.detail !== "GET /stats");
    return {
      burst: counted(m0, m1),
      dups: counted(m1, m2),
      trickle: counted(m2),
      cron: [],
      downstream: { burst: c2 - c0, trickle: calls() - c2 },
      bytesPerEvent: (sizeAfter - sizeBefore) / bodies.length,
    };
  } finally {
    await mf.dispose();
    await new Promise((r) => fake.server.close(r));
    build.cleanup();
    rmSync(bundle, { recursive: true, force: true });
  }
}

/** Totals over invocation records. */
function totals(records, kv, queue) {
  const sum = (f) => records.reduce((n, r) => n + f(r), 0);
  const calls = (name) => sum((r) => r.calls.filter((c) => c === name).length);
  const statements = sum((r) => r.d1.reduce((n, s) => n + (Number(s.match(/^batch\[(\d+)\]/)?.[1]) || 1), 0));
  const written = sum((r) => r.sent);
  const delivered = sum((r) => r.delivered);
  const retried = sum((r) => r.retried);
  return {
    webhookRequests: records.filter((r) => r.kind === "fetch").length,
    queueInvocations: records.filter((r) => r.kind === "queue").length,
    d1RoundTrips: sum((r) => r.d1.length),
    d1Statements: statements,
    d1RowsRead: sum((r) => r.rowsRead),
    d1RowsWritten: sum((r) => r.rowsWritten),
    d1WallMs: sum((r) => r.d1WallMs),
    d1ExecMs: sum((r) => r.d1Trips.reduce((n, t) => n + t[2], 0)), // D1's own meta.duration
    d1Unmetered: sum((r) => r.unmetered),
    kvReads: sum((r) => r.kvKeysRead), // a bulk get is billed per key
    kvWrites: calls(`${kv}.put`),
    kvDeletes: calls(`${kv}.delete`),
    kvLists: calls(`${kv}.list`),
    queueWritten: written,
    queueDelivered: delivered,
    queueRetried: retried,
    // Each message is written, read on every delivery, and deleted once it is acked (a message
    // retried is read again later; none reached a dead letter queue in these runs).
    queueOps: written + delivered + (delivered - retried),
    queueSends: calls(`${queue}.send`) + calls(`${queue}.sendBatch`),
  };
}

/** Rows read and written per event by statement (the round trip's first SQL, shortened), largest first. */
function byStatement(records) {
  const rows = new Map();
  for (const r of records) {
    r.d1.forEach((label, i) => {
      const key = label.replace(/^batch\[\d+\]/, "batch").replace(/\s+/g, " ").slice(0, 90);
      const [read, written] = r.d1Trips[i] ?? [0, 0];
      const row = rows.get(key) ?? { statement: key, trips: 0, read: 0, written: 0 };
      row.trips += 1 / N;
      row.read += read / N;
      row.written += written / N;
      rows.set(key, row);
    });
  }
  return [...rows.values()].sort((a, b) => b.written - a.written || b.read - a.read);
}

/** Rows read and written per event by each statement run (a batch's statements one by one), largest first. */
function everyStatement(records) {
  const rows = new Map();
  for (const r of records) {
    for (const [sql, read, written] of r.d1Statements ?? []) {
      const key = sql.replace(/\s+/g, " ").slice(0, 110);
      const row = rows.get(key) ?? { statement: key, runs: 0, read: 0, written: 0 };
      row.runs += 1 / N;
      row.read += read / N;
      row.written += written / N;
      rows.set(key, row);
    }
  }
  return [...rows.values()].sort((a, b) => b.written - a.written || b.read - a.read);
}

/** Per checkout event, over the burst's N events (duplicates' work included, trickle for queue invocations). */
function perEvent(side, kv, queue) {
  const burst = totals([...side.burst, ...side.dups], kv, queue);
  const trickle = totals(side.trickle, kv, queue);
  const per = (n) => n / N;
  const event = Object.fromEntries(Object.entries(burst).map(([k, v]) => [k, per(v)]));
  event.queueInvocationsBurst = event.queueInvocations;
  event.queueInvocations = trickle.queueInvocations / TRICKLE;
  event.requests = event.webhookRequests + event.queueInvocations;
  event.downstream = per(side.downstream.burst);
  // Local latency from the trickle (one event at a time: no queueing behind another's queries).
  event.d1MsPerRoundTrip = trickle.d1WallMs / trickle.d1RoundTrips;
  event.d1RoundTripsTrickle = trickle.d1RoundTrips / TRICKLE;
  event.d1StatementsTrickle = trickle.d1Statements / TRICKLE;
  event.d1ExecMsPerEvent = burst.d1ExecMs / N; // JSON only: Miniflare's meta.duration is too coarse to read per query
  const dupTotals = totals(side.dups, kv, queue);
  event.perDuplicate = { d1RoundTrips: dupTotals.d1RoundTrips / DUPS, d1RowsRead: dupTotals.d1RowsRead / DUPS, d1RowsWritten: dupTotals.d1RowsWritten / DUPS, kvReads: dupTotals.kvReads / DUPS, kvWrites: dupTotals.kvWrites / DUPS };
  return event;
}

/** Marginal price of one million events of `e` (beyond the included amounts), per line. */
function pricePerMillion(e, cpuMs, bytesPerEvent) {
  const M = 1e6;
  const gbHeld = (bytesPerEvent * M) / 1e9; // 1M events/month held for 30 days
  return {
    requests: e.requests * PRICES.workers.requests.perMillion,
    cpu: cpuMs.map((ms) => ms * PRICES.workers.cpuMs.perMillion),
    d1RowsRead: e.d1RowsRead * PRICES.d1.rowsRead.perMillion,
    d1RowsWritten: e.d1RowsWritten * PRICES.d1.rowsWritten.perMillion,
    d1Storage: gbHeld * PRICES.d1.storageGb.perGbMonth,
    kvReads: e.kvReads * PRICES.kv.reads.perMillion,
    kvWrites: (e.kvWrites + e.kvDeletes + e.kvLists) * PRICES.kv.writes.perMillion,
    queueOps: e.queueOps * PRICES.queues.ops.perMillion,
    gbHeld,
    _M: M,
  };
}

/** Events a month each included amount covers. */
function covered(e, cpuMs, bytesPerEvent) {
  const div = (inc, per) => (per > 0 ? inc / per : Infinity);
  return {
    requests: div(PRICES.workers.requests.included, e.requests),
    cpu: cpuMs.map((ms) => div(PRICES.workers.cpuMs.included, ms)),
    d1RowsRead: div(PRICES.d1.rowsRead.included, e.d1RowsRead),
    d1RowsWritten: div(PRICES.d1.rowsWritten.included, e.d1RowsWritten),
    d1Storage: div(PRICES.d1.storageGb.included * 1e9, bytesPerEvent), // events held (30 days)
    kvReads: div(PRICES.kv.reads.included, e.kvReads),
    kvWrites: div(PRICES.kv.writes.included, e.kvWrites),
    queueOps: div(PRICES.queues.ops.included, e.queueOps),
  };
}

/** Monthly bill at `events` a month: the $5 plan plus what goes beyond each included amount. */
function monthly(e, cpuMs, bytesPerEvent, events, fixed = {}) {
  const over = (used, inc, perM) => (Math.max(0, used - inc) / 1e6) * perM;
  const p = PRICES;
  const gb = (bytesPerEvent * events) / 1e9;
  const lines = (ms) =>
    over(e.requests * events + (fixed.requests ?? 0), p.workers.requests.included, p.workers.requests.perMillion) +
    over(ms * events, p.workers.cpuMs.included, p.workers.cpuMs.perMillion) +
    over(e.d1RowsRead * events + (fixed.d1RowsRead ?? 0), p.d1.rowsRead.included, p.d1.rowsRead.perMillion) +
    over(e.d1RowsWritten * events + (fixed.d1RowsWritten ?? 0), p.d1.rowsWritten.included, p.d1.rowsWritten.perMillion) +
    Math.max(0, gb - p.d1.storageGb.included) * p.d1.storageGb.perGbMonth +
    over(e.kvReads * events, p.kv.reads.included, p.kv.reads.perMillion) +
    over(e.kvWrites * events, p.kv.writes.included, p.kv.writes.perMillion) +
    over(e.queueOps * events, p.queues.ops.included, p.queues.ops.perMillion);
  return cpuMs.map((ms) => p.workers.base + lines(ms));
}

const f = (x, d = 2) => (Number.isFinite(x) ? x.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d }) : "∞");
const usd = (x) => (Array.isArray(x) ? [...new Set(x.map((v) => `$${f(v, 2)}`))].join("–") : `$${f(x, x < 0.1 ? 3 : 2)}`);
const big = (x) => (Number.isFinite(x) ? (x >= 1e9 ? `${f(x / 1e9, 1)} B` : x >= 1e6 ? `${f(x / 1e6, 1)} M` : f(x, 0)) : "∞");

function table(result) {
  const { edgehooks: E, peer: P } = result;
  const row = (label, a, b) => `| ${label} | ${a} | ${b} |`;
  const both = (label, fn) => row(label, fn(E), fn(P));
  const lines = [
    `**Per checkout event** (N = ${N} distinct events, plus ${DUPS} duplicate deliveries (${f((DUPS / N) * 100, 0)} %) counted against them; queue invocations from ${TRICKLE} events sent one at a time)`,
    "",
    "| per event | edgehooks | JS peer |",
    "|---|---|---|",
    both("Workers requests: webhook fetches", (s) => f(s.event.webhookRequests)),
    both("Workers requests: queue consumer invocations (trickle; burst)", (s) => `${f(s.event.queueInvocations)} (${f(s.event.queueInvocationsBurst)})`),
    both("CPU ms (placeholder: compare.sh cpu/event, Miniflare, overstated)", (s) => s.cpuMs.join("–")),
    both("D1 round trips (statements)", (s) => `${f(s.event.d1RoundTrips)} (${f(s.event.d1Statements)})`),
    both("D1 rows read", (s) => f(s.event.d1RowsRead)),
    both("D1 rows written", (s) => f(s.event.d1RowsWritten)),
    both("KV reads / writes / deletes / lists", (s) => [s.event.kvReads, s.event.kvWrites, s.event.kvDeletes, s.event.kvLists].map((v) => f(v)).join(" / ")),
    both("Queue messages written (operations)", (s) => `${f(s.event.queueWritten)} (${f(s.event.queueOps)})`),
    both("Downstream subrequests (not billed)", (s) => f(s.event.downstream)),
    both("a duplicate delivery: D1 round trips / rows read / rows written / KV reads", (s) => [s.event.perDuplicate.d1RoundTrips, s.event.perDuplicate.d1RowsRead, s.event.perDuplicate.d1RowsWritten, s.event.perDuplicate.kvReads].map((v) => f(v)).join(" / ")),
    both("D1 bytes stored per event", (s) => f(s.bytesPerEvent, 0)),
    "",
    "**One million checkout events, marginal price** (beyond the included amounts)",
    "",
    "| line (price) | edgehooks | JS peer |",
    "|---|---|---|",
    both(`Workers requests ($${PRICES.workers.requests.perMillion}/M)`, (s) => usd(s.price.requests)),
    both(`CPU ($${PRICES.workers.cpuMs.perMillion}/M ms)`, (s) => usd(s.price.cpu)),
    both(`D1 rows read ($${PRICES.d1.rowsRead.perMillion}/M)`, (s) => usd(s.price.d1RowsRead)),
    both(`D1 rows written ($${PRICES.d1.rowsWritten.perMillion.toFixed(2)}/M)`, (s) => usd(s.price.d1RowsWritten)),
    both(`D1 storage, 1M events held 30 days ($${PRICES.d1.storageGb.perGbMonth}/GB-month)`, (s) => `${usd(s.price.d1Storage)} (${f(s.price.gbHeld, 2)} GB)`),
    both(`KV reads ($${PRICES.kv.reads.perMillion.toFixed(2)}/M)`, (s) => usd(s.price.kvReads)),
    both(`KV writes + deletes + lists ($${PRICES.kv.writes.perMillion.toFixed(2)}/M)`, (s) => usd(s.price.kvWrites)),
    both(`Queue operations ($${PRICES.queues.ops.perMillion}/M)`, (s) => usd(s.price.queueOps)),
    both("**total per million events**", (s) => `**${usd(s.price.total)}**`),
    "",
    "**What the Workers Paid plan's included amounts cover** (events a month)",
    "",
    "| included | edgehooks | JS peer |",
    "|---|---|---|",
    both("10M requests", (s) => big(s.covered.requests)),
    both("30M CPU ms", (s) => [...s.covered.cpu].reverse().map(big).join("–")),
    both("25B D1 rows read", (s) => big(s.covered.d1RowsRead)),
    both("50M D1 rows written", (s) => big(s.covered.d1RowsWritten)),
    both("5 GB D1 storage (events held = a month's events at 30-day retention)", (s) => big(s.covered.d1Storage)),
    both("10M KV reads", (s) => big(s.covered.kvReads)),
    both("1M KV writes", (s) => big(s.covered.kvWrites)),
    both("1M Queue operations", (s) => big(s.covered.queueOps)),
    both("**events a month within the $5 plan** (the smallest above)", (s) => `**${big(s.coveredAll)}**`),
    both("monthly bill at 1M events ($5 plan + overage)", (s) => usd(s.bill1M)),
    both("monthly bill at 10M events", (s) => usd(s.bill10M)),
    "",
    "**One D1 database**",
    "",
    "| | edgehooks | JS peer |",
    "|---|---|---|",
    both("D1 round trips (statements) per event, in the burst: full queue batches", (s) => `${f(s.event.d1RoundTrips)} (${f(s.event.d1Statements)})`),
    both("… one event at a time", (s) => `${f(s.event.d1RoundTripsTrickle)} (${f(s.event.d1StatementsTrickle)})`),
    both("mean local wall time per round trip, one event at a time (ms)", (s) => f(s.event.d1MsPerRoundTrip)),
    both("events/s, at the local wall time (estimate)", (s) => f(s.d1.eventsPerSecLocal, 0)),
    both(`events/s, at ${CLOUDFLARE_QUERY_MS} ms per round trip (estimate)`, (s) => f(s.d1.eventsPerSecAt1ms, 0)),
    both(`events/s, at ${CLOUDFLARE_QUERY_MS} ms per statement (estimate; a batch's statements run one after another)`, (s) => f(s.d1.eventsPerSecAt1msPerStatement, 0)),
    both("D1 bytes per event", (s) => f(s.bytesPerEvent, 0)),
    both("events one database holds under 10 GB", (s) => big(s.d1.eventsHeld)),
    both(`… at ${RETENTION_DAYS}-day retention: events/day (events/s average)`, (s) => `${big(s.d1.eventsPerDayAtRetention)} (${f(s.d1.eventsPerDayAtRetention / 86400, 1)})`),
  ];
  for (const [name, side] of [["edgehooks", E], ["JS peer", P]]) {
    lines.push("", `**${name}: D1 rows per event by round trip** (first statement of each; burst and duplicates)`, "", "| round trip | per event | rows read | rows written |", "|---|---|---|---|");
    for (const r of side.byStatement.filter((r) => r.trips >= 0.005)) lines.push(`| \`${r.statement.replace(/\|/g, "\\|")}\` | ${f(r.trips)} | ${f(r.read)} | ${f(r.written)} |`);
  }
  if (E.everyStatement?.length) {
    lines.push("", "**edgehooks: D1 rows per event by statement** (every statement of every round trip; burst and duplicates)", "", "| statement | runs per event | rows read | rows written |", "|---|---|---|---|");
    for (const r of E.everyStatement.filter((r) => r.runs >= 0.005)) lines.push(`| \`${r.statement.replace(/\|/g, "\\|")}\` | ${f(r.runs)} | ${f(r.read)} | ${f(r.written)} |`);
  }
  if (E.cron) {
    lines.push(
      "",
      `**edgehooks' cron** (\`* * * * *\`, ${f(CRON_TICKS_PER_MONTH, 0)} ticks a month, fixed): per tick ${f(E.cron.d1RoundTrips, 1)} D1 round trips, ` +
        `${f(E.cron.d1RowsRead, 1)} rows read, ${f(E.cron.d1RowsWritten, 1)} rows written (with ${N + DUPS + TRICKLE} events stored); ` +
        `a month: ${big(CRON_TICKS_PER_MONTH)} requests, ${big(E.cron.d1RowsRead * CRON_TICKS_PER_MONTH)} rows read ` +
        `(${usd(E.cronMonthly)} beyond the included amounts if they were spent elsewhere).`,
    );
  }
  return lines.join("\n");
}

function summarize(name, side, kv, queue) {
  const event = perEvent(side, kv, queue);
  const cpuMs = CPU_MS[name];
  const price = pricePerMillion(event, cpuMs, side.bytesPerEvent);
  const scalar = ["requests", "d1RowsRead", "d1RowsWritten", "d1Storage", "kvReads", "kvWrites", "queueOps"].reduce((n, k) => n + price[k], 0);
  price.total = price.cpu.map((c) => scalar + c);
  delete price._M;
  const cover = covered(event, cpuMs, side.bytesPerEvent);
  // At 30-day retention the events held are about a month's events, so storage counts too.
  const coveredAll = Math.min(cover.requests, ...cover.cpu, cover.d1RowsRead, cover.d1RowsWritten, cover.d1Storage, cover.kvReads, cover.kvWrites, cover.queueOps);
  const cronTotals = side.cron.length ? totals(side.cron, kv, queue) : null;
  const cron = cronTotals && Object.fromEntries(Object.entries(cronTotals).map(([k, v]) => [k, v / side.cron.length]));
  const fixed = cron ? { requests: CRON_TICKS_PER_MONTH, d1RowsRead: cron.d1RowsRead * CRON_TICKS_PER_MONTH, d1RowsWritten: cron.d1RowsWritten * CRON_TICKS_PER_MONTH } : {};
  const eventsHeld = PRICES.d1.dbLimitBytes / side.bytesPerEvent;
  return {
    event,
    cpuMs,
    bytesPerEvent: side.bytesPerEvent,
    price,
    covered: cover,
    coveredAll,
    bill1M: monthly(event, cpuMs, side.bytesPerEvent, 1e6, fixed),
    bill10M: monthly(event, cpuMs, side.bytesPerEvent, 1e7, fixed),
    cron,
    cronMonthly: cron
      ? (CRON_TICKS_PER_MONTH / 1e6) * PRICES.workers.requests.perMillion + ((cron.d1RowsRead * CRON_TICKS_PER_MONTH) / 1e6) * PRICES.d1.rowsRead.perMillion + ((cron.d1RowsWritten * CRON_TICKS_PER_MONTH) / 1e6) * PRICES.d1.rowsWritten.perMillion
      : 0,
    d1: {
      eventsPerSecLocal: 1000 / (event.d1RoundTrips * event.d1MsPerRoundTrip),
      eventsPerSecAt1ms: 1000 / (event.d1RoundTrips * CLOUDFLARE_QUERY_MS),
      eventsPerSecAt1msPerStatement: 1000 / (event.d1Statements * CLOUDFLARE_QUERY_MS),
      eventsHeld,
      eventsPerDayAtRetention: eventsHeld / RETENTION_DAYS,
    },
    unmeteredRoundTrips: event.d1Unmetered,
    byStatement: byStatement([...side.burst, ...side.dups]),
    everyStatement: everyStatement([...side.burst, ...side.dups]),
  };
}

let edgehooksRun, peerRun;
if (saved) {
  ({ edgehooks: edgehooksRun, peer: peerRun } = saved);
} else {
  const bodies = cases(N + TRICKLE, `evt_cost${Date.now().toString(36)}`);
  const [burstBodies, trickleBodies] = [bodies.slice(0, N), bodies.slice(N)];
  console.error(`edgehooks: ${N} events, ${DUPS} duplicates, ${TRICKLE} one at a time …`);
  edgehooksRun = await runEdgehooks(burstBodies, trickleBodies);
  console.error(`peer: the same …`);
  peerRun = await runPeer(burstBodies, trickleBodies);
  writeFileSync(path.join(ROOT, "target/bench-cost-runs.json"), JSON.stringify({ events: N, duplicates: DUPS, trickle: TRICKLE, edgehooks: edgehooksRun, peer: peerRun }));
}
const result = {
  events: N,
  duplicates: DUPS,
  trickle: TRICKLE,
  prices: PRICES,
  cpu_ms_source: "BENCHMARKS.md top table, compare.sh MODE=mf server CPU per event (includes the local simulators' CPU)",
  d1_query_ms_assumption: CLOUDFLARE_QUERY_MS,
  edgehooks: summarize("edgehooks", edgehooksRun, "IDEMPOTENCY", "STEPS"),
  peer: summarize("peer", peerRun, "IDEMP", "STEPS"),
};
const markdown = table(result);
writeFileSync(path.join(ROOT, "target/bench-cost.json"), `${JSON.stringify(result, null, 2)}\n`);
writeFileSync(path.join(ROOT, "target/bench-cost.md"), `${markdown}\n`);
console.log(markdown);
