// Workflows across events and time, through workerd against the downstream fake: the outbox
// (a queue send that fails after the D1 write is delivered later by the sweeper), out-of-order
// subscription updates, HubSpot -> Stripe sync (link, echo, last-write-wins), Shopify privacy
// requests, and the sweeper's retention purge and lease recovery. Where time has to pass (the
// sweeper's one-minute grace, retention days, lease expiry) the test ages rows in D1 instead of
// waiting, and says so.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { TEST_SECRETS, waitFor } from "../helpers/worker.mjs";
import { useWorld } from "../helpers/world.mjs";
import { checkoutCompleted } from "../helpers/stripe.mjs";
import { hubspotEvent, sendgridEvent, shopifyOrder } from "../helpers/providers.mjs";
import { MAIL, UPSERT, deliver, fixture, settled, stepsOf } from "../helpers/flows.mjs";

const VARS = { MAX_ATTEMPTS: "3", RETRY_BASE_SECONDS: "0", DOWNSTREAM_TIMEOUT_MS: "3000" };
let counter = 0;
const unique = (prefix) => `${prefix}${Date.now()}${++counter}`;

/** A worker + fake shared by one describe (tests/helpers/world.mjs). */
const world = ({ vars = {}, queueFault = false } = {}) => useWorld({ vars: { ...VARS, ...vars }, queueFault });

const statuses = (steps) => Object.fromEntries(steps.map((s) => [s.name, s.status]));

describe("queue send failure after the D1 write (outbox)", () => {
  // Simulated outage: STEPS is a stand-in producer that throws from sendBatch while failing is
  // on (see queueFault in tests/helpers/worker.mjs); D1, the consumer and the sweeper are real.
  const w = world({ queueFault: true });

  test("the event is accepted, its steps stay pending, and the sweeper delivers them later", async () => {
    w.worker.queueFault.fail(true);
    try {
      await outbox();
    } finally {
      w.worker.queueFault.fail(false);
    }
  });

  async function outbox() {
    const event = checkoutCompleted({ customer: "cus_outbox" });
    const { res, key } = await deliver(w.worker, "stripe", event);
    assert.deepEqual(res.json, { status: "accepted", events: 1, duplicates: 0 }, "still 200 after D1");
    await waitFor(() => w.worker.queueFault.refused() > 0, { what: "the queue send refused" });
    let steps = await stepsOf(w.worker, "stripe", key);
    assert.deepEqual(statuses(steps), { "hubspot.upsert_contact": "pending", "sendgrid.send": "pending" });
    assert.equal(w.fake.calls.length, 0);

    // Younger than the one-minute grace: the sweeper leaves them to the ingest path.
    await w.sweep();
    steps = await stepsOf(w.worker, "stripe", key);
    assert.ok(steps.every((s) => s.status === "pending"));

    // A minute passes (simulated: updated_at moved back) while Queues is still down: the
    // sweeper's send fails too, and the steps must stay `pending` so the next sweep retries.
    const aged = Date.now() - 2 * 60_000;
    await w.worker.all("UPDATE steps SET updated_at = ? WHERE event_id = ?", aged, steps[0].event_id);
    const refusedBefore = w.worker.queueFault.refused();
    await w.sweep();
    await waitFor(() => w.worker.queueFault.refused() > refusedBefore, { what: "the sweeper's send refused" });
    steps = await stepsOf(w.worker, "stripe", key);
    assert.deepEqual(statuses(steps), { "hubspot.upsert_contact": "pending", "sendgrid.send": "pending" });
    assert.equal(w.fake.calls.length, 0);

    // Queues is back; the next sweep (a minute later, simulated again) delivers them.
    w.worker.queueFault.fail(false);
    await w.worker.all("UPDATE steps SET updated_at = ? WHERE event_id = ?", aged, steps[0].event_id);
    await w.sweep();
    steps = await settled(w.worker, "stripe", key, { count: 2 });
    assert.deepEqual(statuses(steps), { "hubspot.upsert_contact": "succeeded", "sendgrid.send": "succeeded" });
    assert.ok(steps.every((s) => s.attempts === 1));
    await w.quiet();
    assert.equal(w.fake.callsTo(UPSERT).length, 1);
    assert.equal(w.fake.callsTo(MAIL).length, 1);
  }

  test("a step left running by a consumer that died is re-sent after its lease", async () => {
    const event = checkoutCompleted({ customer: "cus_lease" });
    const { key } = await deliver(w.worker, "stripe", event);
    const done = await settled(w.worker, "stripe", key, { count: 2 });
    const mail = done.find((s) => s.name === "sendgrid.send");
    // Simulated crash: the step is put back to `running` with a claim 16 minutes old.
    const old = Date.now() - 16 * 60_000;
    await w.worker.all("UPDATE steps SET status = 'running', updated_at = ?, next_attempt_at = NULL WHERE id = ?", old, mail.id);
    const before = w.fake.callsTo(MAIL).length;
    await w.sweep();
    const steps = await settled(w.worker, "stripe", key, { count: 2 });
    const again = steps.find((s) => s.name === "sendgrid.send");
    assert.equal(again.status, "succeeded");
    assert.equal(again.attempts, 2);
    assert.equal(w.fake.callsTo(MAIL).length, before + 1);
  });
});

describe("out-of-order subscription updates", () => {
  const w = world();

  function subscriptionUpdate({ sub, created, status }) {
    const event = fixture("stripe/customer.subscription.updated.json");
    event.id = unique("evt_sub_");
    event.created = created;
    event.data.object.id = sub;
    event.data.object.status = status;
    return event;
  }
  const upsertsFor = (sub) => w.fake.callsTo(UPSERT).filter((c) => c.body.includes(sub));

  test("an older update arriving after a newer one is skipped_stale with no call", async () => {
    const sub = unique("sub_order_");
    const t = Math.floor(Date.now() / 1000) - 600;
    const newer = subscriptionUpdate({ sub, created: t + 60, status: "active" });
    const older = subscriptionUpdate({ sub, created: t, status: "past_due" });

    const first = await deliver(w.worker, "stripe", newer);
    const [applied] = await settled(w.worker, "stripe", first.key);
    assert.equal(applied.status, "succeeded");
    assert.equal(upsertsFor(sub).length, 1);
    assert.equal(JSON.parse(upsertsFor(sub)[0].body).inputs[0].properties.stripe_subscription_status, "active");

    const second = await deliver(w.worker, "stripe", older);
    const [stale] = await settled(w.worker, "stripe", second.key);
    assert.equal(stale.status, "skipped_stale");
    assert.equal(stale.last_error, "older_than_applied");
    assert.equal(stale.attempts, 0);
    await w.quiet();
    assert.equal(upsertsFor(sub).length, 1, "no downstream call for the older event");
    const [version] = await w.worker.all("SELECT occurred_at, event_id FROM entity_versions WHERE entity = ?", `stripe:subscription:${sub}`);
    assert.deepEqual(version, { occurred_at: (t + 60) * 1000, event_id: applied.event_id });
  });

  test("updates arriving in order are both applied", async () => {
    const sub = unique("sub_inorder_");
    const t = Math.floor(Date.now() / 1000) - 600;
    for (const [created, status] of [[t, "trialing"], [t + 1, "active"]]) {
      const { key } = await deliver(w.worker, "stripe", subscriptionUpdate({ sub, created, status }));
      const [step] = await settled(w.worker, "stripe", key);
      assert.equal(step.status, "succeeded");
    }
    assert.deepEqual(
      upsertsFor(sub).map((c) => JSON.parse(c.body).inputs[0].properties.stripe_subscription_status),
      ["trialing", "active"],
    );
  });
});

describe("HubSpot -> Stripe sync", () => {
  const w = world();
  const CONTACT = "70000000001";
  const CUSTOMER = "cus_sync_0001";
  const APP_ID = 1160452; // hubspotEvent's appId: the app whose subscription delivers, i.e. us
  const customerPath = `/v1/customers/${CUSTOMER}`;

  before(async () => {
    w.fake.always(UPSERT, { status: 200, body: { status: "COMPLETE", results: [{ id: CONTACT }] } });
    const checkout = checkoutCompleted({ email: "sync@example.com", name: "Ada Lovelace", customer: CUSTOMER });
    const { key } = await deliver(w.worker, "stripe", checkout);
    const steps = await settled(w.worker, "stripe", key, { count: 2 });
    assert.ok(steps.every((s) => s.status === "succeeded"));
  });

  const change = (overrides) =>
    hubspotEvent({ objectId: Number(CONTACT), occurredAt: Date.now() - 60_000, ...overrides });

  test("the checkout upsert stored the contact link from HubSpot's answer", async () => {
    const [link] = await w.worker.all("SELECT * FROM contact_links WHERE hubspot_contact_id = ?", CONTACT);
    assert.equal(link.stripe_customer_id, CUSTOMER);
    assert.deepEqual([link.firstname, link.lastname, link.deleted_at], ["Ada", "Lovelace", null]);
  });

  test("a contact change makes exactly one form-encoded customer update with Idempotency-Key", async () => {
    const { key } = await deliver(w.worker, "hubspot", change({ propertyName: "email", propertyValue: "ada+new@example.com" }));
    const [step] = await settled(w.worker, "hubspot", key);
    assert.equal(step.status, "succeeded", step.last_error);
    await w.quiet();
    const calls = w.fake.callsTo(customerPath);
    assert.equal(calls.length, 1);
    const [call] = calls;
    assert.equal(call.method, "POST");
    assert.equal(call.headers["content-type"], "application/x-www-form-urlencoded");
    assert.equal(call.headers.authorization, `Bearer ${TEST_SECRETS.STRIPE_API_KEY}`);
    assert.equal(call.headers["idempotency-key"], step.id);
    assert.equal(call.body, "email=ada%2Bnew%40example.com");

    // A redelivered message for the finished step makes no second call.
    await (await w.worker.mf.getWorker()).queue("steps", [{ id: "again", timestamp: new Date(), body: { step_id: step.id }, attempts: 1 }]);
    await w.quiet({ windowMs: 200 });
    assert.equal(w.fake.callsTo(customerPath).length, 1);
  });

  test("a name change is sent as Stripe's single name with the stored other half", async () => {
    const mark = w.fake.callsTo(customerPath).length;
    const { key } = await deliver(w.worker, "hubspot", change({ propertyName: "lastname", propertyValue: "King" }));
    const [step] = await settled(w.worker, "hubspot", key);
    assert.equal(step.status, "succeeded", step.last_error);
    const calls = w.fake.callsTo(customerPath).slice(mark);
    assert.deepEqual(calls.map((c) => c.body), ["name=Ada+King"]);
    const [link] = await w.worker.all("SELECT lastname FROM contact_links WHERE hubspot_contact_id = ?", CONTACT);
    assert.equal(link.lastname, "King");
  });

  test("our own write echoing back (sourceId = our app) makes no call", async () => {
    const mark = w.fake.calls.length;
    const echo = change({ propertyName: "firstname", propertyValue: "Ada", changeSource: "INTEGRATION", sourceId: String(APP_ID), appId: APP_ID });
    const { key } = await deliver(w.worker, "hubspot", echo);
    const [step] = await settled(w.worker, "hubspot", key);
    assert.equal(step.status, "skipped", "the event does not call for a sync: not a failure, not a success");
    assert.equal(step.last_error, "skipped:own_write");
    assert.equal(step.attempts, 0);
    await w.quiet();
    assert.equal(w.fake.calls.length, mark);
  });

  test("an older change arriving after our own write's echo is skipped_stale: HubSpot holds the newer value", async () => {
    // The echo above (firstname, a minute ago) is a newer event for that property, even though
    // it made no call: applying an older change now would leave Stripe behind HubSpot.
    const mark = w.fake.calls.length;
    const late = await deliver(w.worker, "hubspot", change({ propertyName: "firstname", propertyValue: "Augusta", occurredAt: Date.now() - 600_000 }));
    const [stale] = await settled(w.worker, "hubspot", late.key);
    assert.deepEqual([stale.status, stale.last_error, stale.attempts], ["skipped_stale", "newer_event", 0]);
    await w.quiet();
    assert.equal(w.fake.calls.length, mark);
  });

  test("an older change after a newer one for the same property is skipped_stale", async () => {
    const now = Date.now();
    const mark = w.fake.callsTo(customerPath).length;
    const newer = await deliver(w.worker, "hubspot", change({ propertyName: "phone", propertyValue: "+15550000002", occurredAt: now - 1000 }));
    assert.equal((await settled(w.worker, "hubspot", newer.key))[0].status, "succeeded");
    const older = await deliver(w.worker, "hubspot", change({ propertyName: "phone", propertyValue: "+15550000001", occurredAt: now - 5000 }));
    const [stale] = await settled(w.worker, "hubspot", older.key);
    assert.equal(stale.status, "skipped_stale");
    await w.quiet();
    assert.deepEqual(w.fake.callsTo(customerPath).slice(mark).map((c) => c.body), ["phone=%2B15550000002"]);
    // Ordering is per property: an older change of another property still applies (older than
    // the phone change just applied, newer than the firstname echo above).
    const first = await deliver(w.worker, "hubspot", change({ propertyName: "firstname", propertyValue: "Augusta", occurredAt: now - 3000 }));
    assert.equal((await settled(w.worker, "hubspot", first.key))[0].status, "succeeded");
    assert.deepEqual(w.fake.callsTo(customerPath).slice(mark + 1).map((c) => c.body), ["name=Augusta+King"]);
  });

  test("contact.deletion ends the link: later changes are skipped, not dead", async () => {
    const deletion = hubspotEvent({ subscriptionType: "contact.deletion", objectId: Number(CONTACT), changeFlag: "DELETED" });
    delete deletion.propertyName;
    delete deletion.propertyValue;
    const { key } = await deliver(w.worker, "hubspot", deletion);
    assert.equal((await settled(w.worker, "hubspot", key))[0].status, "succeeded");
    const mark = w.fake.calls.length;
    const after = await deliver(w.worker, "hubspot", change({ propertyName: "email", propertyValue: "gone@example.com", occurredAt: Date.now() }));
    const [step] = await settled(w.worker, "hubspot", after.key);
    assert.deepEqual([step.status, step.last_error, step.attempts], ["skipped", "skipped:no_linked_customer", 0]);
    assert.equal(w.fake.calls.length, mark);
  });

  test("a change of a contact linked to no Stripe customer is skipped: the normal case, no dead letter", async () => {
    const mark = w.fake.calls.length;
    const stranger = change({ objectId: 777000111, propertyName: "email", propertyValue: "new@example.com", occurredAt: Date.now() });
    const { key } = await deliver(w.worker, "hubspot", stranger);
    const [step] = await settled(w.worker, "hubspot", key);
    assert.deepEqual([step.name, step.status, step.last_error, step.attempts], ["stripe.update_customer", "skipped", "skipped:no_linked_customer", 0]);
    const [dead] = await w.worker.all("SELECT COUNT(*) AS n FROM steps WHERE status = 'dead'");
    assert.equal(dead.n, 0, "nothing in the dead-letter view");
    await w.quiet();
    assert.equal(w.fake.calls.length, mark);
  });
});

describe("Shopify privacy requests", () => {
  const w = world();
  const SHOP = "privacy-test.myshopify.com";
  const OTHER_SHOP = "other-shop.myshopify.com";
  const orders = {};

  const shopify = (body, topic, shop = SHOP) => deliver(w.worker, "shopify", body, { topic, shop, webhookId: unique("wh_") });
  const payloadOf = async (key) => (await w.worker.all("SELECT payload, redacted_at FROM events WHERE provider = 'shopify' AND dedupe_key = ?", key))[0];

  before(async () => {
    for (const [name, shop] of [["a", SHOP], ["b", SHOP], ["c", OTHER_SHOP]]) {
      const order = shopifyOrder();
      const { key } = await shopify(order, "orders/create", shop);
      await settled(w.worker, "shopify", key, { count: 3, timeoutMs: 30000 });
      orders[name] = { order, key };
    }
  });

  test("customers/redact removes that customer's stored payloads and records the request", async () => {
    const { order } = orders.a;
    const request = {
      shop_id: 1,
      shop_domain: SHOP,
      customer: { id: order.customer.id, email: order.customer.email, phone: order.customer.phone },
      orders_to_redact: [order.id],
    };
    const { key } = await shopify(request, "customers/redact");
    const [step] = await settled(w.worker, "shopify", key);
    assert.equal(step.status, "succeeded", step.last_error);

    const a = await payloadOf(orders.a.key);
    assert.equal(a.payload, null, "customer a's order is gone");
    assert.ok(a.redacted_at > 0);
    assert.equal((await payloadOf(key)).payload, null, "the request names the customer too");
    assert.notEqual((await payloadOf(orders.b.key)).payload, null, "another customer is untouched");
    assert.notEqual((await payloadOf(orders.c.key)).payload, null, "another shop is untouched");

    const [row] = await w.worker.all("SELECT * FROM privacy_requests WHERE event_id = ?", step.event_id);
    assert.equal(row.topic, "customers/redact");
    assert.equal(row.shop_domain, SHOP);
    assert.equal(row.customer_id, String(order.customer.id));
    assert.equal(row.events_affected, 2);
    assert.ok(row.done_at > 0);
    assert.ok(!JSON.stringify(row).includes(order.customer.email), "the record keeps no address");
  });

  test("customers/data_request records an export of that customer's data", async () => {
    const { order } = orders.b;
    const request = {
      shop_id: 1,
      shop_domain: SHOP,
      orders_requested: [order.id],
      customer: { id: order.customer.id, email: order.customer.email },
      data_request: { id: 77 },
    };
    const { key } = await shopify(request, "customers/data_request");
    const [step] = await settled(w.worker, "shopify", key);
    assert.equal(step.status, "succeeded", step.last_error);
    const [row] = await w.worker.all("SELECT * FROM privacy_requests WHERE event_id = ?", step.event_id);
    assert.equal(row.topic, "customers/data_request");
    const exported = JSON.parse(row.export);
    assert.equal(row.events_affected, exported.length);
    assert.deepEqual(exported.map((e) => e.type).sort(), ["customers/data_request", "orders/create"]);
    assert.deepEqual(JSON.parse(exported.find((e) => e.type === "orders/create").payload), order);
    assert.notEqual((await payloadOf(orders.b.key)).payload, null, "an export redacts nothing");
  });

  test("shop/redact removes everything stored for that shop only", async () => {
    const { key } = await shopify({ shop_id: 1, shop_domain: SHOP }, "shop/redact");
    const [step] = await settled(w.worker, "shopify", key);
    assert.equal(step.status, "succeeded", step.last_error);
    const left = await w.worker.all("SELECT account, type FROM events WHERE provider = 'shopify' AND payload IS NOT NULL");
    assert.deepEqual(left, [{ account: OTHER_SHOP, type: "orders/create" }]);
    const [row] = await w.worker.all("SELECT * FROM privacy_requests WHERE event_id = ?", step.event_id);
    assert.equal(row.topic, "shop/redact");
    assert.equal(row.customer_id, null);
    assert.equal(row.events_affected, 3, "order b, the data request and the shop/redact itself");
  });
});

describe("sweeper retention", () => {
  const w = world({ vars: { RETENTION_DAYS: "1" } });
  const rowsOf = async (eventId) => ({
    events: (await w.worker.all("SELECT payload IS NULL AS purged FROM events WHERE id = ?", eventId)).map((r) => r.purged),
    steps: (await w.worker.all("SELECT status FROM steps WHERE event_id = ?", eventId)).map((r) => r.status),
    attempts: (await w.worker.all("SELECT COUNT(*) AS n FROM attempts a JOIN steps s ON s.id = a.step_id WHERE s.event_id = ?", eventId))[0].n,
  });

  test("past RETENTION_DAYS a finished event is deleted with its steps and attempts; a dead or waiting one is kept whole", async () => {
    const done = await deliver(w.worker, "sendgrid", sendgridEvent({ event: "delivered" }));
    const fresh = await deliver(w.worker, "sendgrid", sendgridEvent({ event: "delivered" }));
    const doneEvent = (await settled(w.worker, "sendgrid", done.key))[0].event_id;
    await settled(w.worker, "sendgrid", fresh.key);
    w.fake.always(MAIL, { status: 400, body: { errors: [{ message: "bad request" }] } });
    const dead = await deliver(w.worker, "stripe", checkoutCompleted({ customer: "cus_retention_dead" }));
    const deadSteps = await settled(w.worker, "stripe", dead.key, { count: 2 });
    assert.equal(deadSteps.find((s) => s.name === "sendgrid.send").status, "dead");
    const waiting = await deliver(w.worker, "sendgrid", sendgridEvent({ event: "open" }));
    const [waitingStep] = await settled(w.worker, "sendgrid", waiting.key);
    // Simulated: the step is waiting for a retry an hour from now.
    await w.worker.all("UPDATE steps SET status = 'enqueued', next_attempt_at = ? WHERE id = ?", Date.now() + 3_600_000, waitingStep.id);
    assert.deepEqual(await rowsOf(doneEvent), { events: [0], steps: ["succeeded"], attempts: 1 });

    // Two days pass for all but `fresh` (simulated: received_at moved back).
    for (const key of [done.key, dead.key, waiting.key]) {
      await w.worker.all("UPDATE events SET received_at = ? WHERE dedupe_key = ?", Date.now() - 2 * 86_400_000, key);
    }
    await w.sweep();
    assert.deepEqual(await rowsOf(doneEvent), { events: [], steps: [], attempts: 0 }, "finished: deleted");
    const deadRows = await rowsOf(deadSteps[0].event_id);
    // Regression (issue 23): the purge dropped these payloads, so a redrive could only end
    // `payload_unavailable`.
    assert.deepEqual([deadRows.events, deadRows.steps.sort()], [[0], ["dead", "succeeded"]], "dead: kept for the admin with its payload");
    assert.ok(deadRows.attempts >= 2);
    assert.deepEqual(await rowsOf(waitingStep.event_id), { events: [0], steps: ["enqueued"], attempts: 1 }, "waiting: kept with its payload");
    const [kept] = await w.worker.all("SELECT payload, redacted_at FROM events WHERE dedupe_key = ?", fresh.key);
    assert.equal(JSON.parse(kept.payload).sg_event_id, fresh.key);
    assert.equal(kept.redacted_at, null);
  });
});
