// Draining a paused http destination (issue 23) end to end through workerd, on the real D1 and
// Queues: steps of a paused destination park without spending an attempt; a resume (POST
// …/resume, or PUT {"paused": false}: the same) releases them in pages of DRAIN_PAGE_SIZE, oldest
// first, the next page once every step of the one before was claimed; every parked step is then
// delivered exactly once. The work per drained step is counted (tests/helpers/binding-counts.mjs)
// and held to what a fresh step costs plus a constant: before, every step waiting its turn
// deferred itself again each second, so a drain of N steps took N seconds and O(N²) D1 writes and
// queue messages. A step that comes during a drain joins the end of the line, and the sweeper
// picks the drain up again after a lost message or a failed send; a resume sends a page still
// out again at once. Counts and orders, no timings.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startWorld, useWorld } from "../helpers/world.mjs";
import { countingBuild, invocations } from "../helpers/binding-counts.mjs";
import { TEST_SECRETS, waitFor } from "../helpers/worker.mjs";

const AUTH = `Bearer ${TEST_SECRETS.ADMIN_TOKEN}`;
const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const PAGE = 10;
const VARS = { RETRY_BASE_SECONDS: "0", DRAIN_PAGE_SIZE: String(PAGE) };

let n = 0;
function stripeEvent(type) {
  n += 1;
  const id = `evt_drain_${Date.now()}_${n}`;
  return { id, object: "event", api_version: "2024-06-20", created: Math.floor(Date.now() / 1000), livemode: false, type, data: { object: { id: `in_drain_${n}`, object: "invoice" } } };
}

/** The admin API, the destination/connection setup and the parking of steps, over world `w`. */
function drainHelpers(w) {
  async function admin(method, path, body) {
    const res = await w.worker.mf.dispatchFetch(`http://localhost/admin/api/${path}`, {
      method,
      headers: { authorization: AUTH, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : undefined, text };
  }
  /** An http destination `name` at the fake's receiver, fed by events of `type`. */
  async function feed(name, type) {
    const created = await admin("POST", "destinations", { name, type: "http", url: w.fake.receiver(name).url, secret: SECRET });
    assert.equal(created.status, 201, created.text);
    const connection = await admin("POST", "connections", { name: `${name}-feed`, source: "stripe", types: [type], destination: name });
    assert.equal(connection.status, 201, connection.text);
  }
  /** Deliver `count` events of `type`; their step ids for `name`, in arrival order. */
  async function deliverSteps(name, type, count) {
    const ids = [];
    for (let i = 0; i < count; i++) {
      const event = stripeEvent(type);
      await w.deliver("stripe", event);
      const [{ id }] = await w.worker.all("SELECT id FROM events WHERE provider = 'stripe' AND dedupe_key = ?", event.id);
      ids.push(`${id}:http:${name}`);
    }
    return ids;
  }
  const stepsOf = (name) => w.worker.all("SELECT * FROM steps WHERE destination = ? ORDER BY created_at, rowid", name);
  /** Pause `name`, deliver `count` events and wait until each step is parked. */
  async function park(name, type, count) {
    assert.equal((await admin("POST", `destinations/${name}/pause`)).json.paused, true);
    const ids = await deliverSteps(name, type, count);
    await waitFor(async () => (await stepsOf(name)).filter((s) => s.last_error === "destination_paused").length === count, { what: `${count} steps of ${name} parked` });
    return ids;
  }
  /** Wait until every step of `name` succeeded. */
  const delivered = (name, count) =>
    waitFor(async () => (await stepsOf(name)).filter((s) => s.status === "succeeded").length === count, { what: `${count} steps of ${name} delivered`, timeoutMs: 30000 });
  return { admin, feed, deliverSteps, stepsOf, park, delivered };
}

/** The receiver's calls for `name`: each step's webhook id once. */
function assertDeliveredOnce(w, name, ids) {
  const calls = w.fake.receiver(name).calls().map((c) => c.headers["webhook-id"]);
  assert.equal(calls.length, ids.length, "one call per step");
  assert.deepEqual([...calls].sort(), [...ids].sort());
}

/** Chunks of `ids` as a drain of pages of `size` releases them. */
const pagesOf = (ids, size = PAGE) => Array.from({ length: Math.ceil(ids.length / size) }, (_, i) => ids.slice(i * size, (i + 1) * size));

/** Each step was claimed once (its one attempt's start), and no step of a page before every
 * step of the pages before it. */
async function assertPagesInOrder(w, pages) {
  const ids = pages.flat();
  const attempts = await w.worker.all(
    "SELECT step_id, n, started_at FROM attempts WHERE step_id IN (SELECT value FROM json_each(?))",
    JSON.stringify(ids),
  );
  assert.equal(attempts.length, ids.length, "one attempt each: waiting spent none");
  assert.ok(attempts.every((a) => a.n === 1));
  const started = new Map(attempts.map((a) => [a.step_id, a.started_at]));
  for (let k = 1; k < pages.length; k++) {
    const before = Math.max(...pages[k - 1].map((id) => started.get(id)));
    const next = Math.min(...pages[k].map((id) => started.get(id)));
    assert.ok(before <= next, `page ${k} claimed only after every step of the page before (${before} > ${next})`);
  }
}

/** D1 statements, queue sends and messages handed to the consumer in `records`. */
function work(records) {
  const d1 = records.flatMap((r) => r.d1);
  return {
    statements: d1.reduce((sum, sql) => sum + (Number(sql.match(/^batch\[(\d+)\]/)?.[1]) || 1), 0),
    sends: records.flatMap((r) => r.calls).filter((c) => c.startsWith("STEPS.send")).length,
    messages: records.filter((r) => r.kind === "queue" && r.detail.startsWith("steps ")).reduce((sum, r) => sum + Number(r.detail.split(" ")[1]), 0),
  };
}

describe("draining a paused http destination", () => {
  let w;
  let build;
  let h;
  before(async () => {
    build = countingBuild();
    w = await startWorld({ vars: VARS, miniflare: build.miniflare });
    h = drainHelpers(w);
  });
  after(async () => {
    await w?.dispose();
    build?.cleanup();
  });

  test("PUT {paused: false} resumes exactly as POST …/resume: the parked steps are sent", async () => {
    await h.feed("put-resumed", "invoice.created");
    const ids = await h.park("put-resumed", "invoice.created", 25);
    assert.equal(w.fake.receiver("put-resumed").calls().length, 0);
    const resumed = await h.admin("PUT", "destinations/put-resumed", { paused: false });
    assert.equal(resumed.status, 200, resumed.text);
    assert.equal(resumed.json.paused, false);
    assert.deepEqual([resumed.json.resumed, resumed.json.sent], [25, PAGE], "all 25 drain; the first page is sent now");
    await h.delivered("put-resumed", 25);
    assertDeliveredOnce(w, "put-resumed", ids);
    await assertPagesInOrder(w, pagesOf(ids));
  });

  test("a fresh backlog and a drain of the same size: each step handed over once, the same work per step plus its page's share", async () => {
    const COUNT = 40;
    await h.feed("fresh", "invoice.finalized");
    const beforeFresh = (await invocations(w.worker)).length;
    const freshIds = await h.deliverSteps("fresh", "invoice.finalized", COUNT);
    await h.delivered("fresh", COUNT);
    const fresh = work((await invocations(w.worker)).slice(beforeFresh).filter((r) => r.kind === "queue"));

    await h.feed("ledger", "invoice.updated");
    const ids = await h.park("ledger", "invoice.updated", COUNT);
    for (const step of await h.stepsOf("ledger")) assert.equal(step.attempts, 0, "parked: no attempt spent");
    assert.equal((await w.worker.all("SELECT COUNT(*) AS n FROM attempts WHERE step_id IN (SELECT value FROM json_each(?))", JSON.stringify(ids)))[0].n, 0);
    const beforeDrain = (await invocations(w.worker)).length;
    const resumed = await h.admin("POST", "destinations/ledger/resume");
    assert.equal(resumed.status, 200, resumed.text);
    assert.deepEqual([resumed.json.resumed, resumed.json.sent], [COUNT, PAGE]);
    await h.delivered("ledger", COUNT);
    assertDeliveredOnce(w, "ledger", ids);
    assertDeliveredOnce(w, "fresh", freshIds);
    await assertPagesInOrder(w, pagesOf(ids));
    // The resume request and every queue batch after it: the whole drain.
    const drain = work((await invocations(w.worker)).slice(beforeDrain).filter((r) => r.kind === "queue" || r.detail === "POST /admin/api/destinations/ledger/resume"));

    assert.equal(fresh.messages, COUNT, "a fresh step is handed to the consumer once");
    assert.equal(drain.messages, COUNT, "a drained step is handed to the consumer once: none waits by re-deferring");
    assert.equal(drain.sends, COUNT / PAGE, "one queue send per page");
    // Per drained step: what a fresh step costs, plus the release asked for in its claim's batch,
    // plus its page's share of the release's mark and the resume's count.
    // (About 1.25 with pages of 10 and a resume of 6 statements; before, each step's wait alone
    // cost a read and a write per second per step ahead of it.)
    const perFresh = fresh.statements / COUNT;
    const perDrained = drain.statements / COUNT;
    assert.ok(perDrained <= perFresh + 1.5, `D1 statements per drained step ${perDrained} vs ${perFresh} fresh`);
  });
});

describe("the line of a drain, and its lost wake-ups", () => {
  const w = useWorld({ vars: VARS, queueFault: true });

  test("a step that comes during a drain joins the end of the line; the sweeper re-sends a released step's lost message", async () => {
    const h = drainHelpers(w);
    await h.feed("queue-jump", "invoice.voided");
    const ids = await h.park("queue-jump", "invoice.voided", 15);
    // A drain under way (resumed) whose released step's message was lost after the resume: the
    // oldest step released (claimable, reason destination_draining) a while ago, with no message
    // on the queue, and no resume to come.
    await w.worker.all("UPDATE steps SET last_error = 'destination_draining', next_attempt_at = NULL, updated_at = 0 WHERE id = ?", ids[0]);
    await w.worker.all("UPDATE destinations SET paused = 0 WHERE name = 'queue-jump'");
    const [late] = await h.deliverSteps("queue-jump", "invoice.voided", 1);
    await waitFor(async () => (await h.stepsOf("queue-jump")).find((s) => s.id === late)?.last_error === "destination_paused", { what: "the late step parked in line" });
    assert.equal(w.fake.receiver("queue-jump").calls().length, 0, "nothing overtook the line");

    await w.sweep();
    await h.delivered("queue-jump", 16);
    assertDeliveredOnce(w, "queue-jump", [...ids, late]);
    // The lost one, then a page of ten, then the last four with the late step at the end.
    await assertPagesInOrder(w, [[ids[0]], ids.slice(1, 11), [...ids.slice(11), late]]);
  });

  test("a resume sends again a page still out whose send failed before it: the drain needs no sweeper", async () => {
    // The chaos run's drain-after-resume (seed 7): a resume's send failed (Queues refusing), so
    // its page waited `pending`; a second resume found that page out, released nothing, sent
    // nothing, and the whole line waited for the sweeper.
    const h = drainHelpers(w);
    await h.feed("resent", "invoice.paid");
    const ids = await h.park("resent", "invoice.paid", 12);
    w.worker.queueFault.fail(true);
    const first = await h.admin("POST", "destinations/resent/resume");
    w.worker.queueFault.fail(false);
    assert.deepEqual([first.json.resumed, first.json.sent], [12, 0], "the first page's send failed");
    const again = await h.admin("POST", "destinations/resent/resume");
    assert.equal(again.status, 200, again.text);
    assert.deepEqual([again.json.resumed, again.json.sent], [12, PAGE], "the page still out is sent again");
    const pages = pagesOf(ids);
    const dispatch = new Map((await h.stepsOf("resent")).map((s) => [s.id, s.dispatch]));
    assert.deepEqual(pages[0].map((id) => dispatch.get(id)), pages[0].map(() => 2), "released, then sent again: a new dispatch each time");
    // No sweep: the page sent again is claimed, and its last claim releases the next.
    await h.delivered("resent", 12);
    assertDeliveredOnce(w, "resent", ids);
    await assertPagesInOrder(w, pages);
  });

  test("a resume whose send failed leaves its page pending, and the sweeper sends it", async () => {
    const h = drainHelpers(w);
    await h.feed("send-fails", "invoice.sent");
    const ids = await h.park("send-fails", "invoice.sent", 12);
    w.worker.queueFault.fail(true);
    const resumed = await h.admin("POST", "destinations/send-fails/resume");
    w.worker.queueFault.fail(false);
    assert.deepEqual([resumed.json.resumed, resumed.json.sent], [12, 0]);
    const pending = (await h.stepsOf("send-fails")).filter((s) => s.status === "pending");
    assert.deepEqual(pending.map((s) => s.id), ids.slice(0, PAGE), "the first page, released, waits in the outbox");
    // A minute later (the sweeper's grace for a failed send), as the cron finds it.
    await w.worker.all("UPDATE steps SET updated_at = updated_at - 120000 WHERE status = 'pending' AND destination = 'send-fails'");
    await w.sweep();
    await h.delivered("send-fails", 12);
    assertDeliveredOnce(w, "send-fails", ids);
    await assertPagesInOrder(w, pagesOf(ids));
  });
});
