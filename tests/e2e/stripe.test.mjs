// Stripe end to end through workerd: ingest (verify, dedupe, store, enqueue), the STEPS consumer
// calling the downstream fake, retries and dead letters. Real KV, D1 and Queues via Miniflare.
import { after, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { waitFor, TEST_SECRETS } from "../helpers/worker.mjs";
import { useWorld, quiet } from "../helpers/world.mjs";
import { checkoutCompleted, signedDelivery } from "../helpers/stripe.mjs";

const [PRIMARY, ROTATED] = TEST_SECRETS.STRIPE_WEBHOOK_SECRETS.split(",");
const UPSERT = "/crm/v3/objects/contacts/batch/upsert";

/** Calls the fake received for the contact upsert of `event` (other tests' steps may overlap). */
const upsertsFor = (fake, event) =>
  fake.callsTo(UPSERT).filter((c) => c.body.includes(JSON.stringify(event.data.object.customer_details.email)));

describe("stripe webhooks", () => {
  let fake;
  let worker;

  useWorld({ vars: { MAX_ATTEMPTS: "3", RETRY_BASE_SECONDS: "0", DOWNSTREAM_TIMEOUT_MS: "3000" } }, { ready: (w) => ({ worker, fake } = w) });
  beforeEach(() => fake.reset());

  const stepOf = async (eventId) =>
    (
      await worker.all(
        "SELECT s.* FROM steps s JOIN events e ON e.id = s.event_id WHERE e.provider = 'stripe' AND e.dedupe_key = ? AND s.name = 'hubspot.upsert_contact'",
        eventId,
      )
    )[0];

  /** Deliver `event` signed with the primary secret; the answer must be 200. */
  const deliver = async (event) => {
    const { payload, headers } = signedDelivery(event, PRIMARY);
    assert.equal((await worker.post("/webhooks/stripe", payload, headers)).status, 200);
  };

  /** The event's contact-upsert step once it reaches `status`. */
  const stepReaching = (event, status) =>
    waitFor(async () => {
      const s = await stepOf(event.id);
      return s?.status === status && s;
    }, { what: `step ${status}` });

  test("a valid event is stored, its step succeeds with exactly one downstream call", async () => {
    const event = checkoutCompleted({ email: "grace@example.com", name: "Grace Hopper", customer: "cus_grace" });
    const { payload, headers } = signedDelivery(event, PRIMARY);
    const res = await worker.post("/webhooks/stripe", payload, headers);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { status: "accepted", events: 1, duplicates: 0 });

    const [row] = await worker.all("SELECT * FROM events WHERE provider = 'stripe' AND dedupe_key = ?", event.id);
    assert.equal(row.type, "checkout.session.completed");
    assert.equal(row.status, "accepted");
    assert.equal(row.key_index, 0);
    assert.equal(row.payload, payload, "the raw event JSON is stored byte for byte");
    assert.equal(row.occurred_at, event.created * 1000);

    const step = await waitFor(async () => {
      const s = await stepOf(event.id);
      return s?.status === "succeeded" && s;
    }, { what: "step succeeded" });
    assert.equal(step.name, "hubspot.upsert_contact");
    assert.equal(step.attempts, 1);
    assert.equal(step.last_status, 200);

    const calls = upsertsFor(fake, event);
    assert.equal(calls.length, 1);
    assert.equal(calls[0].method, "POST");
    assert.equal(calls[0].headers.authorization, `Bearer ${TEST_SECRETS.HUBSPOT_ACCESS_TOKEN}`);
    assert.deepEqual(JSON.parse(calls[0].body), {
      inputs: [
        {
          idProperty: "email",
          id: "grace@example.com",
          properties: { email: "grace@example.com", firstname: "Grace", lastname: "Hopper", stripe_customer_id: "cus_grace" },
          // An input of a batch call, tagged with its step (hubspot-batch.test.mjs).
          objectWriteTraceId: step.id,
        },
      ],
    });
    const attempts = await worker.all("SELECT * FROM attempts WHERE step_id = ?", step.id);
    assert.equal(attempts.length, 1);
    assert.equal(attempts[0].status, 200);
    assert.equal(attempts[0].outcome, "succeeded");
  });

  test("a secret being rotated in verifies and its index is stored", async () => {
    const event = checkoutCompleted();
    const { payload, headers } = signedDelivery(event, ROTATED);
    const res = await worker.post("/webhooks/stripe", payload, headers);
    assert.equal(res.status, 200, res.text);
    const [row] = await worker.all("SELECT key_index FROM events WHERE dedupe_key = ?", event.id);
    assert.equal(row.key_index, 1);
  });

  test("a bad signature is 401 with nothing stored but the rejection count", async () => {
    const event = checkoutCompleted();
    const { payload, headers } = signedDelivery(event, "whsec_attacker");
    const res = await worker.post("/webhooks/stripe", payload, headers);
    assert.equal(res.status, 401);
    assert.deepEqual(res.json, { error: "signature_mismatch" });
    assert.equal((await worker.all("SELECT * FROM events WHERE dedupe_key = ?", event.id)).length, 0);
    await (await worker.mf.getWorker()).scheduled({ cron: "* * * * *" }); // writes the isolate's tally
    const rejections = await worker.all("SELECT * FROM rejections WHERE provider = 'stripe' AND reason = 'signature_mismatch'");
    assert.ok(rejections[0]?.count >= 1);

    const tampered = await worker.post("/webhooks/stripe", payload.replace("customer", "Customer"), signedDelivery(event, PRIMARY).headers);
    assert.equal(tampered.status, 401);
    const missing = await worker.post("/webhooks/stripe", payload, { "content-type": "application/json" });
    assert.deepEqual([missing.status, missing.json], [401, { error: "missing_signature" }]);
    const stale = signedDelivery(event, PRIMARY, Math.floor(Date.now() / 1000) - 3600);
    const old = await worker.post("/webhooks/stripe", stale.payload, stale.headers);
    assert.deepEqual([old.status, old.json], [401, { error: "timestamp_out_of_tolerance" }]);
    assert.equal((await worker.all("SELECT * FROM events WHERE dedupe_key = ?", event.id)).length, 0);
  });

  test("the same event sent twice is one row and one downstream call", async () => {
    const event = checkoutCompleted();
    const first = signedDelivery(event, PRIMARY);
    assert.equal((await worker.post("/webhooks/stripe", first.payload, first.headers)).status, 200);
    // Stripe re-signs retries with a new timestamp; the body is the same.
    const retry = signedDelivery(event, PRIMARY, Math.floor(Date.now() / 1000) + 1);
    const second = await worker.post("/webhooks/stripe", retry.payload, retry.headers);
    assert.equal(second.status, 200);
    assert.deepEqual(second.json, { status: "duplicate" });

    await waitFor(async () => (await stepOf(event.id))?.status === "succeeded", { what: "step succeeded" });
    await quiet(fake, { windowMs: 500 }); // room for a second (wrong) call to show up
    assert.equal((await worker.all("SELECT * FROM events WHERE dedupe_key = ?", event.id)).length, 1);
    const steps = await worker.all("SELECT s.name FROM steps s JOIN events e ON e.id = s.event_id WHERE e.dedupe_key = ? ORDER BY s.name", event.id);
    assert.deepEqual(steps.map((s) => s.name), ["hubspot.upsert_contact", "sendgrid.send"]);
    assert.equal(upsertsFor(fake, event).length, 1);
  });

  test("a downstream that fails then recovers ends succeeded after retries", async () => {
    fake.script(UPSERT, [{ status: 500 }, { status: 503, headers: { "retry-after": "1" } }]);
    const event = checkoutCompleted();
    await deliver(event);
    const step = await stepReaching(event, "succeeded");
    assert.equal(step.attempts, 3);
    const attempts = await worker.all("SELECT status, outcome FROM attempts WHERE step_id = ? ORDER BY n", step.id);
    assert.deepEqual(attempts, [
      { status: 500, outcome: "retry" },
      { status: 503, outcome: "retry" },
      { status: 200, outcome: "succeeded" },
    ]);
    const calls = upsertsFor(fake, event);
    assert.equal(calls.length, 3);
    assert.ok(calls[2].at - calls[1].at >= 900, "Retry-After: 1 was honoured");
  });

  test("a downstream that always fails ends dead after MAX_ATTEMPTS", async () => {
    fake.always(UPSERT, { status: 502 });
    const event = checkoutCompleted();
    await deliver(event);
    const step = await stepReaching(event, "dead");
    assert.equal(step.attempts, 3);
    assert.equal(step.last_status, 502);
    await quiet(fake, { windowMs: 500 }); // room for a fourth (wrong) attempt to show up
    assert.equal(upsertsFor(fake, event).length, 3);
  });

  test("a permanent 4xx is dead at once", async () => {
    fake.always(UPSERT, { status: 400, body: { message: "Property values were not valid" } });
    const event = checkoutCompleted();
    await deliver(event);
    const step = await stepReaching(event, "dead");
    assert.equal(step.attempts, 1);
    assert.match(step.last_error, /^http_400/);
  });

  test("a verified body that is not a Stripe event is 400 and kept as rejected", async () => {
    const payload = JSON.stringify({ hello: "world" });
    const { headers } = signedDelivery(payload, PRIMARY);
    const res = await worker.post("/webhooks/stripe", payload, headers);
    assert.equal(res.status, 400);
    assert.equal(res.json.error, "missing_field");
    const rows = await worker.all("SELECT status, error, type FROM events WHERE provider = 'stripe' AND status = 'rejected'");
    assert.deepEqual(rows, [{ status: "rejected", error: "missing_field", type: "unparsable" }]);
  });

  test("health, unknown paths and wrong methods", async () => {
    const health = await worker.get("/health");
    assert.deepEqual([health.status, health.json], [200, { status: "ok" }], "the state and nothing else");
    assert.equal((await worker.get("/nope")).status, 404);
    assert.equal((await worker.get("/webhooks/stripe")).status, 405);
    const unknown = await worker.post("/webhooks/paypal", "{}", {});
    assert.deepEqual([unknown.status, unknown.json], [404, { error: "not_found" }]);
  });

  test("a body over MAX_BODY_BYTES is 413", async () => {
    const big = "x".repeat(1_048_577);
    const res = await worker.post("/webhooks/stripe", big, { "stripe-signature": "t=1,v1=00" });
    assert.equal(res.status, 413);
    assert.equal(res.json.error, "payload_too_large");
  });
});
