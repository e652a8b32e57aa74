#!/usr/bin/env node
// Draining after a pause (issue 23), measured, not a test: the release build in Miniflare behind
// tests/helpers/binding-counts.mjs (which counts every D1 call and queue send per invocation).
// For each size N it parks N steps on a paused http destination and resumes it, and delivers a
// fresh backlog of N steps to another destination, each run in a fresh world (empty D1, new
// isolate: no run pays for the rows of the one before). For each it reports the time until
// every step succeeded (polled every 250 ms through the admin API's stats) and the D1
// statements, D1 round trips, queue sends and consumer messages spent per step. The rows are
// inserted into D1 in bulk, as parking leaves them (the event with its payload; the step
// `enqueued`, `last_error = destination_paused`, due 5 minutes after parking, no attempt)
// instead of N webhooks; parking's 5-minute look-again messages are not sent (a drain shorter
// than 5 minutes never sees them). The fresh backlog is N `enqueued` steps whose messages are
// sent in `sendBatch`es of 100, as ingest would have sent them. Each destination has the
// connection that takes the events (stripe `invoice.created`), as the steps' planning needs.
//   node bench/drain.mjs [--sizes 1000,10000] [--page 100] [--kinds drain,fresh] [--build DIR]
// --build runs another build (e.g. one of the commit before issue 23, for the old numbers).
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { startWorld } from "../tests/helpers/world.mjs";
import { countingBuild, invocations } from "../tests/helpers/binding-counts.mjs";
import { TEST_SECRETS } from "../tests/helpers/worker.mjs";

const { values: args } = parseArgs({
  options: {
    sizes: { type: "string", default: "1000,10000" },
    page: { type: "string", default: "100" },
    kinds: { type: "string", default: "drain,fresh" },
    build: { type: "string" },
    out: { type: "string", default: "target/bench-drain" },
  },
});
const sizes = args.sizes.split(",").map(Number);
const kinds = args.kinds.split(",");
const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const TYPE = "invoice.created";
const PAYLOAD = JSON.stringify({ id: "evt_bench", object: "event", type: TYPE, data: { object: { id: "in_bench", object: "invoice" } } });
const CHUNK = 1000;

const build = countingBuild(args.build ? { from: args.build } : {});
/** The world of the run in progress: each run gets a fresh one (empty D1, new isolate). */
let world;
const rows = [];

async function admin(method, path, body) {
  const res = await world.worker.mf.dispatchFetch(`http://localhost/admin/api/${path}`, {
    method,
    headers: { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return JSON.parse(text);
}

/** Insert `count` events and one step each for destination `name`, as `status` with `reason`. */
async function insertSteps(name, count, status, reason) {
  const now = Date.now();
  for (let from = 0; from < count; from += CHUNK) {
    const numbers = JSON.stringify(Array.from({ length: Math.min(CHUNK, count - from) }, (_, i) => from + i));
    const prefix = `evt_${name}_`;
    await world.worker.db.batch([
      world.worker.db
        .prepare(
          "INSERT INTO events (id, provider, dedupe_key, type, received_at, status, payload, payload_bytes) " +
            "SELECT ?1 || value, 'stripe', ?1 || value, 'invoice.created', ?2 + value, 'accepted', ?3, length(?3) FROM json_each(?4)",
        )
        .bind(prefix, now - count, PAYLOAD, numbers),
      world.worker.db
        .prepare(
          "INSERT INTO steps (id, event_id, name, destination, status, attempts, next_attempt_at, last_error, idempotency_key, created_at, updated_at) " +
            "SELECT ?1 || value || ':http:' || ?2, ?1 || value, 'http:' || ?2, ?2, ?3, 0, ?4, ?5, ?1 || value || ':http:' || ?2, ?6 + value, ?6 + value FROM json_each(?7)",
        )
        .bind(prefix, name, status, reason ? now + 300_000 : null, reason, now - count, numbers),
    ]);
  }
}

/** Steps that succeeded, as the admin API counts them (a fetch: Miniflare's synchronous D1
 * proxy is not safe to poll for minutes on a busy machine). A dead step stops the run: it
 * would never succeed, and the wait would not end. */
async function succeeded() {
  const { steps } = await admin("GET", "stats");
  if (steps.dead) {
    const [dead] = await world.worker.all("SELECT id, last_error FROM steps WHERE status = 'dead' LIMIT 1");
    throw new Error(`${steps.dead} step(s) dead, e.g. ${dead?.id}: ${dead?.last_error}`);
  }
  return steps.succeeded ?? 0;
}

/** An http destination `name` at the fake's receiver, with the connection that takes the
 * inserted events (a step of an http destination no connection takes ends `dead
 * connection_missing`). */
async function destination(name) {
  await admin("POST", "destinations", { name, type: "http", url: world.fake.receiver(name).url, secret: SECRET });
  await admin("POST", "connections", { name: `${name}-feed`, source: "stripe", types: [TYPE], destination: name });
}

/** Run `start`, then wait until every step of `name` succeeded: seconds and the work counted. */
async function measure(name, count, start) {
  const before = (await invocations(world.worker)).length;
  const target = (await succeeded()) + count;
  const t0 = performance.now();
  await start();
  while ((await succeeded()) < target) await new Promise((r) => setTimeout(r, 250));
  const seconds = (performance.now() - t0) / 1000;
  const records = (await invocations(world.worker)).slice(before).filter((r) => r.kind === "queue" || r.detail.includes(`/destinations/${name}`));
  const d1 = records.flatMap((r) => r.d1);
  const calls = records.flatMap((r) => r.calls);
  return {
    seconds,
    d1RoundTrips: d1.length,
    d1Statements: d1.reduce((sum, sql) => sum + (Number(sql.match(/^batch\[(\d+)\]/)?.[1]) || 1), 0),
    queueSends: calls.filter((c) => c.startsWith("STEPS.send")).length,
    messages: records.filter((r) => r.kind === "queue" && r.detail.startsWith("steps ")).reduce((sum, r) => sum + Number(r.detail.split(" ")[1]), 0),
  };
}

async function drain(count, run) {
  const name = `drain-${count}-${run}`;
  await destination(name);
  await admin("POST", `destinations/${name}/pause`);
  await insertSteps(name, count, "enqueued", "destination_paused");
  return measure(name, count, () => admin("POST", `destinations/${name}/resume`));
}

async function fresh(count, run) {
  const name = `fresh-${count}-${run}`;
  await destination(name);
  await insertSteps(name, count, "enqueued", null);
  const queue = await world.worker.mf.getQueueProducer("STEPS");
  return measure(name, count, async () => {
    for (let from = 0; from < count; from += 100) {
      const batch = Array.from({ length: Math.min(100, count - from) }, (_, i) => ({ body: { step_id: `evt_${name}_${from + i}:http:${name}` }, contentType: "json" }));
      await queue.sendBatch(batch);
    }
  });
}

try {
  for (const [run, size] of sizes.entries()) {
    for (const kind of kinds) {
      world = await startWorld({ vars: { RETRY_BASE_SECONDS: "0", DRAIN_PAGE_SIZE: args.page }, miniflare: build.miniflare });
      try {
        const result = await (kind === "drain" ? drain(size, run) : fresh(size, run));
        const row = { kind, steps: size, page: Number(args.page), ...result };
        rows.push(row);
        console.error(JSON.stringify(row));
      } finally {
        await world.dispose();
      }
    }
  }
  const per = (r, v) => (v / r.steps).toFixed(2);
  const table = [
    "| backlog | steps | seconds to deliver all | steps/s | D1 statements per step | D1 round trips per step | consumer messages per step | queue sends |",
    "|---|---|---|---|---|---|---|---|",
    ...rows.map((r) => `| ${r.kind === "drain" ? `resumed after a pause (pages of ${r.page})` : "fresh"} | ${r.steps} | ${r.seconds.toFixed(1)} | ${(r.steps / r.seconds).toFixed(0)} | ${per(r, r.d1Statements)} | ${per(r, r.d1RoundTrips)} | ${per(r, r.messages)} | ${r.queueSends} |`),
  ].join("\n");
  writeFileSync(`${args.out}.json`, JSON.stringify(rows, null, 2));
  writeFileSync(`${args.out}.md`, `${table}\n`);
  console.log(table);
} finally {
  build.cleanup();
}
