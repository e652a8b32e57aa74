// Waiting never kills a step, through workerd. Deferrals (open or half-open circuit, request
// budget: a destination down for many cool-downs, a backlog of Slack steps) come back as fresh
// messages, so Queues' max_retries (2 here) never ends a step that only waited, failed half-open
// probes are not charged to their steps, and a waiting check uses no budget. A dead-letter
// message ends only the send it was about (a redrive or success wins), and a redrive's or
// replay's message carries the step's new dispatch, so its own dead letter ends it; a broken
// consumer setting makes steps wait in D1 (`misconfigured`), not spend Queues retries. The call's timeout covers
// a body that never finishes, whether or not it declares its length; an answer longer than the
// read limit is cut and a compressed one read decoded. A lost attempt counts, so the sweeper's recovery ends `dead`
// (`attempt_lost`) at MAX_ATTEMPTS (an http destination's own max_attempts for its steps); the sweeper never flips a step claimed while it sweeps; and a
// success whose D1 record fails (built-in or http) is recorded by a retry in place, without a second call; the late
// record of an attempt the sweeper already counted lost (its call outlived the lease) changes
// nothing and is not counted on the dashboard (SendGrid and an http destination). Checkout
// events are routed to `sendgrid.send` only, whose body carries the step id, so calls are counted
// per step.
import { after, before, describe, test } from "node:test";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { TEST_SECRETS, waitFor, consumersWith } from "../helpers/worker.mjs";
import { startWorld, useWorld } from "../helpers/world.mjs";
import { checkoutCompleted } from "../helpers/stripe.mjs";
import { MAIL, deliver, settled, stepsOf } from "../helpers/flows.mjs";
import { shopifyOrder } from "../helpers/providers.mjs";

const MAX_ATTEMPTS = 3;
const TIMEOUT_MS = 500;
const LEASE_MS = 15 * 60_000;
/** Queues' retry limit for STEPS in these tests: far fewer than the deferrals of an outage. */
const MAX_RETRIES = 2;

/** A fresh worker + fake for each scenario (tests/helpers/world.mjs). */
function world(extraVars = {}, { queueFault = false } = {}) {
  const vars = {
    MAX_ATTEMPTS: String(MAX_ATTEMPTS),
    RETRY_BASE_SECONDS: "0",
    DOWNSTREAM_TIMEOUT_MS: String(TIMEOUT_MS),
    ROUTES_JSON: JSON.stringify({ stripe: { "checkout.session.completed": ["sendgrid.send"] } }),
    ...extraVars,
  };
  const miniflare = { queueConsumers: consumersWith({ steps: { maxRetries: MAX_RETRIES } }) };
  return useWorld({ captureLogs: true, queueFault, vars, miniflare }, { each: true });
}

async function checkout(w) {
  const { key } = await deliver(w.worker, "stripe", checkoutCompleted());
  const [step] = await stepsOf(w.worker, "stripe", key);
  assert.equal(step.name, "sendgrid.send");
  return { key, stepId: step.id };
}

const callsFor = (fake, stepId) =>
  fake.callsTo(MAIL).filter((c) => JSON.parse(c.body).custom_args?.edgehooks_step_id === stepId);
const stepRow = async (w, id) => (await w.worker.all("SELECT * FROM steps WHERE id = ?", id))[0];
const attemptsOf = (w, stepId) =>
  w.worker.all("SELECT n, status, outcome, error FROM attempts WHERE step_id = ? ORDER BY id", stepId);
const stepLogs = (w, stepId, outcome) =>
  w.worker.workerLogs().filter((l) => l.kind === "step_attempt" && l.step_id === stepId && l.outcome === outcome);
/** Hand the consumer one message for `stepId` directly, as Queues would deliver it: its result. */
const handOver = async (w, stepId, tag) =>
  (await w.worker.mf.getWorker()).queue("steps", [{ id: `${tag}-${Date.now()}`, timestamp: new Date(), body: { step_id: stepId }, attempts: 1 }]);
const sweep = async (w) => (await w.worker.mf.getWorker()).scheduled({ cron: "* * * * *" });
const deadLetter = async (w, body) =>
  (await w.worker.mf.getWorker()).queue("steps-dlq", [{ id: `dlq-${Date.now()}`, timestamp: new Date(), body, attempts: 1 }]);

/** POST `body` to the admin API at `path`. */
const adminPost = (w, path, body) =>
  w.worker.mf.dispatchFetch(`http://localhost/admin/api/${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });

/** An http destination `name` (with `settings`) taking checkouts through a connection: its receiver. */
/** A real D1 fault: while `d1_fault` names a step, D1 refuses every update moving it to
 * `status` (`running`: its claim; `succeeded`: the record of its success). */
async function refuseUpdatesTo(w, status) {
  await w.worker.all("CREATE TABLE d1_fault (on_step TEXT)");
  await w.worker.all(
    `CREATE TRIGGER refuse_${status} BEFORE UPDATE ON steps
     WHEN NEW.status = '${status}' AND NEW.id IN (SELECT on_step FROM d1_fault)
     BEGIN SELECT RAISE(ABORT, 'simulated D1 fault'); END`,
  );
}

async function httpDestination(w, name, settings = {}) {
  const receiver = w.fake.receiver(name);
  const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  const made = await adminPost(w, "destinations", { name, type: "http", url: receiver.url, secret, ...settings });
  assert.equal(made.status, 201, await made.text());
  const feed = await adminPost(w, "connections", { name: `${name}-feed`, source: "stripe", types: ["checkout.session.completed"], destination: name });
  assert.equal(feed.status, 201, await feed.text());
  return receiver;
}

/** Steps of checkouts delivered while STEPS refuses sends: they wait `pending` in the outbox. */
async function outboxCheckouts(w, n) {
  w.worker.queueFault.fail(true);
  const steps = [];
  for (let i = 0; i < n; i++) steps.push(await checkout(w));
  w.worker.queueFault.fail(false);
  return steps;
}

describe("a destination down for many cool-downs", () => {
  const OUTAGE_MAX_ATTEMPTS = 4;
  const STEPS = 4;
  const w = world({ MAX_ATTEMPTS: String(OUTAGE_MAX_ATTEMPTS), CIRCUIT_COOL_DOWN_SECONDS: "1" });
  test("with max_retries 2, every waiting step is delivered exactly once when it is back; none dead", async () => {
    w.fake.always(MAIL, { status: 503 });
    const steps = [];
    for (let i = 0; i < STEPS; i++) steps.push(await checkout(w));
    const ids = steps.map((s) => s.stepId);
    // The outage lasts until every step has waited more often than Queues would redeliver one
    // message (max_retries + 1 deliveries): each wait came back as a fresh message.
    await waitFor(() => ids.every((id) => stepLogs(w, id, "deferred").length > MAX_RETRIES + 1), {
      timeoutMs: 45000,
      intervalMs: 200,
      what: `every step deferred more than ${MAX_RETRIES + 1} times`,
    });
    // ... and until more half-open probes (one per cool-down) failed than all the steps'
    // attempts together: had each been charged to its step, some step would be dead by now.
    const probes = OUTAGE_MAX_ATTEMPTS * STEPS;
    await waitFor(
      async () => (await w.worker.all("SELECT COUNT(*) AS n FROM attempts WHERE outcome = 'probe'"))[0].n > probes,
      { timeoutMs: 60000, intervalMs: 200, what: `more than ${probes} failed probes` },
    );
    const during = await w.worker.all("SELECT id, status, last_error FROM steps WHERE status = 'dead'");
    assert.deepEqual(during, [], "no step died while waiting");

    const mark = w.fake.callsTo(MAIL).length;
    w.fake.always(MAIL, { status: 202 });
    for (const { key } of steps) {
      const [step] = await settled(w.worker, "stripe", key, { timeoutMs: 30000 });
      assert.equal(step.status, "succeeded", JSON.stringify(step));
    }
    const after = w.fake.callsTo(MAIL).slice(mark);
    for (const id of ids) {
      assert.equal(after.filter((c) => JSON.parse(c.body).custom_args?.edgehooks_step_id === id).length, 1, `${id} delivered once`);
      // Waiting charged nothing, nor did the failed probes: every call the destination saw is an
      // attempt row, and every row but the probes' is charged.
      const row = await stepRow(w, id);
      const rows = await attemptsOf(w, id);
      assert.equal(rows.length, callsFor(w.fake, id).length, id);
      assert.equal(row.attempts, rows.filter((a) => a.outcome !== "probe").length, id);
    }
  });
});

describe("a backlog of Slack steps", () => {
  const SLACK = "/services/T000/B000/test";
  const w = world({ ROUTES_JSON: JSON.stringify({ shopify: { "orders/create": ["slack.notify"] } }) });
  test("with max_retries 2, every step waits its turn for Slack's 1 call per second; none dead", async () => {
    const keys = [];
    for (let i = 0; i < 8; i++) {
      const webhookId = `wh_backlog_${Date.now()}_${i}`;
      const { key } = await deliver(w.worker, "shopify", shopifyOrder(), { topic: "orders/create", shop: "backlog.myshopify.com", webhookId });
      keys.push(key);
    }
    const rows = [];
    for (const key of keys) {
      const [step] = await settled(w.worker, "shopify", key, { timeoutMs: 30000 });
      rows.push(step);
    }
    assert.deepEqual(rows.map((r) => [r.status, r.attempts]), rows.map(() => ["succeeded", 1]), "all delivered, one attempt each");
    assert.equal(w.fake.callsTo(SLACK).length, keys.length, "one message each");
    const waits = Math.max(...rows.map((r) => stepLogs(w, r.id, "deferred").length));
    assert.ok(waits > MAX_RETRIES + 1, `some step waited more often than Queues redelivers a message (${waits})`);
  });
});

describe("budget", () => {
  const w = world();
  test("a check that has to wait for the circuit uses none of the request budget", async () => {
    const now = Date.now();
    await w.worker.all(
      "INSERT INTO destination_health (destination, consecutive_failures, open_until, window_start, window_count) VALUES ('sendgrid', 5, ?, ?, 0)",
      now + 10 * 60_000,
      now,
    );
    const steps = [];
    for (let i = 0; i < 3; i++) steps.push(await checkout(w));
    await waitFor(
      async () => {
        const rows = await Promise.all(steps.map((s) => stepRow(w, s.stepId)));
        return rows.every((r) => r.status === "enqueued" && r.last_error === "circuit_open");
      },
      { what: "every step deferred for the open circuit" },
    );
    const [health] = await w.worker.all("SELECT window_count FROM destination_health WHERE destination = 'sendgrid'");
    assert.equal(health.window_count, 0, "deferred checks counted nothing");
    assert.equal(w.fake.callsTo(MAIL).length, 0);
    for (const { stepId } of steps) assert.equal((await stepRow(w, stepId)).attempts, 0);
  });
});

describe("dead letters", () => {
  const w = world({}, { queueFault: true });
  const admin = { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}`, "content-type": "application/json" };

  test("a dead letter of an earlier send never kills a step redriven since, nor one that succeeded", async () => {
    w.fake.always(MAIL, { status: 400, body: { errors: [{ message: "The template_id is not a valid template ID." }] } });
    const { key, stepId } = await checkout(w);
    const [dead] = await settled(w.worker, "stripe", key);
    assert.equal(dead.status, "dead");

    // Redriven, but its send fails (a Queues outage): it waits `enqueued` for the sweeper.
    w.worker.queueFault.fail(true);
    const res = await w.worker.post("/admin/api/redrive", JSON.stringify({ step_ids: [stepId] }), admin);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json.redriven, [stepId]);
    assert.equal(res.json.sent, 0);
    w.worker.queueFault.fail(false);

    // Now the dead letter of the first send arrives: the redrive wins.
    assert.equal((await deadLetter(w, { step_id: stepId })).outcome, "ok");
    const waiting = await stepRow(w, stepId);
    assert.equal(waiting.status, "enqueued");
    assert.notEqual(waiting.last_error, "queue_gave_up");

    // The sweeper sends it (its due time long past), it succeeds; a late dead letter changes nothing.
    w.fake.always(MAIL, { status: 202 });
    const past = Date.now() - LEASE_MS - 60_000;
    await w.worker.all("UPDATE steps SET updated_at = ? WHERE id = ?", past, stepId);
    await sweep(w);
    const [done] = await settled(w.worker, "stripe", key);
    assert.equal(done.status, "succeeded");
    for (const dispatch of [undefined, done.dispatch]) {
      assert.equal((await deadLetter(w, { step_id: stepId, dispatch })).outcome, "ok");
      const after = await stepRow(w, stepId);
      assert.deepEqual([after.status, after.last_status], ["succeeded", 202]);
    }
  });

  test("a dead letter of the step's current send ends a step that is still waiting", async () => {
    const [{ stepId }] = await outboxCheckouts(w, 1);
    await w.worker.all("UPDATE steps SET status = 'enqueued', dispatch = 2 WHERE id = ?", stepId);
    await deadLetter(w, { step_id: stepId, dispatch: 1 });
    assert.equal((await stepRow(w, stepId)).status, "enqueued", "an older send's dead letter: no effect");
    await deadLetter(w, { step_id: stepId, dispatch: 2 });
    const row = await stepRow(w, stepId);
    assert.deepEqual([row.status, row.last_error], ["dead", "queue_gave_up"]);
    assert.equal(callsFor(w.fake, stepId).length, 0);
  });
});

describe("a redriven or replayed step's dead letter", () => {
  // One failed delivery of a message is its last: Queues sends it to steps-dlq at once.
  const w = useWorld(
    { captureLogs: true, vars: { ROUTES_JSON: JSON.stringify({ stripe: { "checkout.session.completed": ["sendgrid.send"] } }) }, miniflare: { queueConsumers: consumersWith({ steps: { maxRetries: 0 } }) } },
    { each: true },
  );
  const admin = { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}`, "content-type": "application/json" };

  test("ends the step: the message carries the dispatch number the requeue gave it", async () => {
    w.fake.always(MAIL, { status: 400, body: { errors: [{ message: "The template_id is not a valid template ID." }] } });
    const { key, stepId } = await checkout(w);
    const [dead] = await settled(w.worker, "stripe", key);
    assert.deepEqual([dead.status, dead.dispatch], ["dead", 0]);
    // From now on D1 refuses the step's claim, so each message it is sent fails and is dead-lettered.
    await refuseUpdatesTo(w, "running");
    await w.worker.all("INSERT INTO d1_fault (on_step) VALUES (?)", stepId);
    const gaveUp = () => stepLogs(w, stepId, "dead").filter((l) => l.error === "queue_gave_up" && l.changed);
    const redrive = await w.worker.post("/admin/api/redrive", JSON.stringify({ step_ids: [stepId] }), admin);
    assert.deepEqual([redrive.status, redrive.json.redriven, redrive.json.sent], [200, [stepId], 1], redrive.text);
    await waitFor(() => gaveUp().length === 1, { what: "the redrive's dead letter ending the step" });
    let row = await stepRow(w, stepId);
    assert.deepEqual([row.status, row.last_error, row.dispatch], ["dead", "queue_gave_up", 1]);
    const replay = await w.worker.mf.dispatchFetch(`http://localhost/admin/api/events/${row.event_id}/replay`, { method: "POST", headers: admin });
    assert.equal(replay.status, 200, await replay.text());
    await waitFor(() => gaveUp().length === 2, { what: "the replay's dead letter ending the step" });
    row = await stepRow(w, stepId);
    assert.deepEqual([row.status, row.last_error, row.dispatch], ["dead", "queue_gave_up", 2]);
    assert.equal(callsFor(w.fake, stepId).length, 1, "only the first send called");
  });
});

describe("a broken consumer setting", () => {
  let dir;
  const opened = [];
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), "edgehooks-misconfigured-"));
  });
  after(async () => {
    for (const w of opened) await w.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  test("makes steps wait in D1 (misconfigured) without spending Queues retries; fixed, they run", async () => {
    // max_retries 0: a Queues retry would dead-letter the message, and the step with it.
    const miniflare = { d1Persist: dir, queueConsumers: consumersWith({ steps: { maxRetries: 0 } }) };
    const routes = JSON.stringify({ stripe: { "checkout.session.completed": ["sendgrid.send"] } });
    const broken = await startWorld({ captureLogs: true, vars: { ROUTES_JSON: routes, MAX_ATTEMPTS: "ten" }, miniflare });
    opened.push(broken);
    const { key, stepId } = await checkout(broken);
    await waitFor(async () => (await stepRow(broken, stepId)).last_error !== null, { what: "the step's wait" });
    const waiting = await stepRow(broken, stepId);
    assert.deepEqual([waiting.status, waiting.attempts, waiting.last_error], ["enqueued", 0, "misconfigured"]);
    assert.ok(waiting.next_attempt_at > Date.now(), "due again later");
    assert.equal(callsFor(broken.fake, stepId).length, 0);
    await broken.dispose();
    opened.pop();

    // The setting fixed (a new deployment, the same D1): the sweeper sends the step, which runs.
    const fixed = await startWorld({ vars: { ROUTES_JSON: routes }, migrate: false, miniflare });
    opened.push(fixed);
    const past = Date.now() - LEASE_MS - 60_000;
    await fixed.worker.all("UPDATE steps SET updated_at = ?, next_attempt_at = ? WHERE id = ?", past, past, stepId);
    await fixed.sweep();
    const [step] = await settled(fixed.worker, "stripe", key);
    assert.deepEqual([step.status, step.attempts], ["succeeded", 1]);
    assert.equal(callsFor(fixed.fake, stepId).length, 1);
  });
});

describe("a body that never finishes", () => {
  const w = world();
  test("is a timeout attempt, then the retry succeeds", async () => {
    w.fake.script(MAIL, [{ stallBody: true }]);
    const { key, stepId } = await checkout(w);
    const [step] = await settled(w.worker, "stripe", key);
    assert.deepEqual([step.status, step.attempts], ["succeeded", 2]);
    assert.deepEqual(
      (await attemptsOf(w, stepId)).map((a) => [a.n, a.status, a.outcome, a.error]),
      [
        [1, null, "retry", "timeout"],
        [2, 200, "succeeded", null],
      ],
    );
  });

  test("every time: dead after MAX_ATTEMPTS", async () => {
    w.fake.always(MAIL, { stallBody: true });
    const { key, stepId } = await checkout(w);
    const [step] = await settled(w.worker, "stripe", key);
    assert.deepEqual([step.status, step.attempts, step.last_error], ["dead", MAX_ATTEMPTS, "timeout"]);
    assert.equal(callsFor(w.fake, stepId).length, MAX_ATTEMPTS);
  });
});

describe("how much of an answer is read", () => {
  const w = world();
  const firstAttempt = async (stepId) => (await attemptsOf(w, stepId))[0];

  test("a body that declares its length and never finishes is a timeout too", async () => {
    w.fake.script(MAIL, [{ stallBody: true, headers: { "content-length": "4000" } }]);
    const { key, stepId } = await checkout(w);
    const [step] = await settled(w.worker, "stripe", key);
    assert.deepEqual([step.status, step.attempts], ["succeeded", 2]);
    assert.equal((await firstAttempt(stepId)).error, "timeout");
  });

  test("an error answer longer than the read limit is cut, and its start kept", async () => {
    w.fake.script(MAIL, [{ status: 500, text: "E".repeat(100_000) }]);
    const { key, stepId } = await checkout(w);
    const [step] = await settled(w.worker, "stripe", key);
    assert.deepEqual([step.status, step.attempts], ["succeeded", 2]);
    assert.equal((await firstAttempt(stepId)).error, `http_500: ${"E".repeat(200)}`);
  });

  test("a compressed answer is read decoded, and cut at the limit however short it declares itself", async () => {
    // ~200 KB decoded, a few hundred bytes on the wire: its Content-Length does not bound it.
    const text = JSON.stringify({ errors: [{ message: "quota exceeded", detail: "x".repeat(200_000) }] });
    w.fake.script(MAIL, [{ status: 503, text: gzipSync(text), headers: { "content-encoding": "gzip" } }]);
    const { key, stepId } = await checkout(w);
    const [step] = await settled(w.worker, "stripe", key);
    assert.deepEqual([step.status, step.attempts], ["succeeded", 2]);
    assert.equal((await firstAttempt(stepId)).error, `http_503: ${text.slice(0, 200)}`);
  });
});

describe("lost attempts", () => {
  const w = world({}, { queueFault: true });

  /** The step was claimed (attempt `attempts`) and its isolate died: `running`, lease long gone. */
  const lose = (stepId, attempts, at = Date.now() - LEASE_MS - 60_000) =>
    w.worker.all("UPDATE steps SET status = 'running', attempts = ?, updated_at = ? WHERE id = ?", attempts, at, stepId);

  test("a lost attempt counts; the sweeper sends the step again while attempts remain", async () => {
    const [{ key, stepId }] = await outboxCheckouts(w, 1);
    await lose(stepId, 1);
    await sweep(w);
    const [step] = await settled(w.worker, "stripe", key);
    assert.deepEqual([step.status, step.attempts], ["succeeded", 2]);
    assert.deepEqual(
      (await attemptsOf(w, stepId)).map((a) => [a.n, a.outcome, a.error]),
      [
        [1, "retry", "attempt_lost"],
        [2, "succeeded", null],
      ],
    );
    assert.equal(callsFor(w.fake, stepId).length, 1);
  });

  test("when the lost attempt was the last, the sweeper ends the step dead (attempt_lost), never cycling", async () => {
    const [{ stepId }] = await outboxCheckouts(w, 1);
    await lose(stepId, MAX_ATTEMPTS);
    await sweep(w);
    const row = await stepRow(w, stepId);
    assert.deepEqual([row.status, row.attempts, row.last_error], ["dead", MAX_ATTEMPTS, "attempt_lost"]);
    assert.deepEqual((await attemptsOf(w, stepId)).map((a) => [a.n, a.outcome, a.error]), [[MAX_ATTEMPTS, "dead", "attempt_lost"]]);
    await sweep(w);
    assert.equal((await stepRow(w, stepId)).status, "dead");
    assert.equal(callsFor(w.fake, stepId).length, 0);
  });

  test("an http destination's lost attempt counts against its own max_attempts, not the global", async () => {
    const receiver = await httpDestination(w, "once", { max_attempts: 1, timeout_ms: 30000 });
    let release;
    w.fake.script(receiver.path, [{ status: 200, hold: new Promise((r) => (release = r)) }]);
    const { key } = await deliver(w.worker, "stripe", checkoutCompleted());
    const stepId = (await stepsOf(w.worker, "stripe", key)).find((s) => s.name === "http:once").id;
    await waitFor(() => receiver.calls().length === 1, { what: "attempt 1's delivery" });
    // Its isolate is gone as far as the sweeper can tell: the lease passed with the step running.
    await w.worker.all("UPDATE steps SET updated_at = updated_at - ? WHERE id = ?", LEASE_MS + 60_000, stepId);
    await sweep(w);
    const row = await stepRow(w, stepId);
    assert.deepEqual([row.status, row.attempts, row.last_error], ["dead", 1, "attempt_lost"]);
    release();
    await waitFor(() => stepLogs(w, stepId, "succeeded").length === 1, { intervalMs: 20, what: "attempt 1's late record" });
    await w.quiet();
    assert.equal(receiver.calls().length, 1, "its one attempt was its last: never sent again");
    assert.equal((await stepRow(w, stepId)).status, "dead");
  });

  test("an http destination allowing more attempts than the global keeps its lost step going", async () => {
    await httpDestination(w, "patient", { max_attempts: MAX_ATTEMPTS + 2 });
    w.worker.queueFault.fail(true);
    const { key } = await deliver(w.worker, "stripe", checkoutCompleted());
    w.worker.queueFault.fail(false);
    const stepId = (await stepsOf(w.worker, "stripe", key)).find((s) => s.name === "http:patient").id;
    await lose(stepId, MAX_ATTEMPTS);
    await sweep(w);
    await waitFor(async () => (await stepRow(w, stepId)).status === "succeeded", { what: "the step's next attempt" });
    assert.deepEqual((await attemptsOf(w, stepId)).map((a) => [a.n, a.outcome, a.error]), [
      [MAX_ATTEMPTS, "retry", "attempt_lost"],
      [MAX_ATTEMPTS + 1, "succeeded", null],
    ]);
  });

  test("the sweeper never flips a step claimed while it sweeps", async () => {
    const [a, b] = await outboxCheckouts(w, 2);
    const past = Date.now() - LEASE_MS - 120_000;
    await lose(a.stepId, 1, past);
    // B's message looks lost (`enqueued`, long overdue), so the sweeper reads it as due.
    await w.worker.all("UPDATE steps SET status = 'enqueued', updated_at = ? WHERE id = ?", past + 1000, b.stepId);
    // The moment the sweeper recovers A, B's message turns up after all and a consumer claims it:
    // a real concurrent claim, placed by a trigger between the sweeper's read and its write of B.
    const claimedAt = Date.now();
    await w.worker.all(
      `CREATE TRIGGER claim_b_meanwhile AFTER UPDATE ON steps WHEN NEW.id = '${a.stepId}'
       AND (SELECT status FROM steps WHERE id = '${b.stepId}') = 'enqueued'
       BEGIN UPDATE steps SET status = 'running', attempts = attempts + 1, updated_at = ${claimedAt} WHERE id = '${b.stepId}'; END`,
    );
    await sweep(w);
    await w.worker.all("DROP TRIGGER claim_b_meanwhile");
    const [stepA] = await settled(w.worker, "stripe", a.key);
    assert.equal(stepA.status, "succeeded");
    const rowB = await stepRow(w, b.stepId);
    assert.deepEqual([rowB.status, rowB.attempts, rowB.updated_at], ["running", 1, claimedAt], "B left to its claimant");
    assert.equal(callsFor(w.fake, b.stepId).length, 0, "the sweeper did not send B again");
  });
});

describe("a success whose record fails", () => {
  const w = world();
  test("is recorded by a retry in place, with no second call", async () => {
    await refuseUpdatesTo(w, "succeeded");
    let release;
    w.fake.always(MAIL, { status: 202, hold: new Promise((r) => (release = r)) });
    const { key, stepId } = await checkout(w);
    await waitFor(() => callsFor(w.fake, stepId).length === 1, { what: "the call" });
    await w.worker.all("INSERT INTO d1_fault (on_step) VALUES (?)", stepId);
    release();
    // The record failed and is being retried in place: the fault clears.
    await waitFor(
      () => w.worker.workerLogs().some((l) => l.kind === "record_retry" && l.step_id === stepId),
      { intervalMs: 20, what: "a record retry" },
    );
    await w.worker.all("DELETE FROM d1_fault");
    const [step] = await settled(w.worker, "stripe", key);
    assert.deepEqual([step.status, step.attempts, step.last_status], ["succeeded", 1, 202]);
    assert.deepEqual((await attemptsOf(w, stepId)).map((a) => [a.n, a.status, a.outcome]), [[1, 202, "succeeded"]]);
    assert.equal(callsFor(w.fake, stepId).length, 1, "one call, one email");
  });
});

describe("an http delivery whose record fails", () => {
  const w = world();
  test("is recorded by a retry in place, with no second delivery", async () => {
    await refuseUpdatesTo(w, "succeeded");
    const receiver = await httpDestination(w, "flaky-record");
    let release;
    w.fake.script(receiver.path, [{ status: 200, hold: new Promise((r) => (release = r)) }]);
    const { key } = await deliver(w.worker, "stripe", checkoutCompleted());
    const stepId = (await stepsOf(w.worker, "stripe", key)).find((s) => s.name === "http:flaky-record").id;
    await waitFor(() => receiver.calls().length === 1, { what: "the delivery" });
    await w.worker.all("INSERT INTO d1_fault (on_step) VALUES (?)", stepId);
    release();
    await waitFor(
      () => w.worker.workerLogs().some((l) => l.kind === "record_retry" && l.step_id === stepId),
      { intervalMs: 20, what: "a record retry" },
    );
    await w.worker.all("DELETE FROM d1_fault");
    await waitFor(async () => (await stepRow(w, stepId)).status === "succeeded", { what: "the recorded success" });
    const step = await stepRow(w, stepId);
    assert.deepEqual([step.status, step.attempts, step.last_status], ["succeeded", 1, 200]);
    assert.deepEqual((await attemptsOf(w, stepId)).map((a) => [a.n, a.status, a.outcome]), [[1, 200, "succeeded"]]);
    // Were the record left to the sweeper, it would send the step again after the lease.
    await w.worker.all("UPDATE steps SET updated_at = updated_at - ? WHERE id = ?", LEASE_MS + 60_000, stepId);
    await sweep(w);
    await w.quiet();
    assert.equal(receiver.calls().length, 1, "one delivery, one webhook-id");
  });
});

describe("a late record of an attempt the sweeper counted lost", () => {
  const w = world({ DOWNSTREAM_TIMEOUT_MS: "30000" });
  test("changes nothing and is not counted: the step's one success is counted once", async () => {
    // Attempt 1's call is held past its lease: the sweeper counts it lost and sends the step
    // again; attempt 2 succeeds; then attempt 1's answer arrives and its record comes late.
    let release;
    w.fake.script(MAIL, [{ status: 202, hold: new Promise((r) => (release = r)) }]);
    const { key, stepId } = await checkout(w);
    await waitFor(() => callsFor(w.fake, stepId).length === 1, { what: "attempt 1's call" });
    await w.worker.all("UPDATE steps SET updated_at = updated_at - ? WHERE id = ?", LEASE_MS + 60_000, stepId);
    await sweep(w);
    assert.equal((await stepRow(w, stepId)).last_error, "attempt_lost");
    // Attempt 2 runs now (handed to the consumer directly: whether Queues would deliver the
    // sweeper's message while attempt 1's batch is still running is not what this is about).
    await handOver(w, stepId, "again");
    await waitFor(async () => (await stepRow(w, stepId)).status === "succeeded", { what: "attempt 2's success" });
    release();
    await waitFor(() => stepLogs(w, stepId, "succeeded").length === 2, { intervalMs: 20, what: "attempt 1's late record" });
    const [step] = await settled(w.worker, "stripe", key);
    assert.deepEqual([step.status, step.attempts], ["succeeded", 2]);
    assert.deepEqual(
      (await attemptsOf(w, stepId)).map((a) => [a.n, a.outcome, a.error]),
      [
        [1, "retry", "attempt_lost"],
        [2, "succeeded", null],
      ],
    );
    await sweep(w); // flushes the isolate's tallies
    const [counted] = await w.worker.all("SELECT SUM(count) AS n FROM metric_steps WHERE destination = 'sendgrid' AND outcome = 'succeeded'");
    assert.equal(counted.n, 1, "one success on the dashboard");
  });
});

describe("a late record of an http delivery the sweeper counted lost", () => {
  const w = world();
  test("changes nothing and is not counted: the delivery's one success is counted once", async () => {
    const admin = (path, body) =>
      w.worker.mf.dispatchFetch(`http://localhost/admin/api/${path}`, {
        method: "POST",
        headers: { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    const receiver = w.fake.receiver("late");
    const made = await admin("destinations", { name: "late", type: "http", url: receiver.url, secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", timeout_ms: 30000 });
    assert.equal(made.status, 201, await made.text());
    const feed = await admin("connections", { name: "late-feed", source: "stripe", types: ["checkout.session.completed"], destination: "late" });
    assert.equal(feed.status, 201, await feed.text());
    let release;
    w.fake.script(new URL(receiver.url).pathname, [{ status: 200, hold: new Promise((r) => (release = r)) }]);
    const { key } = await deliver(w.worker, "stripe", checkoutCompleted());
    const stepId = (await stepsOf(w.worker, "stripe", key)).find((s) => s.name === "http:late").id;
    await waitFor(() => receiver.calls().length === 1, { what: "attempt 1's delivery" });
    await w.worker.all("UPDATE steps SET updated_at = updated_at - ? WHERE id = ?", LEASE_MS + 60_000, stepId);
    await sweep(w);
    assert.equal((await stepRow(w, stepId)).last_error, "attempt_lost");
    await handOver(w, stepId, "again");
    await waitFor(async () => (await stepRow(w, stepId)).status === "succeeded", { what: "attempt 2's success" });
    release();
    await waitFor(() => stepLogs(w, stepId, "succeeded").length === 2, { intervalMs: 20, what: "attempt 1's late record" });
    assert.deepEqual([(await stepRow(w, stepId)).status, (await stepRow(w, stepId)).attempts], ["succeeded", 2]);
    assert.deepEqual(
      (await attemptsOf(w, stepId)).map((a) => [a.n, a.outcome, a.error]),
      [
        [1, "retry", "attempt_lost"],
        [2, "succeeded", null],
      ],
    );
    await sweep(w); // flushes the isolate's tallies
    const [counted] = await w.worker.all("SELECT SUM(count) AS n FROM metric_steps WHERE destination = 'late' AND outcome = 'succeeded'");
    assert.equal(counted.n, 1, "one success on the dashboard");
  });
});

describe("a duplicate message before a Retry-After wait is over", () => {
  const w = world();
  test("runs nothing early: the step keeps its due time and its attempt, and runs once the wait is over", async () => {
    // SendGrid answers attempt 1 with 429 and `Retry-After: 3`: the step waits, `enqueued`, due
    // three seconds later. A second message for it (at-least-once delivery, or the sweeper's
    // re-send racing the scheduled one) is handed to the consumer at once.
    w.fake.script(MAIL, [{ status: 429, headers: { "retry-after": "3" }, body: { errors: [{ message: "too many requests" }] } }]);
    const { key, stepId } = await checkout(w);
    await waitFor(async () => (await stepRow(w, stepId)).last_status === 429, { what: "attempt 1's 429 recorded" });
    const waiting = await stepRow(w, stepId);
    assert.equal(waiting.status, "enqueued");
    assert.ok(waiting.next_attempt_at - Date.now() > 1500, "due after the Retry-After");
    const early = await handOver(w, stepId, "early");
    // Acked (a fresh message comes at the due time), never a Queues retry, and nothing written.
    assert.deepEqual([early.outcome, early.retryMessages, early.explicitAcks.length], ["ok", [], 1]);
    const after = await stepRow(w, stepId);
    assert.deepEqual(
      [after.status, after.attempts, after.next_attempt_at, after.updated_at],
      [waiting.status, waiting.attempts, waiting.next_attempt_at, waiting.updated_at],
    );
    assert.equal(callsFor(w.fake, stepId).length, 1, "no call before the wait is over");
    const [step] = await settled(w.worker, "stripe", key);
    assert.deepEqual([step.status, step.attempts], ["succeeded", 2]);
    const calls = callsFor(w.fake, stepId);
    assert.ok(calls.length >= 2);
    assert.ok(calls[1].at >= waiting.next_attempt_at - 1000, "attempt 2 waited for Retry-After");
    await w.quiet();
    // The early message's stand-in ran no second call either: exactly two, one per attempt.
    assert.equal(callsFor(w.fake, stepId).length, 2);
  });
});
