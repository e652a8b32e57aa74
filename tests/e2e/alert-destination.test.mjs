// Alert notices to an `http` destination (ALERT_DESTINATION) end to end through workerd, beside
// Slack: the fake downstream's receiver gets each notice (fired and cleared) signed per Standard
// Webhooks, checked with the official `standardwebhooks` package; the per-alert rate limit,
// dedupe and hourly cap hold on the http channel on their own; a failing http destination is
// retried after its backoff with the same webhook-id and neither delays nor repeats the Slack
// notice (and the other way round); a paused, unknown or non-http destination holds notices
// with a code the alert list shows, without a crash. Time beyond the real clock is the cron's
// scheduled time, never a sleep.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Webhook } from "standardwebhooks";
import { TEST_SECRETS } from "../helpers/worker.mjs";
import { alertWorld as sharedAlertWorld, cronAt } from "../helpers/alerts.mjs";
import { checkoutCompleted, signedDelivery } from "../helpers/stripe.mjs";

const SLACK = "/services/T000/B000/alerts";
const DESTINATION = "ops-alerts";
const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const AUTH = { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}` };
const MIN = 60_000;

/** A world whose alerts go to the fake's Slack path (and the defaults of this file). */
const alertWorld = (vars = {}) => sharedAlertWorld(SLACK, { ALERT_DESTINATION: DESTINATION, ALERT_SIGNATURE_FAILURES: "1", ...vars });

async function admin(w, method, path, body) {
  const res = await w.worker.mf.dispatchFetch(`http://localhost/admin/api/${path}`, {
    method,
    headers: { ...AUTH, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined, text };
}

async function createDestination(w, extra = {}) {
  const res = await admin(w, "POST", "destinations", {
    name: DESTINATION, type: "http", url: w.fake.receiver(DESTINATION).url, secret: SECRET, timeout_ms: 2000, ...extra,
  });
  assert.equal(res.status, 201, res.text);
}

/** A Stripe delivery signed with a wrong secret (401 signature_mismatch). */
async function forged(w) {
  const { payload, headers } = signedDelivery(checkoutCompleted(), "whsec_wrongly_rotated");
  assert.equal((await w.worker.post("/webhooks/stripe", payload, headers)).status, 401);
}

/** A Stripe delivery without a usable signature header (401, another reason: another alert). */
async function unsigned(w) {
  const res = await w.worker.post("/webhooks/stripe", "{}", { "content-type": "application/json", "stripe-signature": "t=1" });
  assert.equal(res.status, 401, res.text);
}

const slackTexts = (w) => w.fake.callsTo(SLACK).map((c) => JSON.parse(c.body).text);
const httpCalls = (w) => w.fake.receiver(DESTINATION).calls();
/** Each http call verified with the official package against the destination's secret. */
const verified = (w) => httpCalls(w).map((c) => ({ id: c.headers["webhook-id"], ...new Webhook(SECRET).verify(c.body, c.headers) }));
const alertsOf = (w, kind) => w.worker.all("SELECT * FROM alerts WHERE kind = ? ORDER BY id", kind);
const listed = async (w) => {
  const res = await admin(w, "GET", "alerts");
  assert.equal(res.status, 200, res.text);
  return res.json;
};

describe("alerts to an http destination", () => {
  const w = alertWorld();
  test("unknown first (said, not a crash), then each notice signed, deduped and rate-limited on its own", async () => {
    const t0 = Date.now();
    await forged(w);
    await cronAt(w);
    assert.equal(slackTexts(w).length, 1, "Slack does not wait for the http channel");
    assert.equal(httpCalls(w).length, 0);
    let list = await listed(w);
    assert.deepEqual(list.alert_channels, { slack: "configured", http: { destination: DESTINATION, state: "alert_destination_unknown" } });
    const [held] = list.alerts;
    assert.equal(held.notice, "fired", "still due on the http channel");
    assert.equal(held.deliveries.http.error, "alert_destination_unknown");
    assert.equal(held.deliveries.http.attempts, 0, "a held notice is no failed attempt");
    assert.equal(held.deliveries.slack.sent, "fired");
    const health = await w.worker.get("/admin/api/health", AUTH);
    assert.deepEqual(health.json.alert_channels, { slack: "enabled", http: { destination: DESTINATION } });

    await createDestination(w);
    await cronAt(w);
    await cronAt(w);
    assert.equal(slackTexts(w).length, 1, "Slack is not repeated");
    const [fired, ...more] = verified(w);
    assert.equal(more.length, 0, "one http notice however many crons");
    const [alert] = await alertsOf(w, "signature_failures");
    assert.equal(fired.id, `alert_${alert.id}_fired`);
    assert.equal(httpCalls(w)[0].headers["edgehooks-event-type"], "alert.fired");
    assert.deepEqual(fired.alert, {
      id: alert.id, kind: "signature_failures", key: "stripe:signature_mismatch", state: "fired",
      detail: alert.detail, fired_at: alert.fired_at, cleared_at: null,
      provider: "stripe", source: null, destination: null, reason: "signature_mismatch", count: 1, window_minutes: 5,
      silent_minutes: null, quiet_minutes: null, open_until: null, backfill_run: null, bytes_used: null, bytes_limit: null,
    });
    assert.equal(fired.type, "alert.fired");
    assert.equal(fired.text, slackTexts(w)[0], "the same words as Slack");
    assert.equal((await alertsOf(w, "signature_failures"))[0].notice, null, "settled: both channels have it");
    list = await listed(w);
    assert.equal(list.alert_channels.http.state, "ready");
    assert.equal(list.alerts[0].deliveries.http.sent, "fired");
    assert.equal(list.alerts[0].deliveries.http.error, null);

    await cronAt(w, t0 + 6 * MIN);
    const [cleared] = await alertsOf(w, "signature_failures");
    assert.ok(cleared.cleared_at);
    assert.equal(httpCalls(w).length, 1, "the clear waits ALERT_RENOTIFY_MINUTES on the http channel too");
    await cronAt(w, t0 + 32 * MIN);
    assert.equal(slackTexts(w).length, 2);
    const notices = verified(w);
    assert.equal(notices.length, 2);
    assert.equal(notices[1].id, `alert_${alert.id}_cleared`);
    assert.equal(notices[1].type, "alert.cleared");
    assert.equal(notices[1].alert.cleared_at, cleared.cleared_at);
    assert.equal(notices[1].alert.state, "cleared");
    await cronAt(w, t0 + 33 * MIN);
    assert.equal(httpCalls(w).length, 2, "nothing more once delivered");
  });
});

describe("a failing http destination", () => {
  const w = alertWorld({ ALERT_RENOTIFY_MINUTES: "0" });
  test("is retried after its backoff with the same webhook-id and does not touch Slack; nor the other way round", async () => {
    await createDestination(w);
    const t0 = Date.now();
    w.fake.script(w.fake.receiver(DESTINATION).path, [{ status: 500 }]);
    await forged(w);
    await cronAt(w, t0);
    const [alert] = await alertsOf(w, "signature_failures");
    assert.equal(slackTexts(w).length, 1, "Slack delivered");
    assert.equal(httpCalls(w).length, 1, "http tried");
    let [shown] = (await listed(w)).alerts;
    assert.deepEqual([shown.deliveries.http.attempts, shown.deliveries.http.error], [1, "http_500"]);
    assert.equal(shown.deliveries.slack.sent, "fired");
    assert.equal(shown.notice, "fired", "still due on http");

    await cronAt(w, t0 + 10_000);
    assert.equal(httpCalls(w).length, 1, "no retry before the backoff");
    assert.equal(slackTexts(w).length, 1, "Slack not repeated while http fails");
    await cronAt(w, t0 + 2 * MIN);
    const calls = httpCalls(w);
    assert.equal(calls.length, 2, "retried after the backoff");
    assert.equal(calls[0].headers["webhook-id"], calls[1].headers["webhook-id"], "the same message id on a retry");
    assert.equal(verified(w)[1].id, `alert_${alert.id}_fired`);
    assert.equal(slackTexts(w).length, 1);
    [shown] = (await listed(w)).alerts;
    assert.deepEqual([shown.deliveries.http.sent, shown.deliveries.http.attempts, shown.notice], ["fired", 0, null]);

    // Slack failing: the http notice of another alert still goes out, once.
    w.fake.script(SLACK, [{ status: 503 }]);
    await unsigned(w);
    await cronAt(w, t0 + 3 * MIN);
    const second = (await alertsOf(w, "signature_failures")).find((a) => a.id !== alert.id);
    assert.ok(second, "a second alert fired");
    assert.equal(httpCalls(w).length, 3, "http is not held by Slack failing");
    assert.equal(verified(w)[2].alert.key, second.key);
    const secondShown = (await listed(w)).alerts.find((a) => a.id === second.id);
    assert.deepEqual([secondShown.deliveries.slack.attempts, secondShown.deliveries.slack.error], [1, "http_503"]);
    await cronAt(w, t0 + 4 * MIN); // the backoff passed; both alerts still hold (5-minute window)
    assert.equal(httpCalls(w).length, 3, "http not repeated while Slack is retried");
    assert.equal(slackTexts(w).length, 3, "Slack retried after its backoff");
  });
});

describe("a paused alert destination and the hourly cap", () => {
  const w = alertWorld({ ALERT_MAX_PER_HOUR: "1" });
  test("a pause holds the http notices until resume; each channel has its own cap", async () => {
    await createDestination(w);
    assert.equal((await admin(w, "POST", `destinations/${DESTINATION}/pause`)).status, 200);
    const t0 = Date.now();
    await forged(w);
    await unsigned(w);
    await cronAt(w, t0);
    assert.equal((await alertsOf(w, "signature_failures")).length, 2);
    assert.equal(slackTexts(w).length, 1, "Slack capped at one an hour");
    assert.equal(httpCalls(w).length, 0, "paused: nothing sent");
    const list = await listed(w);
    assert.equal(list.alert_channels.http.state, "alert_destination_paused");
    assert.ok(list.alerts.every((a) => a.deliveries.http?.error === "alert_destination_paused"), JSON.stringify(list.alerts));

    assert.equal((await admin(w, "POST", `destinations/${DESTINATION}/resume`)).status, 200);
    await cronAt(w, t0 + MIN);
    assert.equal(httpCalls(w).length, 1, "resumed: the http channel's own cap of one an hour");
    assert.equal(slackTexts(w).length, 1, "Slack's cap is its own");
    await cronAt(w, t0 + 62 * MIN);
    assert.equal(httpCalls(w).length, 2, "the next hour sends one more");
    assert.equal(slackTexts(w).length, 2);
    assert.ok(verified(w).every((n) => n.alert.kind === "signature_failures"), "every notice verifies");
  });
});

describe("an alert destination that is not an http destination", () => {
  const w = alertWorld({ ALERT_DESTINATION: "slack.notify" });
  test("is named in the alert list and holds the http notice; Slack still delivers", async () => {
    await forged(w);
    await cronAt(w);
    assert.equal(slackTexts(w).length, 1);
    const list = await listed(w);
    assert.deepEqual(list.alert_channels.http, { destination: "slack.notify", state: "alert_destination_not_http" });
    assert.equal(list.alerts[0].deliveries.http.error, "alert_destination_not_http");
    assert.equal(list.alerts[0].notice, "fired");
    const metrics = await admin(w, "GET", "metrics");
    assert.equal(metrics.json.alert_channels.http.state, "alert_destination_not_http");
  });
});
