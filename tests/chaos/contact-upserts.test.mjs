// The contact-upserts invariant (tests/chaos/invariants.mjs) on hand-made facts: it passes a
// clean history and names each kind of violation it exists for, so a chaos run where it holds
// means something. No workerd: the facts are what a run would load.
import { test } from "node:test";
import assert from "node:assert/strict";
import { INVARIANTS } from "./invariants.mjs";

const contactUpserts = INVARIANTS.find((f) => f.name === "contactUpserts");
const PATH = "/crm/v3/objects/contacts/batch/upsert";
const ENTITY = "stripe:subscription:sub_1";

/** Facts with two events of one entity (evt_a older than evt_b), their upsert steps, and the
 * given fake calls (`[[steps], {effect, lostAnswer}]`, in arrival order). */
function facts(calls, { statuses = { evt_a: "succeeded", evt_b: "succeeded" } } = {}) {
  const events = [
    { id: "evt_a", occurred_at: 1_000 },
    { id: "evt_b", occurred_at: 2_000 },
  ];
  const steps = events.map((e) => ({ id: `${e.id}:hubspot.upsert_contact`, event_id: e.id, name: "hubspot.upsert_contact", entity: ENTITY, status: statuses[e.id] }));
  const body = (ids) => JSON.stringify({
    inputs: ids.map((id) => ({ idProperty: "email", id: "ada@example.com", properties: { stripe_plan: id }, objectWriteTraceId: `${id}:hubspot.upsert_contact` })),
  });
  return {
    steps,
    stepsById: new Map(steps.map((s) => [s.id, s])),
    eventsById: new Map(events.map((e) => [e.id, e])),
    fake: {
      calls: calls.map(([ids, chaos], n) => ({ method: "POST", path: PATH, body: body(ids), at: n * 10, chaos: { fault: null, lostAnswer: false, effect: true, ...chaos } })),
    },
    ledger: { restarts: [], redriven: new Set(), replayed: new Set(), retention: { finished: new Map(), unfinished: new Map() } },
  };
}

const notes = (result) => result.violations.map((v) => v.note);

test("a clean history holds: each event once, in order", () => {
  const result = contactUpserts(facts([[["evt_a"]], [["evt_b"]]]));
  assert.deepEqual(result.violations, []);
  assert.ok(result.checked >= 3);
});

test("a second write after a lost answer is the documented window", () => {
  const result = contactUpserts(facts([[["evt_a"], { lostAnswer: true }], [["evt_a"]], [["evt_b"]]]));
  assert.deepEqual(result.violations, []);
});

test("a second write of one event with no lost answer is named", () => {
  assert.deepEqual(notes(contactUpserts(facts([[["evt_a"]], [["evt_a"]], [["evt_b"]]]))), [
    "a contact written twice for one event with no lost answer or killed runtime before",
  ]);
});

test("an older event's write after a newer one's is stale, and HubSpot ends older", () => {
  assert.deepEqual(notes(contactUpserts(facts([[["evt_b"]], [["evt_a"]]]))), [
    "a stale write applied after a newer event's",
    "HubSpot's final state is older than the newest succeeded event",
  ]);
});

test("a succeeded step HubSpot never applied is named; a call without effect applies nothing", () => {
  assert.deepEqual(notes(contactUpserts(facts([[["evt_a"]], [["evt_b"], { effect: false }]]))), [
    "succeeded, but HubSpot never applied its input",
    "HubSpot's final state is older than the newest succeeded event",
  ]);
  const deadB = facts([[["evt_a"]], [["evt_b"], { effect: false }]], { statuses: { evt_a: "succeeded", evt_b: "dead" } });
  assert.deepEqual(contactUpserts(deadB).violations, []);
});

test("one call naming a contact twice is named", () => {
  assert.deepEqual(notes(contactUpserts(facts([[["evt_a", "evt_b"]]]))), ["one call names a contact twice"]);
});
