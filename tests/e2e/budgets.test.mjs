// The built-in destinations' request budgets as a setting (RATE_LIMITS_JSON) through workerd: a
// budget set lower than HubSpot's published one lets out what no span of its window may exceed
// (HubSpot's window is rolling: 2 per hour is kept as 1 per hour window, since two calls in
// adjacent windows could be minutes apart) and puts the rest off without spending an attempt; a
// budget set higher than HubSpot's published 100 per 10 s (kept as 9 per second) lets a call
// through once those are spent; a broken value is named in the admin health.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { TEST_SECRETS, waitFor } from "../helpers/worker.mjs";
import { useWorld } from "../helpers/world.mjs";
import { checkoutCompleted } from "../helpers/stripe.mjs";

const AUTH = { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}` };
const UPSERT = "/crm/v3/objects/contacts/batch/upsert";

const stepsNamed = (w, name) =>
  w.worker.all("SELECT id, status, attempts, last_error FROM steps WHERE name = ? ORDER BY id", name);

describe("a budget lower than the published one", () => {
  const w = useWorld({
    vars: {
      RATE_LIMITS_JSON: JSON.stringify({ hubspot: { calls: 2, per_seconds: 3600 } }),
      ROUTES_JSON: JSON.stringify({ stripe: { "checkout.session.completed": ["hubspot.upsert_contact"] } }),
    },
  });

  test("lets out what no hour may exceed; the rest wait for it without spending an attempt", async () => {
    // One at a time: upserts that share a message batch would share one call (hubspot-batch.test.mjs).
    for (let i = 0; i < 4; i++) {
      await w.deliver("stripe", checkoutCompleted({ customer: `cus_budget_${i}` }));
      await waitFor(async () => {
        const rows = await stepsNamed(w, "hubspot.upsert_contact");
        return rows.length === i + 1 && rows.every((s) => s.status === "succeeded" || s.last_error === "rate_budget");
      }, { what: `upsert ${i} made or waiting` });
    }
    const steps = await waitFor(async () => {
      const rows = await stepsNamed(w, "hubspot.upsert_contact");
      const done = rows.filter((s) => s.status === "succeeded");
      const waiting = rows.filter((s) => s.status === "enqueued" && s.last_error === "rate_budget");
      return rows.length === 4 && done.length + waiting.length === 4 && waiting.length === 3 && rows;
    }, { what: "one upsert made, three waiting for the budget" });
    assert.equal(w.fake.callsTo(UPSERT).length, 1, "the budget of 2 calls per rolling hour held");
    for (const s of steps.filter((s) => s.status === "enqueued")) assert.equal(s.attempts, 0, "waiting spent no attempt");
  });
});

describe("a budget higher than the published one", () => {
  const w = useWorld({
    vars: {
      RATE_LIMITS_JSON: JSON.stringify({ hubspot: { calls: 1000, per_seconds: 3600 } }),
      ROUTES_JSON: JSON.stringify({ stripe: { "checkout.session.completed": ["hubspot.upsert_contact"] } }),
    },
  });

  test("lets a call through once HubSpot's published 100 per 10 s are spent", async () => {
    // The published budget's calls of this window are spent (9 in this second, as by a burst
    // just before); the configured 1,000 per hour is kept as 90 per 6 minutes.
    await w.worker.all(
      "INSERT INTO destination_health (destination, window_start, window_count) VALUES ('hubspot', ?, 10)",
      Date.now(),
    );
    await w.deliver("stripe", checkoutCompleted({ customer: "cus_budget_high" }));
    const [step] = await waitFor(async () => {
      const rows = await stepsNamed(w, "hubspot.upsert_contact");
      return rows.length === 1 && ["succeeded", "enqueued"].includes(rows[0].status) && rows[0].attempts + (rows[0].last_error ? 1 : 0) > 0 && rows;
    }, { what: "the upsert made or put off" });
    assert.deepEqual([step.status, step.last_error, step.attempts], ["succeeded", null, 1], "not put off for the budget");
    assert.equal(w.fake.callsTo(UPSERT).length, 1);
    assert.deepEqual(w.worker.workerLogs().filter((l) => l.error === "rate_budget"), [], "nothing waited for a budget");
  });
});

describe("a broken budget", () => {
  const w = useWorld({ vars: { RATE_LIMITS_JSON: JSON.stringify({ hubspot: { calls: 0, per_seconds: 10 } }) } });

  test("is misconfigured, named by its setting", async () => {
    const health = await w.worker.get("/admin/api/health", AUTH);
    assert.ok(health.json.misconfigured.some((p) => p.setting === "RATE_LIMITS_JSON"), JSON.stringify(health.json.misconfigured));
  });
});
