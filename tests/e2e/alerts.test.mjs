// Alerts and the dashboard's metrics end to end through workerd: known traffic gives the
// numbers `GET /admin/api/metrics` reports; each alert kind fires once (deduped over crons) and
// clears; a clear inside ALERT_RENOTIFY_MINUTES waits for it; ALERT_MAX_PER_HOUR caps notices; a
// failed Slack send stays pending, visible, and is retried after its backoff; the notice text
// reaching the fake Slack. Time beyond the real clock is the cron's scheduled time (the alerts
// judge "now" by it), never a sleep.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { stripeFixtureEvent } from "../helpers/fake-downstream.mjs";
import { TEST_SECRETS, waitFor, waitForNoStepInFlight } from "../helpers/worker.mjs";
import { alertWorld as sharedAlertWorld, cronAt } from "../helpers/alerts.mjs";
import { checkoutCompleted, signedDelivery } from "../helpers/stripe.mjs";
import { shopifyOrder } from "../helpers/providers.mjs";
import { MAIL, settled } from "../helpers/flows.mjs";

const ALERTS = "/services/T000/B000/alerts";
const AUTH = { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}` };
const MIN = 60_000;
const SENDGRID_ONLY = JSON.stringify({ stripe: { "checkout.session.completed": ["sendgrid.send"] } });

/** A world whose alerts go to the fake's Slack path (and the defaults of this file). */
const alertWorld = (vars = {}) => sharedAlertWorld(ALERTS, { RETRY_BASE_SECONDS: "0", ...vars });

const texts = (w) => w.fake.callsTo(ALERTS).map((c) => JSON.parse(c.body).text);
const alertsOf = (w, kind) => w.worker.all("SELECT * FROM alerts WHERE kind = ? ORDER BY id", kind);

async function admin(w, path) {
  const res = await w.worker.get(`/admin/api/${path}`, AUTH);
  assert.equal(res.status, 200, res.text);
  return res.json;
}

/** A Stripe delivery signed with a wrong secret (401 signature_mismatch). */
async function forged(w) {
  const { payload, headers } = signedDelivery(checkoutCompleted(), "whsec_wrongly_rotated");
  const res = await w.worker.post("/webhooks/stripe", payload, headers);
  assert.equal(res.status, 401, res.text);
}

async function deliverStripe(w, event = checkoutCompleted()) {
  const { payload, headers } = signedDelivery(event, TEST_SECRETS.STRIPE_WEBHOOK_SECRETS.split(",")[0]);
  const res = await w.worker.post("/webhooks/stripe", payload, headers);
  assert.equal(res.status, 200, res.text);
  return event;
}

describe("metrics endpoint", () => {
  const w = alertWorld();
  test("reports the known traffic per provider, outcome, reason and destination", async () => {
    const events = [checkoutCompleted(), checkoutCompleted(), checkoutCompleted()];
    for (const e of events) await deliverStripe(w, e);
    await deliverStripe(w, events[0]); // a duplicate
    await forged(w);
    await forged(w);
    for (const e of events) await settled(w.worker, "stripe", e.id);
    await waitForNoStepInFlight(w.worker);
    await cronAt(w); // flushes the isolate's tally
    const succeeded = await w.worker.all(
      "SELECT destination, COUNT(*) AS n FROM steps WHERE status = 'succeeded' GROUP BY destination",
    );
    assert.ok(succeeded.length > 0);

    const m = await admin(w, "metrics?window=1h");
    assert.equal(m.window, "1h");
    assert.equal(m.events.stripe.accepted.total, 3);
    assert.equal(m.events.stripe.duplicate.total, 1);
    assert.equal(m.events.stripe.rejected.total, 2);
    assert.equal(m.signature_failures["stripe:signature_mismatch"].total, 2);
    for (const { destination, n } of succeeded) {
      const dest = m.steps[destination];
      assert.equal(dest.outcomes.succeeded.total, n, destination);
      assert.ok(dest.p50_ms > 0 && dest.p95_ms >= dest.p50_ms, JSON.stringify(dest));
    }
    assert.equal(m.last_backfill, null, "no backfill has run");
    assert.equal((await admin(w, "metrics?window=24h")).events.stripe.accepted.total, 3);

    const bad = await w.worker.get("/admin/api/metrics?window=7d", AUTH);
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error, "invalid_window");
    assert.match(bad.json.detail, /window/);
  });
});

describe("signature failures", () => {
  const w = alertWorld({ ALERT_SIGNATURE_FAILURES: "3" });
  test("fire once naming provider and reason, clear, and the clear waits for the rate limit", async () => {
    const t0 = Date.now();
    await forged(w);
    await forged(w);
    await cronAt(w);
    assert.equal((await alertsOf(w, "signature_failures")).length, 0, "below the threshold");
    await forged(w);
    await cronAt(w);
    await cronAt(w);
    const [alert, ...others] = await alertsOf(w, "signature_failures");
    assert.equal(others.length, 0, "one alert however many crons");
    assert.equal(alert.key, "stripe:signature_mismatch");
    assert.equal(alert.cleared_at, null);
    assert.deepEqual(texts(w), [
      "[edgehooks] FIRING signature_failures stripe:signature_mismatch: 3 stripe deliveries failed verification (signature_mismatch) in 5 minutes: check the webhook secret",
    ]);

    await cronAt(w, t0 + 6 * MIN);
    const [cleared] = await alertsOf(w, "signature_failures");
    assert.ok(cleared.cleared_at >= t0 + 6 * MIN, "cleared when the 5 minutes hold fewer");
    assert.equal(cleared.notice, "cleared");
    assert.equal(texts(w).length, 1, "the clear waits: one notice per alert per 30 minutes");

    await cronAt(w, t0 + 32 * MIN);
    assert.equal(texts(w).length, 2);
    assert.match(texts(w)[1], /^\[edgehooks\] CLEARED signature_failures stripe:signature_mismatch: /);
    const [done] = await alertsOf(w, "signature_failures");
    assert.equal(done.notice, null);

    const listed = await admin(w, "alerts");
    assert.equal(listed.open, 0);
    assert.equal(listed.alerts[0].fired_at, alert.fired_at);
    assert.equal(listed.alerts[0].cleared_at, cleared.cleared_at);
  });
});

describe("global cap", () => {
  const w = alertWorld({ ALERT_SIGNATURE_FAILURES: "1", ALERT_MAX_PER_HOUR: "1" });
  test("at most ALERT_MAX_PER_HOUR notices an hour; the rest wait, not dropped", async () => {
    const t0 = Date.now();
    await forged(w);
    const res = await w.worker.post("/webhooks/stripe", "{}", { "content-type": "application/json", "stripe-signature": "t=1" });
    assert.equal(res.status, 401, res.text);
    await cronAt(w);
    const alerts = await alertsOf(w, "signature_failures");
    assert.equal(alerts.length, 2, alerts.map((a) => a.key).join());
    assert.equal(texts(w).length, 1, "capped at one an hour");
    assert.equal(alerts.filter((a) => a.notice === "fired").length, 1, "the other is still due");
    await cronAt(w, t0 + 61 * MIN);
    assert.equal(texts(w).length, 2, "the next hour sends the waiting one");
  });
});

describe("dead steps", () => {
  const w = alertWorld({ ROUTES_JSON: SENDGRID_ONLY });
  test("fire per destination and error, a failed notice is retried after backoff, redrive clears", async () => {
    const t0 = Date.now();
    w.fake.always(MAIL, { status: 400 });
    const event = await deliverStripe(w);
    const [step] = await settled(w.worker, "stripe", event.id);
    assert.equal(step.status, "dead");
    w.fake.script(ALERTS, [{ status: 500 }]);
    await cronAt(w);
    const [failed] = await alertsOf(w, "dead_steps");
    assert.equal(failed.key, "sendgrid:http_400");
    assert.equal(failed.notice, "fired");
    const [slack] = await w.worker.all("SELECT * FROM alert_deliveries WHERE alert_id = ? AND channel = 'slack'", failed.id);
    assert.equal(slack.attempts, 1);
    assert.equal(slack.error, "http_500");
    const shown = (await admin(w, "alerts")).alerts.find((a) => a.id === failed.id);
    assert.equal(shown.deliveries.slack.error, "http_500", "a failed notice is visible");

    await cronAt(w);
    assert.equal(w.fake.callsTo(ALERTS).length, 1, "no retry before the backoff");
    await cronAt(w, t0 + 2 * MIN);
    assert.deepEqual(texts(w).slice(1), ["[edgehooks] FIRING dead_steps sendgrid:http_400: 1 dead steps at sendgrid (http_400)"]);
    assert.equal((await alertsOf(w, "dead_steps"))[0].notice, null);

    w.fake.always(MAIL, { status: 202 });
    const redrive = await w.worker.post("/admin/api/redrive", JSON.stringify({ dry_run: false }), { ...AUTH, "content-type": "application/json" });
    assert.equal(redrive.status, 200, redrive.text);
    await waitFor(async () => (await w.worker.all("SELECT status FROM steps WHERE id = ?", step.id))[0].status === "succeeded", { what: "redriven step succeeds" });
    await cronAt(w, t0 + 3 * MIN);
    const [cleared] = await alertsOf(w, "dead_steps");
    assert.ok(cleared.cleared_at);
  });
});

describe("circuit", () => {
  const w = alertWorld({ ROUTES_JSON: SENDGRID_ONLY, MAX_ATTEMPTS: "10", ALERT_RENOTIFY_MINUTES: "0" });
  test("fires when a destination's circuit opens and clears when it closes", async () => {
    w.fake.always(MAIL, { status: 503 });
    await deliverStripe(w);
    const health = await waitFor(
      async () => (await w.worker.all("SELECT open_until FROM destination_health WHERE destination = 'sendgrid' AND open_until > ?", Date.now()))[0],
      { what: "circuit open" },
    );
    await cronAt(w);
    const [open] = await alertsOf(w, "circuit_open");
    assert.equal(open.key, "sendgrid");
    assert.match(texts(w)[0], /^\[edgehooks\] FIRING circuit_open sendgrid: circuit to sendgrid is open/);
    await cronAt(w, health.open_until + 1000);
    const [closed] = await alertsOf(w, "circuit_open");
    assert.ok(closed.cleared_at >= health.open_until);
    assert.match(texts(w)[1], /^\[edgehooks\] CLEARED circuit_open sendgrid: /);
  });
});

describe("silent provider", () => {
  const w = alertWorld({ ALERT_QUIET_MINUTES: JSON.stringify({ shopify: 5 }), ALERT_RENOTIFY_MINUTES: "0" });
  test("a provider that sent before and is silent past its quiet period fires, sending again clears", async () => {
    // History: Shopify sent 8 minutes ago (a bucket as the tally writes it), nothing since.
    const minute = Math.floor((Date.now() - 8 * MIN) / MIN) * 60;
    await w.worker.all("INSERT INTO metric_events (minute, provider, outcome, reason, count) VALUES (?, 'shopify', 'accepted', '', 2)", minute);
    await cronAt(w);
    const [silent] = await alertsOf(w, "provider_silent");
    assert.equal(silent.key, "shopify");
    assert.match(texts(w)[0], /^\[edgehooks\] FIRING provider_silent shopify: shopify has sent nothing for \d+ minutes \(quiet period 5 minutes\)$/);

    await w.deliver("shopify", shopifyOrder(), { topic: "orders/create", shop: "edge-test.myshopify.com", webhookId: `wh-${Date.now()}` });
    await cronAt(w);
    const [cleared] = await alertsOf(w, "provider_silent");
    assert.ok(cleared.cleared_at, "a delivery clears it");
    assert.match(texts(w)[1], /^\[edgehooks\] CLEARED provider_silent shopify/);
  });
});

describe("registry sources", () => {
  const SECRETS_KEY = Buffer.alloc(32, 42).toString("base64");
  const w = alertWorld({
    SECRETS_KEY,
    ALERT_SIGNATURE_FAILURES: "3",
    ALERT_QUIET_MINUTES: JSON.stringify({ "in:quiet-hook": 5 }),
    ALERT_RENOTIFY_MINUTES: "0",
  });
  const TOKEN = "token-e2e-000001";

  /** Create a `token` source named `name`; its webhook path. */
  async function createSource(name) {
    const res = await w.worker.mf.dispatchFetch("http://localhost/admin/api/sources", {
      method: "POST",
      headers: { ...AUTH, "content-type": "application/json" },
      body: JSON.stringify({ name, scheme: "token", config: { header: "X-Token" }, secrets: [TOKEN] }),
    });
    const text = await res.text();
    assert.equal(res.status, 201, text);
    return JSON.parse(text).path;
  }

  /** `n` deliveries to `path`, signed with `token`, each answered `status`. */
  async function send(path, n, token, status) {
    for (let i = 0; i < n; i++) {
      const res = await w.worker.post(path, JSON.stringify({ id: `${path}-${token}-${i}-${Date.now()}` }), { "X-Token": token });
      assert.equal(res.status, status, res.text);
    }
  }

  test("each source's deliveries and forgeries show per source; a forged source fires naming it", async () => {
    const github = await createSource("github-main");
    const linear = await createSource("linear");
    await send(github, 2, TOKEN, 200);
    await send(github, 3, "forged-token-0001", 401);
    await send(linear, 1, TOKEN, 200);
    await send(linear, 2, "forged-token-0001", 401);
    await cronAt(w); // flushes the isolate's tallies, then evaluates the alerts

    const m = await admin(w, "metrics?window=1h");
    const totals = (bySource) => Object.fromEntries(Object.entries(bySource).map(([k, s]) => [k, s.total]));
    assert.deepEqual(totals(m.sources["github-main"]), { accepted: 2, rejected: 3 });
    assert.deepEqual(totals(m.sources.linear), { accepted: 1, rejected: 2 });
    assert.deepEqual(totals(m.events.in), { accepted: 3, rejected: 5 }, "provider in as a whole");
    assert.deepEqual(totals(m.signature_failures), {
      "in:github-main:signature_mismatch": 3,
      "in:linear:signature_mismatch": 2,
    });

    const scraped = await w.worker.get("/metrics", AUTH);
    assert.equal(scraped.status, 200, scraped.text);
    for (const line of [
      'edgehooks_rejections_total{provider="in",source="github-main",reason="signature_mismatch"} 3',
      'edgehooks_rejections_total{provider="in",source="linear",reason="signature_mismatch"} 2',
      'edgehooks_webhook_requests_total{provider="in",source="github-main",outcome="accepted",status="200"} 2',
      'edgehooks_webhook_requests_total{provider="in",source="linear",outcome="rejected",status="401"} 2',
    ]) {
      assert.ok(scraped.text.split("\n").includes(line), `${line} in\n${scraped.text}`);
    }

    const fired = await alertsOf(w, "signature_failures");
    assert.deepEqual(fired.map((a) => a.key), ["in:github-main:signature_mismatch"], "linear is under the threshold");
    assert.deepEqual(texts(w), [
      "[edgehooks] FIRING signature_failures in:github-main:signature_mismatch: 3 deliveries to registry source github-main failed verification (signature_mismatch) in 5 minutes: check the source's secret",
    ]);
  });

  test("a source listed in ALERT_QUIET_MINUTES that went silent fires naming it; sending again clears", async () => {
    const path = await createSource("quiet-hook");
    // History: quiet-hook sent 8 minutes ago (a bucket as the tally writes it), nothing since.
    const minute = Math.floor((Date.now() - 8 * MIN) / MIN) * 60;
    await w.worker.all("INSERT INTO metric_events (minute, provider, source, outcome, reason, count) VALUES (?, 'in', 'quiet-hook', 'accepted', '', 2)", minute);
    const before = texts(w).length;
    await cronAt(w);
    const silent = await alertsOf(w, "provider_silent");
    assert.deepEqual(silent.map((a) => a.key), ["in:quiet-hook"], "github-main and linear are not watched");
    assert.match(texts(w)[before], /^\[edgehooks\] FIRING provider_silent in:quiet-hook: registry source quiet-hook has sent nothing for \d+ minutes \(quiet period 5 minutes\)$/);

    await send(path, 1, TOKEN, 200);
    await cronAt(w);
    const [cleared] = await alertsOf(w, "provider_silent");
    assert.ok(cleared.cleared_at, "a delivery clears it");
    assert.match(texts(w)[before + 1], /^\[edgehooks\] CLEARED provider_silent in:quiet-hook/);
  });
});

describe("backfill", () => {
  const w = alertWorld({ ALERT_RENOTIFY_MINUTES: "0" });
  test("a run that recovered events fires saying how many (dry runs never), and clears an hour later", async () => {
    const t0 = Date.now();
    const created = Math.floor(t0 / 1000) - 60;
    const listed = ["invoice.payment_failed", "invoice.payment_succeeded", "invoice.payment_failed"].map((type, i) =>
      stripeFixtureEvent(type, { id: `evt_alert_bf_${t0}_${i}`, created }));
    listed.forEach((e) => w.fake.stripeEvents.add(e));
    await deliverStripe(w, listed[0]); // one of them did arrive by webhook
    const run = async (dry_run) => {
      const res = await w.worker.post("/admin/api/backfill/stripe", JSON.stringify({ since: created - 60, dry_run }), { ...AUTH, "content-type": "application/json" });
      assert.equal(res.status, 200, res.text);
      return res.json;
    };
    assert.deepEqual(await run(true), { listed: 3, missing: 2 });
    await cronAt(w);
    assert.equal((await alertsOf(w, "backfill_recovered")).length, 0, "a dry run recovered nothing");
    assert.deepEqual(await run(false), { listed: 3, ingested: 2, duplicates: 1 });
    await cronAt(w);
    await cronAt(w);
    const alerts = await alertsOf(w, "backfill_recovered");
    assert.equal(alerts.length, 1, "one alert per run");
    assert.deepEqual(texts(w), [`[edgehooks] FIRING backfill_recovered ${alerts[0].key}: a stripe backfill recovered 2 events the webhooks had lost`]);
    const m = await admin(w, "metrics");
    assert.equal(String(m.last_backfill.id), alerts[0].key);
    assert.deepEqual([m.last_backfill.listed, m.last_backfill.ingested, m.last_backfill.duplicates], [3, 2, 1]);
    await cronAt(w, t0 + 61 * MIN);
    assert.ok((await alertsOf(w, "backfill_recovered"))[0].cleared_at);
    assert.match(texts(w)[1], /^\[edgehooks\] CLEARED backfill_recovered /);
  });
});
