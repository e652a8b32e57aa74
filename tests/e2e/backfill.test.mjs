// The Stripe backfill through workerd: the admin API's dry and real runs against the fake's
// Stripe events API (GET /v1/events, newest first, paginated), events ingested with origin
// `backfill` and their steps run against the fake, webhooks and backfills of one event as
// duplicates of each other (also racing), pagination and bounded runs resumed from their cursor,
// 429 + Retry-After stopping the scheduled run and the next one resuming in place, the cron
// firing only when due, the backfill storing in the named source the account posts to
// (STRIPE_BACKFILL_SOURCE), and the backfill disabled without STRIPE_API_KEY (admin and the admin health).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { TEST_SECRETS, waitFor } from "../helpers/worker.mjs";
import { useWorld } from "../helpers/world.mjs";
import { stripeFixtureEvent } from "../helpers/fake-downstream.mjs";
import { signedDelivery } from "../helpers/stripe.mjs";

const AUTH = { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}`, "content-type": "application/json" };
const EVENTS = "/v1/events";
const nowS = () => Math.floor(Date.now() / 1000);
let serial = 0;

/** A Stripe event of `type` from the fixtures, with a fresh id, `created` seconds ago. */
function stripeEvent(type = "invoice.payment_succeeded", { ago = 60, created } = {}) {
  serial += 1;
  return stripeFixtureEvent(type, { id: `evt_bf${process.pid}x${Date.now()}x${serial}`, created: created ?? nowS() - ago });
}

async function backfill(w, body) {
  return w.worker.post("/admin/api/backfill/stripe", JSON.stringify(body), AUTH);
}

async function eventRow(w, id) {
  const rows = await w.worker.all("SELECT id, origin, payload, key_index FROM events WHERE provider = 'stripe' AND dedupe_key = ?", id);
  assert.ok(rows.length <= 1, "never two rows for one event");
  return rows[0];
}

const backfilled = async (w) =>
  (await w.worker.all("SELECT COUNT(*) AS n FROM events WHERE origin = 'backfill'"))[0].n;

describe("admin backfill runs", () => {
  const w = useWorld({}, { each: true });

  test("dry run counts listed and missing without storing anything", async () => {
    const events = [stripeEvent(), stripeEvent("checkout.session.completed"), stripeEvent("invoice.payment_failed")];
    events.forEach((e) => w.fake.stripeEvents.add(e));
    await w.deliver("stripe", events[1]);
    const res = await backfill(w, { since: nowS() - 3600, dry_run: true });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { listed: 3, missing: 2 }, "exactly the contract's answer");
    assert.equal(await backfilled(w), 0, "a dry run stores nothing");
    assert.equal((await w.worker.get("/admin/api/health", AUTH)).json.backfill, "enabled");
    const [call] = w.fake.callsTo(EVENTS);
    assert.equal(call.headers.authorization, `Bearer ${TEST_SECRETS.STRIPE_API_KEY}`);
    const query = new URLSearchParams(call.query);
    assert.equal(query.get("limit"), "100");
    assert.ok(query.getAll("types[]").includes("invoice.payment_failed"));
    const runs = await w.worker.all("SELECT origin, dry_run, listed, ingested FROM backfill_runs");
    assert.deepEqual(runs.map((r) => ({ ...r })), [{ origin: "admin", dry_run: 1, listed: 3, ingested: 2 }]);
  });

  test("a real run ingests only the missing events, origin backfill, and runs their steps", async () => {
    const [viaWebhook, missed] = [stripeEvent("checkout.session.completed"), stripeEvent("invoice.payment_failed")];
    w.fake.stripeEvents.add(viaWebhook);
    w.fake.stripeEvents.add(missed);
    await w.deliver("stripe", viaWebhook);
    const res = await backfill(w, { since: nowS() - 3600 });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { listed: 2, ingested: 1, duplicates: 1 }, "exactly the contract's answer");
    assert.equal((await eventRow(w, viaWebhook.id)).origin, "webhook");
    const row = await eventRow(w, missed.id);
    assert.equal(row.origin, "backfill");
    assert.equal(row.key_index, null, "no signature verified it");
    assert.deepEqual(JSON.parse(row.payload), missed, "the event object as Stripe listed it");
    const detail = await w.worker.get(`/admin/api/events/${row.id}`, AUTH);
    assert.equal(detail.json.event.origin, "backfill", "the admin API shows the origin");
    const steps = await w.settled("stripe", missed.id);
    assert.deepEqual(steps.map((s) => [s.name, s.status]), [
      ["hubspot.upsert_contact", "succeeded"],
      ["sendgrid.send", "succeeded"],
      ["slack.notify", "succeeded"],
    ]);
    // A webhook arriving after the backfill is a duplicate.
    const late = await w.deliver("stripe", missed);
    assert.equal(late.res.json.status, "duplicate");
    assert.equal((await eventRow(w, missed.id)).origin, "backfill");
    // And a second backfill finds nothing missing.
    const again = await backfill(w, { since: nowS() - 3600 });
    assert.deepEqual([again.json.ingested, again.json.duplicates], [0, 2]);
  });

  test("a webhook delivered while the backfill pages still gives one event", async () => {
    const event = stripeEvent("customer.subscription.created");
    w.fake.stripeEvents.add(event);
    let release;
    const held = new Promise((resolve) => (release = resolve));
    // The page is computed (it lists the event) and held back while the webhook arrives.
    w.fake.script(EVENTS, [{ commit: true, hold: held }]);
    const running = backfill(w, { since: nowS() - 3600 });
    await waitFor(() => w.fake.callsTo(EVENTS).length === 1, { what: "the backfill asked for its page" });
    const delivered = await w.deliver("stripe", event);
    assert.equal(delivered.res.json.status, "accepted");
    release();
    const res = await running;
    assert.equal(res.status, 200, res.text);
    assert.deepEqual([res.json.listed, res.json.ingested, res.json.duplicates], [1, 0, 1]);
    assert.equal((await eventRow(w, event.id)).origin, "webhook");
    const steps = await w.settled("stripe", event.id);
    assert.deepEqual(steps.map((s) => s.name), ["hubspot.upsert_contact"], "planned once");
  });

  test("the overlap with the webhooks plans no step for a connection created since (issue 23)", async () => {
    const event = stripeEvent("invoice.payment_succeeded");
    w.fake.stripeEvents.add(event);
    await w.deliver("stripe", event);
    const names = async () => (await w.worker.all(
      "SELECT s.name FROM steps s JOIN events e ON e.id = s.event_id WHERE e.provider = 'stripe' AND e.dedupe_key = ? ORDER BY s.name", event.id,
    )).map((s) => s.name);
    assert.deepEqual(await names(), ["hubspot.upsert_contact"]);
    const created = await w.worker.post("/admin/api/destinations", JSON.stringify({ name: "late-svc", type: "http", url: w.fake.receiver("late-svc").url, secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" }), AUTH);
    assert.equal(created.status, 201, created.text);
    const connected = await w.worker.post("/admin/api/connections", JSON.stringify({ source: "stripe", types: ["invoice.*"], destination: "late-svc" }), AUTH);
    assert.equal(connected.status, 201, connected.text);

    const res = await backfill(w, { since: nowS() - 3600 });
    assert.deepEqual([res.json.listed, res.json.ingested, res.json.duplicates], [1, 0, 1], res.text);
    assert.deepEqual(await names(), ["hubspot.upsert_contact"], "the backfill planned nothing for the stored event");
  });

  test("validation errors name the field", async () => {
    for (const [body, code] of [
      [{}, "invalid_since"],
      [{ since: "yesterday" }, "invalid_since"],
      [{ since: nowS() + 3600 }, "invalid_since"],
      [{ since: 1, dry_run: "yes" }, "invalid_dry_run"],
      [{ since: 1, cursor: "nope" }, "invalid_cursor"],
    ]) {
      const res = await backfill(w, body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.json.error, code);
      assert.match(res.json.detail, new RegExp(code.replace("invalid_", "")));
    }
    const notJson = await w.worker.post("/admin/api/backfill/stripe", "{", AUTH);
    assert.deepEqual([notJson.status, notJson.json.error], [400, "invalid_body"]);
    assert.equal(w.fake.callsTo(EVENTS).length, 0);
  });
});

describe("pagination and bounded runs", () => {
  const w = useWorld({ vars: { BACKFILL_MAX_PAGES: "2" } });

  test("a run bounded at two pages stops with a cursor; the next call continues from it", async () => {
    const base = nowS() - 1000;
    // 230 events: three pages of 100 newest first; the same `created` second for many of them.
    const events = Array.from({ length: 230 }, (_, i) => stripeEvent("invoice.payment_succeeded", { created: base + Math.floor(i / 3) }));
    events.forEach((e) => w.fake.stripeEvents.add(e));
    const since = nowS() - 3600;
    const first = await backfill(w, { since });
    assert.equal(first.status, 200, first.text);
    assert.equal(first.json.listed, 200);
    assert.equal(first.json.ingested, 200);
    assert.equal(first.json.complete, false);
    const calls = w.fake.callsTo(EVENTS).map((c) => new URLSearchParams(c.query));
    assert.equal(calls.length, 2);
    assert.equal(calls[0].get("starting_after"), null);
    assert.ok(calls[1].get("starting_after"), "page two starts after page one's last event");
    assert.match(first.json.next_cursor, /^0:evt_/);
    const rest = await backfill(w, { since, cursor: first.json.next_cursor });
    assert.equal(rest.status, 200, rest.text);
    assert.deepEqual(rest.json, { listed: 30, ingested: 30, duplicates: 0 });
    assert.equal(new URLSearchParams(w.fake.callsTo(EVENTS)[2].query).get("starting_after"), first.json.next_cursor.slice(2));
    const stored = await w.worker.all("SELECT dedupe_key FROM events WHERE origin = 'backfill'");
    assert.deepEqual(new Set(stored.map((r) => r.dedupe_key)), new Set(events.map((e) => e.id)), "every event exactly once");
    const runs = await w.worker.all("SELECT complete, next_cursor FROM backfill_runs ORDER BY id");
    assert.deepEqual(runs.map((r) => r.complete), [0, 1]);
    assert.equal(runs[0].next_cursor, first.json.next_cursor);
  });
});

describe("the scheduled reconciliation", () => {
  const w = useWorld({ vars: { BACKFILL_MAX_PAGES: "5" } }, { each: true });
  const state = async () => (await w.worker.all("SELECT * FROM backfill_state WHERE provider = 'stripe'"))[0];
  /** Make the last run look `minutes` old (the cron reads time from D1's state). */
  const age = (minutes, checkpointAgo = 3600) =>
    w.worker.all(
      "UPDATE backfill_state SET last_started_at = ?, checkpoint = ? WHERE provider = 'stripe'",
      Date.now() - minutes * 60_000,
      nowS() - checkpointAgo,
    );

  test("fires on the cron only when due: the first tick sets the checkpoint, then every interval", async () => {
    await w.sweep();
    const initial = await state();
    assert.ok(initial, "the first tick stores the state");
    assert.ok(Math.abs(initial.checkpoint - nowS()) <= 5, "checkpoint starts at now");
    assert.equal(w.fake.callsTo(EVENTS).length, 0, "and lists nothing");
    await w.sweep();
    assert.equal(w.fake.callsTo(EVENTS).length, 0, "not due within the interval");

    const missed = w.fake.stripeEvents.add(stripeEvent("invoice.payment_failed", { ago: 600 }));
    await age(14);
    await w.sweep();
    assert.equal(w.fake.callsTo(EVENTS).length, 0, "14 minutes is not 15");
    await age(16);
    const checkpoint = (await state()).checkpoint;
    await w.sweep();
    const calls = w.fake.callsTo(EVENTS);
    assert.equal(calls.length, 1, "due: one run");
    assert.equal(Number(new URLSearchParams(calls[0].query).get("created[gte]")), checkpoint - 300, "checkpoint minus the overlap");
    assert.equal((await eventRow(w, missed.id)).origin, "backfill");
    const after = await state();
    assert.equal(after.checkpoint, missed.created > checkpoint ? missed.created : checkpoint);
    assert.equal(after.run_cursor, null);
    const [run] = await w.worker.all("SELECT origin, listed, ingested, complete, error FROM backfill_runs");
    assert.deepEqual({ ...run }, { origin: "scheduled", listed: 1, ingested: 1, complete: 1, error: null });
    await w.settled("stripe", missed.id);
    await w.sweep();
    assert.equal(w.fake.callsTo(EVENTS).length, 1, "not due again right after");
  });

  test("429 with Retry-After stops the run; the next run resumes in place after the backoff", async () => {
    const events = Array.from({ length: 150 }, (_, i) => stripeEvent("invoice.payment_succeeded", { ago: 900 - i }));
    events.forEach((e) => w.fake.stripeEvents.add(e));
    await w.sweep(); // initializes
    await age(16);
    w.fake.script(EVENTS, [
      { commit: true },
      { status: 429, headers: { "Retry-After": "120" }, body: { error: { message: "Too many requests", type: "rate_limit_error" } } },
    ]);
    const before = Date.now();
    await w.sweep();
    const stopped = await state();
    const calls = w.fake.callsTo(EVENTS).map((c) => new URLSearchParams(c.query));
    assert.equal(calls.length, 2);
    assert.equal(stopped.run_cursor, `0:${calls[1].get("starting_after")}`, "the failed page is where it resumes");
    assert.ok(stopped.not_before >= before + 120_000, "no run before Retry-After");
    assert.equal(stopped.failures, 1);
    assert.equal(await backfilled(w), 100);
    const [run] = await w.worker.all("SELECT listed, ingested, complete, error FROM backfill_runs");
    assert.deepEqual({ ...run }, { listed: 100, ingested: 100, complete: 0, error: "stripe_http_429" });

    const [health] = await w.worker.all("SELECT consecutive_failures FROM destination_health WHERE destination = 'stripe'");
    // A 429 asks for a slower pace, not a sign Stripe is down: it waits, it does not open the circuit.
    assert.equal(health.consecutive_failures, 0, "the 429 does not count toward opening the Stripe destination's circuit");

    await w.sweep();
    assert.equal(w.fake.callsTo(EVENTS).length, 2, "inside the backoff: no call");

    await w.worker.all("UPDATE backfill_state SET not_before = ? WHERE provider = 'stripe'", Date.now() - 1);
    await w.sweep();
    const resumed = w.fake.callsTo(EVENTS).map((c) => new URLSearchParams(c.query));
    assert.equal(resumed.length, 3);
    assert.equal(resumed[2].get("starting_after"), calls[1].get("starting_after"));
    assert.equal(resumed[2].get("created[gte]"), calls[0].get("created[gte]"), "same window");
    assert.equal(await backfilled(w), 150, "nothing lost, nothing twice");
    const done = await state();
    assert.deepEqual([done.run_cursor, done.failures, done.not_before], [null, 0, 0]);
    assert.equal(done.checkpoint, Math.max(...events.map((e) => e.created)));
  });
});

describe("the Stripe destination's circuit", () => {
  const w = useWorld({});

  test("an open circuit makes the run wait without calling and without counting a failure", async () => {
    w.fake.stripeEvents.add(stripeEvent("invoice.payment_failed", { ago: 300 }));
    await w.sweep(); // initializes
    await w.worker.all("UPDATE backfill_state SET last_started_at = ?, checkpoint = ? WHERE provider = 'stripe'", Date.now() - 3_600_000, nowS() - 3600);
    await w.worker.all(
      "INSERT INTO destination_health (destination, consecutive_failures, open_until) VALUES ('stripe', 5, ?) ON CONFLICT (destination) DO UPDATE SET consecutive_failures = 5, open_until = excluded.open_until",
      Date.now() + 600_000,
    );
    await w.sweep();
    assert.equal(w.fake.callsTo(EVENTS).length, 0, "no call while the circuit is open");
    const [state] = await w.worker.all("SELECT failures, not_before, run_cursor FROM backfill_state");
    assert.equal(state.failures, 0, "waiting is not failing");
    assert.ok(state.not_before > Date.now() + 500_000, "waits for the cool-down");
    assert.equal(state.run_cursor, "0:", "the run resumes from its start");
    const [run] = await w.worker.all("SELECT error, listed FROM backfill_runs");
    assert.deepEqual({ ...run }, { error: "circuit_open", listed: 0 });
    assert.equal(await backfilled(w), 0);
  });
});

describe("the account's webhooks arrive at a named source (STRIPE_BACKFILL_SOURCE)", () => {
  const w = useWorld({ vars: { WEBHOOK_SOURCES: "stripe:eu", STRIPE_WEBHOOK_SECRETS__EU: "whsec_backfill_eu", STRIPE_BACKFILL_SOURCE: "eu" } });
  const stored = (id) => w.worker.all("SELECT source, dedupe_key, origin FROM events WHERE provider = 'stripe' AND dedupe_key LIKE ? ORDER BY dedupe_key", `%${id}`);

  test("the backfill stores in that source's scope: one row per event, whichever comes first (issue 23, found by scripts/chaos)", async () => {
    const viaWebhook = stripeEvent("checkout.session.completed");
    const missed = stripeEvent("invoice.payment_failed");
    w.fake.stripeEvents.add(viaWebhook);
    w.fake.stripeEvents.add(missed);
    const { payload, headers } = signedDelivery(viaWebhook, "whsec_backfill_eu");
    const first = await w.worker.post("/webhooks/stripe/eu", payload, headers);
    assert.equal(first.json.status, "accepted", first.text);
    const res = await backfill(w, { since: nowS() - 3600 });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { listed: 2, ingested: 1, duplicates: 1 }, "the webhook's event is a duplicate");
    assert.deepEqual((await stored(viaWebhook.id)).map((r) => ({ ...r })), [{ source: "eu", dedupe_key: `src:eu:${viaWebhook.id}`, origin: "webhook" }]);
    assert.deepEqual((await stored(missed.id)).map((r) => ({ ...r })), [{ source: "eu", dedupe_key: `src:eu:${missed.id}`, origin: "backfill" }]);
    // The webhook arriving after the backfill is a duplicate too.
    const late = signedDelivery(missed, "whsec_backfill_eu");
    const again = await w.worker.post("/webhooks/stripe/eu", late.payload, late.headers);
    assert.equal(again.json.status, "duplicate", again.text);
    assert.equal((await stored(missed.id)).length, 1);
    const dry = await backfill(w, { since: nowS() - 3600, dry_run: true });
    assert.deepEqual(dry.json, { listed: 2, missing: 0 });
  });
});

describe("without STRIPE_API_KEY", () => {
  const w = useWorld({ vars: { STRIPE_API_KEY: "" } });

  test("the backfill is disabled: admin answers backfill_disabled, the admin health says so, the cron lists nothing", async () => {
    const res = await backfill(w, { since: nowS() - 60, dry_run: true });
    assert.deepEqual([res.status, res.json.error], [404, "backfill_disabled"]);
    const health = await w.worker.get("/admin/api/health", AUTH);
    assert.equal(health.json.backfill, "disabled");
    await w.sweep();
    assert.equal(w.fake.callsTo(EVENTS).length, 0);
    assert.equal((await w.worker.all("SELECT COUNT(*) AS n FROM backfill_state"))[0].n, 0);
  });
});

describe("health", () => {
  const w = useWorld({ vars: { BACKFILL_MAX_PAGES: "0" } });

  test("a broken backfill setting is misconfigured and named", async () => {
    const health = await w.worker.get("/admin/api/health", AUTH);
    assert.equal(health.json.backfill, "misconfigured");
    assert.ok(health.json.misconfigured.some((p) => p.affects === "backfill" && p.setting === "BACKFILL_MAX_PAGES"));
    const res = await backfill(w, { since: nowS() - 60 });
    assert.equal(res.status, 503);
  });
});
