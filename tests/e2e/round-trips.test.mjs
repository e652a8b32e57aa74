// Round trips to the bindings are the worker's largest cost (BENCHMARKS.md: each D1 call is a
// fetch inside the isolate), so their number per delivery and per step is a budget this file
// holds, counted at runtime on the real Miniflare D1, KV and Queues (tests/helpers/binding-counts.mjs
// wraps the bindings of an unchanged build). A change that adds a round trip to the hot path
// fails here and must say why in BENCHMARKS.md. Counts, not times: nothing here is timed.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorld } from "../helpers/world.mjs";
import { countingBuild, invocations } from "../helpers/binding-counts.mjs";
import { checkoutCompleted } from "../helpers/stripe.mjs";
import { hubspotDelivery, hubspotEvent, sendgridDelivery, sendgridEvent } from "../helpers/providers.mjs";
import { TEST_SECRETS, waitFor } from "../helpers/worker.mjs";
import { FINISHED } from "../helpers/flows.mjs";

/** D1 round trips per Stripe checkout delivery before its answer: the event with its steps and
 * customer in one batch. The steps' `enqueued` marks come after the answer, gathered with the
 * marks of the deliveries that follow within a window (src/steps/dispatch.rs), so a delivery makes
 * one more round trip (the mark of the window it opened) or none (it joined an earlier one). */
const INGEST_D1 = 1;
const isMark = (sql) => /^run UPDATE steps SET status = 'enqueued'/.test(sql);
/** D1 round trips per HTTP step in the consumer, alone: the claim with its budget count, then
 * the attempt record (the batch's step load is shared by its messages, once per invocation). */
const STEP_D1 = 2;
/** At most, for a queue batch of `size` messages (all in progress at once, src/steps/consumer.rs):
 * the load, one round trip for every claim (issued in the same turn, they share it:
 * src/db/batch_window.rs; the HubSpot batch call the upserts share is counted in the first
 * upsert's claim, src/steps/calls/upserts.rs), one per record (records that end close together
 * share theirs too, but that depends on timing). Until the upserts were sent together, six
 * messages ran at a time and each later claim cost its own round trip: 1 + 1 + (size - 6) + size. */
const consumerBudget = (size) => 1 + 1 + size;
const HUBSPOT_SECRET = TEST_SECRETS.HUBSPOT_CLIENT_SECRETS.split(",")[0];
const routingRead = (sql) => / FROM (connections|routes_off)\b/.test(sql);

describe("binding round trips per delivery and per step", () => {
  let world;
  let build;
  before(async () => {
    build = countingBuild();
    world = await startWorld({ miniflare: build.miniflare });
  });
  after(async () => {
    await world?.dispose();
    build?.cleanup();
  });

  test("a Stripe checkout delivery: one KV read, one D1 batch, one queue send, at most one D1 mark, no KV write", async () => {
    const keys = [];
    for (let i = 0; i < 5; i++) {
      const { key } = await world.deliver("stripe", checkoutCompleted({ id: `evt_round_trip_${i}`, customer: `cus_round_trip_${i}` }));
      keys.push(key);
    }
    for (const key of keys) await world.settled("stripe", key);
    const ingests = (await invocations(world.worker)).filter((r) => r.kind === "fetch" && r.detail === "POST /webhooks/stripe");
    assert.equal(ingests.length, 5);
    let marks = 0;
    for (const ingest of ingests) {
      const d1 = ingest.d1.filter((sql) => !routingRead(sql) && !isMark(sql));
      marks += ingest.d1.filter(isMark).length;
      assert.ok(ingest.d1.filter(isMark).length <= 1, ingest.d1.join("\n"));
      assert.equal(d1.length, INGEST_D1, d1.join("\n"));
      assert.match(d1[0], /^batch\[3\] INSERT INTO events/, "event, steps and customer in one transaction");
      assert.deepEqual(ingest.calls, ["IDEMPOTENCY.get", "STEPS.sendBatch"], "a new event leaves no KV hint");
      // Every round trip carries D1's own row counts (bench/cost.mjs prices them).
      assert.equal(ingest.d1Trips.length, ingest.d1.length);
      assert.equal(ingest.unmetered, 0);
      const [, written] = ingest.d1Trips[ingest.d1.findIndex((sql) => sql.startsWith("batch[3] INSERT INTO events"))];
      assert.ok(written >= 4, `the event, its 2 steps and its customer are rows written (${written})`);
      assert.equal(typeof ingest.sizeAfter, "number");
      assert.equal(ingest.sent, 2, "two messages in the one send");
    }
    assert.ok(marks >= 1 && marks <= ingests.length, `${marks} mark statements for ${ingests.length} deliveries`);
    // The routing (connections, routes switched off) is read at most once per 5 s per isolate.
    const routingReads = ingests.flatMap((r) => r.d1).filter(routingRead).length;
    assert.ok(routingReads <= 4, `${routingReads} routing reads for 5 deliveries`);

    const consumed = (await invocations(world.worker)).filter((r) => r.kind === "queue" && r.detail.startsWith("steps "));
    const messages = consumed.reduce((n, r) => n + Number(r.detail.split(" ")[1]), 0);
    assert.equal(messages, 10, "two steps per checkout, one message each");
    for (const batch of consumed) {
      const size = Number(batch.detail.split(" ")[1]);
      assert.ok(batch.d1.length <= Math.min(1 + STEP_D1 * size, consumerBudget(size)), `${size} messages, ${batch.d1.length} D1 round trips:\n${batch.d1.join("\n")}`);
      assert.match(batch.d1[0], /^all SELECT s\.id/, "the batch's steps are loaded in one query");
      // The checkout's contact upsert overwrites an entity that ingest stored with the step: its
      // claim neither fills it in again nor needs the payload to find it.
      const backfills = batch.d1Statements.filter(([sql]) => /^UPDATE steps SET entity/.test(sql));
      assert.deepEqual(backfills, [], "no entity filled in for a step stored with its entity");
      assert.ok(batch.d1Statements.some(([sql]) => /NOT EXISTS \(SELECT 1 FROM entity_versions/.test(sql)), "the upsert is claimed in its entity's turn");
      assert.deepEqual(batch.calls, [], "a step that succeeds at once sends nothing more to the queue");
      assert.equal(batch.delivered, size);
      assert.equal(batch.retried, 0, "every message acked");
    }
    for (const key of keys) {
      for (const step of await world.stepsOf("stripe", key)) assert.equal(step.status, "succeeded", FINISHED.join());
    }
  });

  test("a SendGrid batch of 50 events: D1 round trips and KV operations per delivery, not per event", async () => {
    const events = Array.from({ length: 50 }, () => sendgridEvent());
    const { payload, headers } = sendgridDelivery(events);
    const res = await world.worker.post("/webhooks/sendgrid", payload, headers);
    assert.equal(res.status, 200, res.text);
    // A hint would be written after the answer: let the after-commit work and the steps finish.
    await world.noStepInFlight();
    const ingest = (await invocations(world.worker)).filter((r) => r.detail === "POST /webhooks/sendgrid").at(-1);
    const d1 = ingest.d1.filter((sql) => !routingRead(sql) && !isMark(sql));
    assert.equal(d1.length, INGEST_D1, d1.join("\n"));
    // 50 events in 5 multi-row INSERTs and their steps in 19-row ones: one transaction.
    assert.match(d1[0], /^batch\[\d\] INSERT INTO events/);
    assert.equal(ingest.d1.filter(isMark).length, 1, "every new step marked in one statement, after the answer");
    assert.deepEqual(ingest.calls, ["IDEMPOTENCY.get", "STEPS.sendBatch"], "no KV write for a new batch");
  });

  test("a HubSpot batch retried with a new attemptNumber: D1 catches the first retry, one KV read answers the next", async () => {
    const events = Array.from({ length: 20 }, () => hubspotEvent());
    const attempt = (n) => hubspotDelivery(events.map((e) => ({ ...e, attemptNumber: e.attemptNumber + n })), HUBSPOT_SECRET);
    const hubspotIngests = async () => (await invocations(world.worker)).filter((r) => r.detail === "POST /webhooks/hubspot");
    const first = attempt(0);
    assert.equal((await world.worker.post("/webhooks/hubspot", first.payload, first.headers)).status, 200);
    const retry = attempt(1);
    assert.notEqual(retry.payload, first.payload, "HubSpot's retry body differs; its events do not");
    const res = await world.worker.post("/webhooks/hubspot", retry.payload, retry.headers);
    assert.deepEqual([res.status, res.json], [200, { status: "duplicate" }]);
    const caught = await waitFor(async () => {
      const found = (await hubspotIngests()).at(-1);
      return found?.calls.includes("IDEMPOTENCY.put") && found;
    }, { what: "the retry's delivery hint written" });
    assert.match(caught.d1.filter((sql) => !routingRead(sql))[0], /^batch\[\d+\] INSERT INTO events/, "D1 caught the first retry");
    assert.deepEqual(caught.calls, ["IDEMPOTENCY.get", "IDEMPOTENCY.put"], "one hint for the whole delivery, no step sent");
    const next = attempt(2);
    const again = await world.worker.post("/webhooks/hubspot", next.payload, next.headers);
    assert.deepEqual([again.status, again.json], [200, { status: "duplicate" }]);
    const answered = (await hubspotIngests()).at(-1);
    assert.deepEqual(answered.d1.filter((sql) => !routingRead(sql)), [], "answered from KV");
    assert.deepEqual(answered.calls, ["IDEMPOTENCY.get"]);
  });
});

// KV hints for repeats only (DESIGN.md's ingest path): a first delivery writes no KV hint (D1
// alone says it is new), its first repeat is caught by D1 and writes the hint, and later repeats
// are answered from KV alone.
describe("KV hints written only on a repeat", () => {
  let world;
  let build;
  before(async () => {
    build = countingBuild();
    world = await startWorld({ miniflare: build.miniflare });
  });
  after(async () => {
    await world?.dispose();
    build?.cleanup();
  });

  /** The ingest invocations for `path`, newest last, once `done` holds for the newest. */
  const ingestsOf = (path, done, what) =>
    waitFor(async () => {
      const found = (await invocations(world.worker)).filter((r) => r.detail === `POST ${path}`);
      return done(found.at(-1)) && found;
    }, { what });
  const kvKeys = async (prefix) => (await (await world.worker.mf.getKVNamespace("IDEMPOTENCY")).list({ prefix })).keys;

  test("a Stripe event: no hint when new, the hint on its first repeat, KV alone after that", async () => {
    const event = checkoutCompleted({ id: "evt_hint_on_repeat", customer: "cus_hint_on_repeat" });
    const { key } = await world.deliver("stripe", event);
    // The after-commit work ends with the hint write when there is one: wait for it to be over.
    await world.settled("stripe", key);
    let ingests = await ingestsOf("/webhooks/stripe", (r) => r?.calls.includes("STEPS.sendBatch"), "the steps sent");
    assert.deepEqual(ingests.at(-1).calls, ["IDEMPOTENCY.get", "STEPS.sendBatch"], "no hint for a new event");
    assert.deepEqual(await kvKeys("seen:"), []);

    const repeat = await world.deliver("stripe", event);
    assert.deepEqual(repeat.res.json, { status: "duplicate" });
    ingests = await ingestsOf("/webhooks/stripe", (r) => r?.calls.includes("IDEMPOTENCY.put"), "the repeat's hint written");
    assert.equal(ingests.length, 2);
    assert.match(ingests.at(-1).d1.filter((sql) => !routingRead(sql))[0], /^batch\[\d\] INSERT INTO events/, "D1 caught the repeat");
    assert.deepEqual(ingests.at(-1).calls, ["IDEMPOTENCY.get", "IDEMPOTENCY.put"], "no step sent again");
    assert.equal((await kvKeys("seen:")).length, 1);

    const third = await world.deliver("stripe", event);
    assert.deepEqual(third.res.json, { status: "duplicate" });
    ingests = await ingestsOf("/webhooks/stripe", (r) => r?.calls.length > 0, "the third delivery");
    assert.equal(ingests.length, 3);
    assert.deepEqual(ingests.at(-1).d1.filter((sql) => !routingRead(sql)), [], "answered from KV");
    assert.deepEqual(ingests.at(-1).calls, ["IDEMPOTENCY.get"]);
    const rows = await world.worker.all("SELECT id FROM events WHERE provider = 'stripe' AND dedupe_key = ?", key);
    assert.equal(rows.length, 1, "one event however many deliveries");
  });

  test("a SendGrid batch: one delivery hint once the whole batch is repeated", async () => {
    const events = Array.from({ length: 10 }, () => sendgridEvent());
    const { payload, headers } = sendgridDelivery(events);
    const post = async () => {
      const res = await world.worker.post("/webhooks/sendgrid", payload, headers);
      assert.equal(res.status, 200, res.text);
      return res.json;
    };
    assert.equal((await post()).status, "accepted");
    let ingests = await ingestsOf("/webhooks/sendgrid", (r) => r?.calls.includes("STEPS.sendBatch"), "the steps sent");
    assert.deepEqual(ingests.at(-1).calls, ["IDEMPOTENCY.get", "STEPS.sendBatch"]);
    assert.deepEqual(await kvKeys("seen-delivery:"), []);

    assert.deepEqual(await post(), { status: "duplicate" });
    ingests = await ingestsOf("/webhooks/sendgrid", (r) => r?.calls.includes("IDEMPOTENCY.put"), "the batch's hint");
    assert.deepEqual(ingests.at(-1).calls, ["IDEMPOTENCY.get", "IDEMPOTENCY.put"]);
    assert.equal((await kvKeys("seen-delivery:")).length, 1);

    assert.deepEqual(await post(), { status: "duplicate" });
    ingests = await ingestsOf("/webhooks/sendgrid", (r) => r?.calls.length > 0, "the third delivery");
    assert.equal(ingests.length, 3);
    assert.deepEqual(ingests.at(-1).d1.filter((sql) => !routingRead(sql)), []);
    assert.deepEqual(ingests.at(-1).calls, ["IDEMPOTENCY.get"]);
  });
});
