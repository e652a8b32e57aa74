// One cron tick stays inside the platform's per-invocation limits (1,000 subrequests, KV
// operations and D1 queries on the paid plan) when the Stripe backfill and several shops'
// reconciliations are due together. Each tick's operations are counted on the real Miniflare D1,
// KV and Queues (tests/helpers/binding-counts.mjs) plus the list calls the fake answered, every
// fetch and binding call one operation. Each run used to be bounded alone (706 operations at
// `BACKFILL_MAX_PAGES` 50), so such a tick made well over 1,000; now the runs share what the
// sweeper's other passes leave them (handlers/src/cron_budget.rs), stop at their cursor when it
// is spent, and later ticks finish the work: every event and order version stored once, no list
// page asked for twice, every step run once.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorld } from "../helpers/world.mjs";
import { countingBuild, invocations } from "../helpers/binding-counts.mjs";
import { stripeFixtureEvent } from "../helpers/fake-downstream.mjs";
import { shopifyAdminOrder, shopifyTime } from "../helpers/fake-shopify-admin.mjs";
import { waitForNoStepInFlight } from "../helpers/worker.mjs";

const LIMIT = 1_000;
const PER_RUN = 60; // events (Stripe) or orders (each shop), one a page: more than 50 pages
const SLACK = "/services/T000/B000/test";
const SOURCES = ["store-1", "store-2", "store-3"];
const shopOf = (source) => `${source ?? "store-0"}.myshopify.com`;
const SHOPS = [undefined, ...SOURCES].map(shopOf);
const setting = (base, source) => `${base}__${source.toUpperCase().replace("-", "_")}`;
const nowS = () => Math.floor(Date.now() / 1000);

function vars() {
  const vars = {
    BACKFILL_MAX_PAGES: "50",
    RETRY_BASE_SECONDS: "0",
    WEBHOOK_SOURCES: SOURCES.map((s) => `shopify:${s}`).join(","),
    SHOPIFY_SHOP_DOMAIN: shopOf(undefined),
    SHOPIFY_ADMIN_TOKEN: "shpat_store_0",
    // One visible effect per recovered Stripe event, not held to Slack's 1 call a second.
    ROUTES_JSON: JSON.stringify({ stripe: { "invoice.payment_succeeded": ["slack.notify"] } }),
    RATE_LIMITS_JSON: JSON.stringify({ slack: { calls: 1000, per_seconds: 1 } }),
  };
  for (const source of SOURCES) {
    vars[setting("SHOPIFY_SHOP_DOMAIN", source)] = shopOf(source);
    vars[setting("SHOPIFY_ADMIN_TOKEN", source)] = `shpat_${source}`;
  }
  return vars;
}

const isList = (call) => call.path === "/v1/events" || call.path.endsWith("/orders.json");

describe("a tick with the Stripe backfill and four shops due", () => {
  let w;
  let build;
  before(async () => {
    build = countingBuild();
    w = await startWorld({ vars: vars(), miniflare: build.miniflare });
    SHOPS.forEach((shop, i) => w.fake.shopifyAdmin.token(shop, i === 0 ? "shpat_store_0" : `shpat_${SOURCES[i - 1]}`));
  });
  after(async () => {
    await w?.dispose();
    build?.cleanup();
  });

  /** Run one tick; its operations: D1 round trips, KV and Queue calls, list fetches. */
  async function tick() {
    const listed = w.fake.calls.filter(isList).length;
    await w.sweep();
    const record = (await invocations(w.worker)).filter((r) => r.kind === "scheduled").at(-1);
    const fetches = w.fake.calls.filter(isList).length - listed;
    return { total: record.d1.length + record.calls.length + fetches, d1: record.d1.length, calls: record.calls.length, fetches };
  }

  /** Ticks come a minute apart: the request windows the list calls count in (a shop's 40 calls
   * per 20 s) and any wait they asked a run for have passed by the next one. */
  async function aMinuteLater() {
    await w.worker.all("UPDATE destination_health SET window_start = window_start - 60000");
    await w.worker.all("UPDATE backfill_state SET not_before = MAX(0, not_before - 60000) WHERE failures = 0");
  }

  const states = () => w.worker.all("SELECT provider, run_cursor, failures FROM backfill_state ORDER BY provider");

  test("stays under the limits, and the next ticks finish with nothing missed or repeated", async () => {
    await tick(); // the first tick sets each checkpoint
    assert.equal((await states()).length, 1 + SHOPS.length);
    const events = Array.from({ length: PER_RUN }, (_, i) => w.fake.stripeEvents.add(
      stripeFixtureEvent("invoice.payment_succeeded", { id: `evt_budget_${process.pid}_${i}`, created: nowS() - 600 + i }),
    ));
    const orders = SHOPS.map((shop, s) => Array.from({ length: PER_RUN }, (_, i) => w.fake.shopifyAdmin.upsert(
      shop, shopifyAdminOrder({ id: 8_000_000_000_000 + s * 1_000 + i, updated_at: shopifyTime(Date.now() - 600_000 + i * 1000) }),
    )));
    w.fake.stripeEvents.pageSize = 1;
    w.fake.shopifyAdmin.pageSize = 1;
    await w.worker.all("UPDATE backfill_state SET last_started_at = ?, checkpoint = ?", Date.now() - 16 * 60_000, nowS() - 3600);

    const ticks = [];
    for (let i = 0; i < 20; i++) {
      ticks.push(await tick());
      const now = await states();
      assert.ok(now.every((s) => s.failures === 0), JSON.stringify(now));
      if (now.every((s) => s.run_cursor === null)) break;
      await aMinuteLater();
    }
    const summary = JSON.stringify(ticks);
    for (const t of ticks) assert.ok(t.total <= LIMIT, `a tick made ${t.total} operations: ${summary}`);
    assert.ok(ticks.length > 1, `the first tick could not do it all within the limits: ${summary}`);
    assert.ok((await states()).every((s) => s.run_cursor === null), `every run finished: ${summary}`);

    const stripeRows = await w.worker.all("SELECT dedupe_key FROM events WHERE provider = 'stripe' AND origin = 'backfill'");
    assert.deepEqual(stripeRows.map((r) => r.dedupe_key).sort(), events.map((e) => e.id).sort(), "every event once");
    for (const [s, shop] of SHOPS.entries()) {
      const rows = await w.worker.all("SELECT version_key FROM events WHERE provider = 'shopify' AND account = ?", shop);
      assert.equal(rows.length, PER_RUN, `${shop}: every order version once`);
      assert.equal(new Set(rows.map((r) => r.version_key)).size, PER_RUN);
      assert.deepEqual(new Set(rows.map((r) => r.version_key.split(":").at(-3))), new Set(orders[s].map((o) => String(o.id))));
    }
    const pages = w.fake.calls.filter(isList).map((c) => c.path + c.query);
    assert.equal(new Set(pages).size, pages.length, "no page asked for twice: each run resumed at its cursor");
    assert.equal(pages.length, PER_RUN * (1 + SHOPS.length), "one call per page");

    await waitForNoStepInFlight(w.worker);
    const steps = await w.worker.all("SELECT status, COUNT(*) AS n FROM steps GROUP BY status");
    assert.deepEqual(steps.map((r) => ({ ...r })), [{ status: "succeeded", n: PER_RUN }]);
    assert.equal(w.fake.callsTo(SLACK).length, PER_RUN, "each recovered event's step ran once");
  });
});
