// Fault injection through workerd: the downstream fake answers 500s, 429 with Retry-After,
// slow answers past DOWNSTREAM_TIMEOUT_MS, dropped connections, a permanent 400, or fails
// forever; the circuit breaker opens and delays messages without charging attempts, and after
// its cool-down lets one probe through (half-open) before anyone else; a failed probe is recorded
// but not charged to its step. In every case each step
// ends succeeded or dead (none stuck) and a step that succeeded is never called again. Each scenario gets its own worker and fake, so one scenario's failures cannot open the
// circuit for another. Checkout events are routed (ROUTES_JSON) to `sendgrid.send` only, whose
// body carries the step id (custom_args.edgehooks_step_id): calls are counted per step id.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { waitFor } from "../helpers/worker.mjs";
import { useWorld } from "../helpers/world.mjs";
import { checkoutCompleted } from "../helpers/stripe.mjs";
import { sendgridEvent, shopifyOrder } from "../helpers/providers.mjs";
import { FINISHED, MAIL, deliver, settled, stepsOf } from "../helpers/flows.mjs";

const MAX_ATTEMPTS = 4;
const TIMEOUT_MS = 500;

/** A fresh worker + fake for each scenario (tests/helpers/world.mjs). */
function world(extraVars = {}) {
  const vars = {
    MAX_ATTEMPTS: String(MAX_ATTEMPTS),
    RETRY_BASE_SECONDS: "0",
    DOWNSTREAM_TIMEOUT_MS: String(TIMEOUT_MS),
    ROUTES_JSON: JSON.stringify({ stripe: { "checkout.session.completed": ["sendgrid.send"] } }),
    ...extraVars,
  };
  return useWorld({ vars }, { each: true });
}

/** Deliver a checkout event; returns its only step's id and dedupe key. */
async function checkout(w) {
  const event = checkoutCompleted();
  const { key } = await deliver(w.worker, "stripe", event);
  const [step] = await stepsOf(w.worker, "stripe", key);
  assert.equal(step.name, "sendgrid.send");
  return { key, stepId: step.id };
}

const callsFor = (fake, stepId) =>
  fake.callsTo(MAIL).filter((c) => JSON.parse(c.body).custom_args?.edgehooks_step_id === stepId);

async function finished(w, key) {
  const [step] = await settled(w.worker, "stripe", key, { timeoutMs: 20000 });
  return step;
}

const attemptsOf = (w, stepId) =>
  w.worker.all("SELECT n, status, outcome, error FROM attempts WHERE step_id = ? ORDER BY n", stepId);

/** Redeliver a step's message by hand, as Queues' at-least-once delivery may. */
async function redeliver(w, stepId, queue = "steps") {
  const runtime = await w.worker.mf.getWorker();
  return runtime.queue(queue, [{ id: `manual-${Date.now()}`, timestamp: new Date(), body: { step_id: stepId }, attempts: 1 }]);
}

/** After success: another delivery of the message makes no call, and nothing else arrives. */
async function neverAgain(w, stepId, calls) {
  const result = await redeliver(w, stepId);
  assert.equal(result.outcome, "ok");
  await w.quiet();
  assert.equal(callsFor(w.fake, stepId).length, calls, "no call after success");
  const open = await w.worker.all(`SELECT id, status FROM steps WHERE status NOT IN (${FINISHED.map(() => "?").join(", ")})`, ...FINISHED);
  assert.deepEqual(open, [], "no step stuck");
}

describe("500s then success", () => {
  const w = world();
  test("retries until 2xx, then never calls again", async () => {
    w.fake.script(MAIL, [{ status: 500 }, { status: 502 }]);
    const { key, stepId } = await checkout(w);
    const step = await finished(w, key);
    assert.equal(step.status, "succeeded");
    assert.equal(step.attempts, 3);
    assert.deepEqual(
      (await attemptsOf(w, stepId)).map((a) => [a.n, a.status, a.outcome]),
      [
        [1, 500, "retry"],
        [2, 502, "retry"],
        [3, 200, "succeeded"],
      ],
    );
    assert.equal(callsFor(w.fake, stepId).length, 3);
    assert.ok(callsFor(w.fake, stepId).every((c) => c.headers.authorization === "Bearer SG.test-sendgrid-key"));
    await neverAgain(w, stepId, 3);
  });
});

describe("429 with Retry-After", () => {
  const w = world();
  test("the next attempt waits at least Retry-After (seconds, then HTTP date)", async () => {
    w.fake.script(MAIL, [
      { status: 429, headers: { "retry-after": "2" } },
      // An HTTP date 3 s ahead, computed when it plays (whole seconds: at least 2 s remain).
      () => ({ status: 503, headers: { "retry-after": new Date(Date.now() + 3000).toUTCString() } }),
    ]);
    const { key, stepId } = await checkout(w);
    const step = await finished(w, key);
    assert.equal(step.status, "succeeded");
    assert.equal(step.attempts, 3);
    const calls = callsFor(w.fake, stepId);
    assert.equal(calls.length, 3);
    const gap1 = calls[1].at - calls[0].at;
    const gap2 = calls[2].at - calls[1].at;
    assert.ok(gap1 >= 2000, `Retry-After: 2 honoured (waited ${gap1} ms)`);
    assert.ok(gap2 >= 1900, `Retry-After as HTTP date honoured (waited ${gap2} ms)`);
    assert.deepEqual((await attemptsOf(w, stepId)).map((a) => a.status), [429, 503, 200]);
    await neverAgain(w, stepId, 3);
  });
});

describe("timeouts", () => {
  const w = world();
  test("a downstream slower than DOWNSTREAM_TIMEOUT_MS is retried, then succeeds", async () => {
    w.fake.script(MAIL, [{ delayMs: TIMEOUT_MS * 3 }, { delayMs: TIMEOUT_MS * 3 }]);
    const { key, stepId } = await checkout(w);
    const step = await finished(w, key);
    assert.equal(step.status, "succeeded");
    assert.equal(step.attempts, 3);
    const attempts = await attemptsOf(w, stepId);
    assert.deepEqual(attempts.map((a) => [a.status, a.outcome, a.error]), [
      [null, "retry", "timeout"],
      [null, "retry", "timeout"],
      [200, "succeeded", null],
    ]);
    await neverAgain(w, stepId, 3);
  });

  test("a downstream that always times out is dead after MAX_ATTEMPTS", async () => {
    w.fake.always(MAIL, { delayMs: TIMEOUT_MS * 3 });
    const { key, stepId } = await checkout(w);
    const step = await finished(w, key);
    assert.equal(step.status, "dead");
    assert.equal(step.attempts, MAX_ATTEMPTS);
    assert.equal(step.last_error, "timeout");
    await w.quiet();
    assert.equal(callsFor(w.fake, stepId).length, MAX_ATTEMPTS);
  });
});

describe("dropped connections", () => {
  const w = world();
  test("a connection reset is a retryable network error", async () => {
    w.fake.script(MAIL, [{ drop: true }]);
    const { key, stepId } = await checkout(w);
    const step = await finished(w, key);
    assert.equal(step.status, "succeeded");
    assert.equal(step.attempts, 2);
    const [first] = await attemptsOf(w, stepId);
    assert.equal(first.status, null);
    assert.match(first.error, /^network_error/);
    await neverAgain(w, stepId, 2);
  });
});

describe("400", () => {
  const w = world();
  test("a permanent 4xx is dead at once and does not count against the circuit", async () => {
    w.fake.always(MAIL, { status: 400, body: { errors: [{ message: "The template_id is not a valid template ID." }] } });
    const { key, stepId } = await checkout(w);
    const step = await finished(w, key);
    assert.equal(step.status, "dead");
    assert.equal(step.attempts, 1);
    assert.equal(step.last_status, 400);
    assert.match(step.last_error, /^http_400: .*template_id/);
    await w.quiet();
    assert.equal(callsFor(w.fake, stepId).length, 1);
    const [health] = await w.worker.all("SELECT consecutive_failures, open_until FROM destination_health WHERE destination = 'sendgrid'");
    assert.deepEqual(health, { consecutive_failures: 0, open_until: 0 });
  });
});

describe("always failing", () => {
  const w = world();
  test("dead after MAX_ATTEMPTS, every attempt recorded", async () => {
    w.fake.always(MAIL, { status: 503 });
    const { key, stepId } = await checkout(w);
    const step = await finished(w, key);
    assert.equal(step.status, "dead");
    assert.equal(step.attempts, MAX_ATTEMPTS);
    assert.equal(step.last_status, 503);
    const attempts = await attemptsOf(w, stepId);
    assert.deepEqual(attempts.map((a) => a.outcome), [...Array(MAX_ATTEMPTS - 1).fill("retry"), "dead"]);
    await w.quiet();
    assert.equal(callsFor(w.fake, stepId).length, MAX_ATTEMPTS);
    // A late duplicate message for a dead step makes no call either.
    await redeliver(w, stepId);
    await w.quiet({ windowMs: 200 });
    assert.equal(callsFor(w.fake, stepId).length, MAX_ATTEMPTS);
  });
});

describe("circuit breaker", () => {
  const w = world({ MAX_ATTEMPTS: "10" });
  test("5 consecutive failures open the circuit: messages are delayed, attempts not charged", async () => {
    w.fake.always(MAIL, { status: 503 });
    const first = await checkout(w);
    const opened = await waitFor(
      async () => {
        const [s] = await stepsOf(w.worker, "stripe", first.key);
        return s.last_error === "circuit_open" && s;
      },
      { what: "circuit open" },
    );
    assert.equal(opened.status, "enqueued");
    assert.equal(opened.attempts, 5, "five failures open it; the deferral is no attempt");
    assert.ok(opened.next_attempt_at - Date.now() > 50_000, "delayed for the cool-down");
    const [health] = await w.worker.all("SELECT consecutive_failures, open_until FROM destination_health WHERE destination = 'sendgrid'");
    assert.equal(health.consecutive_failures, 5);
    assert.ok(health.open_until > Date.now() + 50_000);

    // Another step for the open destination: delayed without a call or an attempt.
    const second = await checkout(w);
    const delayed = await waitFor(
      async () => {
        const [s] = await stepsOf(w.worker, "stripe", second.key);
        return s.last_error === "circuit_open" && s;
      },
      { what: "second step delayed" },
    );
    assert.equal(delayed.status, "enqueued");
    assert.equal(delayed.attempts, 0);
    // While the circuit is open nothing is called: an absence, observed over a second.
    await w.quiet({ windowMs: 1000 });
    assert.equal(callsFor(w.fake, first.stepId).length, 5);
    assert.equal(callsFor(w.fake, second.stepId).length, 0);

    // Cool-down over (simulated: open_until moved to the past, and the delayed messages aged
    // past the sweeper's "lost" horizon instead of waiting 60 s), destination healthy again:
    // the sweeper's re-sends complete both steps, the first with only one more attempt.
    w.fake.always(MAIL, { status: 202 });
    const past = Date.now() - 16 * 60_000;
    await w.worker.all("UPDATE destination_health SET open_until = ? WHERE destination = 'sendgrid'", past);
    await w.worker.all("UPDATE steps SET updated_at = ?, next_attempt_at = ? WHERE status = 'enqueued'", past, past);
    await (await w.worker.mf.getWorker()).scheduled({ cron: "* * * * *" });
    const [a] = await settled(w.worker, "stripe", first.key);
    const [b] = await settled(w.worker, "stripe", second.key);
    assert.deepEqual([a.status, a.attempts, a.last_status], ["succeeded", 6, 202]);
    assert.deepEqual([b.status, b.attempts, b.last_status], ["succeeded", 1, 202]);
    const [closed] = await w.worker.all("SELECT consecutive_failures, open_until FROM destination_health WHERE destination = 'sendgrid'");
    assert.deepEqual(closed, { consecutive_failures: 0, open_until: 0 });
    await neverAgain(w, first.stepId, 6);
    assert.equal(callsFor(w.fake, second.stepId).length, 1);
  });
});

describe("circuit half-open", () => {
  const w = world({ MAX_ATTEMPTS: "10", DOWNSTREAM_TIMEOUT_MS: "10000" });
  const STEPS = 5;

  const health = async () =>
    (await w.worker.all("SELECT consecutive_failures, open_until, probe_until, probe_step FROM destination_health WHERE destination = 'sendgrid'"))[0];
  const rowsOf = (ids) => w.worker.all(`SELECT id, status, attempts, last_error FROM steps WHERE id IN (${ids.map(() => "?").join(",")})`, ...ids);
  const stepIdOf = (call) => JSON.parse(call.body).custom_args?.edgehooks_step_id;

  /** Mail calls are answered `response` only once the returned function is called. */
  function holdMail(response) {
    let release;
    w.fake.always(MAIL, { ...response, hold: new Promise((r) => (release = r)) });
    return () => release();
  }

  /**
   * The cool-down ends (simulated: open_until moved just into the past, and the delayed
   * messages aged past the sweeper's "lost" horizon instead of waiting 60 s), so the sweeper
   * re-sends every waiting step at once: the moment a circuit without a probe lets them all try.
   */
  async function coolDownEnds() {
    const past = Date.now() - 16 * 60_000;
    await w.worker.all("UPDATE destination_health SET open_until = ? WHERE destination = 'sendgrid'", Date.now() - 1000);
    await w.worker.all("UPDATE steps SET updated_at = ?, next_attempt_at = ? WHERE status = 'enqueued'", past, past);
    await (await w.worker.mf.getWorker()).scheduled({ cron: "* * * * *" });
  }

  /**
   * Wait until one call (the probe) has reached the fake since `mark` and every other step has
   * been turned away as half-open; returns the probe's step id.
   */
  async function oneProbe(ids, mark) {
    const probe = await waitFor(
      async () => {
        const calls = w.fake.callsTo(MAIL).slice(mark);
        if (calls.length === 0) return false;
        const prober = stepIdOf(calls[0]);
        const others = (await rowsOf(ids)).filter((r) => r.id !== prober);
        return others.every((r) => r.status === "enqueued" && r.last_error === "circuit_half_open") && prober;
      },
      { what: "one probe, every other step turned away as half-open" },
    );
    assert.equal(w.fake.callsTo(MAIL).length - mark, 1, "only the probe reached the destination");
    const h = await health();
    assert.equal(h.probe_step, probe);
    assert.ok(h.probe_until > Date.now(), "the probe holds a live lease");
    return probe;
  }

  test("after the cool-down one probe calls; its failure re-opens the circuit, its success closes it", async () => {
    // Open the circuit: five failures of the first step; the others are delayed uncharged.
    w.fake.always(MAIL, { status: 503 });
    const steps = [await checkout(w)];
    await waitFor(async () => (await stepsOf(w.worker, "stripe", steps[0].key))[0].last_error === "circuit_open", {
      what: "circuit open",
    });
    for (let i = 1; i < STEPS; i++) steps.push(await checkout(w));
    const ids = steps.map((s) => s.stepId);
    await waitFor(async () => (await rowsOf(ids)).every((r) => r.last_error === "circuit_open"), { what: "all delayed" });
    assert.equal(w.fake.callsTo(MAIL).length, 5);

    // Half-open, still failing: one probe, and its failure re-opens the circuit for a cool-down.
    let mark = w.fake.callsTo(MAIL).length;
    let release = holdMail({ status: 503 });
    await coolDownEnds();
    const failedProbe = await oneProbe(ids, mark);
    release();
    const reopened = await waitFor(
      async () => {
        const h = await health();
        return h.open_until > Date.now() + 50_000 && h;
      },
      { what: "the failed probe re-opened the circuit" },
    );
    assert.deepEqual([reopened.probe_until, reopened.probe_step], [0, null]);
    await waitFor(async () => (await rowsOf(ids)).every((r) => r.status === "enqueued" && r.last_error === "circuit_open"), {
      what: "every step waiting for the new cool-down",
    });
    assert.equal(w.fake.callsTo(MAIL).length - mark, 1, "nobody but the probe called");

    // Half-open again, destination recovered: one probe; only its success lets the others call.
    mark = w.fake.callsTo(MAIL).length;
    release = holdMail({ status: 202 });
    await coolDownEnds();
    const probe = await oneProbe(ids, mark);
    const releasedAt = Date.now();
    release();
    for (const { key } of steps) {
      const [step] = await settled(w.worker, "stripe", key);
      assert.equal(step.status, "succeeded", JSON.stringify(step));
    }
    const calls = w.fake.callsTo(MAIL).slice(mark);
    assert.equal(stepIdOf(calls[0]), probe);
    assert.deepEqual(calls.slice(1).map(stepIdOf).sort(), ids.filter((id) => id !== probe).sort());
    assert.ok(calls.slice(1).every((c) => c.at >= releasedAt), "the others called only after the probe succeeded");
    assert.deepEqual(await health(), { consecutive_failures: 0, open_until: 0, probe_until: 0, probe_step: null });

    // No attempt was charged for any delay, nor for the failed probe (it asked for every waiting
    // step): every call is an attempt row, and every row but the probe's is charged.
    for (const row of await rowsOf(ids)) {
      const charged = (row.id === ids[0] ? 5 : 0) + 1;
      const calls = charged + (row.id === failedProbe ? 1 : 0);
      assert.equal(row.attempts, charged, row.id);
      assert.equal(callsFor(w.fake, row.id).length, calls, row.id);
      const rows = await attemptsOf(w, row.id);
      assert.equal(rows.length, calls, row.id);
      assert.equal(rows.filter((a) => a.outcome === "probe").length, row.id === failedProbe ? 1 : 0, row.id);
    }
  });
});

describe("request budget", () => {
  const w = world({ ROUTES_JSON: JSON.stringify({ shopify: { "orders/create": ["slack.notify"] } }) });
  test("Slack's 1 call per second delays the excess instead of failing it", async () => {
    const keys = [];
    for (let i = 0; i < 3; i++) {
      const { key } = await deliver(w.worker, "shopify", shopifyOrder(), { topic: "orders/create", shop: "budget.myshopify.com", webhookId: `wh_budget_${Date.now()}_${i}` });
      keys.push(key);
    }
    for (const key of keys) {
      const [step] = await settled(w.worker, "shopify", key, { timeoutMs: 20000 });
      assert.equal(step.status, "succeeded", step.last_error);
      assert.equal(step.attempts, 1, "a delay for the budget is not an attempt");
    }
    const calls = w.fake.callsTo("/services/T000/B000/test");
    assert.equal(calls.length, 3);
    const at = calls.map((c) => c.at).sort((a, b) => a - b);
    assert.ok(at[2] - at[0] >= 1000, `three calls spread over more than one window (${at[2] - at[0]} ms)`);
  });
});

describe("local steps", () => {
  const w = world();
  test("a local step whose D1 work keeps failing is dead after MAX_ATTEMPTS, not retried forever", async () => {
    // Simulated D1 failure: the engagement table is dropped, so every attempt's write fails.
    await w.worker.all("DROP TABLE engagement");
    const event = sendgridEvent({ event: "open" });
    const { key } = await deliver(w.worker, "sendgrid", event);
    const [step] = await settled(w.worker, "sendgrid", key, { timeoutMs: 20000 });
    assert.equal(step.name, "engagement.count");
    assert.equal(step.status, "dead");
    assert.equal(step.attempts, MAX_ATTEMPTS);
    assert.equal(step.last_error, "d1_error");
    const attempts = await attemptsOf(w, step.id);
    assert.deepEqual(attempts.map((a) => a.outcome), [...Array(MAX_ATTEMPTS - 1).fill("retry"), "dead"]);
  });
});

describe("dead-letter queue", () => {
  const w = world();
  test("a message Queues gave up on marks its step dead, without a call", async () => {
    // Simulated: Queues moves a message to steps-dlq after max_retries (100); here the STEPS_DLQ
    // consumer is handed the message directly, for a step inserted as the ledger would hold it.
    const now = Date.now();
    await w.worker.all(
      "INSERT INTO events (id, provider, dedupe_key, type, received_at, status, payload) VALUES ('evt_dlq', 'stripe', 'evt_dlq', 'checkout.session.completed', ?, 'accepted', '{}')",
      now,
    );
    await w.worker.all(
      "INSERT INTO steps (id, event_id, name, destination, status, attempts, idempotency_key, created_at, updated_at) VALUES ('evt_dlq:sendgrid.send', 'evt_dlq', 'sendgrid.send', 'sendgrid', 'enqueued', 3, 'evt_dlq:sendgrid.send', ?, ?)",
      now,
      now,
    );
    const result = await redeliver(w, "evt_dlq:sendgrid.send", "steps-dlq");
    assert.equal(result.outcome, "ok");
    const [step] = await w.worker.all("SELECT status, attempts, last_error FROM steps WHERE id = 'evt_dlq:sendgrid.send'");
    assert.deepEqual(step, { status: "dead", attempts: 3, last_error: "queue_gave_up" });
    assert.equal(w.fake.calls.length, 0);
  });
});
