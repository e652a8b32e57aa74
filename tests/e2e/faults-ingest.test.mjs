// Faults through workerd (Miniflare: real KV, D1, Queues).
//
// D1 failing. Miniflare's D1 is a real SQLite behind the real binding, so the honest way to make
// it fail is to make the SQL fail, not to mock the binding:
//  - schema missing (a deploy that forgot `wrangler d1 migrations apply`): every statement fails;
//  - the `steps` table renamed away while `events` still works: ingest's D1 batch then fails on
//    its second statement, *after* the event insert succeeded inside the same batch. This is the
//    case that proves "nothing half-written": D1 must roll the event back;
//  - no DB binding at all (a wrangler.toml mistake): `env.d1("DB")` itself errors.
// Each must answer 503 with Retry-After (so the provider retries), store nothing, and write no
// KV dedupe hint (otherwise the provider's retry would be mistaken for a duplicate and lost).
//
// Queue failing. The STEPS producer binding missing: ingest still answers 200 (D1 has the event),
// the steps stay `pending`, and the cron sweeper enqueues them later (the transactional outbox).
//
// Downstream failing, slow or dropping connections: every accepted event's steps still end in a
// terminal state, every downstream call is recorded as an attempt, nothing is lost.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { downstreamVars, migrate, startWorker, waitFor, TEST_SECRETS, producersWithout, WRANGLER_VARS } from "../helpers/worker.mjs";
import { startFakeDownstream } from "../helpers/fake-downstream.mjs";
import { quiet } from "../helpers/world.mjs";
import { checkoutCompleted, signedDelivery } from "../helpers/stripe.mjs";
import { sendgridDelivery, sendgridEvent } from "../helpers/providers.mjs";
import { assertCaptured, assertNoPanics, assertNoSecrets } from "../helpers/logs.mjs";

const [PRIMARY] = TEST_SECRETS.STRIPE_WEBHOOK_SECRETS.split(",");
const UPSERT = "/crm/v3/objects/contacts/batch/upsert";
const MAIL = "/v3/mail/send";
const TERMINAL = ["succeeded", "skipped", "skipped_stale", "dead"];

const postStripe = (worker, event) => {
  const { payload, headers } = signedDelivery(event, PRIMARY);
  return worker.post("/webhooks/stripe", payload, headers);
};

function assertUnavailable(res) {
  assert.equal(res.status, 503, res.text);
  assert.deepEqual(res.json, { error: "unavailable" });
  assert.ok(Number(res.headers.get("retry-after")) > 0, "Retry-After tells the provider when to come back");
}

describe("D1 failing", () => {
  const workers = [];
  after(async () => {
    for (const w of workers) await w.dispose();
  });

  test("schema not applied: 503 + Retry-After, nothing stored; after migrating, the retry is accepted", async () => {
    const worker = await startWorker({ migrate: false, captureLogs: true });
    workers.push(worker);
    const event = checkoutCompleted();
    assertUnavailable(await postStripe(worker, event));
    const batch = sendgridDelivery([sendgridEvent(), sendgridEvent({ event: "bounce" })]);
    assertUnavailable(await worker.post("/webhooks/sendgrid", batch.payload, batch.headers));
    // A forged request still gets its 401: failing to count the rejection is not a 503.
    const forged = signedDelivery(event, "whsec_attacker");
    assert.equal((await worker.post("/webhooks/stripe", forged.payload, forged.headers)).status, 401);

    await migrate(worker.db);
    // The provider retries (re-signed): no KV hint was left behind, so it is a new event.
    const retry = await postStripe(worker, event);
    assert.equal(retry.status, 200, retry.text);
    assert.deepEqual(retry.json, { status: "accepted", events: 1, duplicates: 0 });
    const again = await worker.post("/webhooks/sendgrid", batch.payload, batch.headers);
    assert.deepEqual(again.json, { status: "accepted", events: 2, duplicates: 0 });
    assertNoPanics(worker.logs);
    assertNoSecrets(worker.logs);
  });

  test("a registry name posted while D1 cannot be read is no metric label: 503, counted under source=unknown", async () => {
    const worker = await startWorker({ migrate: false, captureLogs: true });
    workers.push(worker);
    const ghost = await worker.post("/webhooks/in/ghost-1", "{}", { "X-Token": "anything" });
    assert.equal(ghost.status, 503, ghost.text);
    assert.equal(ghost.json.error, "unavailable");
    await migrate(worker.db);
    const scraped = await worker.get("/metrics", { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}` });
    assert.equal(scraped.status, 200, scraped.text);
    assert.ok(!scraped.text.includes('source="ghost-1"'), scraped.text);
    assert.match(scraped.text, /edgehooks_webhook_requests_total\{provider="in",source="unknown",outcome="unavailable",status="503"\} 1/);
    assertNoPanics(worker.logs);
  });

  test("a failing statement mid-batch rolls the whole delivery back: 503, no event row, no steps", async () => {
    const fake = await startFakeDownstream();
    const worker = await startWorker({ vars: downstreamVars(fake.url), captureLogs: true });
    workers.push({ dispose: async () => (await worker.dispose(), await fake.close()) });
    // events works, steps does not: the batch's first INSERT succeeds, its second fails.
    await worker.db.prepare("ALTER TABLE steps RENAME TO steps_offline").run();

    const event = checkoutCompleted();
    assertUnavailable(await postStripe(worker, event));
    const bounces = [sendgridEvent({ event: "bounce" }), sendgridEvent({ event: "dropped" }), sendgridEvent({ event: "open" })];
    const batch = sendgridDelivery(bounces);
    assertUnavailable(await worker.post("/webhooks/sendgrid", batch.payload, batch.headers));
    const keys = [event.id, ...bounces.map((e) => e.sg_event_id)];
    const stored = await worker.all(`SELECT dedupe_key FROM events WHERE dedupe_key IN (${keys.map(() => "?").join(",")})`, ...keys);
    assert.deepEqual(stored, [], "the event inserts were rolled back with the failed step inserts");
    assert.equal((await worker.all("SELECT COUNT(*) AS n FROM steps_offline"))[0].n, 0);

    await worker.db.prepare("ALTER TABLE steps_offline RENAME TO steps").run();
    const retry = await postStripe(worker, event);
    assert.deepEqual(retry.json, { status: "accepted", events: 1, duplicates: 0 });
    const batchRetry = await worker.post("/webhooks/sendgrid", batch.payload, batch.headers);
    assert.deepEqual(batchRetry.json, { status: "accepted", events: 3, duplicates: 0 });
    await waitFor(
      async () => {
        const steps = await worker.all(
          "SELECT s.status FROM steps s JOIN events e ON e.id = s.event_id WHERE e.dedupe_key = ?",
          event.id,
        );
        return steps.length === 2 && steps.every((s) => s.status === "succeeded");
      },
      { what: "steps of the retried event succeeded" },
    );
    assert.equal(fake.callsTo(UPSERT).filter((c) => c.body.includes(event.data.object.customer_details.email)).length, 1);
    assertNoPanics(worker.logs);
  });

  test("KV fast path: a redelivered batch is answered from its one delivery hint alone while D1 is down", async () => {
    const worker = await startWorker({ captureLogs: true });
    workers.push(worker);
    const seen = [sendgridEvent(), sendgridEvent({ event: "open" }), sendgridEvent({ event: "click" })];
    const first = sendgridDelivery(seen);
    const res = await worker.post("/webhooks/sendgrid", first.payload, first.headers);
    assert.deepEqual(res.json, { status: "accepted", events: 3, duplicates: 0 });
    const eventIds = (await worker.all("SELECT id FROM events WHERE provider = 'sendgrid'")).map((r) => r.id);
    assert.equal(eventIds.length, 3);
    // A first delivery leaves no hint; its repeat, caught by D1, leaves one, written after the
    // answer (waitUntil): ONE hint for the whole delivery (handlers/src/inbound/dedupe_hints.rs), not one
    // per event.
    const repeat = sendgridDelivery(seen);
    const repeated = await worker.post("/webhooks/sendgrid", repeat.payload, repeat.headers);
    assert.deepEqual(repeated.json, { status: "duplicate" });
    const kv = await worker.mf.getKVNamespace("IDEMPOTENCY");
    await waitFor(async () => (await kv.list({ prefix: "seen-delivery:" })).keys.length === 1, {
      what: "the KV delivery hint written for the stored batch",
    });
    // It holds "1" and expires DEDUPE_HINT_TTL_SECONDS after it was written; no per-event hint.
    const ttl = Number(WRANGLER_VARS.DEDUPE_HINT_TTL_SECONDS);
    const { keys } = await kv.list({ prefix: "seen" });
    assert.equal(keys.length, 1, keys.map((k) => k.name).join());
    for (const key of keys) {
      const ahead = key.expiration - Math.floor(Date.now() / 1000);
      assert.ok(ahead > ttl - 120 && ahead <= ttl, `${key.name} expires in ${ahead} s, not ~${ttl}`);
      assert.equal(await kv.get(key.name), "1");
    }

    await worker.db.prepare("ALTER TABLE events RENAME TO events_offline").run();
    // The provider's retry of the same batch (re-signed): KV knows the delivery, so D1 is not needed.
    const resent = sendgridDelivery(seen);
    const redelivery = await worker.post("/webhooks/sendgrid", resent.payload, resent.headers);
    assert.equal(redelivery.status, 200, redelivery.text);
    assert.deepEqual(redelivery.json, { status: "duplicate" });
    // A batch with one new event among known ones still needs D1 for the new one: 503.
    const mixed = sendgridDelivery([...seen, sendgridEvent({ event: "bounce" })]);
    assertUnavailable(await worker.post("/webhooks/sendgrid", mixed.payload, mixed.headers));
    await worker.db.prepare("ALTER TABLE events_offline RENAME TO events").run();
    const retry = await worker.post("/webhooks/sendgrid", mixed.payload, mixed.headers);
    assert.deepEqual(retry.json, { status: "accepted", events: 1, duplicates: 3 });
    assertNoPanics(worker.logs);
  });

  /** The storage check cannot read D1: `/health` is the configuration's status, the miss logged. */
  async function assertHealthWithoutStorage(worker) {
    const health = await worker.get("/health");
    assert.equal(health.status, 200);
    assert.deepEqual(health.json, { status: "ok" });
    await waitFor(() => worker.logs.some((line) => line.includes('"error":"health_storage_unread"')), {
      what: "the health_storage_unread log line",
    });
  }

  test("no D1 binding: webhooks 503 + Retry-After, /health still answers", async () => {
    const worker = await startWorker({ miniflare: { d1Databases: [] }, captureLogs: true });
    workers.push(worker);
    assertUnavailable(await postStripe(worker, checkoutCompleted()));
    await assertHealthWithoutStorage(worker);
    assertNoPanics(worker.logs);
  });

  test("DB bound to something that is not a D1 database: webhooks 503, no panic", async () => {
    const miniflare = { d1Databases: [], kvNamespaces: ["IDEMPOTENCY", "DB"] };
    const worker = await startWorker({ miniflare, captureLogs: true });
    workers.push(worker);
    assertUnavailable(await postStripe(worker, checkoutCompleted()));
    await assertHealthWithoutStorage(worker);
    assertNoPanics(worker.logs);
  });
});

describe("queue failing after D1 succeeded", () => {
  let dir;
  const workers = [];
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), "edgehooks-outbox-"));
  });
  after(async () => {
    for (const w of workers) await w.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  test("no STEPS producer: still 200, steps stay pending, the sweeper sends them later", async () => {
    const fake = await startFakeDownstream();
    workers.push({ dispose: () => fake.close() });
    const vars = downstreamVars(fake.url);
    const broken = await startWorker({
      vars,
      captureLogs: true,
      miniflare: { d1Persist: dir, queueProducers: producersWithout("STEPS") },
    });
    const event = checkoutCompleted();
    const res = await postStripe(broken, event);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { status: "accepted", events: 1, duplicates: 0 });
    const pending = await broken.all(
      "SELECT s.id, s.status FROM steps s JOIN events e ON e.id = s.event_id WHERE e.dedupe_key = ?",
      event.id,
    );
    assert.deepEqual(pending.map((s) => s.status), ["pending", "pending"]);
    assert.ok(broken.logs.some((l) => l.includes("queue_unavailable")), "the failed send is logged");
    await broken.dispose();

    // The same D1, now with the queue: a minute passes (backdated), the cron sweeper runs.
    const fixed = await startWorker({ vars, migrate: false, captureLogs: true, miniflare: { d1Persist: dir } });
    workers.push(fixed);
    await fixed.db.prepare("UPDATE steps SET updated_at = updated_at - 120000").run();
    await (await fixed.mf.getWorker()).scheduled({ cron: "* * * * *" });
    await waitFor(
      async () => {
        const steps = await fixed.all(
          "SELECT s.status FROM steps s JOIN events e ON e.id = s.event_id WHERE e.dedupe_key = ?",
          event.id,
        );
        return steps.every((s) => s.status === "succeeded");
      },
      { what: "swept steps succeeded" },
    );
    assert.equal(fake.callsTo(UPSERT).filter((c) => c.body.includes(event.data.object.customer_details.email)).length, 1);
    assertNoPanics([...broken.logs, ...fixed.logs]);
  });
});

describe("downstream failing, slow and dropping connections", () => {
  let fake;
  let worker;
  const MAX_ATTEMPTS = 4;
  before(async () => {
    fake = await startFakeDownstream();
    worker = await startWorker({
      vars: { ...downstreamVars(fake.url), MAX_ATTEMPTS: String(MAX_ATTEMPTS), RETRY_BASE_SECONDS: "0", DOWNSTREAM_TIMEOUT_MS: "800" },
      captureLogs: true,
    });
  });
  after(async () => {
    await worker?.dispose();
    await fake?.close();
  });

  test("every accepted event ends terminal, every call is an attempt row, nothing lost", { timeout: 120_000 }, async () => {
    // Every other call to each path fails, rotating through the failure kinds, so failures are
    // frequent but never 5 in a row (which would open the circuit for its 60 s cool-down).
    const faults = [
      { status: 500 },
      { drop: true }, // connection closed without a response
      { delayMs: 1500 }, // slower than DOWNSTREAM_TIMEOUT_MS
      { status: 429, headers: { "retry-after": "1" } },
      { status: 503 },
    ];
    const seen = new Map();
    fake.chaos((call) => {
      const n = (seen.get(call.path) ?? 0) + 1;
      seen.set(call.path, n);
      if (n % 2 === 1) return faults[Math.floor(n / 2) % faults.length];
      return n % 6 === 0 ? { status: 200, delayMs: 300 } : null; // slow but within the timeout
    });

    const events = Array.from({ length: 16 }, (_, i) => checkoutCompleted({ email: `chaos${i}.${Date.now()}@example.com` }));
    const responses = await Promise.all(events.map((e) => postStripe(worker, e)));
    assert.ok(responses.every((r) => r.status === 200), responses.map((r) => r.text).join("\n"));

    const all = () =>
      worker.all("SELECT s.id, s.name, s.status, s.attempts, e.dedupe_key FROM steps s JOIN events e ON e.id = s.event_id");
    await waitFor(async () => (await all()).every((s) => TERMINAL.includes(s.status)), {
      timeoutMs: 90_000,
      intervalMs: 250,
      what: "every step terminal",
    });
    await quiet(fake, { windowMs: 1000 }); // room for a stray call to show up

    const steps = await all();
    for (const event of events) {
      assert.equal(steps.filter((s) => s.dedupe_key === event.id).length, 2, `both steps of ${event.id} exist`);
    }
    for (const step of steps) {
      const attempts = await worker.all("SELECT n, outcome, status, error FROM attempts WHERE step_id = ? ORDER BY n", step.id);
      assert.equal(attempts.length, step.attempts, `${step.id}: one attempt row per attempt`);
      assert.deepEqual(attempts.map((a) => a.n), attempts.map((_, i) => i + 1), `${step.id}: attempts numbered 1..n`);
      const last = attempts.at(-1);
      if (step.status === "succeeded") assert.equal(last.outcome, "succeeded");
      if (step.status === "dead") assert.equal(attempts.length, MAX_ATTEMPTS, `${step.id} dead only after MAX_ATTEMPTS`);
      assert.ok(attempts.slice(0, -1).every((a) => a.outcome === "retry"), JSON.stringify(attempts));
      // Every call the fake saw for this step is one of these attempts, and vice versa.
      const event = events.find((e) => e.id === step.dedupe_key);
      const email = event.data.object.customer_details.email;
      const calls =
        step.name === "sendgrid.send"
          ? fake.callsTo(MAIL).filter((c) => c.body.includes(step.id))
          : fake.callsTo(UPSERT).filter((c) => c.body.includes(email));
      assert.equal(calls.length, attempts.length, `${step.id}: downstream calls = attempts`);
    }
    const outcomes = new Set((await worker.all("SELECT DISTINCT error FROM attempts")).map((r) => String(r.error).split(":")[0]));
    for (const kind of ["http_500", "timeout", "http_429", "http_503"]) assert.ok(outcomes.has(kind), `saw ${kind}: ${[...outcomes]}`);
    assert.ok([...outcomes].some((o) => o.startsWith("network_error")), `saw a dropped connection: ${[...outcomes]}`);
    assertCaptured(worker.logs);
    assertNoPanics(worker.logs);
    assertNoSecrets(worker.logs, [downstreamVars(fake.url).SLACK_WEBHOOK_URL]);
  });
});
