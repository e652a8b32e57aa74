#!/usr/bin/env node
// Binding round trips per delivery and per step, counted at runtime (not timed): the release build
// runs in Miniflare behind tests/helpers/binding-counts.mjs, which records every D1 round trip,
// KV operation and Queue send per invocation. Delivers N Stripe checkout events (default routes:
// hubspot.upsert_contact + sendgrid.send, called on the downstream fake) one after the other, then a
// SendGrid batch of 50, waits until every step has finished, and prints a markdown table of the
// averages (target/bench-round-trips.md). The routing cache's reads (connections, routes switched
// off; at most one pair per 5 s per isolate) are shown apart.
//   node bench/round-trips.mjs [--events 20] [--build DIR]
// --build runs another build (e.g. one of an earlier commit, for its numbers).
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { startWorld } from "../tests/helpers/world.mjs";
import { countingBuild, invocations } from "../tests/helpers/binding-counts.mjs";
import { checkoutCompleted } from "../tests/helpers/stripe.mjs";
import { sendgridDelivery, sendgridEvent } from "../tests/helpers/providers.mjs";

const { values: args } = parseArgs({ options: { events: { type: "string", default: "20" }, build: { type: "string" } } });
const events = Number(args.events);
const routingRead = (sql) => / FROM (connections|routes_off)\b/.test(sql);

const build = countingBuild(args.build ? { from: args.build } : {});
const world = await startWorld({ miniflare: build.miniflare });
try {
  const keys = [];
  for (let i = 0; i < events; i++) {
    const { key } = await world.deliver("stripe", checkoutCompleted({ id: `evt_bench_rt_${i}`, customer: `cus_bench_rt_${i}` }));
    keys.push(key);
  }
  for (const key of keys) await world.settled("stripe", key);
  await new Promise((r) => setTimeout(r, 500)); // the last waitUntil (if any) lands
  const afterStripe = await invocations(world.worker);
  const batch = sendgridDelivery(Array.from({ length: 50 }, () => sendgridEvent()));
  await world.worker.post("/webhooks/sendgrid", batch.payload, batch.headers);
  await world.noStepInFlight();
  await new Promise((r) => setTimeout(r, 500)); // the last waitUntil (if any) lands

  const all = await invocations(world.worker);
  const later = all.slice(afterStripe.length);
  const rows = [];
  const summarize = (label, records, per) => {
    const d1 = records.flatMap((r) => r.d1);
    const calls = records.flatMap((r) => r.calls);
    const count = (name) => calls.filter((c) => c === name).length / per;
    rows.push({
      label,
      d1: d1.filter((s) => !routingRead(s)).length / per,
      statements: d1.filter((s) => !routingRead(s)).reduce((n, s) => n + (Number(s.match(/^batch\[(\d+)\]/)?.[1]) || 1), 0) / per,
      routing: d1.filter(routingRead).length / per,
      kvGet: count("IDEMPOTENCY.get"),
      kvPut: count("IDEMPOTENCY.put"),
      queue: count("STEPS.sendBatch") + count("STEPS.send"),
    });
  };
  const consumed = (records) => records.filter((r) => r.kind === "queue" && r.detail.startsWith("steps "));
  const messagesIn = (records) => records.reduce((n, r) => n + Number(r.detail.split(" ")[1]), 0);
  const stripe = afterStripe.filter((r) => r.detail === "POST /webhooks/stripe");
  const stripeSteps = consumed(afterStripe);
  const sendgrid = later.filter((r) => r.detail === "POST /webhooks/sendgrid");
  const sendgridSteps = consumed(later);
  summarize(`Stripe checkout delivery, ingest (per delivery, ${stripe.length})`, stripe, stripe.length);
  summarize(
    `its HTTP steps in the consumer, per step (${messagesIn(stripeSteps)} in ${stripeSteps.length} queue batches)`,
    stripeSteps,
    messagesIn(stripeSteps),
  );
  summarize("Stripe checkout event end to end (ingest + its 2 steps)", [...stripe, ...stripeSteps], stripe.length);
  summarize("SendGrid batch of 50 delivered events, ingest (per delivery)", sendgrid, sendgrid.length);
  summarize(
    `its local steps in the consumer, per step (${messagesIn(sendgridSteps)} in ${sendgridSteps.length} queue batches)`,
    sendgridSteps,
    messagesIn(sendgridSteps),
  );

  const table = [
    "| work | D1 round trips | D1 statements | routing reads | KV get | KV put | queue sends |",
    "|---|---|---|---|---|---|---|",
    ...rows.map((r) => `| ${r.label} | ${r.d1.toFixed(2)} | ${r.statements.toFixed(2)} | ${r.routing.toFixed(2)} | ${r.kvGet.toFixed(2)} | ${r.kvPut.toFixed(2)} | ${r.queue.toFixed(2)} |`),
  ].join("\n");
  writeFileSync("target/bench-round-trips.md", `${table}\n`);
  console.log(table);
} finally {
  await world.dispose();
  build.cleanup();
}
