// Entity ordering under concurrency, through workerd. Steps that overwrite one entity (the
// HubSpot contact of a Stripe subscription or of a checkout's buyer, one property of a HubSpot
// contact in Stripe) are claimed only when it is their turn, decided inside D1 with the claim: of
// several updates delivered at once, exactly one call carries the newest and the others end
// `skipped_stale`; a newer update waits for an older one's call in flight instead of overtaking
// it; an older checkout's upsert, delivered late or redriven after it died, never writes its
// values over a newer one's. Unrelated steps of one queue batch run concurrently. Where a test
// must control what "at once" and "one batch" mean, it uses a worker without the STEPS producer
// (its steps stay `pending`) and hands the consumer the queue batches itself, as Queues would.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { downstreamVars, startWorker, waitFor, TEST_SECRETS, producersWithout } from "../helpers/worker.mjs";
import { startFakeDownstream } from "../helpers/fake-downstream.mjs";
import { hubspotDelivery, hubspotEvent } from "../helpers/providers.mjs";
import { FINISHED, UPSERT, deliver, fixture, settled, stepReaches, stepsOf } from "../helpers/flows.mjs";
import { quiet } from "../helpers/world.mjs";
import { assertNoPanics } from "../helpers/logs.mjs";
import { checkoutCompleted } from "../helpers/stripe.mjs";

const VARS = { MAX_ATTEMPTS: "3", RETRY_BASE_SECONDS: "0", DOWNSTREAM_TIMEOUT_MS: "10000" };
// Five updates, oldest first; the last one is the newest.
const STATUSES = ["trialing", "incomplete", "past_due", "unpaid", "active"];
// The order the queue hands them over: neither oldest nor newest first, so that a consumer
// checking staleness one message after another would apply #1 and then #4 (two calls).
const BATCH_ORDER = [1, 0, 4, 3, 2];

let counter = 0;
const unique = (prefix) => `${prefix}${Date.now()}${++counter}`;

function subscriptionUpdate({ sub, created, status }) {
  const event = fixture("stripe/customer.subscription.updated.json");
  event.id = unique("evt_sub_");
  event.created = created;
  event.data.object.id = sub;
  event.data.object.status = status;
  return event;
}

const statusOf = (call) => JSON.parse(call.body).inputs[0].properties.stripe_subscription_status;
let n = 0;
const message = (stepId) => ({ id: `m${++n}`, timestamp: new Date(), body: { step_id: stepId }, attempts: 1 });

describe("several updates of one entity at once", () => {
  let fake;
  let worker; // with the real queue
  let lone; // without the STEPS producer: steps stay pending until the test delivers them

  before(async () => {
    fake = await startFakeDownstream();
    worker = await startWorker({ vars: { ...downstreamVars(fake.url), ...VARS }, captureLogs: true });
    lone = await startWorker({
      vars: { ...downstreamVars(fake.url), ...VARS },
      captureLogs: true,
      miniflare: { queueProducers: producersWithout("STEPS") },
    });
    // The subscription samples name their customer only by id: a checkout for that customer
    // teaches it at ingest, so these steps make only their own call (no customer lookup).
    for (const w of [worker, lone]) {
      const checkout = fixture("stripe/checkout.session.completed.json");
      checkout.id = unique("evt_checkout_");
      await deliver(w, "stripe", checkout);
    }
  });
  after(async () => {
    await lone?.dispose();
    await worker?.dispose();
    await fake?.close();
  });

  const upsertsFor = (sub) => fake.callsTo(UPSERT).filter((c) => c.body.includes(sub));

  /** Deliver the STATUSES updates of `sub` at once (concurrent requests); their steps, oldest first. */
  async function deliverUpdates(w, sub) {
    const t = Math.floor(Date.now() / 1000) - 600;
    const events = STATUSES.map((status, i) => subscriptionUpdate({ sub, created: t + i, status }));
    const delivered = await Promise.all(events.map((e) => deliver(w, "stripe", e)));
    const steps = [];
    for (const { key } of delivered) {
      const [step] = await stepsOf(w, "stripe", key);
      assert.equal(step.name, "hubspot.upsert_contact");
      steps.push(step);
    }
    return steps;
  }

  /** Exactly one call, carrying the newest update; the other steps skipped_stale, none charged. */
  async function assertNewestOnly(w, sub, steps) {
    const ids = steps.map((s) => s.id);
    const marks = ids.map(() => "?").join(",");
    const rows = await waitFor(
      async () => {
        const r = await w.all(`SELECT id, status, attempts, last_error FROM steps WHERE id IN (${marks})`, ...ids);
        return r.every((s) => FINISHED.includes(s.status)) && r;
      },
      { what: "every step terminal" },
    );
    const byId = Object.fromEntries(rows.map((r) => [r.id, r]));
    const newest = steps.at(-1);
    assert.deepEqual([byId[newest.id].status, byId[newest.id].attempts], ["succeeded", 1]);
    for (const older of steps.slice(0, -1)) {
      const row = byId[older.id];
      assert.equal(row.status, "skipped_stale", JSON.stringify(row));
      assert.equal(row.attempts, 0);
      // Stale because the newest was still pending/running, or because it was already applied.
      assert.ok(["newer_event", "older_than_applied"].includes(row.last_error), row.last_error);
    }
    const calls = upsertsFor(sub);
    assert.equal(calls.length, 1, `one downstream call for the subscription, got ${calls.map(statusOf)}`);
    assert.equal(statusOf(calls[0]), "active", "carrying the newest update");
    const [{ n: attempts }] = await w.all(`SELECT COUNT(*) AS n FROM attempts WHERE step_id IN (${marks})`, ...ids);
    assert.equal(attempts, 1);
    const [version] = await w.all("SELECT occurred_at, event_id FROM entity_versions WHERE entity = ?", `stripe:subscription:${sub}`);
    assert.equal(version.event_id, newest.event_id);
  }

  test("a step stored before ingest recorded entities gets its entity from its claim", async () => {
    // Ingest stores a step's entity, and the claim uses it as stored; a row written without one
    // (before the column, or before a rule gave the step an entity) is read from the event and
    // filled in by the same claim.
    const sub = unique("sub_legacy_");
    const t = Math.floor(Date.now() / 1000) - 600;
    const { key } = await deliver(lone, "stripe", subscriptionUpdate({ sub, created: t, status: "active" }));
    const [step] = await stepsOf(lone, "stripe", key);
    await lone.all("UPDATE steps SET entity = NULL WHERE id = ?", step.id);
    const consumer = await lone.mf.getWorker();
    const result = await consumer.queue("steps", [message(step.id)]);
    assert.equal(result.outcome, "ok");
    const [row] = await lone.all("SELECT status, entity FROM steps WHERE id = ?", step.id);
    assert.deepEqual([row.status, row.entity], ["succeeded", `stripe:subscription:${sub}`]);
    const [version] = await lone.all("SELECT event_id FROM entity_versions WHERE entity = ?", `stripe:subscription:${sub}`);
    assert.equal(version.event_id, step.event_id);
  });

  test("in one queue batch: one call, with the newest update; the others skipped_stale", async () => {
    const sub = unique("sub_batch_");
    const steps = await deliverUpdates(lone, sub);
    assert.ok(steps.every((s) => s.status === "pending"));
    const consumer = await lone.mf.getWorker();
    const result = await consumer.queue("steps", BATCH_ORDER.map((i) => message(steps[i].id)));
    assert.equal(result.outcome, "ok");
    // Each message answered on its own, and none had to come back.
    assert.equal(result.explicitAcks.length, STATUSES.length);
    assert.deepEqual(result.retryMessages, []);
    await assertNewestOnly(lone, sub, steps);
  });

  test("in concurrent consumer invocations, one message each: one call, with the newest", async () => {
    const sub = unique("sub_invocations_");
    const steps = await deliverUpdates(lone, sub);
    const consumer = await lone.mf.getWorker();
    const results = await Promise.all(BATCH_ORDER.map((i) => consumer.queue("steps", [message(steps[i].id)])));
    assert.ok(results.every((r) => r.outcome === "ok" && r.retryMessages.length === 0), JSON.stringify(results));
    await assertNewestOnly(lone, sub, steps);
  });

  test("a step its entity already made stale ends without counting in the destination's budget", async () => {
    // The claim and the budget's count are one D1 batch; the count applies only beside a claim
    // that applied, so a refused (stale) claim leaves HubSpot's window exactly as it was.
    const sub = unique("sub_budget_");
    const steps = await deliverUpdates(lone, sub);
    const consumer = await lone.mf.getWorker();
    await consumer.queue("steps", [message(steps.at(-1).id)]);
    await waitFor(async () => (await lone.all("SELECT status FROM steps WHERE id = ?", steps.at(-1).id))[0].status === "succeeded", {
      what: "the newest applied",
    });
    const health = () => lone.all("SELECT * FROM destination_health WHERE destination = 'hubspot'");
    const before = await health();
    assert.equal(before.length, 1, "the newest's call was counted");
    const result = await consumer.queue("steps", steps.slice(0, -1).map((s) => message(s.id)));
    assert.equal(result.outcome, "ok");
    const rows = await lone.all(
      `SELECT status, attempts, last_error FROM steps WHERE id IN (${steps.slice(0, -1).map(() => "?").join(",")})`,
      ...steps.slice(0, -1).map((s) => s.id),
    );
    assert.deepEqual(rows, rows.map(() => ({ status: "skipped_stale", attempts: 0, last_error: "older_than_applied" })));
    assert.deepEqual(await health(), before, "no stale check counted");
  });

  test("one HubSpot delivery with several changes of one property, through the queue: one Stripe update, the newest", async () => {
    const contact = 70000000000 + (Date.now() % 1_000_000);
    const customer = unique("cus_order_");
    // The contact's Stripe link, as an earlier checkout upsert would have stored it.
    await worker.all(
      "INSERT INTO contact_links (hubspot_contact_id, stripe_customer_id, firstname, lastname, updated_at) VALUES (?, ?, 'Ada', 'Lovelace', ?)",
      String(contact),
      customer,
      Date.now(),
    );
    const t = Date.now() - 60_000;
    const changes = [0, 1, 2, 3, 4].map((i) =>
      hubspotEvent({ objectId: contact, propertyName: "phone", propertyValue: `+1555000000${i}`, occurredAt: t + i * 1000 }),
    );
    const batch = BATCH_ORDER.map((i) => changes[i]);
    const { payload, headers } = hubspotDelivery(batch, TEST_SECRETS.HUBSPOT_CLIENT_SECRETS.split(",")[0]);
    const res = await worker.post("/webhooks/hubspot", payload, headers);
    assert.deepEqual(res.json, { status: "accepted", events: 5, duplicates: 0 });

    const finished = [];
    for (const change of changes) {
      const [step] = await settled(worker, "hubspot", `${change.portalId}:${change.subscriptionId}:${change.eventId}`);
      finished.push(step);
    }
    assert.deepEqual(
      finished.map((s) => [s.name, s.status, s.attempts]),
      [
        ...Array(4).fill(["stripe.update_customer", "skipped_stale", 0]),
        ["stripe.update_customer", "succeeded", 1],
      ],
    );
    const calls = fake.callsTo(`/v1/customers/${customer}`);
    assert.deepEqual(calls.map((c) => c.body), ["phone=%2B15550000004"]);
  });

  test("a newer update waits while an older one's call is in flight, then applies after it", async () => {
    // Two consumer invocations at once, as Queues runs them (Miniflare's own queue hands a
    // consumer one batch at a time, so the test delivers the batches itself): the first is
    // calling for the older update when the newer one is accepted and delivered.
    const sub = unique("sub_inflight_");
    const t = Math.floor(Date.now() / 1000) - 600;
    const consumer = await lone.mf.getWorker();
    const stepOf = async (key) => (await stepsOf(lone, "stripe", key))[0];
    let release;
    fake.always(UPSERT, { hold: new Promise((r) => (release = r)) });
    try {
      const older = await deliver(lone, "stripe", subscriptionUpdate({ sub, created: t, status: "past_due" }));
      const olderStep = await stepOf(older.key);
      const first = consumer.queue("steps", [message(olderStep.id)]);
      await waitFor(() => upsertsFor(sub).length === 1, { what: "the older update's call in flight" });

      const newer = await deliver(lone, "stripe", subscriptionUpdate({ sub, created: t + 60, status: "active" }));
      const newerStep = await stepOf(newer.key);
      const second = await consumer.queue("steps", [message(newerStep.id)]);
      assert.equal(second.outcome, "ok");
      // Acked, not retried: waiting spends no Queues retry. The step comes back from a fresh,
      // delayed message (this worker has no STEPS producer, so D1's due time is what remains).
      assert.deepEqual(second.retryMessages, [], "no Queues retry for a wait");
      assert.equal(second.explicitAcks.length, 1);
      const waiting = await stepOf(newer.key);
      assert.deepEqual([waiting.status, waiting.last_error, waiting.attempts], ["enqueued", "entity_busy", 0]);
      const delay = waiting.next_attempt_at - waiting.updated_at;
      assert.ok(delay >= 1000 && delay <= 3000, `re-checked soon (${delay} ms)`);
      assert.equal(upsertsFor(sub).length, 1, "no second call while the first is in flight");

      const releasedAt = Date.now();
      release();
      assert.equal((await first).outcome, "ok");
      // The fresh message for the newer update arrives after its delay (one handed over before
      // the step's due time would be sent back for the rest of it: waiting.test.mjs).
      await new Promise((r) => setTimeout(r, Math.max(0, waiting.next_attempt_at - Date.now())));
      const third = await consumer.queue("steps", [message(newerStep.id)]);
      assert.deepEqual(third.retryMessages, []);
      const [a, b] = [await stepOf(older.key), await stepOf(newer.key)];
      assert.deepEqual([a.status, a.attempts, b.status, b.attempts], ["succeeded", 1, "succeeded", 1]);
      const calls = upsertsFor(sub);
      assert.deepEqual(calls.map(statusOf), ["past_due", "active"], "applied in order");
      assert.ok(calls[1].at >= releasedAt, "the newer call started after the older one was answered");
      const [version] = await lone.all("SELECT event_id FROM entity_versions WHERE entity = ?", `stripe:subscription:${sub}`);
      assert.equal(version.event_id, b.event_id);
    } finally {
      release?.();
      fake.always(UPSERT, { status: 200 });
    }
  });

  test("unrelated steps of one queue batch run concurrently", async () => {
    // The fake answers none of these calls until all four upserts have arrived (as calls of
    // their own or inputs of one batch call): one after another, the first would wait out
    // DOWNSTREAM_TIMEOUT_MS and be retried. Four people: one person's upserts go out one call
    // after another (hubspot-batch.test.mjs).
    const tag = unique("cus_concurrent_");
    let arrived = 0;
    let open;
    const all = new Promise((r) => (open = r));
    fake.always(UPSERT, (call) => {
      const inputs = JSON.parse(call.body).inputs ?? [];
      arrived += inputs.filter((i) => JSON.stringify(i).includes(tag)).length;
      if (arrived === 4) open();
      return { hold: all };
    });
    try {
      const steps = [];
      for (let i = 0; i < 4; i++) {
        const { key } = await deliver(lone, "stripe", checkoutCompleted({ email: `${tag}${i}@example.com`, customer: `${tag}_${i}` }));
        steps.push((await stepsOf(lone, "stripe", key)).find((s) => s.name === "hubspot.upsert_contact"));
      }
      const consumer = await lone.mf.getWorker();
      const result = await consumer.queue("steps", steps.map((s) => message(s.id)));
      assert.equal(result.outcome, "ok");
      assert.equal(result.explicitAcks.length, 4);
      assert.deepEqual(result.retryMessages, []);
      assert.equal(arrived, 4);
      const ids = steps.map((s) => s.id);
      const rows = await lone.all(`SELECT status, attempts FROM steps WHERE id IN (${ids.map(() => "?").join(",")})`, ...ids);
      assert.deepEqual(rows, Array(4).fill({ status: "succeeded", attempts: 1 }));
    } finally {
      open?.();
      fake.always(UPSERT, { status: 200 });
    }
  });

  /** An older and a newer checkout of one buyer (the newer one spells the address in other
   * case: HubSpot's contact, and the ordering key, are the same), a minute apart. */
  function twoCheckouts() {
    const email = `${unique("ada.checkout.")}@example.com`;
    const t = Math.floor(Date.now() / 1000) - 600;
    const older = checkoutCompleted({ email, name: "Ada Older", customer: unique("cus_older_") });
    const newer = checkoutCompleted({ email: email.replace("ada", "Ada").replace("example", "Example"), name: "Ada Newer", customer: unique("cus_newer_") });
    older.created = t;
    newer.created = t + 60;
    return { email, older, newer };
  }
  /** The ordering key of a checkout's contact upsert: 32 hex digits of SHA-256 of the lowercased email. */
  const checkoutEntity = (email) => `stripe:checkout:${crypto.createHash("sha256").update(email.trim().toLowerCase()).digest("hex").slice(0, 32)}`;
  /** The last names the contact upserts of `email` carried, call by call, in arrival order. */
  const namesSent = (email, calls = fake.callsTo(UPSERT)) =>
    calls.flatMap((c) => JSON.parse(c.body).inputs.filter((i) => String(i.id).toLowerCase() === email).map((i) => i.properties.lastname));
  const upsertOf = async (w, event) => (await stepsOf(w, "stripe", event.id)).find((s) => s.name === "hubspot.upsert_contact");

  test("two checkouts of one buyer delivered newest first: the newer one applied, the older one skipped_stale, never sent", async () => {
    const { email, older, newer } = twoCheckouts();
    await deliver(worker, "stripe", newer);
    const applied = await stepReaches(worker, "stripe", newer.id, "hubspot.upsert_contact", FINISHED);
    assert.deepEqual([applied.status, applied.attempts], ["succeeded", 1]);
    await deliver(worker, "stripe", older);
    await settled(worker, "stripe", older.id);
    const stale = await upsertOf(worker, older);
    assert.deepEqual([stale.status, stale.last_error, stale.attempts], ["skipped_stale", "older_than_applied", 0]);
    await quiet(fake);
    assert.deepEqual(namesSent(email), ["Newer"], "one HubSpot write, the newer checkout's");
    // Both steps name the buyer's contact by a digest, never the address.
    assert.deepEqual([applied.entity, stale.entity], [checkoutEntity(email), checkoutEntity(email)]);
    assert.ok(!stale.entity.includes("@"), stale.entity);
    const versions = await worker.all("SELECT event_id FROM entity_versions WHERE entity = ?", checkoutEntity(email));
    assert.deepEqual(versions.map((v) => v.event_id), [applied.event_id]);
  });

  test("two checkouts of one buyer in one queue batch, the older one first: one call, the newer's", async () => {
    const { email, older, newer } = twoCheckouts();
    await deliver(lone, "stripe", newer);
    await deliver(lone, "stripe", older);
    const steps = [await upsertOf(lone, older), await upsertOf(lone, newer)];
    assert.deepEqual(steps.map((s) => s.status), ["pending", "pending"]);
    const consumer = await lone.mf.getWorker();
    const result = await consumer.queue("steps", steps.map((s) => message(s.id)));
    assert.equal(result.outcome, "ok");
    assert.deepEqual(result.retryMessages, []);
    const [stale, applied] = await waitFor(
      async () => {
        const both = [await upsertOf(lone, older), await upsertOf(lone, newer)];
        return both.every((s) => FINISHED.includes(s.status)) && both;
      },
      { what: "both upserts finished" },
    );
    assert.deepEqual([applied.status, applied.attempts], ["succeeded", 1]);
    assert.deepEqual([stale.status, stale.attempts], ["skipped_stale", 0]);
    assert.ok(["newer_event", "older_than_applied"].includes(stale.last_error), stale.last_error);
    await quiet(fake);
    assert.deepEqual(namesSent(email), ["Newer"]);
  });

  test("an older checkout's dead upsert redriven after a newer one succeeded ends skipped_stale, sending nothing", async () => {
    const { email, older, newer } = twoCheckouts();
    // HubSpot refuses the older checkout's write (a 4xx other than 400 or 429 is dead at once).
    fake.always(UPSERT, { status: 422, body: { status: "error", message: "Unprocessable", category: "VALIDATION_ERROR" } });
    let dead;
    try {
      await deliver(worker, "stripe", older);
      dead = await stepReaches(worker, "stripe", older.id, "hubspot.upsert_contact", FINISHED);
    } finally {
      fake.always(UPSERT, { status: 200 });
    }
    assert.deepEqual([dead.status, dead.last_status], ["dead", 422]);
    await deliver(worker, "stripe", newer);
    const applied = await stepReaches(worker, "stripe", newer.id, "hubspot.upsert_contact", FINISHED);
    assert.equal(applied.status, "succeeded");
    const [{ n: attemptsBefore }] = await worker.all("SELECT COUNT(*) AS n FROM attempts WHERE step_id = ?", dead.id);

    const mark = fake.callsTo(UPSERT).length;
    const auth = { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}`, "content-type": "application/json" };
    const res = await worker.post("/admin/api/redrive", JSON.stringify({ step_ids: [dead.id], dry_run: false }), auth);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json.redriven, [dead.id]);
    const redriven = await waitFor(
      async () => {
        const step = await upsertOf(worker, older);
        return FINISHED.includes(step.status) && step;
      },
      { what: "the redriven upsert finished" },
    );
    assert.deepEqual([redriven.status, redriven.last_error], ["skipped_stale", "older_than_applied"]);
    const [{ n: attemptsAfter }] = await worker.all("SELECT COUNT(*) AS n FROM attempts WHERE step_id = ?", dead.id);
    assert.equal(attemptsAfter, attemptsBefore, "the redrive made no attempt");
    await quiet(fake);
    assert.deepEqual(namesSent(email, fake.callsTo(UPSERT).slice(mark)), [], "no HubSpot call after the redrive");
    assert.deepEqual(namesSent(email), ["Older", "Newer"], "the refused older write, then the newer one, and nothing else");
  });

  test("no panic or isolate reset", () => {
    assertNoPanics(worker.logs);
    assertNoPanics(lone.logs);
  });
});
