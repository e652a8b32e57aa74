// How the chaos ledger attributes an answer to a platform fault switch (tests/chaos/ledger.mjs,
// `switchFaults`), on hand-made exchanges checked by the no-unexpected-status invariant. The
// runtime's switch takes a request to reach the worker: a delivery that starts after the ledger
// says "D1 is back" but before the worker has heard it is still refused, and that 503 must be
// put down to the switch, while one that starts once the switch is in force must not be excused.
// No workerd: the facts are what a run would record.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createLedger } from "./ledger.mjs";
import { INVARIANTS } from "./invariants.mjs";

const answersAsExpected = INVARIANTS.find((f) => f.name === "answersAsExpected");
const REFUSED = { error: "unavailable" };

/** A ledger with one accepted-kind delivery per id, and a function recording an exchange of
 * `delivery` that began with platform state `before` and ended now. */
function ledgerWith(...ids) {
  const ledger = createLedger({ seed: 1, adminToken: "t" });
  for (const id of ids) ledger.deliveries.set(id, { id, kind: "stripe.checkout", expect: "accepted", events: [] });
  const answered = (delivery, before, status = 503) =>
    ledger.exchanges.push({ delivery, status, json: REFUSED, before, after: ledger.platformState() });
  return { ledger, answered };
}

const violations = (ledger) => answersAsExpected({ ledger }).violations.map((v) => v.delivery);

test("a 503 from a delivery that began while D1's recovery was reaching the worker is the switch's", async () => {
  const { ledger, answered } = ledgerWith("during", "after");
  await ledger.switchFaults({ d1Ingest: true }, async () => {});
  let startedMidSwitch;
  await ledger.switchFaults({ d1Ingest: false }, async () => {
    // The ledger already says D1 is back; the worker still refuses.
    startedMidSwitch = ledger.platformState();
  });
  answered("during", startedMidSwitch);
  answered("after", ledger.platformState());
  assert.equal(startedMidSwitch.d1Ingest, false, "the ledger said the fault was off");
  assert.deepEqual(violations(ledger), ["after"], "only the 503 after the switch took effect is unexpected");
});

test("without the second epoch the mid-switch 503 would have been blamed on the product", async () => {
  const { ledger, answered } = ledgerWith("during");
  ledger.setPlatform({ d1Ingest: true });
  ledger.setPlatform({ d1Ingest: false });
  const startedMidSwitch = ledger.platformState();
  answered("during", startedMidSwitch);
  assert.deepEqual(violations(ledger), ["during"]);
});

test("a 503 while the fault is in force is expected, a 200 is never a violation", async () => {
  const { ledger, answered } = ledgerWith("faulted", "fine");
  await ledger.switchFaults({ d1Ingest: true }, async () => {});
  answered("faulted", ledger.platformState());
  await ledger.switchFaults({ d1Ingest: false }, async () => {});
  ledger.exchanges.push({ delivery: "fine", status: 200, json: { status: "accepted", events: 0, duplicates: 0 }, before: ledger.platformState(), after: ledger.platformState() });
  assert.deepEqual(violations(ledger), []);
});
