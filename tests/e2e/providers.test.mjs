// SendGrid, HubSpot and Shopify ingest end to end through workerd: accept, reject, duplicate,
// and a batch that mixes already-seen and new events. Real KV and D1 via Miniflare.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { downstreamVars, startWorker, TEST_SECRETS } from "../helpers/worker.mjs";
import { useWorld } from "../helpers/world.mjs";
import {
  hubspotDelivery,
  hubspotEvent,
  sendgridDelivery,
  sendgridEvent,
  shopifyDelivery,
  shopifyOrder,
} from "../helpers/providers.mjs";
import { shopifyHeaders } from "../../scripts/sign.mjs";

const [HUBSPOT_SECRET, HUBSPOT_NEXT] = TEST_SECRETS.HUBSPOT_CLIENT_SECRETS.split(",");
const [SHOPIFY_SECRET, SHOPIFY_OLD] = TEST_SECRETS.SHOPIFY_WEBHOOK_SECRETS.split(",");

let worker;
let fake;
// The follow-on steps these events plan go to a local fake, never to the real APIs.
useWorld({}, { ready: (w) => ({ worker, fake } = w) });

const eventRows = (provider, keys) =>
  worker.all(
    `SELECT dedupe_key, type, account, key_index, occurred_at, payload FROM events WHERE provider = ? AND dedupe_key IN (${keys.map(() => "?").join(",")}) ORDER BY dedupe_key`,
    provider,
    ...keys,
  );

// Rejections are tallied in the isolate and written by the sweeper (or a later request, at most
// once a minute): the count is read after a sweep.
const rejectionCount = async (provider, reason) => {
  await (await worker.mf.getWorker()).scheduled({ cron: "* * * * *" });
  return (await worker.all("SELECT SUM(count) AS n FROM rejections WHERE provider = ? AND reason = ?", provider, reason))[0]?.n ?? 0;
};

describe("sendgrid", () => {
  test("a signed batch is split into one stored event per sg_event_id", async () => {
    const events = [sendgridEvent(), sendgridEvent({ event: "open" }), sendgridEvent({ event: "bounce", reason: "550 no such user" })];
    const { payload, headers } = sendgridDelivery(events);
    const res = await worker.post("/webhooks/sendgrid", payload, headers);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { status: "accepted", events: 3, duplicates: 0 });
    const rows = await eventRows("sendgrid", events.map((e) => e.sg_event_id));
    assert.equal(rows.length, 3);
    for (const row of rows) {
      const original = events.find((e) => e.sg_event_id === row.dedupe_key);
      assert.equal(row.type, original.event);
      assert.equal(row.occurred_at, original.timestamp * 1000);
      assert.deepEqual(JSON.parse(row.payload), original);
    }
  });

  test("a batch mixing seen and new events stores only the new ones", async () => {
    const seen = [sendgridEvent(), sendgridEvent()];
    const first = sendgridDelivery(seen);
    assert.equal((await worker.post("/webhooks/sendgrid", first.payload, first.headers)).status, 200);
    const fresh = sendgridEvent({ event: "click", url: "https://example.com/x" });
    const mixed = sendgridDelivery([...seen, fresh]);
    const res = await worker.post("/webhooks/sendgrid", mixed.payload, mixed.headers);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { status: "accepted", events: 1, duplicates: 2 });
    assert.equal((await eventRows("sendgrid", [...seen, fresh].map((e) => e.sg_event_id))).length, 3);
    const again = await worker.post("/webhooks/sendgrid", mixed.payload, mixed.headers);
    assert.deepEqual(again.json, { status: "duplicate" });
  });

  test("a signature from another key is 401 and nothing is stored", async () => {
    const { privateKey } = crypto.generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    const event = sendgridEvent();
    const before = await rejectionCount("sendgrid", "signature_mismatch");
    const { payload, headers } = sendgridDelivery([event], { privateKey });
    const res = await worker.post("/webhooks/sendgrid", payload, headers);
    assert.deepEqual([res.status, res.json], [401, { error: "signature_mismatch" }]);
    assert.equal((await eventRows("sendgrid", [event.sg_event_id])).length, 0);
    assert.equal(await rejectionCount("sendgrid", "signature_mismatch"), before + 1);
    const stale = sendgridDelivery([event], { timestamp: Math.floor(Date.now() / 1000) - 3600 });
    const old = await worker.post("/webhooks/sendgrid", stale.payload, stale.headers);
    assert.deepEqual([old.status, old.json], [401, { error: "timestamp_out_of_tolerance" }]);
  });
});

describe("hubspot", () => {
  test("a v3-signed batch is split per portalId:subscriptionId:eventId", async () => {
    const events = [hubspotEvent(), hubspotEvent({ subscriptionType: "contact.deletion" })];
    const { payload, headers } = hubspotDelivery(events, HUBSPOT_NEXT);
    const res = await worker.post("/webhooks/hubspot", payload, headers);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { status: "accepted", events: 2, duplicates: 0 });
    const keys = events.map((e) => `${e.portalId}:${e.subscriptionId}:${e.eventId}`);
    const rows = await eventRows("hubspot", keys);
    assert.equal(rows.length, 2);
    assert.ok(rows.every((r) => r.key_index === 1 && r.account === "62515"));
  });

  test("a retry (new attemptNumber, re-signed) of part of a batch is deduped", async () => {
    const seen = hubspotEvent();
    const first = hubspotDelivery([seen], HUBSPOT_SECRET);
    assert.equal((await worker.post("/webhooks/hubspot", first.payload, first.headers)).status, 200);
    const fresh = hubspotEvent();
    const retry = hubspotDelivery([{ ...seen, attemptNumber: 1 }, fresh], HUBSPOT_SECRET);
    const res = await worker.post("/webhooks/hubspot", retry.payload, retry.headers);
    assert.deepEqual(res.json, { status: "accepted", events: 1, duplicates: 1 });
  });

  test("a full batch of 100 is stored once; a re-sent overlap is split by D1 alone (multi-row inserts)", async () => {
    // 100 events take 8 multi-row event INSERTs and several step INSERTs in one D1 batch.
    const first = Array.from({ length: 100 }, () => hubspotEvent());
    const one = hubspotDelivery(first, HUBSPOT_SECRET);
    const res = await worker.post("/webhooks/hubspot", one.payload, one.headers);
    assert.deepEqual(res.json, { status: "accepted", events: 100, duplicates: 0 });
    const keyOf = (e) => `${e.portalId}:${e.subscriptionId}:${e.eventId}`;
    // D1 binds at most 100 parameters: pass the keys as one JSON array.
    const inKeys = "dedupe_key IN (SELECT value FROM json_each(?))";
    const stored = await worker.all(`SELECT id FROM events WHERE provider = 'hubspot' AND ${inKeys}`, JSON.stringify(first.map(keyOf)));
    assert.equal(stored.length, 100);
    // A batch's one KV hint is for that exact delivery (and written only once it is repeated): a
    // mixed one never matches it, so only D1's RETURNING tells new from known: 40 known events
    // spread across the statements, 60 new ones.
    const known = first.filter((_, i) => i % 5 < 2);
    const fresh = Array.from({ length: 60 }, () => hubspotEvent());
    const mixed = [...fresh.slice(0, 30), ...known, ...fresh.slice(30)];
    const two = hubspotDelivery(mixed, HUBSPOT_SECRET);
    const again = await worker.post("/webhooks/hubspot", two.payload, two.headers);
    assert.deepEqual(again.json, { status: "accepted", events: 60, duplicates: 40 });
    const all = [...first, ...fresh].map(keyOf);
    const rows = await worker.all(
      `SELECT e.dedupe_key, COUNT(s.id) AS steps FROM events e LEFT JOIN steps s ON s.event_id = e.id WHERE e.provider = 'hubspot' AND e.${inKeys} GROUP BY e.id`,
      JSON.stringify(all),
    );
    assert.equal(rows.length, 160, "each event stored exactly once");
    const perEvent = new Set(rows.map((r) => r.steps));
    assert.equal(perEvent.size, 1, `every event has the same planned steps, once: ${[...perEvent]}`);
    assert.ok([...perEvent][0] > 0, "the route plans steps for these events");
  });

  test("a wrong secret is 401, a stale timestamp too", async () => {
    const event = hubspotEvent();
    const bad = hubspotDelivery([event], "not-the-secret");
    const res = await worker.post("/webhooks/hubspot", bad.payload, bad.headers);
    assert.deepEqual([res.status, res.json], [401, { error: "signature_mismatch" }]);
    const stale = hubspotDelivery([event], HUBSPOT_SECRET, { timestamp: Date.now() - 10 * 60_000 });
    const old = await worker.post("/webhooks/hubspot", stale.payload, stale.headers);
    assert.deepEqual([old.status, old.json], [401, { error: "timestamp_out_of_tolerance" }]);
    const key = `${event.portalId}:${event.subscriptionId}:${event.eventId}`;
    assert.equal((await eventRows("hubspot", [key])).length, 0);
  });
});

describe("shopify", () => {
  test("a signed order is stored under its webhook id with the shop as account", async () => {
    const order = shopifyOrder();
    const { payload, headers } = shopifyDelivery(order, SHOPIFY_OLD);
    const res = await worker.post("/webhooks/shopify", payload, headers);
    assert.equal(res.status, 200, res.text);
    const [row] = await eventRows("shopify", [headers["x-shopify-webhook-id"]]);
    assert.equal(row.type, "orders/create");
    assert.equal(row.account, "edge-test.myshopify.com");
    assert.equal(row.key_index, 1);
    assert.equal(row.payload, payload);
    assert.equal(row.occurred_at, Date.parse(order.updated_at));
  });

  test("a retry with the same webhook id is a duplicate", async () => {
    const delivery = shopifyDelivery(shopifyOrder(), SHOPIFY_SECRET);
    assert.equal((await worker.post("/webhooks/shopify", delivery.payload, delivery.headers)).status, 200);
    const res = await worker.post("/webhooks/shopify", delivery.payload, delivery.headers);
    assert.deepEqual([res.status, res.json], [200, { status: "duplicate" }]);
  });

  test("a wrong HMAC is 401; a missing topic header is 400 and kept as rejected", async () => {
    const delivery = shopifyDelivery(shopifyOrder(), "shpss_wrong");
    const res = await worker.post("/webhooks/shopify", delivery.payload, delivery.headers);
    assert.deepEqual([res.status, res.json], [401, { error: "signature_mismatch" }]);
    assert.equal((await eventRows("shopify", [delivery.headers["x-shopify-webhook-id"]])).length, 0);

    const noTopic = shopifyDelivery(shopifyOrder(), SHOPIFY_SECRET);
    delete noTopic.headers["x-shopify-topic"];
    const missing = await worker.post("/webhooks/shopify", noTopic.payload, noTopic.headers);
    assert.equal(missing.status, 400);
    assert.equal(missing.json.error, "missing_header");
    const rejected = await worker.all("SELECT status, error FROM events WHERE provider = 'shopify' AND status = 'rejected'");
    assert.deepEqual(rejected, [{ status: "rejected", error: "missing_header" }]);
  });
});

describe("shopify: a signed body that is not UTF-8", () => {
  test("is 400 and kept as rejected under its shop, its text cut to fit one D1 row (every byte a 3-byte U+FFFD)", async () => {
    const body = Buffer.alloc(700_000, 0xff);
    const webhookId = `wh_not_utf8_${Date.now()}`;
    const headers = { "content-type": "application/json", ...shopifyHeaders(body, SHOPIFY_SECRET, { topic: "orders/create", shop: "edge-test.myshopify.com", webhookId, eventId: webhookId }) };
    const res = await worker.post("/webhooks/shopify", body, headers);
    assert.deepEqual([res.status, res.json.error], [400, "invalid_json"], res.text);
    const rows = await worker.all(
      "SELECT account, payload_bytes, length(CAST(payload AS BLOB)) AS stored, substr(payload, -6) AS tail FROM events WHERE provider = 'shopify' AND status = 'rejected' AND payload_bytes = 700000",
    );
    // 700,000 bytes of U+FFFD would be 2,100,000: past D1's 2,000,000-byte value limit.
    assert.deepEqual(rows, [{ account: "edge-test.myshopify.com", payload_bytes: 700_000, stored: 1_899_998, tail: "…[cut]" }]);
    const again = await worker.post("/webhooks/shopify", body, headers);
    assert.equal(again.status, 400, "the retry is answered the same, one row kept");
    assert.equal((await worker.all("SELECT id FROM events WHERE provider = 'shopify' AND payload_bytes = 700000")).length, 1);
  });
});

describe("configuration", () => {
  test("a provider without secrets is disabled, never open", async () => {
    const bare = await startWorker({ vars: { ...downstreamVars(fake.url), SHOPIFY_WEBHOOK_SECRETS: "" } });
    try {
      const delivery = shopifyDelivery(shopifyOrder(), SHOPIFY_SECRET);
      const res = await bare.post("/webhooks/shopify", delivery.payload, delivery.headers);
      assert.deepEqual([res.status, res.json], [404, { error: "provider_disabled" }]);
      assert.equal((await bare.all("SELECT COUNT(*) AS n FROM events"))[0].n, 0);
    } finally {
      await bare.dispose();
    }
  });
});
