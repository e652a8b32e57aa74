// Replay plans the steps the routes in force give an event but that it lacks (routes changed
// after it arrived), through workerd: an order stored while ROUTES_JSON gave `orders/create` no
// `hubspot.create_deal`; the worker restarts on the same D1 with the step added to ROUTES_JSON;
// a dry run lists it under `added_steps` and writes nothing; the real replay stores it
// (`pending`, then enqueued) and it runs exactly once, without re-running the finished steps;
// replaying again adds nothing; two replays at once add it once (inserts are ON CONFLICT DO
// NOTHING on the deterministic step id `event_id:name`).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { downstreamVars, startWorker, waitFor, TEST_SECRETS } from "../helpers/worker.mjs";
import { startFakeDownstream } from "../helpers/fake-downstream.mjs";
import { quiet } from "../helpers/world.mjs";
import { shopifyOrder } from "../helpers/providers.mjs";
import { DEALS_UPSERT, UPSERT, deliver, settled } from "../helpers/flows.mjs";

const SLACK = "/services/T000/B000/test";
const AUTH = { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}` };
const routes = (steps) => JSON.stringify({ shopify: { "orders/create": steps } });
const BEFORE = routes(["hubspot.upsert_contact", "slack.notify"]);
const NOW = routes(["hubspot.upsert_contact", "hubspot.create_deal", "slack.notify"]);

describe("replay adds steps the routes gained after the event arrived", () => {
  let dir;
  let fake;
  let worker;
  const orders = []; // dedupe keys of orders stored under the old routes

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "edgehooks-replay-"));
    fake = await startFakeDownstream();
    const vars = { ...downstreamVars(fake.url), MAX_ATTEMPTS: "3", RETRY_BASE_SECONDS: "0" };
    const old = await startWorker({ vars: { ...vars, ROUTES_JSON: BEFORE }, miniflare: { d1Persist: dir } });
    try {
      for (let i = 0; i < 2; i++) {
        const webhookId = `wh_replay_${Date.now()}_${i}`;
        await deliver(old, "shopify", shopifyOrder(), { topic: "orders/create", shop: "replay.myshopify.com", webhookId });
        const steps = await settled(old, "shopify", webhookId, { count: 2 });
        assert.deepEqual(steps.map((s) => [s.name, s.status]), [["hubspot.upsert_contact", "succeeded"], ["slack.notify", "succeeded"]]);
        orders.push(webhookId);
      }
    } finally {
      await old.dispose();
    }
    // The same D1, the deal step now in the route.
    worker = await startWorker({ vars: { ...vars, ROUTES_JSON: NOW }, migrate: false, miniflare: { d1Persist: dir } });
    fake.reset();
  });
  after(async () => {
    await worker?.dispose();
    await fake?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const eventOf = async (key) =>
    (await worker.all("SELECT id FROM events WHERE provider = 'shopify' AND dedupe_key = ?", key))[0].id;
  const stepsOf = (eventId) => worker.all("SELECT * FROM steps WHERE event_id = ? ORDER BY name", eventId);
  const replay = (eventId, dryRun) =>
    worker.post(`/admin/api/events/${eventId}/replay${dryRun ? "?dry_run=true" : ""}`, "", AUTH);

  test("dry run lists the step to add, writes nothing; the real replay adds and runs it once; again adds nothing", async () => {
    const id = await eventOf(orders[0]);
    const dealId = `${id}:hubspot.create_deal`;

    const dry = await replay(id, true);
    assert.equal(dry.status, 200, dry.text);
    assert.equal(dry.json.dry_run, true);
    assert.deepEqual(dry.json.steps.map((s) => [s.name, s.action]), [["hubspot.upsert_contact", "already_done"], ["slack.notify", "already_done"]]);
    assert.equal(dry.json.would_run, 0);
    assert.deepEqual(dry.json.added_steps, [{ id: dealId, name: "hubspot.create_deal", destination: "hubspot", action: "add" }]);
    assert.equal(dry.json.would_add, 1);
    await quiet(fake);
    assert.equal((await stepsOf(id)).length, 2, "a dry run stores nothing");
    assert.equal(fake.calls.length, 0, "and calls nothing");

    const real = await replay(id, false);
    assert.equal(real.status, 200, real.text);
    assert.equal(real.json.dry_run, false);
    assert.deepEqual(real.json.requeued, []);
    assert.deepEqual(real.json.added, [dealId]);
    assert.equal(real.json.sent, 1);
    const steps = await settled(worker, "shopify", orders[0], { count: 3 });
    const deal = steps.find((s) => s.name === "hubspot.create_deal");
    assert.equal(deal.id, dealId);
    assert.equal(deal.idempotency_key, dealId);
    assert.equal(deal.status, "succeeded", deal.last_error);
    assert.equal(deal.attempts, 1);
    await quiet(fake);
    assert.equal(fake.callsTo(DEALS_UPSERT).length, 1, "the added step ran exactly once");
    assert.equal(fake.hubspot.deals().length, 1);
    assert.equal(fake.callsTo(UPSERT).length + fake.callsTo(SLACK).length, 0, "finished steps did not run again");
    const timeline = (await worker.get(`/admin/api/events/${id}`, AUTH)).json.timeline;
    assert.equal(timeline.filter((t) => t.step === "hubspot.create_deal").length, 1);

    for (const dryRun of [true, false]) {
      const again = await replay(id, dryRun);
      assert.equal(again.status, 200, again.text);
      assert.deepEqual(again.json.added_steps, []);
      assert.equal(again.json.would_add, 0);
      assert.equal(again.json.would_run, 0);
      if (!dryRun) assert.deepEqual([again.json.added, again.json.sent], [[], 0]);
    }
    await quiet(fake);
    assert.equal((await stepsOf(id)).length, 3);
    assert.equal(fake.callsTo(DEALS_UPSERT).length, 1);
  });

  test("two replays at once add the step once", async () => {
    const id = await eventOf(orders[1]);
    const mark = fake.callsTo(DEALS_UPSERT).length;
    const answers = await Promise.all([replay(id, false), replay(id, false)]);
    for (const a of answers) assert.equal(a.status, 200, a.text);
    assert.deepEqual(answers.flatMap((a) => a.json.added), [`${id}:hubspot.create_deal`]);
    const steps = await settled(worker, "shopify", orders[1], { count: 3 });
    assert.equal(steps.filter((s) => s.name === "hubspot.create_deal").length, 1);
    await waitFor(async () => fake.callsTo(DEALS_UPSERT).length > mark, { what: "the deal call" });
    await quiet(fake);
    assert.equal(fake.callsTo(DEALS_UPSERT).length, mark + 1);
  });
});
