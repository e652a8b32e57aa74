// Misconfiguration through workerd: each broken setting answers 503 {"error":"misconfigured",
// "detail":...} for the providers that use it and only those, with exactly one log line naming
// the setting (never its value), nothing stored, no panic, the public /health saying only
// {"status":"misconfigured"} and the admin health (GET /admin/api/health) naming the setting.
// Other providers keep accepting signed deliveries.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { downstreamVars, startWorker, TEST_SECRETS, waitFor } from "../helpers/worker.mjs";
import { startFakeDownstream } from "../helpers/fake-downstream.mjs";
import { checkoutCompleted, signedDelivery } from "../helpers/stripe.mjs";
import {
  hubspotDelivery,
  hubspotEvent,
  sendgridDelivery,
  sendgridEvent,
  shopifyDelivery,
  shopifyOrder,
} from "../helpers/providers.mjs";

const PROVIDERS = ["stripe", "sendgrid", "hubspot", "shopify"];
const AUTH = { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}` };

/** The admin health (the detail /health keeps to itself). */
const adminHealth = (worker) => worker.get("/admin/api/health", AUTH);

/** A fresh, correctly signed delivery for `provider` under TEST_SECRETS, and its dedupe key. */
function delivery(provider) {
  switch (provider) {
    case "stripe": {
      const event = checkoutCompleted();
      return { key: event.id, ...signedDelivery(event, TEST_SECRETS.STRIPE_WEBHOOK_SECRETS.split(",")[0]) };
    }
    case "sendgrid": {
      const event = sendgridEvent();
      return { key: event.sg_event_id, ...sendgridDelivery([event]) };
    }
    case "hubspot": {
      const event = hubspotEvent();
      const key = `${event.portalId}:${event.subscriptionId}:${event.eventId}`;
      return { key, ...hubspotDelivery([event], TEST_SECRETS.HUBSPOT_CLIENT_SECRETS.split(",")[0]) };
    }
    case "shopify": {
      const webhookId = `wh_cfg_${crypto.randomUUID()}`;
      return { key: webhookId, ...shopifyDelivery(shopifyOrder(), TEST_SECRETS.SHOPIFY_WEBHOOK_SECRETS.split(",")[0], { webhookId }) };
    }
  }
  throw new Error(`unknown provider ${provider}`);
}

/** Every secret value the worker is configured with, one list entry at a time. */
function secretValues(vars) {
  return Object.entries({ ...TEST_SECRETS, ...vars })
    .filter(([name]) => /SECRET|KEY|TOKEN/.test(name) && !name.startsWith("SENDGRID_TEMPLATE"))
    .flatMap(([, value]) => String(value).split(","))
    .map((v) => v.trim())
    .filter((v) => v.length >= 8);
}

let fake;
before(async () => {
  fake = await startFakeDownstream();
});
after(async () => fake?.close?.());

/**
 * Start a worker with `vars`, post one signed delivery per provider, and return what happened:
 * per provider the response, its request log lines and whether its event was stored.
 */
async function exercise(vars) {
  const worker = await startWorker({ vars: { ...downstreamVars(fake.url), ...vars }, captureLogs: true });
  try {
    const results = {};
    for (const provider of PROVIDERS) {
      const { key, payload, headers } = delivery(provider);
      const before = worker.workerLogs().filter((l) => l.kind === "request").length;
      const res = await worker.post(`/webhooks/${provider}`, payload, headers);
      const lines = await waitFor(
        () => {
          const all = worker.workerLogs().filter((l) => l.kind === "request");
          return all.length > before && all.slice(before);
        },
        { what: `the ${provider} request log line` },
      );
      const stored = await worker.all("SELECT id FROM events WHERE provider = ? AND dedupe_key = ?", provider, key);
      results[provider] = { res, lines, stored: stored.length };
    }
    // An unsigned delivery to a misconfigured provider is refused too (never a silent accept).
    const unsigned = await worker.post("/webhooks/shopify", "{}", { "content-type": "application/json" });
    const health = await adminHealth(worker);
    const open = await worker.get("/health");
    // Still alive after all that: no panic took the instance down.
    const again = await worker.get("/health");
    return { results, unsigned, health, open, again, logs: worker.logs.join("\n") };
  } finally {
    await worker.dispose();
  }
}

/** Assert `broken` providers answered misconfigured naming `setting`, and the others accepted. */
/** `alsoAffects`: other parts the admin health names for the same setting (the Stripe backfill
 * reads the Stripe routes). */
function assertOnly(outcome, broken, setting, vars, alsoAffects = []) {
  for (const provider of PROVIDERS) {
    const { res, lines, stored } = outcome.results[provider];
    assert.equal(lines.length, 1, `${provider}: exactly one request log line, got ${JSON.stringify(lines)}`);
    const [line] = lines;
    if (broken.includes(provider)) {
      assert.equal(res.status, 503, `${provider}: ${res.text}`);
      assert.equal(res.json.error, "misconfigured");
      assert.match(res.json.detail, new RegExp(`^${setting}: `), `${provider} detail names the setting`);
      assert.equal(res.headers.get("retry-after"), "30");
      assert.equal(stored, 0, `${provider}: nothing stored while misconfigured`);
      assert.equal(line.provider, provider);
      assert.equal(line.outcome, "misconfigured");
      assert.equal(line.error, "misconfigured");
      assert.equal(line.status, 503);
      assert.equal(line.detail, res.json.detail);
    } else {
      assert.equal(res.status, 200, `${provider} is unaffected: ${res.text}`);
      assert.equal(res.json.status, "accepted");
      assert.equal(stored, 1);
      assert.equal(line.outcome, "accepted");
    }
  }
  assert.equal(outcome.health.status, 200);
  assert.equal(outcome.health.json.status, "misconfigured");
  assert.equal(outcome.open.status, 200);
  assert.deepEqual(outcome.open.json, { status: "misconfigured" }, "the public /health says the state and nothing else");
  for (const provider of PROVIDERS) {
    assert.equal(outcome.health.json.providers[provider], broken.includes(provider) ? "misconfigured" : "enabled", provider);
  }
  assert.deepEqual(
    outcome.health.json.misconfigured.map((m) => m.affects).sort(),
    [...broken, ...alsoAffects].sort(),
    "health lists exactly the affected providers",
  );
  for (const entry of outcome.health.json.misconfigured) assert.equal(entry.setting, setting);
  assert.equal(outcome.again.status, 200);
  if (broken.includes("shopify")) assert.equal(outcome.unsigned.status, 503);
  else assert.equal(outcome.unsigned.status, 401);
  assert.doesNotMatch(outcome.logs, /panicked|RuntimeError|unreachable/);
  for (const secret of secretValues(vars)) {
    assert.ok(!outcome.logs.includes(secret), "a configured secret appears in the logs");
    assert.ok(!outcome.health.text.includes(secret), "a configured secret appears in the admin health");
  }
}

describe("misconfiguration answers 503 for the affected provider only", () => {
  test("a secret list with an empty entry (rotation typo) stops only that provider", async () => {
    const vars = { SHOPIFY_WEBHOOK_SECRETS: "shpss_test_primary,,shpss_test_old" };
    const outcome = await exercise(vars);
    assertOnly(outcome, ["shopify"], "SHOPIFY_WEBHOOK_SECRETS", vars);
    assert.match(outcome.results.shopify.res.json.detail, /entry 1 of the comma-separated list is empty/);
  });

  test("a SendGrid key that is not a P-256 SPKI stops only SendGrid", async () => {
    const p384 = crypto.generateKeyPairSync("ec", { namedCurve: "secp384r1" }).publicKey;
    const wrongCurve = p384.export({ type: "spki", format: "der" }).toString("base64");
    const vars = { SENDGRID_WEBHOOK_PUBLIC_KEYS: `${TEST_SECRETS.SENDGRID_WEBHOOK_PUBLIC_KEYS},${wrongCurve}` };
    const outcome = await exercise(vars);
    assertOnly(outcome, ["sendgrid"], "SENDGRID_WEBHOOK_PUBLIC_KEYS", vars);
    assert.match(outcome.results.sendgrid.res.json.detail, /entry 1 is not a P-256 public key/);
    assert.ok(!outcome.logs.includes(wrongCurve));
  });

  test("a SendGrid key that is not base64 names the entry, not the value", async () => {
    const vars = { SENDGRID_WEBHOOK_PUBLIC_KEYS: "not base64 at all!" };
    const outcome = await exercise(vars);
    assertOnly(outcome, ["sendgrid"], "SENDGRID_WEBHOOK_PUBLIC_KEYS", vars);
    assert.match(outcome.results.sendgrid.res.json.detail, /entry 0 is not valid base64/);
    assert.ok(!outcome.logs.includes("not base64 at all"));
  });

  test("ROUTES_JSON that is not JSON stops every provider (the intent cannot be attributed)", async () => {
    const outcome = await exercise({ ROUTES_JSON: '{"stripe": {"invoice.paid": ["slack.notify"]' });
    assertOnly(outcome, PROVIDERS, "ROUTES_JSON", {}, ["backfill"]);
    assert.equal(outcome.health.json.backfill, "misconfigured", "the backfill lists the Stripe routes' types");
    assert.match(outcome.results.stripe.res.json.detail, /not valid JSON/);
  });

  test("a ROUTES_JSON section wrong for one provider stops only that provider", async () => {
    const outcome = await exercise({
      ROUTES_JSON: JSON.stringify({
        shopify: { "orders/create": ["hubspot.upsert_contact", "no.such_step"] },
        stripe: { "charge.refunded": ["slack.notify"] },
      }),
    });
    assertOnly(outcome, ["shopify"], "ROUTES_JSON", {});
    assert.match(outcome.results.shopify.res.json.detail, /no\.such_step/);
  });

  test("a non-numeric SIGNATURE_TOLERANCE_SECONDS stops the timestamp-signing providers, not Shopify", async () => {
    const outcome = await exercise({ SIGNATURE_TOLERANCE_SECONDS: "5m" });
    assertOnly(outcome, ["stripe", "sendgrid", "hubspot"], "SIGNATURE_TOLERANCE_SECONDS", {});
    assert.match(outcome.results.stripe.res.json.detail, /must be a non-negative whole number/);
  });

  test("a MAX_BODY_BYTES above what one D1 row holds stops every provider (it would 503 forever)", async () => {
    const outcome = await exercise({ MAX_BODY_BYTES: "2000000" });
    assertOnly(outcome, PROVIDERS, "MAX_BODY_BYTES", {});
    assert.match(outcome.results.stripe.res.json.detail, /must be at most 1900000/);
  });

  test("a RETENTION_DAYS under one day is named by the admin health (the sweeper would delete nothing)", async () => {
    const worker = await startWorker({ vars: { ...downstreamVars(fake.url), RETENTION_DAYS: "0" } });
    try {
      const health = await adminHealth(worker);
      assert.deepEqual(health.json.misconfigured, [{ affects: "retention", setting: "RETENTION_DAYS" }]);
      assert.deepEqual((await worker.get("/health")).json, { status: "misconfigured" });
      const fine = await startWorker({ vars: { ...downstreamVars(fake.url), RETENTION_DAYS: "1" } });
      try {
        assert.deepEqual((await adminHealth(fine)).json.misconfigured, []);
        assert.deepEqual((await fine.get("/health")).json, { status: "ok" });
      } finally {
        await fine.dispose();
      }
    } finally {
      await worker.dispose();
    }
  });

  test("the admin health names enabled and disabled providers and destinations without values; /health none", async () => {
    const worker = await startWorker({
      vars: { ...downstreamVars(fake.url), HUBSPOT_CLIENT_SECRETS: "", SLACK_WEBHOOK_URL: "", MAX_ATTEMPTS: "ten" },
    });
    try {
      const open = await worker.get("/health");
      assert.equal(open.status, 200);
      assert.deepEqual(open.json, { status: "misconfigured" });
      assert.equal((await worker.get("/admin/api/health")).status, 401, "the detail needs the admin token");
      const health = await adminHealth(worker);
      assert.equal(health.status, 200);
      assert.deepEqual(health.json.providers, {
        stripe: "enabled",
        sendgrid: "enabled",
        hubspot: "disabled",
        shopify: "enabled",
      });
      assert.deepEqual(health.json.destinations, {
        hubspot: "misconfigured",
        sendgrid: "misconfigured",
        stripe: "misconfigured",
        slack: "disabled",
      });
      assert.deepEqual(health.json.misconfigured, [{ affects: "steps", setting: "MAX_ATTEMPTS" }]);
      for (const secret of secretValues({})) assert.ok(!health.text.includes(secret));
      const disabled = await worker.post("/webhooks/hubspot", "[]", {});
      assert.deepEqual([disabled.status, disabled.json], [404, { error: "provider_disabled" }]);
    } finally {
      await worker.dispose();
    }
  });
});
