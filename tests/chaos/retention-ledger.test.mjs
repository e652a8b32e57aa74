// How the chaos run accounts for steps retention deletes (tests/chaos/cron.mjs,
// `lookAgainAtMoved`), checked by the dashboard-equals-d1 invariant on a hand-made run. The
// dashboard keeps counting a step after retention deletes it, so the check adds the deleted
// steps back, as the run last saw them before the tick that deleted their event. An event moved
// past retention can gain a step afterwards: an operator adds a connection and replays the event,
// the new step succeeds and is counted, then retention deletes the event with it. Seed 30 at
// 5,000 deliveries once reported one such step as a dashboard count D1 did not explain.
// No workerd: D1 is a small table the stub runtime answers the run's queries from.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createLedger } from "./ledger.mjs";
import { createCron } from "./cron.mjs";
import { INVARIANTS } from "./invariants.mjs";

const dashboardMatches = INVARIANTS.find((f) => f.name === "dashboardMatches");

/** Events and steps as D1 holds them, and a runtime answering the run's two lookups from them;
 * a tick deletes the moved events whose steps are all finished, as the sweeper's retention does. */
function world() {
  const d1 = { events: new Set(), steps: [] };
  const ids = (json) => new Set(JSON.parse(json));
  const runtime = {
    ready: async () => {},
    async all(sql, param) {
      if (sql.startsWith("SELECT id FROM events")) return [...ids(param)].filter((id) => d1.events.has(id)).map((id) => ({ id }));
      if (sql.startsWith("SELECT event_id, id, destination, status FROM steps")) return d1.steps.filter((s) => ids(param).has(s.event_id));
      throw new Error(`unexpected query ${sql}`);
    },
    async scheduled() {
      for (const id of [...d1.events]) {
        const open = d1.steps.some((s) => s.event_id === id && !["succeeded", "skipped", "skipped_stale"].includes(s.status));
        if (d1.moved?.has(id) && !open) {
          d1.events.delete(id);
          d1.steps = d1.steps.filter((s) => s.event_id !== id);
        }
      }
    },
  };
  const ledger = createLedger({ seed: 1, adminToken: "t" });
  const cron = createCron({ runtime, rng: null, ledger, fake: null, cast: null, retentionDays: 30, senders: null });
  return { d1, ledger, cron };
}

/** The facts the dashboard check reads, with the dashboard's step counts `counted`. */
function facts(d1, ledger, counted) {
  const steps = d1.steps.map((s) => ({ ...s }));
  return {
    ledger,
    events: [],
    eventsById: new Map([...d1.events].map((id) => [id, { id }])),
    steps,
    metricEvents: [],
    metricSteps: Object.entries(counted).map(([key, n]) => {
      const [destination, outcome] = key.split(" ");
      return { destination, outcome, n };
    }),
    dashboard: {},
  };
}

/** A run where event E, moved past retention with a dead HubSpot step, is replayed after an
 * operator connected sink-4: both steps succeed, and the next tick deletes E. sink-4 has one
 * more step, on an event retention keeps. */
async function replayedAfterTheMove() {
  const { d1, ledger, cron } = world();
  d1.events.add("E").add("K");
  d1.steps.push({ event_id: "E", id: "E:hubspot", destination: "hubspot", status: "dead" });
  d1.steps.push({ event_id: "K", id: "K:sink-4", destination: "sink-4", status: "succeeded" });
  d1.moved = new Set(["E"]);
  ledger.retention.unfinished.set("E", { id: "E", provider: "stripe", steps: [], at: Date.now(), shiftMs: 0 });
  await cron.tick();
  assert.deepEqual(ledger.retention.unfinished.get("E").steps.map((s) => s.status), ["dead"], "the look before the first tick");
  assert.ok(d1.events.has("E"), "kept while its step is dead");

  ledger.replayed.add("E");
  d1.steps.find((s) => s.id === "E:hubspot").status = "succeeded";
  d1.steps.push({ event_id: "E", id: "E:sink-4", destination: "sink-4", status: "succeeded" });
  await cron.tick();
  assert.ok(!d1.events.has("E"), "deleted once the replay finished its steps");
  await cron.tick();
  assert.equal(ledger.retention.unfinished.get("E").gone, true);
  return { d1, ledger };
}

test("a step a replay added after the event was moved past retention is charged to it once deleted", async () => {
  const { d1, ledger } = await replayedAfterTheMove();
  const steps = ledger.retention.unfinished.get("E").steps;
  assert.deepEqual(steps.map((s) => `${s.id} ${s.status}`).sort(), ["E:hubspot succeeded", "E:sink-4 succeeded"], "the last look before the deleting tick");
  const result = dashboardMatches(facts(d1, ledger, { "sink-4 succeeded": 2, "hubspot succeeded": 1 }));
  assert.deepEqual(result.violations, []);
});

test("a dashboard count above what D1 and the deleted steps explain is still a violation", async () => {
  const { d1, ledger } = await replayedAfterTheMove();
  const result = dashboardMatches(facts(d1, ledger, { "sink-4 succeeded": 3, "hubspot succeeded": 1 }));
  assert.deepEqual(result.violations.map((v) => [v.destination, v.outcome, v.dashboard, v.d1_steps]), [["sink-4", "succeeded", 3, 2]]);
});

test("without a restart, a finished step the dashboard did not count is a violation", async () => {
  const { d1, ledger } = await replayedAfterTheMove();
  d1.steps.push({ event_id: "K2", id: "K2:hubspot", destination: "hubspot", status: "succeeded" });
  const result = dashboardMatches(facts(d1, ledger, { "sink-4 succeeded": 2, "hubspot succeeded": 1 }));
  assert.deepEqual(result.violations.map((v) => [v.destination, v.outcome, v.dashboard, v.d1_steps]), [["hubspot", "succeeded", 1, 2]]);
});
