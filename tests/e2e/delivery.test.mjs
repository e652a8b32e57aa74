// One provider event, one effect, however it is delivered; no valid element of a batch lost.
// Through workerd (real KV, D1, Queues) against the downstream fake, counting what matters:
// stored events, HubSpot deals, Slack messages, privacy records.
//  - Shopify: several subscriptions deliver one event (new webhook ids, one X-Shopify-Event-Id);
//    a captured signed body re-posted with fresh unsigned ids and another topic; privacy and
//    lifecycle bodies under another shop's header or in the wrong shape.
//  - SendGrid and HubSpot batches: a malformed element is its own rejected row (index, code,
//    visible in the admin API) and costs nothing else; a retry adds no rejected row; a verified
//    batch of 1,000 HubSpot events or thousands of SendGrid events is stored whole.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startWorker, TEST_SECRETS, waitForNoStepInFlight } from "../helpers/worker.mjs";
import { useWorld } from "../helpers/world.mjs";
import { hubspotDelivery, hubspotEvent, sendgridDelivery, sendgridEvent, shopifyDelivery, shopifyOrder } from "../helpers/providers.mjs";
import { settled } from "../helpers/flows.mjs";

const SHOPIFY_SECRET = TEST_SECRETS.SHOPIFY_WEBHOOK_SECRETS.split(",")[0];
const HUBSPOT_SECRET = TEST_SECRETS.HUBSPOT_CLIENT_SECRETS.split(",")[0];
const AUTH = { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}` };
const SLACK = "/services/T000/B000/test";
let counter = 0;
const unique = (prefix) => `${prefix}${Date.now()}_${++counter}`;

describe("Shopify: one event, one effect", () => {
  let fake;
  let worker;
  useWorld({ vars: { RETRY_BASE_SECONDS: "0" } }, { ready: (w) => ({ worker, fake } = w) });

  const post = (d) => worker.post("/webhooks/shopify", d.payload, d.headers);
  const storedWith = async (payload) =>
    (await worker.all("SELECT COUNT(*) AS n FROM events WHERE provider = 'shopify' AND payload = ?", payload))[0].n;
  const dealsFor = (order) => fake.hubspot.deals().filter((d) => JSON.stringify(d).includes(String(order.id)));
  const slackFor = (order) => fake.callsTo(SLACK).filter((c) => c.body.includes(String(order.id)));

  /** Every step of the event keyed `key` finished, and nothing else in flight. */
  async function effectsSettle(key) {
    await settled(worker, "shopify", key, { count: 3, timeoutMs: 30000 });
    await waitForNoStepInFlight(worker);
  }

  test("three subscriptions deliver one order: one event, one deal, one Slack message", async () => {
    const order = shopifyOrder();
    const eventId = unique("evt-");
    const answers = [];
    for (const webhookId of [unique("wh-a-"), unique("wh-b-"), unique("wh-c-")]) {
      answers.push((await post(shopifyDelivery(order, SHOPIFY_SECRET, { webhookId, eventId }))).json);
    }
    assert.deepEqual(answers, [
      { status: "accepted", events: 1, duplicates: 0 },
      { status: "duplicate" },
      { status: "duplicate" },
    ]);
    await effectsSettle(eventId);
    assert.equal(await storedWith(JSON.stringify(order)), 1);
    assert.equal(dealsFor(order).length, 1, "one HubSpot deal");
    assert.equal(slackFor(order).length, 1, "one Slack message");
  });

  test("without X-Shopify-Event-Id the webhook id is the key", async () => {
    const order = shopifyOrder();
    const webhookId = unique("wh-only-");
    const res = await post(shopifyDelivery(order, SHOPIFY_SECRET, { webhookId, eventId: null }));
    assert.deepEqual(res.json, { status: "accepted", events: 1, duplicates: 0 });
    const rows = await worker.all("SELECT dedupe_key FROM events WHERE provider = 'shopify' AND payload = ?", JSON.stringify(order));
    assert.deepEqual(rows, [{ dedupe_key: webhookId }]);
  });

  test("a captured signed body re-posted with fresh ids and another topic has no second effect", async () => {
    const order = shopifyOrder();
    const first = shopifyDelivery(order, SHOPIFY_SECRET);
    assert.equal((await post(first)).json.status, "accepted");
    await effectsSettle(first.headers["x-shopify-event-id"]);
    for (const topic of ["orders/create", "orders/updated", "orders/paid", "customers/create"]) {
      // Same signed bytes, every unsigned header fresh.
      const replay = shopifyDelivery(first.payload, SHOPIFY_SECRET, { topic, webhookId: unique("wh-r-"), eventId: unique("evt-r-") });
      assert.equal(replay.headers["x-shopify-hmac-sha256"], first.headers["x-shopify-hmac-sha256"]);
      const res = await post(replay);
      assert.deepEqual([res.status, res.json], [200, { status: "duplicate" }], topic);
    }
    await waitForNoStepInFlight(worker);
    assert.equal(await storedWith(first.payload), 1, "stored once");
    assert.equal(dealsFor(order).length, 1, "one HubSpot deal");
    assert.equal(slackFor(order).length, 1, "one Slack message");
  });

  test("a privacy request re-posted with fresh ids redacts and records once", async () => {
    const shop = `${unique("replay")}.myshopify.com`;
    const request = { shop_id: 7001, shop_domain: shop, customer: { id: 42, email: "x@example.com", phone: null }, orders_to_redact: [1] };
    const first = shopifyDelivery(request, SHOPIFY_SECRET, { topic: "customers/redact", shop });
    assert.equal((await post(first)).json.status, "accepted");
    const again = shopifyDelivery(first.payload, SHOPIFY_SECRET, { topic: "customers/redact", shop });
    assert.deepEqual((await post(again)).json, { status: "duplicate" });
    await settled(worker, "shopify", first.headers["x-shopify-event-id"]);
    await waitForNoStepInFlight(worker);
    const records = await worker.all("SELECT topic FROM privacy_requests WHERE shop_domain = ?", shop);
    assert.deepEqual(records, [{ topic: "customers/redact" }]);
  });

  test("privacy and lifecycle topics act only on a body naming the header's shop", async () => {
    const victim = `${unique("victim")}.myshopify.com`;
    const order = shopifyOrder();
    const stored = shopifyDelivery(order, SHOPIFY_SECRET, { shop: victim });
    assert.equal((await post(stored)).json.status, "accepted");
    await effectsSettle(stored.headers["x-shopify-event-id"]);

    // Signed bodies of another shop (every shop's bodies carry the app's one HMAC secret).
    const other = "someone-else.myshopify.com";
    const bodies = {
      "customers/redact": { shop_id: 1, shop_domain: other, customer: { id: order.customer.id, email: order.customer.email, phone: null }, orders_to_redact: [order.id] },
      "customers/data_request": { shop_id: 1, shop_domain: other, orders_requested: [order.id], customer: { id: order.customer.id, email: order.customer.email, phone: null }, data_request: { id: 9 } },
      "shop/redact": { shop_id: 1, shop_domain: other },
      "app/uninstalled": { id: 1, name: "Other", domain: "other.example", myshopify_domain: other },
    };
    for (const [topic, body] of Object.entries(bodies)) {
      const res = await post(shopifyDelivery(body, SHOPIFY_SECRET, { topic, shop: victim }));
      assert.deepEqual([res.status, res.json?.error], [400, "shop_mismatch"], topic);
    }
    // The right shop, the wrong shape: the field is named.
    const { orders_to_redact: _, ...noOrders } = { ...bodies["customers/redact"], shop_domain: victim };
    const shape = await post(shopifyDelivery(noOrders, SHOPIFY_SECRET, { topic: "customers/redact", shop: victim }));
    assert.deepEqual([shape.status, shape.json?.error], [400, "missing_field"]);
    assert.match(shape.json.detail, /orders_to_redact/);

    await waitForNoStepInFlight(worker);
    const [row] = await worker.all("SELECT payload, redacted_at FROM events WHERE provider = 'shopify' AND dedupe_key = ?", stored.headers["x-shopify-event-id"]);
    assert.equal(row.payload, stored.payload, "nothing redacted");
    assert.equal(row.redacted_at, null);
    assert.deepEqual(await worker.all("SELECT * FROM privacy_requests WHERE shop_domain IN (?, ?)", victim, other), []);
    assert.deepEqual(await worker.all("SELECT * FROM shops WHERE shop_domain = ? AND active = 0", victim), [], "shop not marked");
    const kept = await worker.all(
      "SELECT type, error FROM events WHERE provider = 'shopify' AND status = 'rejected' AND error IN ('shop_mismatch', 'missing_field') ORDER BY error, type",
    );
    assert.deepEqual(kept.map((r) => r.error), ["missing_field", ...Array(4).fill("shop_mismatch")], "each kept as rejected");
  });
});

describe("batches: a bad element never costs the good ones", () => {
  let worker;
  before(async () => {
    // No consumers: these tests count what ingest stores and plans, not what steps do.
    worker = await startWorker({ miniflare: { queueConsumers: {} } });
  });
  after(async () => worker?.dispose());

  const keyOf = (e) => `${e.portalId}:${e.subscriptionId}:${e.eventId}`;
  const inKeys = "dedupe_key IN (SELECT value FROM json_each(?))";
  const rejectedRows = (provider) =>
    worker.all(
      "SELECT dedupe_key, batch_index, error, payload FROM events WHERE provider = ? AND status = 'rejected' ORDER BY received_at, batch_index",
      provider,
    );

  test("HubSpot: an element without eventId is its own rejected row; the others are processed", async () => {
    const good = [hubspotEvent(), hubspotEvent(), hubspotEvent()];
    const { eventId: _, ...noEventId } = hubspotEvent();
    const batch = [good[0], noEventId, good[1], good[2]];
    const first = hubspotDelivery(batch, HUBSPOT_SECRET);
    const res = await worker.post("/webhooks/hubspot", first.payload, first.headers);
    assert.deepEqual([res.status, res.json], [200, { status: "accepted", events: 3, duplicates: 0, rejected: 1 }]);
    const stored = await worker.all(
      `SELECT e.dedupe_key, COUNT(s.id) AS steps FROM events e LEFT JOIN steps s ON s.event_id = e.id WHERE e.provider = 'hubspot' AND e.${inKeys} GROUP BY e.id`,
      JSON.stringify(good.map(keyOf)),
    );
    assert.equal(stored.length, 3);
    assert.ok(stored.every((r) => r.steps > 0), "each valid event has its steps planned");
    const rejected = await rejectedRows("hubspot");
    assert.equal(rejected.length, 1);
    assert.deepEqual([rejected[0].batch_index, rejected[0].error], [1, "missing_field"]);
    assert.deepEqual(JSON.parse(rejected[0].payload), noEventId);

    // HubSpot's retry bumps attemptNumber and re-signs: nothing new, no second rejected row.
    const retried = hubspotDelivery(batch.map((e) => ({ ...e, attemptNumber: 1 })), HUBSPOT_SECRET);
    const again = await worker.post("/webhooks/hubspot", retried.payload, retried.headers);
    assert.deepEqual([again.status, again.json], [200, { status: "duplicate", rejected: 1 }]);
    assert.equal((await rejectedRows("hubspot")).length, 1);

    // The admin API lists it with its index and code.
    const page = await worker.get("/admin/api/events?provider=hubspot&status=rejected", AUTH);
    assert.equal(page.status, 200, page.text);
    const listed = page.json.events.find((e) => e.dedupe_key === rejected[0].dedupe_key);
    assert.deepEqual([listed?.batch_index, listed?.error, listed?.status], [1, "missing_field", "rejected"]);
  });

  test("HubSpot: a batch with no valid element is 400, each element its own rejected row", async () => {
    const before = (await rejectedRows("hubspot")).length;
    // 40 malformed elements: more than one multi-row INSERT of rejected rows.
    const bad = Array.from({ length: 40 }, (_, i) => (i % 2 ? { ...hubspotEvent(), portalId: "x" } : [i]));
    const d = hubspotDelivery(bad, HUBSPOT_SECRET);
    const res = await worker.post("/webhooks/hubspot", d.payload, d.headers);
    assert.deepEqual([res.status, res.json?.error], [400, "unexpected_shape"]);
    const rows = (await rejectedRows("hubspot")).slice(before);
    assert.deepEqual(
      rows.map((r) => [r.batch_index, r.error]),
      bad.map((_, i) => [i, i % 2 ? "missing_field" : "unexpected_shape"]),
    );
  });

  test("SendGrid: a malformed element is rejected alone; the same delivery again adds nothing", async () => {
    const good = [sendgridEvent(), sendgridEvent({ event: "bounce", reason: "550" })];
    const { sg_event_id: _, ...noId } = sendgridEvent({ event: "open" });
    const d = sendgridDelivery([good[0], noId, good[1]]);
    const res = await worker.post("/webhooks/sendgrid", d.payload, d.headers);
    assert.deepEqual([res.status, res.json], [200, { status: "accepted", events: 2, duplicates: 0, rejected: 1 }]);
    const again = await worker.post("/webhooks/sendgrid", d.payload, d.headers);
    assert.deepEqual([again.status, again.json], [200, { status: "duplicate", rejected: 1 }]);
    const rejected = await rejectedRows("sendgrid");
    assert.deepEqual(rejected.map((r) => [r.batch_index, r.error]), [[1, "missing_field"]]);
  });

  test("HubSpot: a verified batch of 1,000 events is stored once, every step planned", async () => {
    const events = Array.from({ length: 1000 }, () => hubspotEvent());
    const d = hubspotDelivery(events, HUBSPOT_SECRET);
    const res = await worker.post("/webhooks/hubspot", d.payload, d.headers);
    assert.deepEqual([res.status, res.json], [200, { status: "accepted", events: 1000, duplicates: 0 }]);
    const rows = await worker.all(
      `SELECT e.dedupe_key, COUNT(s.id) AS steps FROM events e LEFT JOIN steps s ON s.event_id = e.id WHERE e.provider = 'hubspot' AND e.${inKeys} GROUP BY e.id`,
      JSON.stringify(events.map(keyOf)),
    );
    assert.equal(rows.length, 1000, "each event stored exactly once");
    const perEvent = new Set(rows.map((r) => r.steps));
    assert.deepEqual([...perEvent].length, 1, "every event has the same steps");
    assert.ok([...perEvent][0] > 0);
    // The same delivery again (re-signed): no KV hint yet (a first delivery leaves none), so D1
    // finds all 1,000 known.
    const again = hubspotDelivery(events, HUBSPOT_SECRET);
    const res2 = await worker.post("/webhooks/hubspot", again.payload, again.headers);
    assert.deepEqual([res2.status, res2.json], [200, { status: "duplicate" }]);
  });

  test("SendGrid: a large verified batch is stored once, every step planned", async () => {
    const events = Array.from({ length: 2500 }, (_, i) => sendgridEvent({ event: i % 2 ? "open" : "bounce" }));
    const d = sendgridDelivery(events);
    assert.ok(d.payload.length > 500_000, `${d.payload.length} bytes`);
    const res = await worker.post("/webhooks/sendgrid", d.payload, d.headers);
    assert.deepEqual([res.status, res.json], [200, { status: "accepted", events: 2500, duplicates: 0 }]);
    const rows = await worker.all(
      `SELECT e.type, COUNT(s.id) AS steps FROM events e LEFT JOIN steps s ON s.event_id = e.id WHERE e.provider = 'sendgrid' AND e.${inKeys} GROUP BY e.id`,
      JSON.stringify(events.map((e) => e.sg_event_id)),
    );
    assert.equal(rows.length, 2500, "each event stored exactly once");
    for (const type of ["open", "bounce"]) {
      const steps = new Set(rows.filter((r) => r.type === type).map((r) => r.steps));
      assert.equal(steps.size, 1, `${type}: same steps for every event`);
      assert.ok([...steps][0] > 0, `${type}: steps planned`);
    }
  });
});
