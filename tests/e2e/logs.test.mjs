// Log capture through workerd: every line the worker writes is one JSON object; each ingest
// request writes exactly one `request` line (provider, event type, dedupe keys, counts, outcome,
// status, error code, latency) and each step attempt one `step_attempt` line (step id, name,
// destination, event type, outcome, HTTP status, error code, latency); no configured secret and
// no payload content ever appears.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { TEST_SECRETS, waitFor } from "../helpers/worker.mjs";
import { useWorld } from "../helpers/world.mjs";
import { checkoutCompleted, signedDelivery } from "../helpers/stripe.mjs";
import { sendgridDelivery, sendgridEvent, shopifyDelivery, shopifyOrder } from "../helpers/providers.mjs";

const STRIPE_SECRET = TEST_SECRETS.STRIPE_WEBHOOK_SECRETS.split(",")[0];
const SHOPIFY_SECRET = TEST_SECRETS.SHOPIFY_WEBHOOK_SECRETS.split(",")[0];
const SLACK_PATH = "/services/T000/B000/test";
const DESTINATIONS = {
  "hubspot.upsert_contact": "hubspot",
  "hubspot.create_deal": "hubspot",
  "sendgrid.send": "sendgrid",
  "slack.notify": "slack",
  "suppression.record": "local",
  "engagement.count": "local",
};

let fake;
let worker;
useWorld({ vars: { RETRY_BASE_SECONDS: "0", MAX_ATTEMPTS: "3", DOWNSTREAM_TIMEOUT_MS: "3000" }, captureLogs: true }, { ready: (w) => ({ worker, fake } = w) });

const lines = (kind) => worker.workerLogs().filter((l) => l.kind === kind);

test("request and step-attempt lines are JSON, complete, one per request and per attempt, and secret-free", async () => {
  // Slack fails once with a 500, then succeeds: two attempts for that step.
  fake.script(SLACK_PATH, [{ status: 500, body: { error: "boom" } }]);

  const checkout = checkoutCompleted();
  const stripe = signedDelivery(checkout, STRIPE_SECRET);
  const batch = [sendgridEvent(), sendgridEvent({ event: "open" }), sendgridEvent({ event: "bounce" })];
  const sendgrid = sendgridDelivery(batch);
  const order = shopifyOrder();
  const webhookId = `wh_logs_${Date.now()}`;
  const shopify = shopifyDelivery(order, SHOPIFY_SECRET, { webhookId });
  const forged = signedDelivery(checkoutCompleted(), "whsec_not_ours");

  const requests = [
    ["stripe", stripe, 200],
    ["stripe", stripe, 200], // duplicate
    ["stripe", forged, 401],
    ["sendgrid", sendgrid, 200],
    ["shopify", shopify, 200],
  ];
  for (const [provider, { payload, headers }, status] of requests) {
    const res = await worker.post(`/webhooks/${provider}`, payload, headers);
    assert.equal(res.status, status, res.text);
  }

  // Every planned step finishes (the Slack one after a retry).
  const steps = await waitFor(
    async () => {
      const rows = await worker.all("SELECT id, name, status FROM steps");
      return rows.length > 0 && rows.every((r) => r.status === "succeeded") && rows;
    },
    { timeoutMs: 30000, what: "all steps succeeded" },
  );
  const attempts = await worker.all("SELECT step_id, n, status FROM attempts ORDER BY step_id, n");
  assert.ok(attempts.some((a) => a.status === 500), "the scripted Slack failure was attempted");
  await waitFor(() => lines("step_attempt").length >= attempts.length, { what: "step log lines" });

  // Every worker line is one JSON object (Miniflare's own lines start with [mf:...]).
  for (const line of worker.logs.filter((l) => !l.startsWith("[mf:"))) {
    assert.doesNotThrow(() => JSON.parse(line), `not JSON: ${line}`);
  }

  // One request line per request, in order.
  const requestLines = lines("request");
  assert.equal(requestLines.length, requests.length, JSON.stringify(requestLines));
  for (const line of requestLines) {
    assert.equal(typeof line.latency_ms, "number");
    assert.ok(line.latency_ms >= 0);
    assert.equal(typeof line.status, "number");
  }
  const [accepted, duplicate, rejected, sgBatch, shop] = requestLines;
  assert.deepEqual(
    [accepted.provider, accepted.outcome, accepted.status, accepted.event_type, accepted.dedupe_keys, accepted.events, accepted.new_events],
    ["stripe", "accepted", 200, "checkout.session.completed", [checkout.id], 1, 1],
  );
  assert.equal(accepted.key_index, 0);
  assert.equal(accepted.error, undefined);
  assert.deepEqual([duplicate.outcome, duplicate.dedupe_keys, duplicate.duplicates], ["duplicate", [checkout.id], 1]);
  assert.deepEqual([rejected.provider, rejected.outcome, rejected.status, rejected.error], ["stripe", "rejected", 401, "signature_mismatch"]);
  assert.equal(rejected.dedupe_keys.length, 0, "nothing unverified is logged as an id");
  assert.deepEqual(
    [sgBatch.provider, sgBatch.events, sgBatch.new_events, sgBatch.event_type, sgBatch.event_types],
    ["sendgrid", 3, 3, "delivered", ["delivered", "open", "bounce"]],
  );
  assert.deepEqual(sgBatch.dedupe_keys, batch.map((e) => e.sg_event_id));
  assert.deepEqual([shop.provider, shop.event_type, shop.dedupe_keys], ["shopify", "orders/create", [webhookId]]);

  // One step line per attempt, carrying what identifies the step.
  const stepLines = lines("step_attempt");
  const byStep = new Map(steps.map((s) => [s.id, s]));
  for (const line of stepLines) {
    const step = byStep.get(line.step_id);
    assert.ok(step, `step line for an unknown step: ${JSON.stringify(line)}`);
    assert.equal(line.step, step.name);
    assert.equal(line.destination, DESTINATIONS[step.name], step.name);
    assert.equal(typeof line.event_type, "string");
    assert.equal(typeof line.provider, "string");
    assert.equal(typeof line.latency_ms, "number");
    assert.ok(["succeeded", "enqueued", "dead", "deferred", "skipped", "skipped_stale", "resolved"].includes(line.outcome), line.outcome);
  }
  for (const attempt of attempts) {
    const n = stepLines.filter((l) => l.step_id === attempt.step_id && l.outcome !== "deferred").length;
    const made = attempts.filter((a) => a.step_id === attempt.step_id).length;
    assert.equal(n, made, `one line per attempt of ${attempt.step_id}`);
  }
  // Deferred lines (rate budget, open circuit) are decisions not to call, not attempts.
  const slack = stepLines.filter((l) => l.step === "slack.notify" && l.outcome !== "deferred");
  assert.deepEqual(
    slack.map((l) => [l.outcome, l.http_status, l.error ?? null, l.destination, l.event_type]),
    [
      ["enqueued", 500, "http_500", "slack", "orders/create"],
      ["succeeded", 200, null, "slack", "orders/create"],
    ],
  );
  const upsert = stepLines.find((l) => l.step === "hubspot.upsert_contact" && l.event_type === "checkout.session.completed");
  assert.deepEqual([upsert.destination, upsert.provider, upsert.outcome, upsert.http_status], ["hubspot", "stripe", "succeeded", 200]);

  // No configured secret, no credentialed URL, no payload content.
  const everything = worker.logs.join("\n");
  const secrets = Object.entries(TEST_SECRETS)
    .filter(([name]) => !name.startsWith("SENDGRID_TEMPLATE") && name !== "SENDGRID_FROM_EMAIL")
    .flatMap(([, value]) => value.split(","));
  for (const secret of [...secrets, SLACK_PATH, "whsec_not_ours"]) {
    assert.ok(!everything.includes(secret), `logs contain a secret (${secret.slice(0, 4)}…)`);
  }
  for (const pii of [checkout.data.object.customer_details.email, order.email, batch[0].email, "Ada Lovelace"]) {
    assert.ok(!everything.includes(pii), "logs contain payload content");
  }
});

test("a caller's source segment is cut to 120 characters in the request line", async () => {
  const long = "x".repeat(5000);
  for (const provider of ["in", "stripe"]) {
    const res = await worker.post(`/webhooks/${provider}/${long}`, "{}", {});
    assert.equal(res.status, 404, res.text);
    const line = lines("request").find((l) => l.provider === provider && l.status === 404 && l.source?.startsWith("xxx"));
    assert.ok(line, `a request line for /webhooks/${provider}/x…`);
    assert.equal(line.source, "x".repeat(120));
  }
});
