#!/usr/bin/env node
// A burst of checkouts under HubSpot's real budget (issue 25), measured, not a test: the release
// build in Miniflare with the default routes (a HubSpot contact upsert and a SendGrid send per
// checkout) against the downstream fake enforcing HubSpot's 100 calls per rolling 10 s (429 with
// Retry-After and HubSpot's body, tests/helpers/fake-downstream.mjs). It sends N signed
// `checkout.session.completed` webhooks (each its own customer), CONC at a time, then waits until
// no step is pending, enqueued or running (polled every 500 ms), and reports the load time, the
// time until every step finished, HubSpot calls and inputs, 429s, SendGrid calls and the steps
// by status (dead ones named).
//   node bench/burst.mjs [--n 10000] [--conc 16] [--timeout 900] [--out target/bench-burst.json]
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { startWorld } from "../tests/helpers/world.mjs";
import { TEST_SECRETS } from "../tests/helpers/worker.mjs";
import { UPSERT, downstreamSummary, sendBurst } from "./burst-load.mjs";

const { values: args } = parseArgs({
  options: {
    n: { type: "string", default: "10000" },
    conc: { type: "string", default: "16" },
    timeout: { type: "string", default: "900" },
    out: { type: "string", default: "target/bench-burst.json" },
  },
});
const N = Number(args.n);
const CONC = Number(args.conc);
const SECRET = TEST_SECRETS.STRIPE_WEBHOOK_SECRETS.split(",")[0];

const world = await startWorld({ vars: { LOG_LEVEL: "error" } });
world.fake.hubspotRateLimit.set({ limit: 100, windowMs: 10_000 });

const unfinished = async () => {
  const [row] = await world.worker.all("SELECT COUNT(*) AS n FROM steps WHERE status IN ('pending', 'enqueued', 'running')");
  return row.n;
};

const { started, loaded, refused } = await sendBurst({
  n: N,
  conc: CONC,
  secret: SECRET,
  post: async (payload, headers) => (await world.worker.post("/webhooks/stripe", payload, headers)).status,
});

const deadline = started + Number(args.timeout) * 1000;
let left = await unfinished();
let lastReport = 0;
while (left > 0 && Date.now() < deadline) {
  await new Promise((r) => setTimeout(r, 500));
  left = await unfinished();
  if (Date.now() - lastReport > 10_000) {
    lastReport = Date.now();
    const calls = world.fake.callsTo(UPSERT).length;
    console.error(`  ${((Date.now() - started) / 1000).toFixed(0)} s: ${left} steps unfinished, ${calls} HubSpot calls, ${world.fake.hubspotRateLimit.rejected()} 429s`);
  }
}
const finished = Date.now();

const byStatus = Object.fromEntries(
  (await world.worker.all("SELECT name, status, COUNT(*) AS n FROM steps GROUP BY name, status")).map((r) => [`${r.name} ${r.status}`, r.n]),
);
const dead = await world.worker.all("SELECT id, last_error FROM steps WHERE status = 'dead' LIMIT 5");
const result = {
  n: N,
  conc: CONC,
  load_s: (loaded - started) / 1000,
  all_steps_finished_s: left === 0 ? (finished - started) / 1000 : null,
  unfinished_at_timeout: left,
  ...downstreamSummary(world.fake),
  steps: byStatus,
  dead_examples: dead,
  refused_deliveries: refused,
};
console.log(JSON.stringify(result, null, 2));
writeFileSync(args.out, JSON.stringify(result, null, 2));
await world.dispose();
