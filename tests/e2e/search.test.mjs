// Event search end to end through workerd: varied Stripe and Shopify events (and a SendGrid batch)
// are ingested through the real worker; many seeded random combinations of JSON Pointer
// equality, payload substring and the list's filters are searched with a scan bound of a few
// rows, following every page through the cursor, and compared with a SQL oracle on the same D1
// (json_tree's walk for pointers, the filters in plain SQL, the substring in JS). Each
// delivery's request headers are stored with the event, signatures and credentials masked (no
// signature value anywhere in the row), shown by GET events/{id}; bad searches are 400.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { TEST_SECRETS } from "../helpers/worker.mjs";
import { useWorld } from "../helpers/world.mjs";
import { signedDelivery } from "../helpers/stripe.mjs";
import { sendgridDelivery, sendgridEvent, shopifyDelivery, shopifyOrder } from "../helpers/providers.mjs";

const [STRIPE_SECRET] = TEST_SECRETS.STRIPE_WEBHOOK_SECRETS.split(",");
const [SHOPIFY_SECRET] = TEST_SECRETS.SHOPIFY_WEBHOOK_SECRETS.split(",");
const AUTH = { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}` };
const SCAN = 7;
const CUSTOMERS = ["cus_A", "cus_B", "CUS_A", null];

/** A small seeded PRNG (mulberry32), so a failure names a reproducible combination. */
function rng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function stripeEvent(i) {
  return {
    id: `evt_search_${i}_${process.pid}`,
    object: "event",
    created: Math.floor(Date.now() / 1000),
    livemode: i % 3 === 0,
    type: i % 2 ? "search.alpha" : "search.beta",
    data: {
      object: {
        id: `obj_${i}`,
        customer: CUSTOMERS[i % 4],
        amount: i % 4 === 1 ? (i % 5) + 0.5 : i % 5,
        paid: i % 3 === 1,
        metadata: { 0: `m${i % 3}`, "a/b": `s${i % 2}`, "t~x": i % 2 === 0 },
        items: [{ price: `p_${i % 3}` }, { price: "p_x" }],
        note: i % 4 === 0 ? "100% _literal_ Case" : "plain note",
      },
    },
  };
}

/** Pointer/value candidates drawn from the data, misses and mistyped values included. */
const POINTERS = [
  ["/data/object/customer", ['"cus_A"', "cus_B", "CUS_A", "null", "cus_Z"]],
  ["/data/object/amount", ["0", "2", "1.5", '"2"', "3.5"]],
  ["/data/object/paid", ["true", "false", '"true"']],
  ["/livemode", ["true", "false"]],
  ["/data/object/metadata/0", ["m0", "m1", "m2"]],
  ["/data/object/metadata/a~1b", ["s0", "s1"]],
  ["/data/object/metadata/t~0x", ["true", "false"]],
  ["/data/object/items/0/price", ["p_0", "p_1", "p_x"]],
  ["/data/object/items/1/price", ["p_x"]],
  ["/customer/email", ["x@example.com"]],
  ["/line_items/0/title", ["Edge T-shirt", "Other"]],
  ["/total_price", ['"59.00"', "59.00", '"12.50"']],
  ["/missing", ["null"]],
];
const NEEDLES = ["cus_A", "CUS_A", "100%", "_literal_", "Case", "case", "p_x", "Edge T", "%", "_", '"paid":true'];

describe("event search", () => {
  const w = useWorld({ vars: { SEARCH_SCAN_ROWS: String(SCAN) } });

  const admin = async (path) => w.worker.get(`/admin/api/${path}`, AUTH);

  /** Every event a search finds, following the cursor; and how many pages stopped on the bound. */
  async function searchAll(params, limit) {
    const found = [];
    let cursor = null;
    let stopped = 0;
    for (let page = 0; page < 200; page++) {
      const query = new URLSearchParams(params);
      query.set("limit", String(limit));
      if (cursor) query.set("cursor", cursor);
      const res = await admin(`events?${query}`);
      assert.equal(res.status, 200, res.text);
      assert.ok(res.json.events.length <= limit);
      found.push(...res.json.events.map((e) => e.id));
      if (res.json.scan_stopped) stopped += 1;
      cursor = res.json.next_cursor;
      if (!cursor) return { found, stopped };
    }
    throw new Error("the search never ended");
  }

  /** `$.a."b"`-style full keys json_tree may give a pointer (keys quoted or not; digits either way). */
  function fullKeys(pointer) {
    let keys = ["$"];
    for (const raw of pointer.slice(1).split("/")) {
      const token = raw.replaceAll("~1", "/").replaceAll("~0", "~");
      const forms = [`."${token}"`, `.${token}`];
      if (/^(0|[1-9][0-9]*)$/.test(token)) forms.push(`[${token}]`);
      keys = keys.flatMap((k) => forms.map((f) => k + f));
    }
    return keys;
  }

  /** The oracle: plain SQL for the filters and json_tree for the pointers; the needle in JS. */
  async function oracle({ provider, type, from, pointers, contains }) {
    const where = ["1 = 1"];
    const args = [];
    if (provider) where.push("provider = ?") && args.push(provider);
    if (type) where.push("type = ?") && args.push(type);
    if (from !== undefined) where.push("received_at >= ?") && args.push(from);
    for (const [pointer, equals] of pointers) {
      let value;
      try { value = JSON.parse(equals); } catch { value = equals; }
      const kind = value === null ? "'null'" : value === true ? "'true'" : value === false ? "'false'"
        : typeof value === "number" ? "'integer', 'real'" : "'text'";
      const atom = typeof value === "string" || typeof value === "number" ? " AND t.atom = ?" : "";
      where.push(`json_valid(payload) AND EXISTS (SELECT 1 FROM json_tree(payload) t WHERE t.fullkey IN (SELECT value FROM json_each(?)) AND t.type IN (${kind})${atom})`);
      args.push(JSON.stringify(fullKeys(pointer)));
      if (atom) args.push(value);
    }
    const rows = await w.worker.all(
      `SELECT id, payload FROM events WHERE ${where.join(" AND ")} ORDER BY received_at DESC, id DESC`, ...args);
    return rows.filter((r) => contains === undefined || (r.payload ?? "").includes(contains)).map((r) => r.id);
  }

  test("random searches, paged through a small scan bound, find exactly what the SQL oracle finds", async () => {
    for (let i = 0; i < 24; i++) {
      const { payload, headers } = signedDelivery(stripeEvent(i), STRIPE_SECRET);
      const res = await w.worker.post("/webhooks/stripe", payload, headers);
      assert.equal(res.status, 200, res.text);
    }
    for (let i = 0; i < 8; i++) {
      const order = shopifyOrder({ total_price: i % 2 ? "59.00" : "12.50", note: i % 3 ? null : "Case 100%" });
      const { payload, headers } = shopifyDelivery(order, SHOPIFY_SECRET);
      const res = await w.worker.post("/webhooks/shopify", payload, headers);
      assert.equal(res.status, 200, res.text);
    }
    const batch = sendgridDelivery([sendgridEvent(), sendgridEvent({ event: "open" })]);
    assert.equal((await w.worker.post("/webhooks/sendgrid", batch.payload, batch.headers)).status, 200);
    // A purged payload never matches.
    await w.worker.all("UPDATE events SET payload = NULL, redacted_at = 1 WHERE id = (SELECT id FROM events WHERE provider = 'stripe' ORDER BY id LIMIT 1)");
    const [{ n, mid }] = await w.worker.all("SELECT COUNT(*) AS n, MIN(received_at) + (MAX(received_at) - MIN(received_at)) / 2 AS mid FROM events");
    assert.ok(n >= 34);

    const random = rng(27);
    const pick = (list) => list[Math.floor(random() * list.length)];
    let checked = 0;
    let nonEmpty = 0;
    let stoppedPages = 0;
    for (let round = 0; round < 40; round++) {
      const combo = { pointers: [] };
      const conditions = 1 + Math.floor(random() * 2);
      for (let c = 0; c < conditions; c++) {
        if (random() < 0.7) {
          const [pointer, values] = pick(POINTERS);
          combo.pointers.push([pointer, pick(values)]);
        }
      }
      if (random() < 0.4 || combo.pointers.length === 0) combo.contains = pick(NEEDLES);
      if (random() < 0.4) combo.provider = pick(["stripe", "shopify"]);
      if (random() < 0.3) combo.type = pick(["search.alpha", "search.beta"]);
      if (random() < 0.2) combo.from = mid;
      const params = [];
      for (const [pointer, equals] of combo.pointers) params.push(["pointer", pointer], ["equals", equals]);
      if (combo.contains !== undefined) params.push(["contains", combo.contains]);
      if (combo.provider) params.push(["provider", combo.provider]);
      if (combo.type) params.push(["type", combo.type]);
      if (combo.from !== undefined) params.push(["from", String(combo.from)]);
      const limit = 1 + Math.floor(random() * 4);
      const { found, stopped } = await searchAll(params, limit);
      const expected = await oracle(combo);
      assert.deepEqual(found, expected, `round ${round}: ${JSON.stringify(combo)} (limit ${limit})`);
      checked += 1;
      nonEmpty += expected.length > 0 ? 1 : 0;
      stoppedPages += stopped;
    }
    assert.equal(checked, 40);
    assert.ok(nonEmpty >= 10, `most combinations find something (${nonEmpty})`);
    assert.ok(stoppedPages > 40, `pages stopped on the scan bound of ${SCAN} (${stoppedPages})`);
  });

  test("bad searches are 400 with a stable code", async () => {
    const cases = [
      ["pointer=data&equals=1", "invalid_pointer"],
      ["pointer=/a~2&equals=1", "invalid_pointer"],
      ["pointer=/a%00b&equals=1", "invalid_pointer"], // SQLite would fail the statement on the NUL
      ["pointer=/a", "invalid_search"],
      ["equals=1", "invalid_search"],
      ["contains=", "invalid_search"],
      ["pointer=/a&equals=%7B%7D", "invalid_search"],
    ];
    for (const [query, code] of cases) {
      const res = await admin(`events?${query}`);
      assert.equal(res.status, 400, `${query}: ${res.text}`);
      assert.equal(res.json.error, code, query);
    }
  });

  test("the delivery's headers are stored masked and shown with the event", async () => {
    const stripe = signedDelivery(stripeEvent(900), STRIPE_SECRET);
    const stripeHeaders = { ...stripe.headers, authorization: "Bearer not-for-storage-123", "x-trace": "t-1" };
    assert.equal((await w.worker.post("/webhooks/stripe", stripe.payload, stripeHeaders)).status, 200);
    const shopify = shopifyDelivery(shopifyOrder(), SHOPIFY_SECRET);
    const shopifyHeaders = { ...shopify.headers, cookie: "session=not-for-storage-456" };
    assert.equal((await w.worker.post("/webhooks/shopify", shopify.payload, shopifyHeaders)).status, 200);

    const secrets = [
      stripe.headers["stripe-signature"],
      ...stripe.headers["stripe-signature"].split(/[=,]/).filter((part) => part.length > 20),
      shopify.headers["x-shopify-hmac-sha256"],
      "not-for-storage-123",
      "not-for-storage-456",
    ];
    for (const [provider, payload, signatureHeader] of [
      ["stripe", stripe.payload, "stripe-signature"],
      ["shopify", shopify.payload, "x-shopify-hmac-sha256"],
    ]) {
      const [row] = await w.worker.all("SELECT * FROM events WHERE provider = ? AND payload = ?", provider, payload);
      assert.ok(row, provider);
      const whole = JSON.stringify(row);
      for (const secret of secrets) assert.ok(!whole.includes(secret), `${provider}'s row holds ${secret}`);
      const stored = JSON.parse(row.headers);
      assert.equal(stored[signatureHeader], "[masked]");
      assert.equal(stored["content-type"], "application/json");
      const res = await admin(`events/${encodeURIComponent(row.id)}`);
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.json.event.headers, stored);
    }
    const [stripeRow] = await w.worker.all("SELECT headers FROM events WHERE payload = ?", stripe.payload);
    const stripeStored = JSON.parse(stripeRow.headers);
    assert.equal(stripeStored.authorization, "[masked]");
    assert.equal(stripeStored["x-trace"], "t-1");
    const [shopifyRow] = await w.worker.all("SELECT headers FROM events WHERE payload = ?", shopify.payload);
    const shopifyStored = JSON.parse(shopifyRow.headers);
    assert.equal(shopifyStored.cookie, "[masked]");
    assert.equal(shopifyStored["x-shopify-topic"], "orders/create");
  });
});
