// The person behind a Stripe customer id, end to end through workerd against the downstream
// fake: subscription events (API-reference shape: `"customer": "cus_..."`, no email) first look
// the customer up with `GET /v1/customers/{id}` (an attempt of the step, against the Stripe
// destination's retries and circuit), remember it in D1, and a later event for the same customer
// uses the stored copy without a second lookup; a deleted customer or one without an email makes
// the step `skipped`, not `dead`. Lookups go through the same machinery as any downstream call:
// 429 + Retry-After and timeouts are retried, five failures open the Stripe destination's circuit
// (the step then waits without being charged), a 404 `resource_missing` is a dead letter.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { TEST_SECRETS, waitFor } from "../helpers/worker.mjs";
import { stripeCustomer } from "../helpers/fake-downstream.mjs";
import { useWorld } from "../helpers/world.mjs";
import { MAIL, UPSERT, deliver, fixture, settled } from "../helpers/flows.mjs";

const VARS = { MAX_ATTEMPTS: "4", RETRY_BASE_SECONDS: "0", DOWNSTREAM_TIMEOUT_MS: "3000" };
let counter = 0;
const unique = (prefix) => `${prefix}${Date.now().toString(36)}${++counter}`;
const customerPath = (id) => `/v1/customers/${id}`;

/** A subscription event shaped like the sample, for its own customer and subscription. */
function subscriptionEvent(type, customer, { subscription = unique("sub_") } = {}) {
  const event = structuredClone(fixture(`stripe/${type}.json`));
  event.id = unique("evt_");
  event.created = Math.floor(Date.now() / 1000);
  event.data.object.id = subscription;
  event.data.object.customer = customer;
  assert.equal(event.data.object.metadata.email, undefined, "the sample carries no email");
  return event;
}

const attemptsOf = (worker, stepId) =>
  worker.all("SELECT n, status, outcome, error FROM attempts WHERE step_id = ? ORDER BY n", stepId);

describe("Stripe customers behind subscription events", () => {
  let fake;
  let worker;

  useWorld({ vars: VARS }, { ready: (w) => ({ worker, fake } = w) });

  test("the first event looks the customer up; the next one for that customer uses the D1 copy", async () => {
    const id = unique("cus_");
    fake.stripe.add({ id, email: "grace@example.com", name: "Grace Hopper", phone: null });
    const first = await deliver(worker, "stripe", subscriptionEvent("customer.subscription.created", id));
    const [step] = await settled(worker, "stripe", first.key);
    assert.deepEqual([step.name, step.status], ["hubspot.upsert_contact", "succeeded"], step.last_error);
    const lookups = fake.callsTo(customerPath(id));
    assert.equal(lookups.length, 1, "one lookup");
    assert.equal(lookups[0].method, "GET");
    assert.equal(lookups[0].headers.authorization, `Bearer ${TEST_SECRETS.STRIPE_API_KEY}`);
    assert.deepEqual((await attemptsOf(worker, step.id)).map((a) => [a.n, a.status, a.outcome]), [
      [1, 200, "resolved"],
      [2, 200, "succeeded"],
    ]);
    const upserts = fake.callsTo(UPSERT).filter((c) => c.body.includes(id));
    assert.equal(upserts.length, 1);
    const input = JSON.parse(upserts[0].body).inputs[0];
    assert.equal(input.id, "grace@example.com");
    assert.deepEqual([input.properties.firstname, input.properties.lastname], ["Grace", "Hopper"]);
    const [stored] = await worker.all("SELECT email, name, deleted, source FROM stripe_customers WHERE id = ?", id);
    assert.deepEqual({ ...stored }, { email: "grace@example.com", name: "Grace Hopper", deleted: 0, source: "lookup" });

    const second = await deliver(worker, "stripe", subscriptionEvent("customer.subscription.deleted", id));
    const steps = await settled(worker, "stripe", second.key, { count: 2 });
    for (const s of steps) assert.equal(s.status, "succeeded", `${s.name}: ${s.last_error}`);
    assert.equal(fake.callsTo(customerPath(id)).length, 1, "no second lookup: D1 knew the customer");
    const mail = fake.callsTo(MAIL).find((c) => c.body.includes(steps.find((s) => s.name === "sendgrid.send").id));
    assert.deepEqual(JSON.parse(mail.body).personalizations[0].to, [{ email: "grace@example.com", name: "Grace Hopper" }]);
  });

  test("a customer a checkout taught at ingest needs no lookup", async () => {
    const id = unique("cus_");
    const checkout = structuredClone(fixture("stripe/checkout.session.completed.json"));
    checkout.id = unique("evt_");
    checkout.data.object.id = unique("cs_test_");
    checkout.data.object.customer = id;
    checkout.data.object.customer_details.email = "katherine@example.com";
    checkout.data.object.customer_details.name = "Katherine Johnson";
    await settled(worker, "stripe", (await deliver(worker, "stripe", checkout)).key, { count: 2 });
    const { key } = await deliver(worker, "stripe", subscriptionEvent("customer.subscription.updated", id));
    const [step] = await settled(worker, "stripe", key);
    assert.equal(step.status, "succeeded", step.last_error);
    assert.equal(step.attempts, 1);
    assert.equal(fake.callsTo(customerPath(id)).length, 0, "Stripe was not asked");
    const upserts = fake.callsTo(UPSERT).filter((c) => c.body.includes(id) && c.body.includes("stripe_subscription_id"));
    assert.deepEqual(upserts.map((c) => JSON.parse(c.body).inputs[0].id), ["katherine@example.com"]);
  });

  test("a lookup answered 429 with Retry-After is retried, then succeeds", async () => {
    const id = unique("cus_");
    fake.stripe.add({ id, email: "mary@example.com", name: "Mary Jackson" });
    fake.script(customerPath(id), [{ status: 429, headers: { "retry-after": "1" }, body: { error: { message: "Too many requests", type: "rate_limit_error" } } }]);
    const { key } = await deliver(worker, "stripe", subscriptionEvent("customer.subscription.updated", id));
    const [step] = await settled(worker, "stripe", key, { timeoutMs: 30000 });
    assert.equal(step.status, "succeeded", step.last_error);
    assert.deepEqual((await attemptsOf(worker, step.id)).map((a) => [a.n, a.status, a.outcome]), [
      [1, 429, "retry"],
      [2, 200, "resolved"],
      [3, 200, "succeeded"],
    ]);
    const lookups = fake.callsTo(customerPath(id));
    assert.equal(lookups.length, 2);
    assert.ok(lookups[1].at - lookups[0].at >= 1000, "Retry-After was honoured");
  });

  test("a lookup slower than DOWNSTREAM_TIMEOUT_MS times out and is retried", async () => {
    const id = unique("cus_");
    fake.stripe.add({ id, email: "evelyn@example.com", name: "Evelyn Boyd Granville" });
    // Stripe answers, but too late (the fake's model, held back past the 3 s timeout).
    fake.script(customerPath(id), [{ commit: true, delayMs: 3500 }]);
    const { key } = await deliver(worker, "stripe", subscriptionEvent("customer.subscription.updated", id));
    const [step] = await settled(worker, "stripe", key, { timeoutMs: 30000 });
    assert.equal(step.status, "succeeded", step.last_error);
    assert.deepEqual((await attemptsOf(worker, step.id)).map((a) => [a.n, a.status, a.outcome, a.error]), [
      [1, null, "retry", "timeout"],
      [2, 200, "resolved", null],
      [3, 200, "succeeded", null],
    ]);
  });

  test("a deleted customer or one without an email is skipped, not dead", async () => {
    const gone = unique("cus_");
    fake.stripe.add({ id: gone });
    fake.stripe.remove(gone);
    const noEmail = unique("cus_");
    fake.stripe.add({ id: noEmail, email: null });
    const mark = fake.calls.length;
    const a = await deliver(worker, "stripe", subscriptionEvent("customer.subscription.deleted", gone));
    const b = await deliver(worker, "stripe", subscriptionEvent("customer.subscription.updated", noEmail));
    const deleted = await settled(worker, "stripe", a.key, { count: 2 });
    for (const s of deleted) {
      assert.deepEqual([s.status, s.last_error], ["skipped", "skipped:customer_deleted"], s.name);
    }
    const [without] = await settled(worker, "stripe", b.key);
    assert.deepEqual([without.status, without.last_error], ["skipped", "skipped:customer_without_email"]);
    // Only lookups: no upsert, no mail. (The two steps of the deleted subscription may both look
    // the customer up when they run at the same time, before either stored it.)
    const calls = new Set(fake.calls.slice(mark).map((c) => `${c.method} ${c.path}`));
    assert.deepEqual([...calls].sort(), [`GET ${customerPath(gone)}`, `GET ${customerPath(noEmail)}`].sort());
  });

  test("customer.* events teach the customer at ingest; an older event never overwrites a newer one", async () => {
    const id = unique("cus_");
    const now = Math.floor(Date.now() / 1000);
    const customerEvent = (type, created, object) => ({
      id: unique("evt_"), object: "event", api_version: "2023-10-16", created, livemode: false,
      pending_webhooks: 1, request: { id: null, idempotency_key: null }, type, data: { object },
    });
    const stored = async () => {
      const [row] = await worker.all("SELECT email, name, deleted, source FROM stripe_customers WHERE id = ?", id);
      return row && { ...row };
    };
    await deliver(worker, "stripe", customerEvent("customer.updated", now, stripeCustomer({ id, email: "new@example.com", name: "Dorothy Vaughan" })));
    assert.deepEqual(await stored(), { email: "new@example.com", name: "Dorothy Vaughan", deleted: 0, source: "customer.updated" });
    // An invoice from an hour earlier still carries the old email: it must not win.
    const invoice = structuredClone(fixture("stripe/invoice.payment_succeeded.json"));
    invoice.id = unique("evt_");
    invoice.created = now - 3600;
    invoice.data.object.id = unique("in_");
    invoice.data.object.customer = id;
    invoice.data.object.customer_email = "old@example.com";
    await settled(worker, "stripe", (await deliver(worker, "stripe", invoice)).key);
    assert.equal((await stored()).email, "new@example.com");
    await deliver(worker, "stripe", customerEvent("customer.deleted", now + 1, stripeCustomer({ id, email: "new@example.com", name: "Dorothy Vaughan" })));
    assert.equal((await stored()).deleted, 1);
    const { key } = await deliver(worker, "stripe", subscriptionEvent("customer.subscription.deleted", id));
    const steps = await settled(worker, "stripe", key, { count: 2 });
    assert.deepEqual(steps.map((s) => [s.status, s.last_error]), Array(2).fill(["skipped", "skipped:customer_deleted"]));
    assert.equal(fake.callsTo(customerPath(id)).length, 0, "known from the events: no lookup");
  });

  test("a customer Stripe does not know is a dead letter an admin can read", async () => {
    const id = unique("cus_");
    const { key } = await deliver(worker, "stripe", subscriptionEvent("customer.subscription.updated", id));
    const [step] = await settled(worker, "stripe", key);
    assert.equal(step.status, "dead");
    assert.match(step.last_error, /^stripe_customer_not_found: /);
    assert.equal(step.attempts, 1, "a 404 is not retried");
  });
});

describe("customer lookups and the Stripe destination's circuit", () => {
  let fake;
  let worker;

  useWorld({ vars: { ...VARS, MAX_ATTEMPTS: "10" } }, { ready: (w) => ({ worker, fake } = w) });

  test("5 failed lookups open Stripe's circuit: the step waits, uncharged, and HubSpot's circuit is untouched", async () => {
    const id = unique("cus_");
    fake.stripe.add({ id, email: "annie@example.com", name: "Annie Easley" });
    fake.always(customerPath(id), { status: 503, body: { error: { message: "An unknown error occurred", type: "api_error" } } });
    const { key } = await deliver(worker, "stripe", subscriptionEvent("customer.subscription.updated", id));
    const opened = await waitFor(
      async () => {
        const [s] = await worker.all("SELECT s.* FROM steps s JOIN events e ON e.id = s.event_id WHERE e.dedupe_key = ?", key);
        return s?.last_error === "circuit_open" && s;
      },
      { what: "Stripe circuit open", timeoutMs: 30000 },
    );
    assert.deepEqual([opened.status, opened.attempts], ["enqueued", 5], "five lookups; the deferral is no attempt");
    const health = Object.fromEntries(
      (await worker.all("SELECT destination, consecutive_failures, open_until FROM destination_health")).map((h) => [h.destination, h]),
    );
    assert.equal(health.stripe.consecutive_failures, 5);
    assert.ok(health.stripe.open_until > Date.now() + 50_000);
    assert.ok(!health.hubspot || health.hubspot.open_until === 0, "the step's own destination is not blamed");
    assert.equal(fake.callsTo(customerPath(id)).length, 5);
    assert.equal(fake.callsTo(UPSERT).length, 0);

    // Stripe recovers and the cool-down is over (simulated, as in faults.test.mjs): the sweeper's
    // re-send looks the customer up once more and makes the upsert.
    fake.reset();
    fake.stripe.add({ id, email: "annie@example.com", name: "Annie Easley" });
    const past = Date.now() - 16 * 60_000;
    await worker.all("UPDATE destination_health SET open_until = ? WHERE destination = 'stripe'", past);
    await worker.all("UPDATE steps SET updated_at = ?, next_attempt_at = ? WHERE status = 'enqueued'", past, past);
    await (await worker.mf.getWorker()).scheduled({ cron: "* * * * *" });
    const [step] = await settled(worker, "stripe", key, { timeoutMs: 30000 });
    assert.deepEqual([step.status, step.attempts], ["succeeded", 7], step.last_error);
    assert.equal(fake.callsTo(customerPath(id)).length, 1);
    assert.equal(JSON.parse(fake.callsTo(UPSERT)[0].body).inputs[0].id, "annie@example.com");
  });
});
