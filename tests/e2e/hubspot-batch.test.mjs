// HubSpot contact upserts of one message batch go out as batch upserts, through workerd: a burst
// of checkouts (queued within one batch: the steps consumer here waits up to 3 s to fill a batch)
// makes far fewer calls than steps, each contact written once with its own properties and each
// step with its own attempt; a 207 refusing one input fails that step alone; HubSpot's 429 with
// Retry-After puts every step of the call off as today's retry rules say; of two checkouts of
// one person in a burst (the newer one delivered first) only the newer one is written, the older
// one ending `skipped_stale` by its entity's turn (ordering.test.mjs has more); two writes of one
// person from different sources (an older Shopify customer update, a newer Stripe checkout: two
// entities, so both apply) go out in the order they happened, also when the older one's call
// fails: the newer one, held back, goes out only after the older one's retry (Retry-After), or at
// once once the older one is dead; HubSpot's budget counts calls, not steps; a 400 naming no input
// sends each input again alone; a probe call whose first input was put back is reported by the
// input it answered. The fake models HubSpot's contacts (fake-downstream.mjs).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { consumersWith, waitFor } from "../helpers/worker.mjs";
import { useWorld } from "../helpers/world.mjs";
import { checkoutCompleted } from "../helpers/stripe.mjs";
import { UPSERT, fixture } from "../helpers/flows.mjs";

const ONLY_UPSERTS = JSON.stringify({ stripe: { "checkout.session.completed": ["hubspot.upsert_contact"] } });
const A_BATCH = { queueConsumers: consumersWith({ steps: { maxBatchTimeout: 3 } }) };

const upserts = (w) =>
  w.worker.all("SELECT id, status, attempts, last_error, last_status FROM steps WHERE name = 'hubspot.upsert_contact' ORDER BY id");

/** Wait until the `count` upsert steps are all in `statuses`; their rows. */
function upsertsIn(w, count, statuses, what) {
  return waitFor(async () => {
    const rows = await upserts(w);
    return rows.length === count && rows.every((s) => statuses.includes(s.status)) && rows;
  }, { timeoutMs: 30000, what });
}

/** Deliver `events` one after another (all queued well within one batch's 3 s). */
async function burst(w, events) {
  for (const event of events) await w.deliver("stripe", event);
}

const people = (n, tag) =>
  Array.from({ length: n }, (_, i) => checkoutCompleted({ email: `${tag}${i}@example.com`, name: `Ada ${tag}${i}`, customer: `cus_${tag}_${i}` }));

describe("a burst of checkouts", () => {
  const w = useWorld({ vars: { ROUTES_JSON: ONLY_UPSERTS }, miniflare: A_BATCH });

  test("makes far fewer HubSpot calls than steps; every contact synced once, every step its own attempt", async () => {
    const events = people(30, "burst");
    await burst(w, events);
    const steps = await upsertsIn(w, 30, ["succeeded"], "every upsert succeeded");
    const calls = w.fake.callsTo(UPSERT);
    assert.ok(calls.length <= 3, `${calls.length} calls for 30 steps`);
    const inputs = calls.flatMap((c) => JSON.parse(c.body).inputs);
    assert.equal(inputs.length, 30, "each step's input sent once");
    assert.deepEqual(new Set(inputs.map((i) => i.objectWriteTraceId)), new Set(steps.map((s) => s.id)), "tagged with its step");
    for (const [i, event] of events.entries()) {
      const contact = w.fake.hubspotContacts.get(`burst${i}@example.com`);
      assert.equal(contact?.writes, 1, `burst${i} written once`);
      assert.equal(contact.properties.firstname, "Ada");
      assert.equal(contact.properties.lastname, `burst${i}`);
      assert.equal(contact.properties.stripe_customer_id, event.data.object.customer);
    }
    for (const s of steps) assert.deepEqual([s.attempts, s.last_status], [1, 200], s.id);
    const attempts = await w.worker.all(
      "SELECT step_id, COUNT(*) AS n, MAX(status) AS status FROM attempts WHERE step_id LIKE '%hubspot.upsert_contact' GROUP BY step_id",
    );
    assert.equal(attempts.length, 30);
    assert.ok(attempts.every((a) => a.n === 1 && a.status === 200), JSON.stringify(attempts));
  });
});

describe("HubSpot refusing one input of a batch call (207)", () => {
  const w = useWorld({ vars: { ROUTES_JSON: ONLY_UPSERTS }, miniflare: A_BATCH });

  test("fails that step alone; the others succeed in the same call", async () => {
    w.fake.hubspotContacts.refuse("refused1@example.com");
    await burst(w, people(3, "refused"));
    const steps = await upsertsIn(w, 3, ["succeeded", "dead"], "every upsert finished");
    assert.equal(w.fake.callsTo(UPSERT).length, 1, "one call");
    const dead = steps.filter((s) => s.status === "dead");
    assert.equal(dead.length, 1, JSON.stringify(steps));
    assert.match(dead[0].last_error, /^hubspot_input_refused: VALIDATION_ERROR/);
    assert.deepEqual([dead[0].attempts, dead[0].last_status], [1, 400]);
    assert.ok(steps.filter((s) => s.status === "succeeded").every((s) => s.attempts === 1));
    assert.equal(w.fake.hubspotContacts.get("refused1@example.com"), undefined);
    assert.equal(w.fake.hubspotContacts.get("refused0@example.com")?.writes, 1);
  });
});

describe("HubSpot refusing a whole batch call for a property one input writes (400 naming no input)", () => {
  const w = useWorld({ vars: { ROUTES_JSON: ONLY_UPSERTS }, miniflare: A_BATCH });

  test("sends each input again alone: only the step writing the property fails, the other succeeds", async () => {
    // A portal without `stripe_customer_id`: HubSpot refuses any batch writing it with a 400
    // that names the property, not the input. Only the checkout with a customer writes it.
    w.fake.hubspotContacts.lackProperty("stripe_customer_id");
    const writes = checkoutCompleted({ email: "writes@example.com", customer: "cus_writes" });
    const plain = checkoutCompleted({ email: "plain@example.com", customer: null });
    await burst(w, [writes, plain]);
    const steps = await upsertsIn(w, 2, ["succeeded", "dead"], "both upserts finished");
    const calls = w.fake.callsTo(UPSERT).map((c) => JSON.parse(c.body).inputs.map((i) => i.id));
    assert.deepEqual(calls[0]?.sort(), ["plain@example.com", "writes@example.com"], "first one call for both");
    assert.equal(calls.length, 3, `then one call each: ${JSON.stringify(calls)}`);
    const dead = steps.filter((s) => s.status === "dead");
    const succeeded = steps.filter((s) => s.status === "succeeded");
    assert.equal(dead.length, 1, JSON.stringify(steps));
    assert.equal(succeeded.length, 1, JSON.stringify(steps));
    assert.deepEqual([dead[0].attempts, dead[0].last_status], [1, 400]);
    assert.deepEqual([succeeded[0].attempts, succeeded[0].last_status], [1, 200]);
    assert.equal(w.fake.hubspotContacts.get("plain@example.com")?.writes, 1);
    assert.equal(w.fake.hubspotContacts.get("writes@example.com"), undefined);
  });
});

describe("a half-open circuit's probe call whose first input HubSpot did not attempt", () => {
  const w = useWorld({ vars: { ROUTES_JSON: ONLY_UPSERTS }, miniflare: A_BATCH });
  const health = async () =>
    (await w.worker.all("SELECT consecutive_failures, open_until, probe_step FROM destination_health WHERE destination = 'hubspot'"))[0];

  test("is reported by the input it answered: the probe is released with that step's record, then the other succeeds", async () => {
    // HubSpot's circuit open, its cool-down just over: the next call is the probe.
    await w.worker.all(
      "INSERT OR REPLACE INTO destination_health (destination, consecutive_failures, open_until) VALUES ('hubspot', 5, ?)",
      Date.now() - 1000,
    );
    // A 400 naming the newer input: the older one (first in the call, whose name took the
    // probe) is put back unattempted; the newer one is refused for good.
    w.fake.hubspotContacts.refuseBatch("named@example.com");
    const now = Math.floor(Date.now() / 1000);
    const first = checkoutCompleted({ email: "first@example.com", customer: "cus_first" });
    const named = checkoutCompleted({ email: "named@example.com", customer: "cus_named" });
    first.created = now - 60;
    named.created = now;
    await burst(w, [first, named]);
    const dead = await waitFor(async () => {
      const rows = await upserts(w);
      return rows.find((s) => s.status === "dead");
    }, { timeoutMs: 30000, what: "the named step refused" });
    assert.equal(dead.last_status, 400);
    const [probeCall] = w.fake.callsTo(UPSERT);
    assert.deepEqual(JSON.parse(probeCall.body).inputs.map((i) => i.id), ["first@example.com", "named@example.com"]);
    // Recorded with the refusal, in the same transaction: the probe is free again.
    assert.equal((await health()).probe_step, null, "probe released with the step that reported the call");
    const steps = await upsertsIn(w, 2, ["succeeded", "dead"], "the other upsert succeeded");
    const ok = steps.find((s) => s.status === "succeeded");
    assert.deepEqual([ok?.attempts, ok?.last_status], [1, 200], "put back uncharged, then applied");
    assert.deepEqual(await health(), { consecutive_failures: 0, open_until: 0, probe_step: null }, "closed by its success");
  });
});

describe("HubSpot's 429 for a batch call", () => {
  const w = useWorld({ vars: { ROUTES_JSON: ONLY_UPSERTS }, miniflare: A_BATCH });

  test("puts every step of the call off for Retry-After, one attempt each, then all succeed", async () => {
    // HubSpot's rolling budget of 1 call per 8 s, spent just now by another client of the portal.
    w.fake.hubspotRateLimit.set({ limit: 1, windowMs: 8000 });
    await fetch(`${w.fake.url}/crm/v3/objects/contacts/search`, { method: "POST", body: "{}" });
    await burst(w, people(3, "limited"));
    const steps = await upsertsIn(w, 3, ["succeeded"], "every upsert succeeded after the 429");
    assert.ok(w.fake.hubspotRateLimit.rejected() >= 1, "HubSpot answered 429");
    const attempts = await w.worker.all(
      "SELECT step_id, n, status AS http_status, started_at, duration_ms FROM attempts WHERE step_id LIKE '%hubspot.upsert_contact' ORDER BY step_id, n",
    );
    for (const s of steps) {
      const own = attempts.filter((a) => a.step_id === s.id);
      assert.deepEqual(own.map((a) => a.http_status), [429, 200], `${s.id}: one 429, then done`);
      assert.equal(s.attempts, 2, "the 429 is a failed attempt, as for a call of its own");
      const [first, second] = own;
      assert.ok(second.started_at >= first.started_at + first.duration_ms + 900, "Retry-After honoured");
    }
    for (let i = 0; i < 3; i++) assert.equal(w.fake.hubspotContacts.get(`limited${i}@example.com`)?.writes, 1);
  });
});

describe("two checkouts of one person in a burst", () => {
  const w = useWorld({ vars: { ROUTES_JSON: ONLY_UPSERTS }, miniflare: A_BATCH });

  test("only the newer one is written: the older one ends skipped_stale, never sent", async () => {
    const now = Math.floor(Date.now() / 1000);
    const older = checkoutCompleted({ email: "twice@example.com", name: "Ada Older", customer: "cus_twice" });
    const newer = checkoutCompleted({ email: "Twice@Example.com", name: "Ada Newer", customer: "cus_twice" });
    older.created = now - 60;
    newer.created = now;
    // The newer one arrives first; others share the batch.
    await burst(w, [newer, ...people(2, "other"), older]);
    await upsertsIn(w, 4, ["succeeded", "skipped_stale"], "every upsert finished");
    const stale = await stepOf(w, "stripe", older.id);
    assert.deepEqual([stale.status, stale.statuses], ["skipped_stale", []], "the older one made no attempt");
    assert.equal((await stepOf(w, "stripe", newer.id)).status, "succeeded");
    const contact = w.fake.hubspotContacts.get("twice@example.com");
    assert.equal(contact.writes, 1);
    assert.equal(contact.properties.lastname, "Newer");
    assert.deepEqual(upsertCalls(w).flatMap((c) => c.names).sort(), ["Newer", "other0", "other1"]);
  });
});

/** A Shopify customer update of one person (its own entity, `shopify:customer:<id>`, so the
 * checkout's ordering never makes it stale) and, a minute later, their Stripe checkout: two
 * writes of one HubSpot contact that both apply, the older one first. */
function olderAndNewer() {
  const now = Math.floor(Date.now() / 1000);
  const older = {
    ...fixture("shopify/customers/update.json"),
    email: "again@example.com",
    first_name: "Ada",
    last_name: "Older",
    updated_at: new Date((now - 60) * 1000).toISOString(),
  };
  const newer = checkoutCompleted({ email: "again@example.com", name: "Ada Newer", customer: "cus_again" });
  newer.created = now;
  return { older, newer, olderKey: `wh_again_${process.pid}_${now}` };
}

/** Deliver the newer checkout first, then the older customer update (within one batch's 3 s). */
async function deliverNewerFirst(w, { older, newer, olderKey }) {
  await w.deliver("stripe", newer);
  await w.deliver("shopify", older, { topic: "customers/update", shop: "edge-test.myshopify.com", webhookId: olderKey });
}

const RATE_LIMITED = (secs) => ({
  status: 429,
  headers: { "retry-after": String(secs) },
  body: { status: "error", message: "You have reached your ten_secondly_rolling limit.", errorType: "RATE_LIMIT", policyName: "TEN_SECONDLY_ROLLING" },
});

/** Each call to the upsert path: when it came, and the last names it wrote. */
const upsertCalls = (w) =>
  w.fake.callsTo(UPSERT).map((c) => ({ at: c.at, names: JSON.parse(c.body).inputs.map((i) => i.properties.lastname) }));

/** The upsert step of `provider`'s event `key` and its attempts' HTTP statuses, in order. */
async function stepOf(w, provider, key) {
  const [step] = await w.worker.all(
    "SELECT s.id, s.status, s.attempts FROM steps s JOIN events e ON e.id = s.event_id WHERE e.provider = ? AND e.dedupe_key = ? AND s.name = 'hubspot.upsert_contact'",
    provider,
    key,
  );
  const attempts = await w.worker.all("SELECT status FROM attempts WHERE step_id = ? ORDER BY n", step.id);
  return { ...step, statuses: attempts.map((a) => a.status) };
}

describe("two writes of one person, the older one's call answered 429 with Retry-After", () => {
  const w = useWorld({ vars: { ROUTES_JSON: ONLY_UPSERTS }, miniflare: A_BATCH });

  test("the newer one, held back, goes out only after the older one's retry: HubSpot ends with the newer", async () => {
    // The window's first call (the older input: one contact per call) is refused for 8 s.
    w.fake.script(UPSERT, [RATE_LIMITED(8)]);
    const both = olderAndNewer();
    await deliverNewerFirst(w, both);
    await waitFor(async () => {
      const rows = await upserts(w);
      return rows.length === 2 && rows.every((s) => s.status === "succeeded");
    }, { timeoutMs: 45000, what: "both upserts succeeded" });
    const calls = upsertCalls(w);
    assert.deepEqual(calls.map((c) => c.names), [["Older"], ["Older"], ["Newer"]], "the older one's 429, its retry, then the newer one");
    assert.ok(calls[1].at >= calls[0].at + 7000, "the older one's retry waited for Retry-After");
    const contact = w.fake.hubspotContacts.get("again@example.com");
    assert.equal(contact.properties.lastname, "Newer", "no stale write: the newer event's write is the last");
    assert.equal(contact.writes, 2);
    assert.deepEqual((await stepOf(w, "shopify", both.olderKey)).statuses, [429, 200]);
    const held = await stepOf(w, "stripe", both.newer.id);
    assert.deepEqual([held.statuses, held.attempts], [[200], 1], "held back uncharged: one attempt, its own call");
  });
});

describe("two writes of one person, the older one's call failing on its last attempt", () => {
  const w = useWorld({ vars: { ROUTES_JSON: ONLY_UPSERTS, MAX_ATTEMPTS: "1" }, miniflare: A_BATCH });

  test("the older one is dead; the newer one, held back behind it, still goes out", async () => {
    w.fake.script(UPSERT, [RATE_LIMITED(30)]);
    const both = olderAndNewer();
    await deliverNewerFirst(w, both);
    await upsertsIn(w, 2, ["succeeded", "dead"], "both upserts ended");
    assert.equal((await stepOf(w, "shopify", both.olderKey)).status, "dead");
    const held = await stepOf(w, "stripe", both.newer.id);
    assert.deepEqual([held.status, held.statuses], ["succeeded", [200]]);
    assert.deepEqual(upsertCalls(w).map((c) => c.names), [["Older"], ["Newer"]]);
    assert.equal(w.fake.hubspotContacts.get("again@example.com")?.properties.lastname, "Newer");
  });
});

describe("HubSpot's budget", () => {
  const w = useWorld({
    vars: { ROUTES_JSON: ONLY_UPSERTS, RATE_LIMITS_JSON: JSON.stringify({ hubspot: { calls: 2, per_seconds: 3600 } }) }, // kept as 1 per hour window (HubSpot's is rolling)
    miniflare: A_BATCH,
  });

  test("counts a batch call once, whatever its inputs; a call over it waits without spending attempts", async () => {
    await burst(w, people(5, "budget"));
    await upsertsIn(w, 5, ["succeeded"], "five upserts in one call within a budget of one call");
    assert.equal(w.fake.callsTo(UPSERT).length, 1);
    const [health] = await w.worker.all("SELECT window_count FROM destination_health WHERE destination = 'hubspot'");
    assert.equal(health.window_count, 1, "one call counted");
    await burst(w, people(2, "over"));
    const rows = await waitFor(async () => {
      const all = await upserts(w);
      const waiting = all.filter((s) => s.status === "enqueued" && s.last_error === "rate_budget");
      return waiting.length === 2 && waiting;
    }, { timeoutMs: 30000, what: "the next call waits for the budget" });
    for (const s of rows) assert.equal(s.attempts, 0, "waiting spent no attempt");
    assert.equal(w.fake.callsTo(UPSERT).length, 1, "no call over the budget");
  });
});
