#!/usr/bin/env node
// The JS peer's side of issue 25's burst (bench/burst.mjs is edgehooks'): the same N checkouts
// against the same HubSpot, measured, not a test. The peer (../shared/peers/js-stripe-worker, read
// only) is copied to a temp dir, bundled as its run.sh does (`wrangler deploy --dry-run --outdir
// dist`, its `stripe` from our node_modules: the same 23.1.0), migrated as run.sh does (`wrangler d1
// migrations apply --local`, into a fresh temp persist dir) and served in Miniflare as its
// serve-mf.mjs does (wrangler's unstable_getMiniflareWorkerOptions on its wrangler.toml), except
// that HUBSPOT_API_BASE and SENDGRID_API_BASE point at edgehooks' downstream fake
// (tests/helpers/fake-downstream.mjs) enforcing HubSpot's 100 calls per rolling 10 s (429 with
// Retry-After and HubSpot's body), as bench/burst.mjs sets it. The peer's consumer makes one
// single-input batch upsert per contact and retries any failure with
// `msg.retry({delaySeconds: min(2^attempts, 600)})`; its wrangler.toml sets no max_retries and no
// dead letter queue, so a message is dropped after its last attempt. Miniflare's own default is 2
// retries; Cloudflare's is 3, used here unless --max-retries says otherwise.
// N signed `checkout.session.completed` webhooks (bench/burst.mjs's generator, each its own
// customer, signed with the peer's secret from its .dev.vars), CONC at a time; then, polling every
// 500 ms, until every step is recorded in the peer's D1 or was dropped after its last attempt
// (Miniflare logs each drop; counted here), or the timeout. Reports bench/burst.mjs's fields where
// they apply, plus the steps recorded and lost per step and when the queue was empty.
//   node bench/burst-peer.mjs [--n 10000] [--conc 16] [--timeout 1800] [--max-retries 3]
//                             [--peer ../shared/peers/js-stripe-worker] [--out target/bench-burst-peer.json]
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { Log, LogLevel, Miniflare } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
import { startFakeDownstream } from "../tests/helpers/fake-downstream.mjs";
import { ROOT } from "../tests/helpers/worker.mjs";
import { UPSERT, downstreamSummary, sendBurst } from "./burst-load.mjs";

const { values: args } = parseArgs({
  options: {
    n: { type: "string", default: "10000" },
    conc: { type: "string", default: "16" },
    timeout: { type: "string", default: "1800" },
    "max-retries": { type: "string" },
    // ../shared beside the main checkout, or two levels up from a worktree under wt/
    peer: { type: "string", default: ["..", "../.."].map((up) => path.resolve(ROOT, up, "shared/peers/js-stripe-worker")).find((p) => existsSync(p)) },
    out: { type: "string", default: "target/bench-burst-peer.json" },
  },
});
const N = Number(args.n);
const CONC = Number(args.conc);
const PEER = args.peer;
const STEPS = ["crm.upsert_contact", "email.send"];
const CLOUDFLARE_DEFAULT_MAX_RETRIES = 3;
const SECRET = readFileSync(path.join(PEER, ".dev.vars"), "utf8").match(/^STRIPE_WEBHOOK_SECRET=(.*)$/m)[1].trim();

/** A writable copy of the peer (its tracked files untouched), bundled and migrated as run.sh does. */
function preparePeer() {
  const dir = mkdtempSync(path.join(os.tmpdir(), "burst-peer-"));
  for (const entry of ["src", "migrations", "wrangler.toml", ".dev.vars", "package.json"]) {
    cpSync(path.join(PEER, entry), path.join(dir, entry), { recursive: true });
  }
  symlinkSync(path.join(ROOT, "node_modules"), path.join(dir, "node_modules"));
  const wrangler = path.join(ROOT, "node_modules/.bin/wrangler");
  const run = (...argv) => execFileSync(wrangler, argv, { cwd: dir, env: { ...process.env, WRANGLER_SEND_METRICS: "false" }, stdio: ["ignore", "ignore", "inherit"] });
  run("deploy", "--dry-run", "--outdir", "dist");
  run("d1", "migrations", "apply", "peer-db", "--local", "--persist-to", "state");
  return dir;
}

/** Miniflare's log, counting the messages its queue broker drops after their last attempt. */
class DropCountingLog extends Log {
  dropped = 0;
  deadLettered = 0;
  logWithLevel(level, message) {
    if (message.includes("Dropped message")) this.dropped += 1;
    else if (message.includes("to dead letter queue")) this.deadLettered += 1;
    else super.logWithLevel(level, message);
  }
}

const dir = preparePeer();
const fake = await startFakeDownstream();
fake.hubspotRateLimit.set({ limit: 100, windowMs: 10_000 });
const log = new DropCountingLog(LogLevel.WARN);
const consumerWarnings = { http429: 0, other: 0 };
const { workerOptions } = unstable_getMiniflareWorkerOptions(path.join(dir, "wrangler.toml"));
const consumers = Object.fromEntries(Object.entries(workerOptions.queueConsumers ?? {}).map(([queue, c]) => [
  queue, { ...c, maxRetries: args["max-retries"] !== undefined ? Number(args["max-retries"]) : (c.maxRetries ?? CLOUDFLARE_DEFAULT_MAX_RETRIES) },
]));
const [[queueName, consumer]] = Object.entries(consumers);
const v3 = path.join(dir, "state/v3");
const mf = new Miniflare({
  log,
  cf: false,
  kvPersist: path.join(v3, "kv"),
  d1Persist: path.join(v3, "d1"),
  cachePersist: path.join(v3, "cache"),
  // The consumer's console.warn per failed call, counted rather than printed.
  handleRuntimeStdio(stdout, stderr) {
    for (const stream of [stdout, stderr]) {
      let rest = "";
      stream.on("data", (chunk) => {
        const lines = (rest + chunk).split("\n");
        rest = lines.pop();
        for (const line of lines) {
          if (line.includes("HTTP 429")) consumerWarnings.http429 += 1;
          else if (line.trim()) {
            consumerWarnings.other += 1;
            if (consumerWarnings.other <= 5) console.error(`  workerd: ${line}`);
          }
        }
      });
    }
  },
  workers: [{
    ...workerOptions,
    name: "peer",
    modules: true,
    scriptPath: path.join(dir, "dist/index.js"),
    modulesRoot: path.join(dir, "dist"),
    queueConsumers: consumers,
    bindings: { ...workerOptions.bindings, HUBSPOT_API_BASE: fake.url, SENDGRID_API_BASE: fake.url },
  }],
});
await mf.ready;
const db = await mf.getD1Database("DB");
console.error(`peer on queue "${queueName}": batches of ${consumer.maxBatchSize}, ${consumer.maxRetries} retries, dead letter queue: ${consumer.deadLetterQueue ?? "none"}`);

/** Steps the peer recorded in D1, per step name. */
async function recorded() {
  const rows = (await db.prepare("SELECT step, COUNT(*) AS n FROM steps GROUP BY step").all()).results;
  return Object.fromEntries(STEPS.map((s) => [s, rows.find((r) => r.step === s)?.n ?? 0]));
}
const total = (counts) => Object.values(counts).reduce((a, b) => a + b, 0);
const lost = () => log.dropped + log.deadLettered;

const { started, loaded, refused } = await sendBurst({
  n: N,
  conc: CONC,
  secret: SECRET,
  post: async (payload, headers) => {
    const res = await mf.dispatchFetch("http://localhost/webhooks/stripe", { method: "POST", body: payload, headers });
    await res.arrayBuffer();
    return res.status;
  },
});

const want = STEPS.length * (N - refused);
const deadline = started + Number(args.timeout) * 1000;
let counts = await recorded();
let allRecordedAt = null;
let lastReport = 0;
while (total(counts) + lost() < want && Date.now() < deadline) {
  await new Promise((r) => setTimeout(r, 500));
  counts = await recorded();
  if (Date.now() - lastReport > 10_000) {
    lastReport = Date.now();
    console.error(`  ${((Date.now() - started) / 1000).toFixed(0)} s: ${total(counts)} steps recorded, ${lost()} dropped, ` +
      `${fake.callsTo(UPSERT).length} HubSpot calls, ${fake.hubspotRateLimit.rejected()} 429s`);
  }
}
const finished = Date.now();
if (total(counts) >= want) allRecordedAt = finished;
// `/stats` as compare.sh reads it, for the record.
const stats = await (await mf.dispatchFetch("http://localhost/stats")).json();

const stepsOut = {};
for (const s of STEPS) {
  stepsOut[`${s} recorded`] = counts[s];
  stepsOut[`${s} not recorded`] = N - refused - counts[s];
}
const result = {
  n: N,
  conc: CONC,
  queue: { max_batch_size: consumer.maxBatchSize, max_retries: consumer.maxRetries, dead_letter_queue: consumer.deadLetterQueue ?? null },
  load_s: (loaded - started) / 1000,
  all_steps_finished_s: allRecordedAt ? (allRecordedAt - started) / 1000 : null,
  queue_empty_s: total(counts) + lost() >= want ? (finished - started) / 1000 : null,
  unfinished_at_timeout: Math.max(0, want - total(counts) - lost()),
  steps_recorded: total(counts),
  steps_dropped_after_last_retry: log.dropped,
  steps_dead_lettered: log.deadLettered,
  ...downstreamSummary(fake),
  steps: stepsOut,
  consumer_failure_logs: consumerWarnings,
  peer_stats: stats,
  refused_deliveries: refused,
};
console.log(JSON.stringify(result, null, 2));
writeFileSync(args.out, JSON.stringify(result, null, 2));
await mf.dispose();
await fake.close();
rmSync(dir, { recursive: true, force: true });
