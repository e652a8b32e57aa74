// Bulk replay by connection through workerd (issue 13): `connection` selects the stored events
// the connection takes now — its source (`stripe:eu`), type pattern (`invoice.*`) and JSON
// Pointer conditions on the payload (livemode, a non-zero amount) — and, by default, replays
// only its step. Events are stored directly in D1 with known times, payloads and step states.
// The dry run lists exactly those events and counts that step (run again, add, already done);
// with `"scope": "event"` and without a connection it counts every step a replay would run,
// connection steps included (an `http:` step and a built-in step routed by a connection); a dry
// run bounded by `scan` hands a `count_cursor` and the two calls add up. The real run, paged with
// a small scan bound, replays each matching event exactly once, delivers to the connection's
// http destination (verified with the official `standardwebhooks` package) and touches no
// default-route step. An unknown connection is 400 `unknown_connection` naming the field.
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Webhook } from "standardwebhooks";
import { TEST_SECRETS, waitFor } from "../helpers/worker.mjs";
import { useWorld } from "../helpers/world.mjs";

const AUTH = { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}`, "content-type": "application/json" };
const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const T = Date.now() - 600_000;
const FAILED = "invoice.payment_failed"; // default routes: sendgrid.send, hubspot.upsert_contact, slack.notify
const PAID = "invoice.payment_succeeded"; // default route: hubspot.upsert_contact
const HTTP = "http:orders-svc";

// [tag, at, type, livemode, amount_due, source, stored steps]; `m` tags match the connection.
const SPEC = [
  ["m0", 0, FAILED, true, 500, "eu", [["hubspot.upsert_contact", "hubspot", "dead"], [HTTP, "orders-svc", "dead"]]],
  ["test_mode", 1, FAILED, false, 500, "eu", []],
  ["m1", 2, PAID, true, 900, "eu", []],
  ["zero_amount", 3, FAILED, true, 0, "eu", []],
  ["refund", 4, "charge.refunded", true, 700, "eu", []],
  ["m2", 5, FAILED, true, 100, "eu", [[HTTP, "orders-svc", "succeeded"]]],
  ["other_source", 6, FAILED, true, 500, "us", []],
  ["default_path", 7, FAILED, true, 500, null, []],
  ["m3", 8, FAILED, true, 300, "eu", []],
  ["test_mode2", 9, PAID, false, 300, "eu", []],
  ["m4", 10, FAILED, true, 300, "eu", []],
  ["m5a", 11, PAID, true, 1, "eu", []],
  ["m5b", 11, PAID, true, 2, "eu", []], // the same millisecond: ordered by id
];
const EVENTS = SPEC.map(([tag, at, type, livemode, amount, source, steps], i) => ({
  id: `evt_bc_${String(i).padStart(2, "0")}_${tag}`, tag, at: T + at, type, source, steps,
  payload: JSON.stringify({ id: `evt_src_${i}`, object: "event", type, livemode, data: { object: { id: `in_${i}`, object: "invoice", livemode, amount_due: amount } } }),
}));
const MATCHING = EVENTS.filter((e) => e.tag.startsWith("m"));
const CONNECTION = {
  name: "live-invoices", source: "stripe:eu", types: ["invoice.*"], destination: "orders-svc",
  conditions: [{ path: "/data/object/livemode", equals: true }, { not: { path: "/data/object/amount_due", equals: 0 } }],
};

describe("bulk replay by connection", () => {
  const w = useWorld({ vars: { RETRY_BASE_SECONDS: "0" } });
  const post = (path, body) => w.worker.post(`/admin/api/${path}`, JSON.stringify(body), AUTH);
  const replay = (body) => post("replay", body);
  const stepRows = () => w.worker.all("SELECT id, name, status, attempts, dispatch FROM steps WHERE event_id LIKE 'evt_bc_%' ORDER BY id");

  before(async () => {
    for (const e of EVENTS) {
      await w.worker.all(
        "INSERT INTO events (id, provider, dedupe_key, type, received_at, status, payload, payload_bytes, source) VALUES (?, 'stripe', ?, ?, ?, 'accepted', ?, ?, ?)",
        e.id, e.source ? `src:${e.source}:${e.id}` : e.id, e.type, e.at, e.payload, e.payload.length, e.source,
      );
      for (const [name, destination, status] of e.steps) {
        await w.worker.all(
          "INSERT INTO steps (id, event_id, name, destination, status, attempts, last_error, idempotency_key, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 3, 'http_500: down', ?, ?, ?)",
          `${e.id}:${name}`, e.id, name, destination, status, `${e.id}:${name}`, e.at, e.at,
        );
      }
    }
    const destination = await post("destinations", { name: "orders-svc", type: "http", url: w.fake.receiver("orders-svc").url, secret: SECRET });
    assert.equal(destination.status, 201, destination.text);
    for (const connection of [
      CONNECTION,
      { name: "refunds-to-slack", source: "stripe:eu", types: ["charge.refunded"], destination: "slack.notify" },
      { name: "switched-off", source: "stripe", destination: "orders-svc", enabled: false },
    ]) {
      const res = await post("connections", connection);
      assert.equal(res.status, 201, res.text);
    }
  });

  test("a dry run lists exactly the events the connection takes and counts only its step", async () => {
    const before = await stepRows();
    const res = await replay({ connection: "live-invoices", dry_run: true });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.events, MATCHING.length);
    assert.deepEqual(res.json.sample, MATCHING.map((e) => e.id), "source, type pattern and both conditions applied");
    assert.deepEqual(res.json.steps, [{ name: HTTP, run: 1, add: 5, already_done: 1, in_progress: 0 }]);
    assert.deepEqual([res.json.would_run, res.json.would_add, res.json.unavailable], [1, 5, 0]);
    assert.equal(res.json.complete, true);
    assert.equal(res.json.count_cursor, null);
    // Combined with the other filters.
    const paid = await replay({ connection: "live-invoices", type: PAID, dry_run: true });
    assert.deepEqual(paid.json.sample, MATCHING.filter((e) => e.type === PAID).map((e) => e.id));
    const window = await replay({ connection: "live-invoices", from: T + 5, to: T + 11, dry_run: true });
    assert.deepEqual(window.json.sample, ["m2", "m3", "m4"].map((t) => EVENTS.find((e) => e.tag === t).id));
    assert.deepEqual(await stepRows(), before, "a dry run changes nothing");
  });

  test("the dry run counts every step a replay would run, connection steps included", async () => {
    const whole = await replay({ connection: "live-invoices", scope: "event", dry_run: true });
    assert.equal(whole.status, 200, whole.text);
    assert.equal(whole.json.events, MATCHING.length);
    const failed = MATCHING.filter((e) => e.type === FAILED).length; // m0, m2, m3, m4
    assert.deepEqual(whole.json.steps, [
      { name: HTTP, run: 1, add: 5, already_done: 1, in_progress: 0 },
      { name: "hubspot.upsert_contact", run: 1, add: MATCHING.length - 1, already_done: 0, in_progress: 0 },
      { name: "sendgrid.send", run: 0, add: failed, already_done: 0, in_progress: 0 },
      { name: "slack.notify", run: 0, add: failed, already_done: 0, in_progress: 0 },
    ]);
    // Without a connection filter: the default routes give charge.refunded nothing, the
    // refunds-to-slack connection gives it slack.notify.
    const refunds = await replay({ source: "eu", type: "charge.refunded", dry_run: true });
    assert.deepEqual(refunds.json.steps, [{ name: "slack.notify", run: 0, add: 1, already_done: 0, in_progress: 0 }]);
    const live = await replay({ source: "eu", type: PAID, dry_run: true });
    assert.deepEqual(live.json.steps.map((s) => [s.name, s.add]), [[HTTP, 3], ["hubspot.upsert_contact", 4]], "the test-mode invoice gets no http step");
  });

  test("a dry run bounded by scan hands a count cursor; its calls add up", async () => {
    const first = await replay({ connection: "live-invoices", scan: 1, dry_run: true });
    assert.equal(first.status, 200, first.text);
    assert.equal(first.json.complete, false);
    assert.equal(first.json.scanned, 10, "ten pages of one row");
    assert.ok(first.json.count_cursor);
    const rest = await replay({ connection: "live-invoices", scan: 1, dry_run: true, cursor: first.json.count_cursor });
    assert.equal(rest.status, 200, rest.text);
    assert.equal(rest.json.complete, true);
    assert.equal(first.json.events + rest.json.events, MATCHING.length);
    assert.deepEqual([...first.json.sample, ...rest.json.sample], MATCHING.map((e) => e.id));
    assert.equal(first.json.would_add + rest.json.would_add, 5);
  });

  test("unknown or switched-off connections are refused naming the field", async () => {
    const unknown = await replay({ connection: "nope", dry_run: true });
    assert.equal(unknown.status, 400);
    assert.deepEqual([unknown.json.error, unknown.json.field], ["unknown_connection", "connection"]);
    assert.equal((await replay({ connection: "nope" })).json.error, "unknown_connection");
    const off = await replay({ connection: "switched-off", dry_run: true });
    assert.equal(off.status, 409);
    assert.equal(off.json.error, "connection_disabled");
    const bad = await replay({ connection: "Not A Name" });
    assert.equal(bad.status, 400);
    assert.match(bad.json.detail, /^connection/);
    const scope = await replay({ scope: "connection" });
    assert.equal(scope.status, 400);
    assert.match(scope.json.detail, /^scope/);
  });

  test("the real run pages through the connection's events once each and delivers only to its destination", async () => {
    const receiver = w.fake.receiver("orders-svc");
    const seen = [];
    const pages = [];
    let cursor;
    do {
      const res = await replay({ connection: "live-invoices", limit: 2, scan: 3, ...(cursor ? { cursor } : {}) });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.interrupted, null);
      assert.deepEqual(Object.keys(res.json.steps).filter((n) => n !== HTTP), [], "only the connection's step");
      pages.push(res.json.replayed);
      seen.push(...res.json.replayed);
      cursor = res.json.next_cursor;
    } while (cursor && pages.length < 20);
    assert.equal(cursor, null, "the pass ended");
    assert.deepEqual(seen, MATCHING.map((e) => e.id), "each matching event once, oldest first, none missed");
    assert.ok(pages.some((p) => p.length < 2 && p !== pages.at(-1)), "some pages ended on the scan bound");

    const expected = MATCHING.filter((e) => e.tag !== "m2"); // m2's delivery had succeeded
    await waitFor(() => receiver.calls().length >= expected.length, { what: "the deliveries" });
    await w.quiet();
    const calls = receiver.calls();
    assert.equal(calls.length, expected.length, "no delivery twice");
    const byWebhookId = Object.fromEntries(calls.map((c) => [c.headers["webhook-id"], c]));
    for (const e of expected) {
      const call = byWebhookId[`${e.id}:${HTTP}`];
      assert.ok(call, `${e.id} delivered`);
      assert.equal(call.body, e.payload, "the stored payload verbatim");
      assert.equal(new Webhook(SECRET).verify(call.body, call.headers).id, JSON.parse(e.payload).id);
    }
    assert.deepEqual(w.fake.calls.filter((c) => c.path !== receiver.path), [], "no default route ran");
    const rows = await waitFor(async () => {
      const all = await stepRows();
      return all.filter((r) => r.name === HTTP && r.status === "succeeded").length === MATCHING.length && all;
    }, { what: "every http step succeeded" });
    assert.deepEqual(rows.filter((r) => r.name !== HTTP).map((r) => [r.id, r.status]), [[`${EVENTS[0].id}:hubspot.upsert_contact`, "dead"]]);
    for (const e of MATCHING) {
      const step = rows.find((r) => r.id === `${e.id}:${HTTP}`);
      assert.equal(step?.status, "succeeded", `${e.id}: ${JSON.stringify(step)}`);
    }
    const again = await replay({ connection: "live-invoices", dry_run: true });
    assert.deepEqual(again.json.steps, [{ name: HTTP, run: 0, add: 0, already_done: MATCHING.length, in_progress: 0 }]);
  });
});
