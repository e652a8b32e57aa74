#!/usr/bin/env node
// Issue 23: retention and storage, measured (not tests; local Miniflare D1, which is SQLite on
// this machine: D1 itself is slower per statement, so the times are a floor, the counts exact).
//
//  1. Bytes per stored event: the sample events of tests/fixtures/events (privacy topics and the
//     app uninstall left out: they redact the others) delivered signed, each round with fresh
//     ids, their steps run against the downstream fake (attempts recorded), then the growth of
//     D1's own size (`meta.size_after`, through GET /admin/api/storage) divided by the events
//     added: payload, steps, attempts and every index. Per provider, and for the whole mix.
//  2. Bytes per tombstone: rows inserted into dedupe_tombstones with keys shaped like each
//     provider's.
//  3. Deletion rate: back-dated events with steps and attempts (a checkout's shape: 2 steps, 2
//     attempts, a 2 KB payload) made in SQL, then cron ticks until all are gone: events and rows
//     per tick and how long each tick took.
//
//   node bench/retention.mjs [--rounds 20] [--backlog 20000]
// Writes target/bench-retention.json and prints a markdown summary.
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { startWorld } from "../tests/helpers/world.mjs";
import { ROOT, TEST_SECRETS, waitFor } from "../tests/helpers/worker.mjs";
import { EXPECTED, deliver, fixture, providerOf, sampleNames, shopifyTopic } from "../tests/helpers/flows.mjs";

const { values: args } = parseArgs({
  options: { rounds: { type: "string", default: "20" }, backlog: { type: "string", default: "20000" } },
});
const ROUNDS = Number(args.rounds);
const BACKLOG = Number(args.backlog);
const AUTH = { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}` };
const LIMIT = 10_000_000_000;
const SKIPPED = ["shopify/app/uninstalled.json", "shopify/customers/redact.json", "shopify/shop/redact.json", "shopify/customers/data_request.json", "hubspot/contact.privacyDeletion.json"];

/** Every fixture under tests/fixtures/events that stores an ordinary event. */
function samples() {
  return sampleNames().filter((f) => !SKIPPED.includes(f));
}

let delivered = 0;

/** The fixture with ids of its own (a new event, and for Shopify a new body), `n` unique. */
function fresh(name, n) {
  const event = fixture(name);
  switch (providerOf(name)) {
    case "stripe":
      event.id = `${event.id}_${n}`;
      break;
    case "sendgrid":
      event.sg_event_id = `${event.sg_event_id}_${n}`;
      break;
    case "hubspot":
      event.eventId = 1_000_000_000 + n;
      break;
    case "shopify":
      event.id = (event.id ?? 0) + n;
      break;
  }
  return event;
}

const storage = async (world) => (await world.worker.get("/admin/api/storage", AUTH)).json;

/** Deliver `names` for ROUNDS rounds; what the database grew by per event. */
async function grow(world, label, names) {
  const before = await storage(world);
  for (let n = 1; n <= ROUNDS; n++) {
    for (const name of names) {
      const provider = providerOf(name);
      const shopify = EXPECTED.cases.find((c) => c.fixture === name)?.shopify;
      delivered += 1;
      await deliver(world.worker, provider, fresh(name, delivered), {
        topic: shopifyTopic(name),
        shop: shopify?.shop_domain,
        webhookId: shopify ? `${shopify.webhook_id}-${delivered}` : undefined,
      });
    }
  }
  // Steps wait for their entity's turn and the destinations' request budgets: give them time.
  await waitFor(
    async () => (await world.worker.all("SELECT COUNT(*) AS n FROM steps WHERE status IN ('pending', 'enqueued', 'running')"))[0].n === 0,
    { timeoutMs: 600_000, intervalMs: 500, what: "every step finished" },
  );
  const after = await storage(world);
  const events = after.events - before.events;
  const [rows] = await world.worker.all(
    `SELECT AVG(e.payload_bytes) AS payload,
            (SELECT COUNT(*) FROM steps s JOIN events x ON x.id = s.event_id WHERE x.provider IN (SELECT value FROM json_each(?1))) * 1.0 / COUNT(*) AS steps,
            (SELECT COUNT(*) FROM attempts a JOIN steps s ON s.id = a.step_id JOIN events x ON x.id = s.event_id WHERE x.provider IN (SELECT value FROM json_each(?1))) * 1.0 / COUNT(*) AS attempts
     FROM events e WHERE e.provider IN (SELECT value FROM json_each(?1))`,
    JSON.stringify([...new Set(names.map(providerOf))]),
  );
  return {
    label,
    events,
    bytes: after.bytes_used - before.bytes_used,
    bytes_per_event: Math.round((after.bytes_used - before.bytes_used) / events),
    payload_bytes: Math.round(rows.payload),
    steps_per_event: Number(rows.steps.toFixed(2)),
    attempts_per_event: Number(rows.attempts.toFixed(2)),
  };
}

async function bytesPerEvent() {
  const world = await startWorld({ vars: { RETRY_BASE_SECONDS: "0", MAX_ATTEMPTS: "3" } });
  try {
    const all = samples();
    const results = [];
    for (const provider of ["stripe", "sendgrid", "hubspot", "shopify"]) {
      results.push(await grow(world, provider, all.filter((f) => providerOf(f) === provider)));
    }
    results.push(await grow(world, "mix", all));
    const tombstones = [];
    for (const [provider, key, content] of [
      ["stripe", "evt_1OaBcDeFgHiJkLmNoPqRsTuV", null],
      ["sendgrid", "ZGVsaXZlcmVkLTEyMzQ1Njc4OTAxMjM0NTY", null],
      ["shopify", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043", "0".repeat(64)],
    ]) {
      const before = await storage(world);
      const n = 20_000;
      await world.worker.all(
        `INSERT INTO dedupe_tombstones (provider, dedupe_key, content_key, received_at, expires_at)
         WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < ?1 - 1)
         SELECT ?2, ?3 || i, CASE WHEN ?4 IS NULL THEN NULL ELSE substr(?4, length(i) + 1) || i END, 1700000000000 + i, 1800000000000 + i FROM seq`,
        n, provider, key, content,
      );
      const after = await storage(world);
      tombstones.push({ provider, bytes_per_tombstone: Math.round((after.bytes_used - before.bytes_used) / n) });
    }
    return { results, tombstones };
  } finally {
    await world.dispose();
  }
}

/** `n` events received three days ago, each with two finished steps and an attempt each. */
async function backlog(world, n) {
  const old = Date.now() - 3 * 86_400_000;
  const payload = JSON.stringify({ id: "evt_x", object: "event", data: { object: { pad: "x".repeat(1900) } } });
  await world.worker.all(
    `INSERT INTO events (id, provider, dedupe_key, type, received_at, status, payload, payload_bytes)
     WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < ?1 - 1)
     SELECT 'bench_' || i, 'stripe', 'evt_bench_' || i, 'checkout.session.completed', ?2 + i, 'accepted', ?3, length(?3) FROM seq`,
    n, old, payload,
  );
  for (const step of ["hubspot.upsert_contact", "sendgrid.send"]) {
    await world.worker.all(
      `INSERT INTO steps (id, event_id, name, destination, status, attempts, idempotency_key, created_at, updated_at)
       SELECT id || ':' || ?1, id, ?1, 'd', 'succeeded', 1, id || ':' || ?1, ?2, ?2 FROM events WHERE id LIKE 'bench\\_%' ESCAPE '\\'`,
      step, old,
    );
  }
  await world.worker.all(
    `INSERT INTO attempts (step_id, n, started_at, duration_ms, status, outcome)
     SELECT id, 1, ?1, 120, 200, 'succeeded' FROM steps WHERE event_id LIKE 'bench\\_%' ESCAPE '\\'`,
    old,
  );
}

async function deletionRate() {
  const world = await startWorld({ vars: { RETENTION_DAYS: "1" }, captureLogs: true });
  try {
    const empty = (await storage(world)).bytes_used;
    await backlog(world, BACKLOG);
    const full = (await storage(world)).bytes_used;
    const ticks = [];
    const left = async () => (await world.worker.all("SELECT COUNT(*) AS n FROM events WHERE id LIKE 'bench\\_%' ESCAPE '\\'"))[0].n;
    let remaining = await left();
    while (remaining > 0 && ticks.length < 100) {
      const logsBefore = world.worker.workerLogs().length;
      const started = performance.now();
      await world.sweep();
      const ms = performance.now() - started;
      const line = world.worker.workerLogs().slice(logsBefore).find((l) => l.kind === "retention");
      const now = await left();
      ticks.push({
        events: remaining - now,
        rows: line ? line.deleted_events + line.deleted_steps + line.deleted_attempts + line.tombstones_written : null,
        ms: Math.round(ms),
        bytes_after: (await storage(world)).bytes_used,
      });
      remaining = now;
    }
    return { backlog: BACKLOG, bytes_before: full, backlog_bytes_per_event: Math.round((full - empty) / BACKLOG), ticks };
  } finally {
    await world.dispose();
  }
}

const bytes = await bytesPerEvent();
const deletion = await deletionRate();
const mix = bytes.results.find((r) => r.label === "mix");
const capacity = Math.floor(LIMIT / mix.bytes_per_event);
const perTick = Math.max(...deletion.ticks.map((t) => t.events));
const out = {
  rounds: ROUNDS,
  bytes_per_event: bytes.results,
  tombstones: bytes.tombstones,
  deletion,
  capacity_10gb: capacity,
  events_per_day_at_retention: Object.fromEntries([1, 3, 7, 30].map((d) => [d, Math.floor(capacity / d)])),
  deleted_per_day: perTick * 1440,
};
mkdirSync(path.join(ROOT, "target"), { recursive: true });
writeFileSync(path.join(ROOT, "target/bench-retention.json"), JSON.stringify(out, null, 2));

const lines = [
  "| events | bytes per event | payload bytes | steps / event | attempts / event |",
  "|---|---:|---:|---:|---:|",
  ...bytes.results.map((r) => `| ${r.label} (${r.events}) | ${r.bytes_per_event} | ${r.payload_bytes} | ${r.steps_per_event} | ${r.attempts_per_event} |`),
  "",
  `Tombstones: ${bytes.tombstones.map((t) => `${t.provider} ${t.bytes_per_tombstone} B`).join(", ")}.`,
  "",
  `One 10 GB database holds ${capacity.toLocaleString("en")} events of the mix: ` +
    Object.entries(out.events_per_day_at_retention).map(([d, n]) => `${n.toLocaleString("en")} a day at ${d} day(s)`).join(", ") + ".",
  "",
  `Backlog: ${deletion.backlog} checkout-shaped events (2 KB payload, 2 steps, 2 attempts), ${deletion.backlog_bytes_per_event} B each, ${deletion.bytes_before.toLocaleString("en")} B in all.`,
  "",
  "| tick | events deleted | rows deleted | ms | database bytes after |",
  "|---:|---:|---:|---:|---:|",
  ...deletion.ticks.map((t, i) => `| ${i + 1} | ${t.events} | ${t.rows ?? "?"} | ${t.ms} | ${t.bytes_after.toLocaleString("en")} |`),
  "",
  `Deleted per tick (one a minute) at most: ${perTick} events, ${out.deleted_per_day.toLocaleString("en")} a day.`,
];
console.log(lines.join("\n"));
