// The Shopify reconciliation end to end through workerd, against the fake's Admin API orders
// listing (Link/page_info pagination, 429 with Retry-After): a dry run counts what is missing;
// a run stores each listed order version not already stored as `orders/updated` with origin
// `backfill` and runs its steps; a version a webhook already stored (exactly, or older than a
// stored one) is a duplicate; running twice, or the webhook of a reconciled version arriving
// afterwards, gives one effect; a newer webhook still counts, and so does a second webhook of
// the same version (another change within the same second). Bounded runs answer a cursor and
// resume; a 429 stops the run with its Retry-After; the cron initializes and runs when due; an
// order updated behind a run's cursor is listed by the next run; a page too large to read
// stops the run as `page_too_large` and is asked for again half as large; each
// source reconciles its own shop; without a token it is disabled and the admin health says so.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { TEST_SECRETS, waitForNoStepInFlight } from "../helpers/worker.mjs";
import { useWorld } from "../helpers/world.mjs";
import { shopifyAdminOrder, shopifyTime } from "../helpers/fake-shopify-admin.mjs";

const SHOP = "edge-test.myshopify.com";
const TOKEN = "shpat_test_admin_token";
const ORDERS = `/shops/${SHOP}/admin/api/2025-01/orders.json`;
const SLACK = "/services/T000/B000/test";
const AUTH = { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}`, "content-type": "application/json" };
const ROUTES = JSON.stringify({ shopify: { "orders/updated": ["slack.notify"] } });
const nowS = () => Math.floor(Date.now() / 1000);
let sequence = 0;

function shopifyWorld(vars = {}, options = {}) {
  return useWorld(
    { vars: { SHOPIFY_ADMIN_TOKEN: TOKEN, SHOPIFY_SHOP_DOMAIN: SHOP, ROUTES_JSON: ROUTES, RETRY_BASE_SECONDS: "0", ...vars } },
    { ...options, ready: (w) => w.fake.shopifyAdmin.token(SHOP, TOKEN) },
  );
}

/** A fresh order of SHOP on the fake, updated `ago` seconds ago. */
function order(w, ago, shop = SHOP) {
  const id = 7_000_000_000_000 + Date.now() % 1_000_000 * 100 + ++sequence;
  return w.fake.shopifyAdmin.upsert(shop, shopifyAdminOrder({ id, updated_at: shopifyTime(Date.now() - ago * 1000) }));
}

async function run(w, body) {
  const res = await w.worker.post("/admin/api/backfill/shopify", JSON.stringify(body), AUTH);
  return res;
}

async function webhook(w, topic, body) {
  const { res } = await w.deliver("shopify", body, { topic, shop: SHOP, webhookId: `wh-${Date.now()}-${++sequence}` });
  return res.json;
}

const backfilledRows = (w) =>
  w.worker.all("SELECT dedupe_key, type, account, origin, version_key, payload FROM events WHERE provider = 'shopify' AND origin = 'backfill' ORDER BY dedupe_key");
const versionKey = (o, topic = "orders/updated") =>
  `order:${SHOP}:${o.id}:${String(Date.parse(o.updated_at)).padStart(15, "0")}:${topic}`;

describe("admin reconciliation runs", () => {
  const w = shopifyWorld({ BACKFILL_MAX_PAGES: "2" });
  test("stores each missing order version once; webhooks and reruns give one effect", async () => {
    const orders = [5, 4, 3, 2, 1].map((i) => order(w, 60 + i));
    const [o1, o2, o3] = orders;
    // Before the run: O1's exact version came by webhook; O2 has a newer version stored.
    assert.deepEqual(await webhook(w, "orders/updated", o1), { status: "accepted", events: 1, duplicates: 0 });
    await webhook(w, "orders/paid", { ...o2, updated_at: shopifyTime(Date.parse(o2.updated_at) + 10_000) });
    await waitForNoStepInFlight(w.worker);
    const slackBefore = w.fake.callsTo(SLACK).length;
    assert.equal(slackBefore, 1, "the O1 webhook's step");

    const since = nowS() - 600;
    const dry = await run(w, { since, dry_run: true });
    assert.equal(dry.status, 200, dry.text);
    w.fake.shopifyAdmin.pageSize = 5;
    assert.deepEqual((await run(w, { since, dry_run: true })).json, { listed: 5, missing: 3 });
    assert.equal((await backfilledRows(w)).length, 0, "a dry run stores nothing");

    w.fake.shopifyAdmin.pageSize = 2; // 3 pages; BACKFILL_MAX_PAGES 2 stops after two
    const first = await run(w, { since });
    assert.equal(first.status, 200, first.text);
    assert.equal(first.json.complete, false);
    assert.equal(first.json.listed, 4);
    const calls = w.fake.callsTo(ORDERS);
    const query = new URLSearchParams(calls.at(-2).query);
    assert.equal(query.get("status"), "any");
    assert.equal(query.get("limit"), "250");
    assert.equal(Date.parse(query.get("updated_at_min")), since * 1000);
    assert.equal(calls.at(-2).headers["x-shopify-access-token"], TOKEN);
    assert.ok(new URLSearchParams(calls.at(-1).query).get("page_info"), "the second page follows Link");
    const rest = await run(w, { since, cursor: first.json.next_cursor });
    assert.equal(rest.json.listed, 1);
    assert.equal(rest.json.complete, undefined, "the cursor's run completes: the contract's fields only");
    assert.equal(first.json.ingested + rest.json.ingested, 3);
    assert.equal(first.json.duplicates + rest.json.duplicates, 2, "O1 (same version) and O2 (older than stored)");

    const rows = await backfilledRows(w);
    assert.deepEqual(rows.map((r) => r.dedupe_key), orders.slice(2).map((o) => versionKey(o)).sort());
    for (const row of rows) {
      assert.deepEqual([row.type, row.account, row.origin, row.version_key], ["orders/updated", SHOP, "backfill", row.dedupe_key]);
      assert.equal(typeof JSON.parse(row.payload).line_items, "object", "the REST Order object as listed");
    }
    await waitForNoStepInFlight(w.worker);
    assert.equal(w.fake.callsTo(SLACK).length, slackBefore + 3, "each recovered version's step ran");

    w.fake.shopifyAdmin.pageSize = Infinity;
    assert.deepEqual((await run(w, { since })).json, { listed: 5, ingested: 0, duplicates: 5 }, "a second run adds nothing");
    assert.deepEqual(await webhook(w, "orders/updated", o3), { status: "duplicate" },
      "the webhook of a reconciled version is a duplicate");
    const newerVersion = { ...o3, updated_at: shopifyTime(Date.parse(o3.updated_at) + 5_000) };
    const newer = await webhook(w, "orders/updated", newerVersion);
    assert.deepEqual(newer, { status: "accepted", events: 1, duplicates: 0 }, "a newer version is new");
    // Another change within the same second of `updated_at`: another Shopify event (its own
    // webhook id), so it is stored too; only the other origin's row of a version collides.
    const sameSecond = await webhook(w, "orders/updated", { ...newerVersion, note: "changed again in the same second" });
    assert.deepEqual(sameSecond, { status: "accepted", events: 1, duplicates: 0 }, "a second webhook of one version is kept");
    await waitForNoStepInFlight(w.worker);
    assert.equal(w.fake.callsTo(SLACK).length, slackBefore + 5, "one effect per Shopify event");

    const runs = await w.worker.all("SELECT provider, origin, dry_run, listed, ingested, duplicates FROM backfill_runs ORDER BY id");
    assert.ok(runs.every((r) => r.provider === "shopify" && r.origin === "admin"), JSON.stringify(runs));
  });

  test("429 with Retry-After stops the run and says so; bad requests name the field", async () => {
    order(w, 30);
    w.fake.script(ORDERS, [{ status: 429, headers: { "Retry-After": "7" }, body: { errors: "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service." } }]);
    const res = await run(w, { since: nowS() - 600 });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual([res.json.listed, res.json.complete, res.json.error, res.json.retry_after], [0, false, "shopify_http_429", 7]);
    const [health] = await w.worker.all("SELECT consecutive_failures FROM destination_health WHERE destination = ?", `shopify-admin:${SHOP}`);
    // A 429 asks for a slower pace, not a sign the shop is down: it waits, it does not open the circuit.
    assert.equal(health.consecutive_failures, 0, "the 429 does not count toward opening the shop's circuit");
    const again = await run(w, { since: nowS() - 600, cursor: res.json.next_cursor });
    assert.equal(again.json.error, undefined, again.text);

    for (const [body, code] of [[{}, "invalid_since"], [{ since: nowS() - 60, dry_run: "yes" }, "invalid_dry_run"], [{ since: nowS() - 60, source: "nope" }, "invalid_source"]]) {
      const bad = await run(w, body);
      assert.deepEqual([bad.status, bad.json.error], [400, code], bad.text);
    }
  });
});

describe("the scheduled reconciliation", () => {
  const w = shopifyWorld();
  test("the first tick sets the checkpoint, a due tick lists from it minus the overlap", async () => {
    await w.sweep();
    const [initial] = await w.worker.all("SELECT * FROM backfill_state WHERE provider = 'shopify'");
    assert.ok(Math.abs(initial.checkpoint - nowS()) <= 5, "checkpoint starts at now");
    assert.equal(w.fake.callsTo(ORDERS).length, 0, "and lists nothing");
    const missed = order(w, 120);
    const checkpoint = nowS() - 3600;
    await w.worker.all("UPDATE backfill_state SET last_started_at = ?, checkpoint = ? WHERE provider = 'shopify'", Date.now() - 16 * 60_000, checkpoint);
    await w.sweep();
    const [call] = w.fake.callsTo(ORDERS);
    assert.equal(Date.parse(new URLSearchParams(call.query).get("updated_at_min")) / 1000, checkpoint - 300, "checkpoint minus 300 s");
    const rows = await backfilledRows(w);
    assert.deepEqual(rows.map((r) => r.dedupe_key), [versionKey(missed)]);
    const [state] = await w.worker.all("SELECT checkpoint, run_cursor FROM backfill_state WHERE provider = 'shopify'");
    assert.deepEqual([state.checkpoint, state.run_cursor], [Math.floor(Date.parse(missed.updated_at) / 1000), null]);
  });

  test("429 with Retry-After stops the scheduled run; the next one resumes at the failed page", async () => {
    const orders = [3, 2, 1].map((i) => order(w, 30 + i));
    w.fake.shopifyAdmin.pageSize = 1;
    await w.worker.all("UPDATE backfill_state SET last_started_at = ? WHERE provider = 'shopify'", Date.now() - 16 * 60_000);
    const before = Date.now();
    const callsBefore = w.fake.callsTo(ORDERS).length;
    w.fake.script(ORDERS, [{ commit: true }, { status: 429, headers: { "Retry-After": "120" }, body: { errors: "Exceeded 2 calls per second for api client." } }]);
    await w.sweep();
    const stopped = w.fake.callsTo(ORDERS).slice(callsBefore).map((c) => new URLSearchParams(c.query));
    assert.equal(stopped.length, 2);
    const [state] = await w.worker.all("SELECT * FROM backfill_state WHERE provider = 'shopify'");
    assert.equal(state.run_cursor, `0:${stopped[1].get("page_info")}`, "the failed page is where it resumes");
    assert.ok(state.not_before >= before + 120_000, "no run before Retry-After");
    assert.equal(state.failures, 1);
    const [last] = await w.worker.all("SELECT error, complete FROM backfill_runs ORDER BY id DESC LIMIT 1");
    assert.deepEqual({ ...last }, { error: "shopify_http_429", complete: 0 });
    await w.sweep();
    assert.equal(w.fake.callsTo(ORDERS).length, callsBefore + 2, "inside the backoff: no call");

    await w.worker.all("UPDATE backfill_state SET not_before = ? WHERE provider = 'shopify'", Date.now() - 1);
    await w.sweep();
    const resumed = w.fake.callsTo(ORDERS).slice(callsBefore + 2).map((c) => new URLSearchParams(c.query));
    assert.equal(resumed[0].get("page_info"), stopped[1].get("page_info"));
    const keys = (await backfilledRows(w)).map((r) => r.dedupe_key);
    for (const o of orders) assert.ok(keys.includes(versionKey(o)), `order ${o.id} recovered`);
    const [done] = await w.worker.all("SELECT run_cursor, failures FROM backfill_state WHERE provider = 'shopify'");
    assert.deepEqual([done.run_cursor, done.failures], [null, 0]);
  });
});

describe("a run spanning several ticks", () => {
  const w = shopifyWorld({ BACKFILL_MAX_PAGES: "1" });
  test("an order updated behind the run's cursor is listed by the next run", async () => {
    await w.sweep(); // the first tick sets the checkpoint
    w.fake.shopifyAdmin.pageSize = 1;
    const at = (ago) => shopifyTime(Date.now() - ago * 1000);
    // Listed by id, newest first: A on the first page, B on the second.
    const b = w.fake.shopifyAdmin.upsert(SHOP, shopifyAdminOrder({ id: 7_100_000_000_001, updated_at: at(8000) }));
    const a = w.fake.shopifyAdmin.upsert(SHOP, shopifyAdminOrder({ id: 7_100_000_000_002, updated_at: at(8000) }));
    const setState = (sql, ...args) => w.worker.all(`UPDATE backfill_state SET ${sql} WHERE provider = 'shopify'`, ...args);
    await setState("checkpoint = ?, last_started_at = ?", nowS() - 9000, Date.now() - 16 * 60_000);
    await w.sweep();
    const [bounded] = await w.worker.all("SELECT run_cursor FROM backfill_state WHERE provider = 'shopify'");
    assert.ok(bounded.run_cursor, "stopped at its bound after A's page");
    // The run began two hours ago (backoffs between its ticks). Since then A changed (its webhook
    // lost) and, an hour later, B did; the run's second tick lists B's change.
    const runStarted = Date.now() - 7_200_000;
    await setState("last_started_at = ?", runStarted);
    const aChanged = w.fake.shopifyAdmin.upsert(SHOP, { ...a, updated_at: at(3600) });
    w.fake.shopifyAdmin.upsert(SHOP, { ...b, updated_at: at(10) });
    await w.sweep();
    const [complete] = await w.worker.all("SELECT checkpoint, run_cursor FROM backfill_state WHERE provider = 'shopify'");
    assert.deepEqual([complete.checkpoint, complete.run_cursor], [Math.floor(runStarted / 1000), null], "not past the run's start");
    await w.sweep(); // due: an interval since the run began
    const keys = (await backfilledRows(w)).map((r) => r.dedupe_key);
    assert.ok(keys.includes(versionKey(aChanged)), "A's change is recovered");
  });
});

describe("a page too large to read", () => {
  const w = shopifyWorld();
  test("stops the run as page_too_large and asks for half the page next time", async () => {
    await w.sweep(); // the first tick sets the checkpoint
    const missed = order(w, 60);
    const setState = (sql, ...args) => w.worker.all(`UPDATE backfill_state SET ${sql} WHERE provider = 'shopify'`, ...args);
    await setState("checkpoint = ?, last_started_at = ?", nowS() - 3600, Date.now() - 16 * 60_000);
    // Over the 8 MiB a page may be: never read, so never parsed.
    w.fake.script(ORDERS, [{ status: 200, text: JSON.stringify({ orders: [{ note: "x".repeat(9 * 1024 * 1024) }] }) }]);
    await w.sweep();
    const [stopped] = await w.worker.all("SELECT run_cursor, failures FROM backfill_state WHERE provider = 'shopify'");
    assert.deepEqual([stopped.run_cursor, stopped.failures], ["0::125", 1]);
    const [run] = await w.worker.all("SELECT error, complete FROM backfill_runs ORDER BY id DESC LIMIT 1");
    assert.deepEqual({ ...run }, { error: "page_too_large", complete: 0 });

    await setState("not_before = ?", Date.now() - 1);
    await w.sweep();
    const [, again] = w.fake.callsTo(ORDERS).map((c) => new URLSearchParams(c.query));
    assert.equal(again.get("limit"), "125", "half the page");
    assert.deepEqual((await backfilledRows(w)).map((r) => r.dedupe_key), [versionKey(missed)]);
    const [done] = await w.worker.all("SELECT run_cursor, failures FROM backfill_state WHERE provider = 'shopify'");
    assert.deepEqual([done.run_cursor, done.failures], [null, 0]);
  });
});

describe("a named source", () => {
  const w = useWorld({
    vars: {
      ROUTES_JSON: ROUTES, WEBHOOK_SOURCES: "shopify:store-b",
      SHOPIFY_SHOP_DOMAIN__STORE_B: "store-b.myshopify.com", SHOPIFY_ADMIN_TOKEN__STORE_B: "shpat_store_b",
    },
  }, { ready: (w) => w.fake.shopifyAdmin.token("store-b.myshopify.com", "shpat_store_b") });
  test("reconciles its own shop with its own token, stored for that source", async () => {
    const health = await w.worker.get("/admin/api/health", AUTH);
    assert.deepEqual(health.json.shopify_backfill, { "shopify:store-b": "enabled" });
    assert.ok(!health.text.includes("shpat_store_b"));
    const o = order(w, 30, "store-b.myshopify.com");
    const res = await run(w, { since: nowS() - 600, source: "store-b" });
    assert.deepEqual(res.json, { listed: 1, ingested: 1, duplicates: 0 }, res.text);
    const key = `order:store-b.myshopify.com:${o.id}:${String(Date.parse(o.updated_at)).padStart(15, "0")}:orders/updated`;
    const [row] = await w.worker.all("SELECT dedupe_key, source, version_key FROM events WHERE provider = 'shopify'");
    assert.deepEqual({ ...row }, { dedupe_key: `src:store-b:${key}`, source: "store-b", version_key: `src:store-b:${key}` });
    assert.deepEqual((await run(w, { since: nowS() - 600 })).json.error, "invalid_source", "no default shop configured");
    const [state] = await w.worker.all("SELECT provider FROM backfill_runs");
    assert.equal(state.provider, "shopify:store-b");
    const status = await w.worker.get("/admin/api/backfill", AUTH);
    assert.deepEqual([status.json.shopify[0].provider, status.json.shopify[0].shop], ["shopify:store-b", "store-b.myshopify.com"]);
    assert.equal(status.json.shopify[0].runs.length, 1);
  });
});

describe("without a token", () => {
  const w = useWorld({ vars: { SHOPIFY_SHOP_DOMAIN: SHOP } });
  test("the reconciliation is disabled and the admin health says so", async () => {
    const health = await w.worker.get("/admin/api/health", AUTH);
    assert.equal(health.json.shopify_backfill, "disabled");
    const res = await run(w, { since: nowS() - 60 });
    assert.deepEqual([res.status, res.json.error], [404, "backfill_disabled"]);
    await w.sweep();
    assert.equal(w.fake.callsTo(ORDERS).length, 0);
  });
});

describe("a token without a shop domain", () => {
  const w = useWorld({ vars: { SHOPIFY_ADMIN_TOKEN: TOKEN } });
  test("is misconfigured and named in the admin health, not in /health", async () => {
    const health = await w.worker.get("/admin/api/health", AUTH);
    assert.equal(health.json.shopify_backfill, "misconfigured");
    assert.deepEqual(health.json.misconfigured, [{ affects: "shopify_backfill", setting: "SHOPIFY_SHOP_DOMAIN" }]);
    assert.ok(!health.text.includes(TOKEN));
    const open = await w.worker.get("/health");
    assert.deepEqual(open.json, { status: "misconfigured" }, "no setting or shop named to anyone");
  });
});
