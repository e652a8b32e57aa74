#!/usr/bin/env node
// Cold start through Miniflare (the runtime the e2e tests use), repeated 5 times with fresh
// workerd processes: new Miniflare -> ready, first GET /health (the isolate's first request:
// wasm instantiation + first call), first and second signed Stripe webhook (first D1/KV/queue
// use vs warm). Prints medians and all samples as JSON. wrangler dev's cold start is measured by
// bench/workerd.mjs.
import { migrate, startWorker, TEST_SECRETS } from "../tests/helpers/worker.mjs";
import { checkoutCompleted, signedDelivery } from "../tests/helpers/stripe.mjs";

const [SECRET] = TEST_SECRETS.STRIPE_WEBHOOK_SECRETS.split(",");
const ms = (t) => Math.round(Number(process.hrtime.bigint() - t) / 1e5) / 10;
const samples = [];
for (let i = 0; i < 5; i += 1) {
  let t = process.hrtime.bigint();
  const worker = await startWorker({ migrate: false, captureLogs: true }); // keeps stdout clean
  const ready = ms(t);
  await migrate(worker.db);
  t = process.hrtime.bigint();
  const health = await worker.get("/health");
  const firstHealth = ms(t);
  const webhook = async () => {
    const { payload, headers } = signedDelivery(checkoutCompleted(), SECRET);
    const s = process.hrtime.bigint();
    const res = await worker.post("/webhooks/stripe", payload, headers);
    if (res.status !== 200) throw new Error(res.text);
    return ms(s);
  };
  const firstWebhook = await webhook();
  const secondWebhook = await webhook();
  samples.push({ ready_ms: ready, first_health_ms: firstHealth, first_webhook_ms: firstWebhook, second_webhook_ms: secondWebhook, status: health.status });
  await worker.dispose();
}
const median = (k) => samples.map((s) => s[k]).sort((a, b) => a - b)[2];
console.log(
  JSON.stringify(
    {
      median: Object.fromEntries(["ready_ms", "first_health_ms", "first_webhook_ms", "second_webhook_ms"].map((k) => [k, median(k)])),
      samples,
    },
    null,
    2,
  ),
);
