// Which requests Workers Static Assets answers and which go to the worker first, as wrangler.toml's
// `[assets] run_worker_first` says and as Miniflare routes them through the options
// scripts/wrangler-config.mjs derives from it. A decoy assets directory holds a file at every
// path the worker answers: a path named in `run_worker_first` must reach the worker anyway
// (no asset lookup on the webhook path), while the admin page's paths stay with the assets.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { startWorker, TEST_SECRETS } from "../helpers/worker.mjs";
import { checkoutCompleted, signedDelivery } from "../helpers/stripe.mjs";
import { readWranglerConfig, routerConfig } from "../../scripts/wrangler-config.mjs";

const config = await readWranglerConfig();
const STRIPE_SECRET = TEST_SECRETS.STRIPE_WEBHOOK_SECRETS.split(",")[0];
const DECOY = "decoy asset, not the worker";

const decoys = mkdtempSync(path.join(tmpdir(), "edgehooks-assets-"));
for (const file of ["health", "metrics", "webhooks/stripe", "admin/decoy.txt"]) {
  mkdirSync(path.dirname(path.join(decoys, file)), { recursive: true });
  writeFileSync(path.join(decoys, file), DECOY);
}
const worker = await startWorker({
  miniflare: { assets: { directory: decoys, routerConfig: routerConfig(config.assets) } },
});
after(async () => {
  await worker.dispose();
  rmSync(decoys, { recursive: true, force: true });
});

test("wrangler.toml sends the worker's own paths to it first", () => {
  assert.deepEqual(config.assets.run_worker_first, ["/webhooks/*", "/health", "/metrics"]);
});

test("a signed webhook reaches the worker, not the asset at its path", async () => {
  const delivery = signedDelivery(checkoutCompleted(), STRIPE_SECRET);
  const answer = await worker.post("/webhooks/stripe", delivery.payload, delivery.headers);
  assert.equal(answer.status, 200);
  assert.notEqual(answer.text, DECOY);
  const [event] = await worker.all("SELECT provider FROM events");
  assert.equal(event.provider, "stripe");
});

test("the health check and the metrics scrape are the worker's", async () => {
  const health = await worker.get("/health");
  assert.equal(health.status, 200);
  assert.equal(health.json.status, "ok");
  const metrics = await worker.get("/metrics", { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}` });
  assert.equal(metrics.status, 200);
  assert.notEqual(metrics.text, DECOY);
  assert.match(metrics.text, /^# HELP /m);
});

test("other paths are looked up in the assets first", async () => {
  const asset = await worker.get("/admin/decoy.txt");
  assert.equal(asset.status, 200);
  assert.equal(asset.text, DECOY);
});

test("run_worker_first maps to Miniflare's router as wrangler maps it", () => {
  assert.deepEqual(routerConfig({ directory: "x" }), { has_user_worker: true });
  assert.deepEqual(routerConfig({ run_worker_first: true }), {
    has_user_worker: true,
    invoke_user_worker_ahead_of_assets: true,
  });
  assert.deepEqual(routerConfig({ run_worker_first: ["/api/*", "!/api/docs/*"] }), {
    has_user_worker: true,
    static_routing: { user_worker: ["/api/*"], asset_worker: ["/api/docs/*"] },
  });
});
