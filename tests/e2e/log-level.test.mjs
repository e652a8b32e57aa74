// LOG_LEVEL through workerd, at its default (`warn`): work that went well writes no line (D1 holds
// its record: the accepted event, the succeeded steps), while what needs attention still does —
// a forged request (its `request` line, 401), an attempt that failed and will be retried, a step
// that ended dead — and the admin health says which level is in force.
import { test } from "node:test";
import assert from "node:assert/strict";
import { TEST_SECRETS, waitFor } from "../helpers/worker.mjs";
import { useWorld } from "../helpers/world.mjs";
import { checkoutCompleted, signedDelivery } from "../helpers/stripe.mjs";
import { shopifyDelivery, shopifyOrder } from "../helpers/providers.mjs";

const STRIPE_SECRET = TEST_SECRETS.STRIPE_WEBHOOK_SECRETS.split(",")[0];
const SHOPIFY_SECRET = TEST_SECRETS.SHOPIFY_WEBHOOK_SECRETS.split(",")[0];
const SLACK_PATH = "/services/T000/B000/test";

const w = useWorld({
  vars: { LOG_LEVEL: "warn", RETRY_BASE_SECONDS: "0", MAX_ATTEMPTS: "2", DOWNSTREAM_TIMEOUT_MS: "3000" },
  captureLogs: true,
});
const lines = (kind) => w.worker.workerLogs().filter((l) => l.kind === kind);

test("at the default level only what needs attention is logged", async () => {
  assert.equal((await w.worker.get("/admin/api/health", { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}` })).json.log_level, "warn");

  // Accepted, its steps succeed: no line at all for any of it.
  const checkout = checkoutCompleted();
  const ok = signedDelivery(checkout, STRIPE_SECRET);
  assert.equal((await w.worker.post("/webhooks/stripe", ok.payload, ok.headers)).status, 200);
  // Forged: refused, and not in D1, so it is logged.
  const forged = signedDelivery(checkoutCompleted(), "whsec_not_ours");
  assert.equal((await w.worker.post("/webhooks/stripe", forged.payload, forged.headers)).status, 401);
  // Slack fails twice: one retried attempt (warn), then dead (error).
  w.fake.script(SLACK_PATH, [{ status: 500, body: { error: "boom" } }, { status: 500, body: { error: "boom" } }]);
  const order = shopifyOrder();
  const shop = shopifyDelivery(order, SHOPIFY_SECRET, { webhookId: `wh_level_${Date.now()}` });
  assert.equal((await w.worker.post("/webhooks/shopify", shop.payload, shop.headers)).status, 200);

  const steps = await waitFor(
    async () => {
      const rows = await w.worker.all("SELECT id, name, status FROM steps");
      return rows.length > 0 && rows.every((r) => ["succeeded", "dead"].includes(r.status)) && rows;
    },
    { timeoutMs: 30000, what: "every step finished" },
  );
  const slack = steps.find((s) => s.name === "slack.notify");
  assert.equal(slack.status, "dead");
  await waitFor(() => lines("step_attempt").some((l) => l.outcome === "dead"), { what: "the dead step's line" });

  const requests = lines("request");
  assert.deepEqual(requests.map((l) => [l.outcome, l.status, l.error]), [["rejected", 401, "signature_mismatch"]]);
  const attempts = lines("step_attempt");
  assert.deepEqual(
    attempts.map((l) => [l.step_id, l.outcome, l.http_status]),
    [
      [slack.id, "enqueued", 500],
      [slack.id, "dead", 500],
    ],
    "only the failed attempts are logged, not the succeeded steps",
  );
  const succeeded = steps.filter((s) => s.status === "succeeded");
  assert.ok(succeeded.length >= 2, "the checkout's and the order's other steps succeeded");
  assert.equal(
    (await w.worker.all("SELECT count(*) AS n FROM events WHERE status = 'accepted'"))[0].n,
    2,
    "D1 holds the accepted events the console does not repeat",
  );
});
