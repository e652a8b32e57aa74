// Retention at volume and what it must remember (issue 23), through workerd: one cron tick
// deletes thousands of events in bounded batches (a SendGrid delivery's events each count), each
// cleanup runs on its own (an injected failure in one leaves the others done), an event deleted by
// retention and delivered again is a duplicate (its tombstone), until the tombstone expires; the
// storage report, its alert and the health check's storage state (`/health` degraded at 80% of
// STORAGE_LIMIT_BYTES). Where days must pass the test moves rows back in D1 instead of waiting,
// and says so; KV hints are cleared where the test needs D1 to decide (a hint expires
// after DEDUPE_HINT_TTL_SECONDS in production).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { TEST_SECRETS, waitFor } from "../helpers/worker.mjs";
import { useWorld } from "../helpers/world.mjs";
import { alertWorld, cronAt } from "../helpers/alerts.mjs";
import { checkoutCompleted } from "../helpers/stripe.mjs";
import { sendgridDelivery, sendgridEvent, shopifyOrder } from "../helpers/providers.mjs";
import { deliver, settled } from "../helpers/flows.mjs";

const DAY = 86_400_000;
const AUTH = { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}` };
const VARS = { RETENTION_DAYS: "1", RETRY_BASE_SECONDS: "0" };

const count = async (w, sql, ...args) => (await w.worker.all(sql, ...args))[0].n;

/** Every KV dedupe hint forgotten, as if their TTL had passed. */
async function forgetHints(w) {
  const kv = await w.worker.mf.getKVNamespace("IDEMPOTENCY");
  for (const { name } of (await kv.list()).keys) await kv.delete(name);
}

/** `n` rejected rows received `ageMs` ago, made in one statement. */
async function oldRows(w, n, prefix, ageMs = 3 * DAY) {
  await w.worker.all(
    `INSERT INTO events (id, provider, dedupe_key, type, received_at, status, payload, payload_bytes)
     WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < ? - 1)
     SELECT ? || i, 'stripe', ? || i, 'unparsable', ?, 'rejected', '{}', 2 FROM seq`,
    n, prefix, prefix, Date.now() - ageMs,
  );
}

describe("retention at volume", () => {
  const w = useWorld({ vars: VARS });

  test("one sweep deletes a SendGrid delivery of 1,200 events: every event counts, not the delivery", async () => {
    const events = Array.from({ length: 1200 }, () => sendgridEvent({ event: "processed" }));
    const { payload, headers } = sendgridDelivery(events);
    const res = await w.worker.post("/webhooks/sendgrid", payload, headers);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.events, 1200);
    // Two days pass (simulated: received_at moved back).
    await w.worker.all("UPDATE events SET received_at = ? WHERE provider = 'sendgrid'", Date.now() - 2 * DAY);
    await w.sweep();
    assert.equal(await count(w, "SELECT COUNT(*) AS n FROM events WHERE provider = 'sendgrid'"), 0);
  });

  test("a tick stops at its budget (4,000 events) and the next one goes on", async () => {
    await oldRows(w, 4500, "bulk_");
    const left = () => count(w, "SELECT COUNT(*) AS n FROM events WHERE id LIKE 'bulk\\_%' ESCAPE '\\'");
    assert.equal(await left(), 4500);
    await w.sweep();
    assert.equal(await left(), 500);
    await w.sweep();
    assert.equal(await left(), 0);
  });
});

describe("each cleanup on its own", () => {
  const w = useWorld({ vars: VARS });
  const now = Date.now();

  /** One of each thing a sweep cleans up, all due. */
  async function seed(tag) {
    await oldRows(w, 1, `old_${tag}_`);
    await w.worker.all(
      "INSERT INTO dedupe_tombstones (provider, dedupe_key, received_at, expires_at) VALUES ('stripe', ?, 0, ?)",
      `tomb_${tag}`, now - 1000,
    );
    await w.worker.all(
      "INSERT INTO rejections (provider, reason, hour, count) VALUES ('stripe', ?, 3600, 1)",
      `reason_${tag}`,
    );
    await w.worker.all(
      "INSERT INTO privacy_requests (event_id, topic, events_affected, export, done_at, export_expires_at) VALUES (?, 'customers/data_request', 0, '{}', 0, ?)",
      `export_${tag}`, now - 1000,
    );
  }

  /** What is left of `seed(tag)`'s rows, by cleanup. */
  async function leftOf(tag) {
    return {
      events: await count(w, "SELECT COUNT(*) AS n FROM events WHERE id = ?", `old_${tag}_0`),
      tombstones: await count(w, "SELECT COUNT(*) AS n FROM dedupe_tombstones WHERE dedupe_key = ?", `tomb_${tag}`),
      rejections: await count(w, "SELECT COUNT(*) AS n FROM rejections WHERE reason = ?", `reason_${tag}`),
      exports: await count(w, "SELECT COUNT(*) AS n FROM privacy_requests WHERE event_id = ? AND export IS NOT NULL", `export_${tag}`),
    };
  }

  // A trigger that makes one cleanup's statement fail (RAISE aborts it).
  const failures = {
    events: "BEFORE DELETE ON events",
    tombstones: "BEFORE DELETE ON dedupe_tombstones",
    rejections: "BEFORE DELETE ON rejections",
    exports: "BEFORE UPDATE OF export ON privacy_requests",
  };

  for (const [broken, when] of Object.entries(failures)) {
    test(`a failing ${broken} cleanup leaves the others done`, async () => {
      await seed(broken);
      await w.worker.all(`CREATE TRIGGER fail_cleanup ${when} BEGIN SELECT RAISE(ABORT, 'injected failure'); END`);
      try {
        await w.sweep();
      } finally {
        await w.worker.all("DROP TRIGGER fail_cleanup");
      }
      const expected = { events: 0, tombstones: 0, rejections: 0, exports: 0, [broken]: 1 };
      assert.deepEqual(await leftOf(broken), expected);
    });
  }

  // Regression (issue 23): a failing purge returned before exports expired. The purge only has
  // work when deletion is behind, so a backlog beyond one tick's budget is made first.
  test("a failing purge leaves tombstones, rejection counts and exports done", async () => {
    await oldRows(w, 4100, "backlog_");
    await seed("purge");
    await w.worker.all("CREATE TRIGGER fail_cleanup BEFORE UPDATE OF payload ON events BEGIN SELECT RAISE(ABORT, 'injected failure'); END");
    try {
      await w.sweep();
    } finally {
      await w.worker.all("DROP TRIGGER fail_cleanup");
    }
    const { tombstones, rejections, exports } = await leftOf("purge");
    assert.deepEqual({ tombstones, rejections, exports }, { tombstones: 0, rejections: 0, exports: 0 });
    const backlog = await w.worker.all("SELECT COUNT(*) AS n, COUNT(payload) AS payloads FROM events WHERE id LIKE 'backlog\\_%' ESCAPE '\\'");
    assert.ok(backlog[0].n > 0 && backlog[0].payloads === backlog[0].n, "the purge failed: payloads still there");
    await w.sweep();
    assert.equal(await count(w, "SELECT COUNT(*) AS n FROM events WHERE id LIKE 'backlog\\_%' ESCAPE '\\'"), 0);
  });
});

describe("dedupe after retention (tombstones)", () => {
  const w = useWorld({ vars: VARS });
  const ageBy = (ms, provider, key) =>
    w.worker.all("UPDATE events SET received_at = received_at - ? WHERE provider = ? AND dedupe_key = ?", ms, provider, key);
  const stored = (provider, key) => count(w, "SELECT COUNT(*) AS n FROM events WHERE provider = ? AND dedupe_key = ?", provider, key);

  test("a Stripe event deleted by retention and re-signed by a retry is a duplicate, not new", async () => {
    const event = checkoutCompleted({ customer: "cus_tombstone" });
    const first = await deliver(w.worker, "stripe", event);
    assert.equal(first.res.json.status, "accepted");
    await settled(w.worker, "stripe", first.key, { count: 2 });
    const calls = w.fake.calls.length;
    await ageBy(2 * DAY, "stripe", first.key); // two days pass (simulated)
    await w.sweep();
    assert.equal(await stored("stripe", first.key), 0, "retention deleted it");
    await forgetHints(w);

    const again = await deliver(w.worker, "stripe", event); // signed afresh, as Stripe's retry is
    assert.deepEqual(again.res.json, { status: "duplicate" });
    await w.quiet();
    assert.equal(w.fake.calls.length, calls, "no step ran again");
    assert.equal(await stored("stripe", first.key), 0);
    const [tombstone] = await w.worker.all("SELECT * FROM dedupe_tombstones WHERE provider = 'stripe' AND dedupe_key = ?", first.key);
    assert.equal(tombstone.expires_at - tombstone.received_at, 30 * DAY);
    assert.equal(tombstone.content_key, null);

    // Once the tombstone expires (simulated) the sweeper deletes it, and the id is new again.
    await w.worker.all("UPDATE dedupe_tombstones SET expires_at = ? WHERE dedupe_key = ?", Date.now() - 1, first.key);
    await w.sweep();
    assert.equal(await count(w, "SELECT COUNT(*) AS n FROM dedupe_tombstones WHERE dedupe_key = ?", first.key), 0);
    await forgetHints(w);
    const late = await deliver(w.worker, "stripe", event);
    assert.equal(late.res.json.status, "accepted");
    await settled(w.worker, "stripe", first.key, { count: 2 });
  });

  test("a captured Shopify body re-posted with fresh unsigned ids after retention is a duplicate", async () => {
    const order = shopifyOrder();
    const shop = "tombstone-test.myshopify.com";
    const first = await deliver(w.worker, "shopify", order, { topic: "orders/create", shop, webhookId: `wh_first_${order.id}` });
    await settled(w.worker, "shopify", first.key, { count: 3 });
    const calls = w.fake.calls.length;
    await ageBy(2 * DAY, "shopify", first.key);
    await w.sweep();
    assert.equal(await stored("shopify", first.key), 0);
    await forgetHints(w);

    const replay = await deliver(w.worker, "shopify", order, { topic: "orders/create", shop, webhookId: `wh_fresh_${order.id}` });
    assert.deepEqual(replay.res.json, { status: "duplicate" });
    await w.quiet();
    assert.equal(w.fake.calls.length, calls, "no second deal, contact upsert or Slack notice");
    assert.equal(await stored("shopify", replay.key), 0);
    const [tombstone] = await w.worker.all("SELECT * FROM dedupe_tombstones WHERE provider = 'shopify' AND dedupe_key = ?", first.key);
    assert.match(tombstone.content_key, /^[0-9a-f]{64}$/);
    assert.equal(tombstone.expires_at - tombstone.received_at, 90 * DAY);
  });

  test("a SendGrid batch retried after retention: the deleted events are duplicates, a new one is stored", async () => {
    const [a, b] = [1, 2].map(() => sendgridEvent({ event: "processed" }));
    const c = sendgridEvent({ event: "bounce" }); // plans a suppression record and a HubSpot upsert
    const first = sendgridDelivery([a, b]);
    assert.equal((await w.worker.post("/webhooks/sendgrid", first.payload, first.headers)).json.events, 2);
    // 36 hours pass: past RETENTION_DAYS, inside SendGrid's 2-day window.
    for (const e of [a, b]) await ageBy(36 * 3_600_000, "sendgrid", e.sg_event_id);
    await w.sweep();
    assert.equal(await stored("sendgrid", a.sg_event_id) + await stored("sendgrid", b.sg_event_id), 0);
    await forgetHints(w);

    const retry = sendgridDelivery([a, b]);
    assert.deepEqual((await w.worker.post("/webhooks/sendgrid", retry.payload, retry.headers)).json, { status: "duplicate" });
    // Every event of it was stored before (as tombstones): its batch hint is written for the next retry.
    const kv = await w.worker.mf.getKVNamespace("IDEMPOTENCY");
    await waitFor(async () => (await kv.list({ prefix: "seen-delivery:" })).keys.length === 1, { what: "the retried batch's hint" });
    const mixed = sendgridDelivery([a, b, c]);
    const res = await w.worker.post("/webhooks/sendgrid", mixed.payload, mixed.headers);
    assert.deepEqual(res.json, { status: "accepted", events: 1, duplicates: 2 });
    assert.equal(await stored("sendgrid", c.sg_event_id), 1);
    const stepsOf = (key) => count(w, "SELECT COUNT(*) AS n FROM steps s JOIN events e ON e.id = s.event_id WHERE e.provider = 'sendgrid' AND e.dedupe_key = ?", key);
    assert.equal(await stepsOf(c.sg_event_id), 2, "the new event's steps are planned by the delivery that stored it");
    assert.equal(await stored("sendgrid", a.sg_event_id), 0);
    assert.equal(await count(w, "SELECT COUNT(*) AS n FROM dedupe_tombstones WHERE provider = 'sendgrid' AND dedupe_key IN (?, ?)", a.sg_event_id, b.sg_event_id), 2);
  });
});

describe("storage report and alert", () => {
  const SLACK = "/services/T000/B000/storage";

  describe("under the limit", () => {
    const w = alertWorld(SLACK);

    test("GET /admin/api/storage reports D1's size, the limit and bytes per event", async () => {
      await deliver(w.worker, "sendgrid", sendgridEvent({ event: "processed" }));
      const res = await w.worker.get("/admin/api/storage", AUTH);
      assert.equal(res.status, 200, res.text);
      const report = res.json;
      const events = await count(w, "SELECT COUNT(*) AS n FROM events");
      assert.ok(report.bytes_used > 0, JSON.stringify(report));
      assert.equal(report.limit_bytes, 10_000_000_000);
      assert.equal(report.events, events);
      assert.equal(report.bytes_per_event, Math.floor(report.bytes_used / events));
      assert.equal(report.percent, Math.floor((report.bytes_used * 100) / report.limit_bytes));
      assert.equal(report.alert_at_percent, 80);
      assert.equal(report.tombstones, 0);
      assert.equal((await w.worker.post("/admin/api/storage", "{}", AUTH)).status, 405);
      assert.equal((await w.worker.get("/admin/api/storage")).status, 401);
      await cronAt(w);
      assert.equal((await w.worker.all("SELECT * FROM alerts WHERE kind = 'storage_high'")).length, 0);
    });

    test("/health is ok and the admin health shows the storage figures under 80%", async () => {
      assert.deepEqual((await w.worker.get("/health")).json, { status: "ok" });
      const health = (await w.worker.get("/admin/api/health", AUTH)).json;
      assert.equal(health.status, "ok");
      assert.equal(health.storage.state, "ok");
      assert.ok(health.storage.bytes_used > 0, JSON.stringify(health.storage));
      assert.equal(health.storage.limit_bytes, 10_000_000_000);
      assert.equal(health.storage.alert_at_percent, 80);
    });
  });

  describe("past 80% of STORAGE_LIMIT_BYTES", () => {
    // A fresh database with every migration is a few hundred KB: a 100 KB limit is passed.
    const w = alertWorld(SLACK, { STORAGE_LIMIT_BYTES: "100000" });

    test("the storage_high alert fires once and notifies with the size and limit", async () => {
      const report = (await w.worker.get("/admin/api/storage", AUTH)).json;
      assert.ok(report.percent >= 80, JSON.stringify(report));
      await cronAt(w);
      const [alert] = await w.worker.all("SELECT * FROM alerts WHERE kind = 'storage_high'");
      assert.equal(alert.key, "d1");
      assert.equal(alert.cleared_at, null);
      assert.match(alert.detail, /uses \d+% of its storage limit \(\d+\.\d\d of 0\.00 GB\)/);
      const facts = JSON.parse(alert.facts);
      assert.equal(facts.bytes_limit, 100000);
      assert.ok(facts.bytes_used >= 80000);
      const notices = await waitFor(() => {
        const texts = w.fake.callsTo(SLACK).map((c) => JSON.parse(c.body).text);
        return texts.length > 0 && texts;
      }, { what: "the storage notice" });
      assert.match(notices[0], /FIRING storage_high d1/);
      await cronAt(w, Date.now() + 60_000);
      assert.equal((await w.worker.all("SELECT * FROM alerts WHERE kind = 'storage_high'")).length, 1, "deduped");
    });

    test("/health says degraded (200, no figures) and the admin health gives the figures", async () => {
      const res = await w.worker.get("/health");
      assert.equal(res.status, 200);
      assert.deepEqual(res.json, { status: "degraded" });
      const health = (await w.worker.get("/admin/api/health", AUTH)).json;
      assert.equal(health.status, "degraded");
      assert.deepEqual(health.misconfigured, []);
      const { storage } = health;
      assert.equal(storage.state, "high");
      assert.equal(storage.limit_bytes, 100000);
      assert.ok(storage.bytes_used >= 80000, JSON.stringify(storage));
      assert.equal(storage.percent, Math.floor((storage.bytes_used * 100) / 100000));
      assert.equal(storage.alert_at_percent, 80);
    });
  });

  describe("with the storage check off (STORAGE_LIMIT_BYTES=0)", () => {
    const w = alertWorld(SLACK, { STORAGE_LIMIT_BYTES: "0" });

    test("/health is ok and the admin health says the check is disabled", async () => {
      assert.deepEqual((await w.worker.get("/health")).json, { status: "ok" });
      const { storage } = (await w.worker.get("/admin/api/health", AUTH)).json;
      assert.deepEqual(storage, { state: "disabled", bytes_used: null, limit_bytes: 0, percent: null, alert_at_percent: 80 });
    });
  });
});
