// HubSpot deal creation is idempotent, through workerd against the downstream fake, which keeps
// HubSpot's deals with state (tests/helpers/fake-downstream.mjs): `hubspot.create_deal` upserts
// one deal keyed by the unique deal property edgehooks_idempotency_key = the step id, so when
// HubSpot commits the deal but its answer is lost (timeout, dropped connection) the retry
// updates that deal instead of creating a second one. A portal without the property makes the
// step `dead` at once with an error code an admin can act on; after creating the property, a
// redrive of that dead-letter group creates the deal once.
import { after, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { TEST_SECRETS, waitForNoStepInFlight } from "../helpers/worker.mjs";
import { DEAL_ID_PROPERTY } from "../helpers/fake-downstream.mjs";
import { useWorld, quiet } from "../helpers/world.mjs";
import { shopifyOrder } from "../helpers/providers.mjs";
import { DEALS, DEALS_UPSERT, deliver, settled } from "../helpers/flows.mjs";

const DEAL_STEP = "hubspot.create_deal";
const AUTH = { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}`, "content-type": "application/json" };
let counter = 0;

describe("HubSpot deal creation", () => {
  let fake;
  let worker;

  useWorld({ vars: { MAX_ATTEMPTS: "3", RETRY_BASE_SECONDS: "0", DOWNSTREAM_TIMEOUT_MS: "1000" } }, { ready: (w) => ({ worker, fake } = w) });
  beforeEach(async () => {
    await waitForNoStepInFlight(worker);
    fake.reset();
  });

  /** Deliver a new Shopify order; returns its dedupe key. */
  async function order() {
    const webhookId = `wh_deal_${Date.now()}_${++counter}`;
    await deliver(worker, "shopify", shopifyOrder(), { topic: "orders/create", shop: "deals.myshopify.com", webhookId });
    return webhookId;
  }
  const dealStep = async (key) => (await settled(worker, "shopify", key, { count: 3 })).find((s) => s.name === DEAL_STEP);
  const dealsKeyedBy = (stepId) => fake.hubspot.deals().filter((d) => d.properties[DEAL_ID_PROPERTY] === stepId);
  const outcomes = async (stepId) =>
    worker.all("SELECT outcome, status, error FROM attempts WHERE step_id = ? ORDER BY id", stepId);

  test("the fake answers the deal endpoints as HubSpot does", async () => {
    const post = async (path, body) => {
      const res = await fetch(`${fake.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      return { status: res.status, json: await res.json() };
    };
    const input = { idProperty: DEAL_ID_PROPERTY, id: "evt_x:hubspot.create_deal", properties: { dealname: "A" } };
    const first = await post(DEALS_UPSERT, { inputs: [input] });
    assert.equal(first.status, 200);
    assert.equal(first.json.results[0].new, true);
    const again = await post(DEALS_UPSERT, { inputs: [{ ...input, properties: { dealname: "B" } }] });
    assert.equal(again.json.results[0].new, false, "the same unique value updates");
    assert.equal(again.json.results[0].id, first.json.results[0].id);
    assert.equal(fake.hubspot.deals().length, 1);
    assert.equal(fake.hubspot.deals()[0].properties.dealname, "B");

    const twice = await post(DEALS_UPSERT, { inputs: [input, input] });
    assert.equal(twice.status, 400);
    assert.match(twice.json.message, /^Duplicate IDs found in batch input/);
    const nonUnique = await post(DEALS_UPSERT, { inputs: [{ ...input, idProperty: "dealname" }] });
    assert.equal(nonUnique.status, 400);
    assert.equal(nonUnique.json.category, "VALIDATION_ERROR");
    assert.match(nonUnique.json.message, /^Unable to perform update\/upsert by non-unique 0-3 property dealname/);

    // The plain create makes a new deal every time, but refuses a unique value already taken.
    assert.equal((await post(DEALS, { properties: { dealname: "C" } })).status, 201);
    assert.equal((await post(DEALS, { properties: { dealname: "C" } })).status, 201);
    const taken = await post(DEALS, { properties: { dealname: "D", [DEAL_ID_PROPERTY]: input.id } });
    assert.equal(taken.status, 400);
    assert.equal(fake.hubspot.deals().length, 3);
    assert.equal(fake.calls.length, 7);
  });

  test("HubSpot commits the deal but the answer times out: the retry makes no second deal", async () => {
    // The first deal call is applied by HubSpot, then answered after the worker's 1 s timeout
    // (scripted on both deal endpoints, so the test shows the duplicate a plain create makes).
    for (const path of [DEALS_UPSERT, DEALS]) fake.script(path, [{ commit: true, delayMs: 2500 }]);
    const key = await order();
    const step = await dealStep(key);
    assert.equal(step.status, "succeeded", step.last_error);
    assert.equal(step.attempts, 2);
    assert.equal(fake.hubspot.deals().length, 1, "exactly one deal exists");
    assert.deepEqual((await outcomes(step.id)).map((a) => [a.outcome, a.error]), [["retry", "timeout"], ["succeeded", null]]);
    const calls = fake.callsTo(DEALS_UPSERT);
    assert.equal(calls.length, 2);
    assert.equal(calls[1].body, calls[0].body, "the retry sends the very same upsert");
    assert.equal(JSON.parse(calls[0].body).inputs[0].id, step.id, "keyed by the step id");
    assert.equal(fake.callsTo(DEALS).length, 0, "never the plain create");
    assert.equal(dealsKeyedBy(step.id).length, 1);
    assert.equal(fake.hubspot.deals().length, 1, "exactly one deal exists");
  });

  test("HubSpot commits the deal but the connection drops: the retry makes no second deal", async () => {
    for (const path of [DEALS_UPSERT, DEALS]) fake.script(path, [{ commit: true, drop: true }]);
    const key = await order();
    const step = await dealStep(key);
    assert.equal(step.status, "succeeded", step.last_error);
    assert.equal(step.attempts, 2);
    assert.equal(fake.hubspot.deals().length, 1, "exactly one deal exists");
    const [first] = await outcomes(step.id);
    assert.equal(first.outcome, "retry");
    assert.match(first.error, /^network_error/);
    assert.equal(fake.callsTo(DEALS_UPSERT).length, 2);
    assert.equal(fake.hubspot.deals().length, 1, "exactly one deal exists");
    assert.match(fake.hubspot.deals()[0].properties.dealname, /^Shopify order /);
  });

  test("a portal without the unique deal property: dead at once with a clear error; redrive after creating it", async () => {
    fake.hubspot.uniqueDealProperties.delete(DEAL_ID_PROPERTY);
    const key = await order();
    const step = await dealStep(key);
    assert.equal(step.status, "dead");
    assert.equal(step.attempts, 1, "not retried: retrying cannot help");
    assert.equal(step.last_status, 400);
    assert.match(step.last_error, /^hubspot_deal_property_missing: /);
    assert.match(step.last_error, /edgehooks_idempotency_key/);
    assert.match(step.last_error, /non-unique 0-3 property edgehooks_idempotency_key/, "HubSpot's own words kept");
    await quiet(fake, { windowMs: 200 });
    assert.equal(fake.callsTo(DEALS_UPSERT).length, 1);
    assert.equal(fake.hubspot.deals().length, 0);

    const dead = await worker.get("/admin/api/dead?destination=hubspot", AUTH);
    const group = dead.json.groups.find((g) => g.error === "hubspot_deal_property_missing");
    assert.ok(group && group.count === 1, dead.text);

    // The operator creates the property in HubSpot, then redrives the group.
    fake.hubspot.uniqueDealProperties.add(DEAL_ID_PROPERTY);
    const redrive = await worker.post(
      "/admin/api/redrive",
      JSON.stringify({ destination: "hubspot", error: "hubspot_deal_property_missing" }),
      AUTH,
    );
    assert.equal(redrive.status, 200, redrive.text);
    assert.deepEqual(redrive.json.redriven, [step.id]);
    const again = await dealStep(key);
    assert.equal(again.status, "succeeded", again.last_error);
    assert.equal(dealsKeyedBy(step.id).length, 1);
    assert.equal(fake.hubspot.deals().length, 1);
  });
});
