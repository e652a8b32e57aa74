// Races through workerd: 50 concurrent deliveries of the same Stripe event, and of the same
// SendGrid batch, arrive before any KV hint exists, so only D1's UNIQUE (provider, dedupe_key)
// and the atomic ingest batch stand between them and a double. Expect exactly one event row per
// event, exactly one request answered "accepted" (the others "duplicate"), and exactly one
// downstream call (or local effect) per step once the queue has drained.
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { downstreamVars, startWorker, waitFor, TEST_SECRETS, producersWithout } from "../helpers/worker.mjs";
import { useWorld, quiet } from "../helpers/world.mjs";
import { checkoutCompleted, signedDelivery } from "../helpers/stripe.mjs";
import { sendgridDelivery, sendgridEvent } from "../helpers/providers.mjs";
import { assertCaptured, assertNoPanics, assertNoSecrets } from "../helpers/logs.mjs";

const [PRIMARY] = TEST_SECRETS.STRIPE_WEBHOOK_SECRETS.split(",");
const UPSERT = "/crm/v3/objects/contacts/batch/upsert";
const MAIL = "/v3/mail/send";
const SENDERS = 50;

describe("concurrent duplicate deliveries", () => {
  let fake;
  let worker;

  useWorld({ captureLogs: true }, { ready: (w) => ({ worker, fake } = w) });

  /** Wait until every step of these events is terminal, then a little longer for stray calls. */
  async function drained(dedupeKeys) {
    const marks = dedupeKeys.map(() => "?").join(",");
    await waitFor(
      async () => {
        const open = await worker.all(
          `SELECT COUNT(*) AS n FROM steps s JOIN events e ON e.id = s.event_id WHERE e.dedupe_key IN (${marks}) AND s.status NOT IN ('succeeded', 'skipped', 'skipped_stale', 'dead')`,
          ...dedupeKeys,
        );
        return open[0].n === 0;
      },
      { timeoutMs: 30_000, what: "steps terminal" },
    );
    await quiet(fake, { windowMs: 1000 }); // room for a second (wrong) call to show up
  }

  test(`${SENDERS} concurrent deliveries of one Stripe event: one row, one call per step`, async () => {
    const email = `race.${Date.now()}@example.com`;
    const event = checkoutCompleted({ email });
    const now = Math.floor(Date.now() / 1000);
    // Like Stripe's retries, each delivery is signed anew (with a slightly different t).
    const deliveries = Array.from({ length: SENDERS }, (_, i) => signedDelivery(event, PRIMARY, now - (i % 5)));
    const responses = await Promise.all(deliveries.map((d) => worker.post("/webhooks/stripe", d.payload, d.headers)));

    assert.deepEqual([...new Set(responses.map((r) => r.status))], [200], responses.map((r) => r.text).join("\n"));
    const accepted = responses.filter((r) => r.json.status === "accepted");
    assert.equal(accepted.length, 1, "exactly one delivery wins the insert");
    assert.deepEqual(accepted[0].json, { status: "accepted", events: 1, duplicates: 0 });
    assert.equal(responses.filter((r) => r.json.status === "duplicate").length, SENDERS - 1);

    const rows = await worker.all("SELECT id FROM events WHERE provider = 'stripe' AND dedupe_key = ?", event.id);
    assert.equal(rows.length, 1);
    const steps = await worker.all("SELECT name FROM steps WHERE event_id = ? ORDER BY name", rows[0].id);
    assert.deepEqual(steps.map((s) => s.name), ["hubspot.upsert_contact", "sendgrid.send"]);

    await drained([event.id]);
    const finished = await worker.all("SELECT name, status, attempts FROM steps WHERE event_id = ? ORDER BY name", rows[0].id);
    assert.deepEqual(finished, [
      { name: "hubspot.upsert_contact", status: "succeeded", attempts: 1 },
      { name: "sendgrid.send", status: "succeeded", attempts: 1 },
    ]);
    assert.equal(fake.callsTo(UPSERT).filter((c) => c.body.includes(email)).length, 1, "one HubSpot upsert");
    assert.equal(fake.callsTo(MAIL).filter((c) => c.body.includes(email)).length, 1, "one confirmation email");
  });

  test(`${SENDERS} concurrent deliveries of one SendGrid batch: one row per event, one effect per step`, async () => {
    const tag = Date.now();
    const events = [
      ...Array.from({ length: 4 }, (_, i) => sendgridEvent({ email: `bounce${i}.${tag}@example.com`, event: "bounce", reason: "550" })),
      ...Array.from({ length: 6 }, (_, i) => sendgridEvent({ email: `open${i}.${tag}@example.com`, event: "open" })),
    ];
    const deliveries = Array.from({ length: SENDERS }, () => sendgridDelivery(events));
    const responses = await Promise.all(deliveries.map((d) => worker.post("/webhooks/sendgrid", d.payload, d.headers)));

    assert.deepEqual([...new Set(responses.map((r) => r.status))], [200], responses.map((r) => r.text).join("\n"));
    const accepted = responses.filter((r) => r.json.status === "accepted");
    assert.equal(accepted.length, 1, "the batch is inserted by exactly one delivery");
    assert.deepEqual(accepted[0].json, { status: "accepted", events: 10, duplicates: 0 });

    const ids = events.map((e) => e.sg_event_id);
    const rows = await worker.all(
      `SELECT dedupe_key, COUNT(*) AS n FROM events WHERE provider = 'sendgrid' AND dedupe_key IN (${ids.map(() => "?").join(",")}) GROUP BY dedupe_key`,
      ...ids,
    );
    assert.equal(rows.length, 10);
    assert.ok(rows.every((r) => r.n === 1));

    await drained(ids);
    const steps = await worker.all(
      `SELECT s.name, s.status, s.attempts FROM steps s JOIN events e ON e.id = s.event_id WHERE e.dedupe_key IN (${ids.map(() => "?").join(",")})`,
      ...ids,
    );
    assert.equal(steps.length, 4 * 2 + 6, "bounce: suppression + upsert; open: engagement");
    assert.ok(steps.every((s) => s.status === "succeeded" && s.attempts === 1), JSON.stringify(steps));
    // Local effects happened once: one engagement count per address, one suppression per bounce.
    const engagement = await worker.all("SELECT email, count FROM engagement WHERE email LIKE ?", `%.${tag}@example.com`);
    assert.equal(engagement.length, 6);
    assert.ok(engagement.every((e) => e.count === 1), JSON.stringify(engagement));
    const suppressions = await worker.all("SELECT email FROM suppressions WHERE email LIKE ?", `%.${tag}@example.com`);
    assert.equal(suppressions.length, 4);
    for (let i = 0; i < 4; i += 1) {
      const email = `bounce${i}.${tag}@example.com`;
      assert.equal(fake.callsTo(UPSERT).filter((c) => c.body.includes(email)).length, 1, `one upsert for ${email}`);
    }
  });

  test("the same step delivered by many queue messages at once calls downstream once", async () => {
    // At-least-once delivery: the sweeper and a slow ack can both deliver a step. Here a second
    // worker without the STEPS producer stores the event with its steps `pending`, then its
    // consumer receives 10 invocations at once, each carrying every step id three times.
    const lone = await startWorker({
      vars: downstreamVars(fake.url),
      captureLogs: true,
      miniflare: { queueProducers: producersWithout("STEPS") },
    });
    try {
      const email = `dupmsg.${Date.now()}@example.com`;
      const event = checkoutCompleted({ email });
      const { payload, headers } = signedDelivery(event, PRIMARY);
      assert.equal((await lone.post("/webhooks/stripe", payload, headers)).status, 200);
      const steps = await lone.all(
        "SELECT s.id, s.status FROM steps s JOIN events e ON e.id = s.event_id WHERE e.dedupe_key = ? ORDER BY s.name",
        event.id,
      );
      assert.deepEqual(steps.map((s) => s.status), ["pending", "pending"]);
      const consumer = await lone.mf.getWorker();
      let n = 0;
      const message = (stepId) => ({ id: `m${++n}`, timestamp: new Date(), body: { step_id: stepId }, attempts: 1 });
      const results = await Promise.all(
        Array.from({ length: 10 }, () => consumer.queue("steps", steps.flatMap((s) => [message(s.id), message(s.id), message(s.id)]))),
      );
      assert.ok(results.every((r) => r.outcome === "ok"), JSON.stringify(results.map((r) => r.outcome)));
      const finished = await lone.all("SELECT name, status, attempts FROM steps WHERE id IN (?, ?) ORDER BY name", steps[0].id, steps[1].id);
      assert.deepEqual(finished, [
        { name: "hubspot.upsert_contact", status: "succeeded", attempts: 1 },
        { name: "sendgrid.send", status: "succeeded", attempts: 1 },
      ]);
      assert.equal(fake.callsTo(UPSERT).filter((c) => c.body.includes(email)).length, 1, "one HubSpot upsert");
      assert.equal(fake.callsTo(MAIL).filter((c) => c.body.includes(email)).length, 1, "one confirmation email");
      assertNoPanics(lone.logs);
    } finally {
      await lone.dispose();
    }
  });

  test("no panic or isolate reset, and no secret in any log line, during the races", () => {
    assertCaptured(worker.logs);
    assertNoPanics(worker.logs);
    assertNoSecrets(worker.logs, [downstreamVars(fake.url).SLACK_WEBHOOK_URL]);
  });
});
