// Connections and http destinations end to end through workerd (issue 13): destinations and
// connections made through the admin API take effect on the next event with no restart (the
// same isolate throughout), deliveries reach the fake's generic receiver signed per Standard
// Webhooks (checked with the official `standardwebhooks` package against the secret), filters
// by type wildcard and JSON pointer, pause (steps parked, no attempt spent) and resume (drained
// oldest first; tests/e2e/drain.test.mjs has the pages and their costs), secret rotation,
// per-destination max attempts, Retry-After and timeout, a default route turned off, validation
// errors naming the field (a default name too long for one), a stored connection that no
// longer validates stopping only its own steps, and no secret in any answer or log line.
import { beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Webhook } from "standardwebhooks";
import { useWorld } from "../helpers/world.mjs";
import { TEST_SECRETS, waitFor } from "../helpers/worker.mjs";
import { checkoutCompleted } from "../helpers/stripe.mjs";

const AUTH = `Bearer ${TEST_SECRETS.ADMIN_TOKEN}`;
const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const NEWER = "whsec_" + Buffer.alloc(32, 7).toString("base64");
const answers = []; // every admin answer, checked for secrets at the end

let n = 0;
function stripeEvent(type, object = {}, livemode = false) {
  n += 1;
  return { id: `evt_gw_${Date.now()}_${n}`, object: "event", api_version: "2024-06-20", created: Math.floor(Date.now() / 1000), livemode, type, data: { object: { id: `in_${n}`, object: "invoice", livemode, ...object } } };
}

describe("connections and http destinations", () => {
  // DRAIN_PAGE_SIZE=1: a resumed destination's parked steps are claimed strictly in arrival order.
  const w = useWorld({ captureLogs: true, vars: { RETRY_BASE_SECONDS: "0", MAX_ATTEMPTS: "4", DRAIN_PAGE_SIZE: "1" } });
  let started;

  async function admin(method, path, body) {
    const res = await w.worker.mf.dispatchFetch(`http://localhost/admin/api/${path}`, {
      method,
      headers: { authorization: AUTH, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    answers.push(text);
    return { status: res.status, json: text ? JSON.parse(text) : undefined, text };
  }

  async function destination(name, extra = {}) {
    const res = await admin("POST", "destinations", { name, type: "http", url: w.fake.receiver(name).url, secret: SECRET, ...extra });
    assert.equal(res.status, 201, res.text);
    return res.json;
  }

  const stepNames = async (eventId) => (await w.worker.all("SELECT name FROM steps WHERE event_id = ? ORDER BY name", eventId)).map((s) => s.name);
  const eventIdOf = async (key) => (await w.worker.all("SELECT id FROM events WHERE provider = 'stripe' AND dedupe_key = ?", key))[0].id;
  const stepOf = async (id) => (await w.worker.all("SELECT * FROM steps WHERE id = ?", id))[0];
  const isolateStart = async () => (await admin("GET", "stats")).json.isolate.started_at_ms;

  beforeEach(async () => {
    started ??= await isolateStart();
  });

  test("the contract example: the next matching event reaches the URL, signed", async () => {
    const created = await destination("orders-svc");
    assert.equal(created.secrets, 1);
    assert.equal(created.name, "orders-svc");
    assert.ok(!JSON.stringify(created).includes(SECRET.slice(6)));
    const connection = await admin("POST", "connections", { source: "stripe", types: ["checkout.session.completed"], destination: "orders-svc" });
    assert.equal(connection.status, 201, connection.text);
    assert.equal(connection.json.name, "stripe-to-orders-svc");

    const { key, payload } = await w.deliver("stripe", checkoutCompleted());
    const eventId = await eventIdOf(key);
    const receiver = w.fake.receiver("orders-svc");
    const [call] = await waitFor(() => receiver.calls().length > 0 && receiver.calls(), { what: "delivery to orders-svc" });
    assert.equal(call.method, "POST");
    assert.equal(call.body, payload, "the provider's JSON verbatim");
    assert.equal(call.headers["webhook-id"], `${eventId}:http:orders-svc`);
    assert.equal(call.headers["edgehooks-provider"], "stripe");
    assert.equal(call.headers["edgehooks-event-type"], "checkout.session.completed");
    assert.equal(call.headers["content-type"], "application/json");
    const verified = new Webhook(SECRET).verify(call.body, call.headers);
    assert.equal(verified.id, JSON.parse(payload).id);
    const step = await w.stepReaches("stripe", key, "http:orders-svc", ["succeeded"]);
    assert.equal(step.destination, "orders-svc");
    assert.deepEqual(await stepNames(eventId), ["http:orders-svc", "hubspot.upsert_contact", "sendgrid.send"]);

    const preview = await admin("GET", `events/${eventId}/connections`);
    assert.equal(preview.status, 200);
    assert.deepEqual(preview.json.connections, ["stripe-to-orders-svc"]);
    assert.deepEqual(preview.json.steps.find((s) => s.origin === "connection"), { name: "http:orders-svc", destination: "orders-svc", origin: "connection", connection: "stripe-to-orders-svc" });

    const sent = await admin("POST", "destinations/orders-svc/test", { event_id: eventId });
    assert.equal(sent.status, 200, sent.text);
    assert.equal(sent.json.ok, true);
    const testCall = receiver.calls().find((c) => c.headers["webhook-id"] === sent.json.webhook_id);
    assert.ok(testCall, "the test delivery arrived");
    new Webhook(SECRET).verify(testCall.body, testCall.headers);
  });

  test("filters: type wildcards and JSON pointer conditions", async () => {
    await destination("billing");
    const res = await admin("POST", "connections", {
      name: "live-invoices", source: "stripe", types: ["invoice.*"], destination: "billing",
      conditions: [{ path: "/data/object/livemode", equals: true }, { path: "/data/object/currency", in: ["usd", "eur"] }, { path: "/data/object/customer", exists: true }, { not: { path: "/data/object/status", equals: "void" } }],
    });
    assert.equal(res.status, 201, res.text);
    const cases = [
      [stripeEvent("invoice.paid", { currency: "usd", customer: "cus_1", status: "paid" }, true), true],
      [stripeEvent("invoice.finalized", { currency: "eur", customer: "cus_1" }, true), true],
      [stripeEvent("invoice.paid", { currency: "usd", customer: "cus_1" }, false), false], // equals
      [stripeEvent("invoice.paid", { currency: "gbp", customer: "cus_1" }, true), false], // in
      [stripeEvent("invoice.paid", { currency: "usd" }, true), false], // exists
      [stripeEvent("invoice.paid", { currency: "usd", customer: "cus_1", status: "void" }, true), false], // not
      [stripeEvent("charge.refunded", { currency: "usd", customer: "cus_1" }, true), false], // type
    ];
    for (const [event, taken] of cases) {
      const { key } = await w.deliver("stripe", event);
      const names = await stepNames(await eventIdOf(key));
      assert.equal(names.includes("http:billing"), taken, `${event.type} ${JSON.stringify(event.data.object)}`);
    }
    const receiver = w.fake.receiver("billing");
    await waitFor(() => receiver.calls().length === 2, { what: "two filtered deliveries" });
  });

  test("pause parks steps without attempts; resume drains them oldest first (pages of one: strictly)", async () => {
    await destination("ledger");
    assert.equal((await admin("POST", "connections", { name: "ledger-feed", source: "stripe", types: ["invoice.*"], destination: "ledger" })).status, 201);
    const paused = await admin("POST", "destinations/ledger/pause");
    assert.equal(paused.json.paused, true);
    const ids = [];
    for (let i = 0; i < 3; i++) {
      const event = stripeEvent("invoice.created", { number: `L-${i}` });
      await w.deliver("stripe", event);
      ids.push(`${await eventIdOf(event.id)}:http:ledger`);
    }
    for (const id of ids) {
      await waitFor(async () => (await stepOf(id)).last_error === "destination_paused", { what: `${id} parked` });
    }
    for (const id of ids) assert.equal((await stepOf(id)).attempts, 0);
    assert.equal(w.fake.receiver("ledger").calls().length, 0);
    const resumed = await admin("POST", "destinations/ledger/resume");
    assert.equal(resumed.status, 200, resumed.text);
    assert.equal(resumed.json.resumed, 3);
    assert.equal(resumed.json.sent, 1, "a page of one; each claim releases the next");
    for (const id of ids) await waitFor(async () => (await stepOf(id)).status === "succeeded", { what: `${id} delivered` });
    const calls = w.fake.receiver("ledger").calls().map((c) => c.headers["webhook-id"]);
    assert.deepEqual([...calls].sort(), [...ids].sort(), "each delivered once");
    // Each step's one attempt starts with its claim: claimed in arrival order.
    const attempts = await w.worker.all("SELECT step_id, started_at FROM attempts WHERE step_id IN (?, ?, ?) ORDER BY started_at, id", ...ids);
    assert.deepEqual(attempts.map((a) => a.step_id), ids);
    for (const id of ids) assert.equal((await stepOf(id)).attempts, 1);
  });

  test("secret rotation: two signatures, either secret verifies", async () => {
    await destination("rotating");
    await admin("POST", "connections", { name: "rotating-feed", source: "stripe", types: ["customer.created"], destination: "rotating" });
    const rotated = await admin("PATCH", "destinations/rotating", { add_secret: NEWER });
    assert.equal(rotated.status, 200, rotated.text);
    assert.equal(rotated.json.secrets, 2);
    await w.deliver("stripe", stripeEvent("customer.created"));
    const receiver = w.fake.receiver("rotating");
    const [call] = await waitFor(() => receiver.calls().length > 0 && receiver.calls(), { what: "rotated delivery" });
    assert.equal(call.headers["webhook-signature"].split(" ").length, 2);
    for (const secret of [SECRET, NEWER]) new Webhook(secret).verify(call.body, call.headers);
    const dropped = await admin("PATCH", "destinations/rotating", { drop_older_secrets: true });
    assert.equal(dropped.json.secrets, 1);
  });

  test("runtime changes take effect without a restart: edit, disable, enable", async () => {
    await destination("runtime");
    await admin("POST", "connections", { name: "runtime-feed", source: "stripe", types: ["invoice.voided"], destination: "runtime" });
    const planned = async (type) => {
      const event = stripeEvent(type);
      await w.deliver("stripe", event);
      return (await stepNames(await eventIdOf(event.id))).includes("http:runtime");
    };
    assert.equal(await planned("invoice.voided"), true);
    assert.equal((await admin("PATCH", "connections/runtime-feed", { types: ["invoice.upcoming"] })).status, 200);
    assert.equal(await planned("invoice.voided"), false);
    assert.equal(await planned("invoice.upcoming"), true);
    assert.equal((await admin("POST", "connections/runtime-feed/disable")).json.enabled, false);
    assert.equal(await planned("invoice.upcoming"), false);
    assert.equal((await admin("POST", "connections/runtime-feed/enable")).json.enabled, true);
    assert.equal(await planned("invoice.upcoming"), true);
    assert.equal((await admin("DELETE", "connections/runtime-feed")).status, 200);
    assert.equal(await planned("invoice.upcoming"), false);
    assert.equal(await isolateStart(), started, "the same isolate throughout");
  });

  test("per destination: max attempts with Retry-After, and timeout", async () => {
    await destination("flaky", { max_attempts: 2 });
    await admin("POST", "connections", { name: "flaky-feed", source: "stripe", types: ["payout.paid"], destination: "flaky" });
    const receiver = w.fake.receiver("flaky");
    w.fake.always(receiver.path, { status: 503, headers: { "retry-after": "1" } });
    const event = stripeEvent("payout.paid");
    await w.deliver("stripe", event);
    const id = `${await eventIdOf(event.id)}:http:flaky`;
    await waitFor(async () => (await stepOf(id)).status === "dead", { what: "flaky step dead" });
    const attempts = await w.worker.all("SELECT * FROM attempts WHERE step_id = ? ORDER BY n", id);
    assert.deepEqual(attempts.map((a) => a.status), [503, 503], "two attempts, the destination's max");
    assert.ok(attempts[1].started_at - attempts[0].started_at >= 1000, "Retry-After: 1 was honoured");

    await destination("slow", { timeout_ms: 300, max_attempts: 1 });
    await admin("POST", "connections", { name: "slow-feed", source: "stripe", types: ["payout.failed"], destination: "slow" });
    w.fake.always(w.fake.receiver("slow").path, { status: 200, delayMs: 3000 });
    const slow = stripeEvent("payout.failed");
    await w.deliver("stripe", slow);
    const slowId = `${await eventIdOf(slow.id)}:http:slow`;
    await waitFor(async () => (await stepOf(slowId)).status === "dead", { what: "slow step dead" });
    const [timedOut] = await w.worker.all("SELECT * FROM attempts WHERE step_id = ?", slowId);
    assert.equal(timedOut.status, null);
    assert.match(timedOut.error ?? "", /timeout/);
  });

  test("a redirect is never followed: a 307 ends the step dead, the signed body goes nowhere else (issue 23)", async () => {
    await destination("moved", { max_attempts: 5 });
    await admin("POST", "connections", { name: "moved-feed", source: "stripe", types: ["payout.canceled"], destination: "moved" });
    const elsewhere = w.fake.receiver("elsewhere");
    w.fake.always(w.fake.receiver("moved").path, { status: 307, headers: { location: elsewhere.url } });
    const event = stripeEvent("payout.canceled");
    await w.deliver("stripe", event);
    const id = `${await eventIdOf(event.id)}:http:moved`;
    const step = await waitFor(async () => {
      const s = await stepOf(id);
      return s.status === "dead" && s;
    }, { what: "the redirected step dead" });
    assert.equal(step.last_status, 307);
    assert.match(step.last_error, /^redirect_not_followed: http_307; /);
    const attempts = await w.worker.all("SELECT status, outcome FROM attempts WHERE step_id = ?", id);
    assert.deepEqual(attempts.map((a) => [a.status, a.outcome]), [[307, "dead"]], "not retried: the URL has moved");
    assert.equal(w.fake.receiver("moved").calls().length, 1);
    assert.deepEqual(elsewhere.calls(), [], "the signed payload was not re-posted to the Location");
  });

  test("per destination: the rate limit puts calls off without spending attempts", async () => {
    await destination("metered", { rate_per_sec: 1 });
    await admin("POST", "connections", { name: "metered-feed", source: "stripe", types: ["payment_intent.created"], destination: "metered" });
    const ids = [];
    for (let i = 0; i < 3; i++) {
      const event = stripeEvent("payment_intent.created");
      await w.deliver("stripe", event);
      ids.push(`${await eventIdOf(event.id)}:http:metered`);
    }
    for (const id of ids) await waitFor(async () => (await stepOf(id)).status === "succeeded", { what: `${id} delivered` });
    const deferred = w.worker.workerLogs().filter((l) => l.destination === "metered" && l.outcome === "deferred");
    assert.ok(deferred.some((l) => l.error === "rate_budget"), "a step waited for the destination's budget");
    for (const id of ids) assert.equal((await stepOf(id)).attempts, 1, "waiting spent no attempt");
  });

  test("a default route turned off is not planned until turned on again", async () => {
    const route = { provider: "stripe", event_type: "checkout.session.completed", step: "sendgrid.send" };
    const off = await admin("POST", "routes/off", route);
    assert.equal(off.status, 200, off.text);
    const listed = (await admin("GET", "routes")).json.routes.find((r) => r.provider === "stripe" && r.event_type === route.event_type);
    assert.deepEqual(listed.steps.find((s) => s.step === "sendgrid.send"), { step: "sendgrid.send", off: true });
    const { key } = await w.deliver("stripe", checkoutCompleted());
    assert.ok(!(await stepNames(await eventIdOf(key))).includes("sendgrid.send"));
    assert.equal((await admin("POST", "routes/on", route)).status, 200);
    const again = await w.deliver("stripe", checkoutCompleted());
    assert.ok((await stepNames(await eventIdOf(again.key))).includes("sendgrid.send"));
  });

  test("validation errors name the field; conflicts are 409", async () => {
    const cases = [
      ["destinations", { name: "x", type: "http", url: "ftp://nope", secret: SECRET }, "url"],
      ["destinations", { name: "x", type: "grpc", url: "https://a.example", secret: SECRET }, "type"],
      ["destinations", { name: "x", type: "http", url: "https://a.example", secret: "whsec_short" }, "secret"],
      ["destinations", { name: "Bad Name", type: "http", url: "https://a.example", secret: SECRET }, "name"],
      ["destinations", { name: "x", type: "http", url: "https://a.example", secret: SECRET, timeout_ms: 999999 }, "timeout_ms"],
      ["connections", { source: "paypal", destination: "orders-svc" }, "source"],
      ["connections", { source: "stripe", destination: "nowhere" }, "destination"],
      ["connections", { source: "stripe", destination: "orders-svc", types: [1] }, "types[0]"],
      ["connections", { source: "stripe", destination: "orders-svc", conditions: [{ path: "no-slash", equals: 1 }] }, "conditions[0].path"],
      ["routes/off", { provider: "stripe", event_type: "invoice.paid", step: "sendgrid.send" }, "step"],
    ];
    for (const [path, body, field] of cases) {
      const res = await admin("POST", path, body);
      assert.equal(res.status, 400, `${path} ${JSON.stringify(body)}: ${res.text}`);
      assert.equal(res.json.error, "invalid_field");
      assert.equal(res.json.field, field, res.text);
    }
    await destination("taken");
    const again = await admin("POST", "destinations", { name: "taken", type: "http", url: "https://a.example", secret: SECRET });
    assert.equal(again.status, 409);
    assert.equal(again.json.error, "name_taken");
    await admin("POST", "connections", { name: "uses-taken", source: "stripe", destination: "taken" });
    const inUse = await admin("DELETE", "destinations/taken");
    assert.equal(inUse.status, 409);
    assert.equal(inUse.json.error, "destination_in_use");
    await admin("DELETE", "connections/uses-taken");
    assert.equal((await admin("DELETE", "destinations/taken")).status, 200);
    assert.equal((await admin("GET", "destinations/taken")).status, 404);
  });

  test("a default name over 64 characters is 400 on name; a stored connection that no longer validates stops only its own steps", async () => {
    const long = "d".repeat(55); // a valid destination name; `stripe-to-` + it is 65 characters
    await destination(long);
    const unnamed = await admin("POST", "connections", { source: "stripe", types: ["invoice.paid"], destination: long });
    assert.deepEqual([unnamed.status, unnamed.json.error, unnamed.json.field], [400, "invalid_field", "name"], unnamed.text);
    assert.equal((await w.worker.all("SELECT COUNT(*) AS n FROM connections WHERE target = ?", long))[0].n, 0, "nothing stored");
    const named = await admin("POST", "connections", { name: "long-feed", source: "stripe", types: ["invoice.paid"], destination: long });
    assert.equal(named.status, 201, named.text);
    // Beside it, a row stored under older rules (such a default name), older than it.
    await w.worker.all(
      "INSERT INTO connections (name, provider, types, conditions, target, enabled, created_at, updated_at) VALUES (?, 'stripe', '[\"charge.failed\"]', '[]', ?, 1, 0, 0)",
      `stripe-to-${long}`, long,
    );

    const receiver = w.fake.receiver(long);
    const sent = await w.deliver("stripe", stripeEvent("invoice.paid"));
    await w.stepReaches("stripe", sent.key, `http:${long}`, ["succeeded"]);
    assert.equal(receiver.calls().length, 1);
    assert.equal(receiver.calls()[0].body, sent.payload);
    const skipped = w.worker.workerLogs().filter((l) => l.error === "stored_connection_invalid" && l.detail.startsWith(`stripe-to-${long} `));
    assert.ok(skipped.length > 0, "the unreadable row is logged");

    // A step whose own connection no longer validates still ends dead, unsent.
    assert.equal((await admin("POST", `destinations/${long}/pause`)).status, 200);
    const parkedEvent = await w.deliver("stripe", stripeEvent("invoice.paid"));
    const parked = await w.stepReaches("stripe", parkedEvent.key, `http:${long}`, ["enqueued"]);
    await waitFor(async () => (await stepOf(parked.id)).last_error === "destination_paused", { what: "parked" });
    await w.worker.all("UPDATE connections SET transform = '{\"ops\":[1]}' WHERE name = 'long-feed'");
    assert.equal((await admin("POST", `destinations/${long}/resume`)).status, 200);
    const dead = await w.stepReaches("stripe", parkedEvent.key, `http:${long}`, ["dead"]);
    assert.equal(dead.last_error, "connection_invalid");
    assert.equal(receiver.calls().length, 1);
  });

  test("replaying an event stored before a connection existed sends it through the connection", async () => {
    const event = stripeEvent("charge.refunded", { amount_refunded: 500 });
    const { key } = await w.deliver("stripe", event);
    const eventId = await eventIdOf(key);
    assert.deepEqual(await stepNames(eventId), [], "no route or connection took it when it arrived");
    await destination("refunds-svc");
    assert.equal((await admin("POST", "connections", { source: "stripe", types: ["charge.*"], destination: "refunds-svc" })).status, 201);

    const dry = await admin("POST", `events/${eventId}/replay?dry_run=true`);
    assert.equal(dry.status, 200, dry.text);
    assert.deepEqual(dry.json.added_steps.map((s) => [s.name, s.destination, s.action]), [["http:refunds-svc", "refunds-svc", "add"]]);
    assert.deepEqual(await stepNames(eventId), [], "a dry run changes nothing");

    const run = await admin("POST", `events/${eventId}/replay`);
    assert.deepEqual(run.json.added, [`${eventId}:http:refunds-svc`]);
    const receiver = w.fake.receiver("refunds-svc");
    const [call] = await waitFor(() => receiver.calls().length > 0 && receiver.calls(), { what: "the replayed delivery" });
    assert.equal(JSON.parse(call.body).id, event.id);
    assert.equal(new Webhook(SECRET).verify(call.body, call.headers).id, event.id);
    const again = await admin("POST", `events/${eventId}/replay?dry_run=true`);
    assert.deepEqual(again.json.added_steps, [], "replaying again adds nothing");
  });

  test("no secret appears in any API answer or log line", async () => {
    const listed = await admin("GET", "destinations");
    assert.ok(listed.json.destinations.length > 0);
    for (const secret of [SECRET, NEWER]) {
      const bare = secret.slice("whsec_".length);
      for (const text of answers) assert.ok(!text.includes(bare), `an answer leaks a secret: ${text.slice(0, 200)}`);
      for (const line of w.worker.logs) assert.ok(!line.includes(bare), `a log line leaks a secret: ${line.slice(0, 200)}`);
    }
  });
});

describe("a duplicate never plans the steps of connections created since (issue 23)", () => {
  // A delivery's first repeat reaches D1 (a first delivery leaves no KV hint): the way a
  // provider's retry past the hint does.
  const w = useWorld();
  const admin = async (method, path, body) =>
    w.worker.mf.dispatchFetch(`http://localhost/admin/api/${path}`, {
      method,
      headers: { authorization: AUTH, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(async (res) => ({ status: res.status, json: await res.json() }));
  const stepNames = async (key) =>
    (await w.worker.all("SELECT s.name FROM steps s JOIN events e ON e.id = s.event_id WHERE e.provider = 'stripe' AND e.dedupe_key = ? ORDER BY s.name", key)).map((s) => s.name);

  test("a redelivery past the KV hint adds no step to the stored event; replay does", async () => {
    const event = stripeEvent("charge.refunded", { amount_refunded: 100 });
    const { key } = await w.deliver("stripe", event);
    assert.deepEqual(await stepNames(key), [], "no route takes it");
    assert.equal((await admin("POST", "destinations", { name: "late-svc", type: "http", url: w.fake.receiver("late-svc").url, secret: SECRET })).status, 201);
    assert.equal((await admin("POST", "connections", { source: "stripe", types: ["charge.*"], destination: "late-svc" })).status, 201);

    const again = await w.deliver("stripe", event);
    assert.equal(again.res.json.status, "duplicate");
    assert.deepEqual(await stepNames(key), [], "the duplicate planned nothing for the stored event");

    // A new event is planned through the connection, and an admin replay adds it to the old one.
    const fresh = await w.deliver("stripe", stripeEvent("charge.refunded", { amount_refunded: 200 }));
    assert.deepEqual(await stepNames(fresh.key), ["http:late-svc"]);
    const [{ id }] = await w.worker.all("SELECT id FROM events WHERE provider = 'stripe' AND dedupe_key = ?", key);
    const replay = await admin("POST", `events/${id}/replay`);
    assert.deepEqual(replay.json.added, [`${id}:http:late-svc`]);
  });
});
