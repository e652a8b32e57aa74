// Every sample event of every provider (tests/fixtures/events, shaped like the providers' API
// reference objects) delivered signed as scripts/send does, against a healthy downstream fake:
// once the queue has drained, no step is `dead` and none is left unfinished. A step the event
// does not call for (a HubSpot contact linked to no Stripe customer, our own write echoing back)
// ends `skipped`, which is not a failure. Events go one at a time, each settled before the next;
// the app uninstall and the two redactions go last so that they cannot take payloads from under
// the other samples' steps.
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { TEST_SECRETS } from "../helpers/worker.mjs";
import { useWorld } from "../helpers/world.mjs";
import { EXPECTED, FINISHED, deliver, fixture, providerOf, sampleNames, settled, shopifyTopic } from "../helpers/flows.mjs";

const LAST = ["shopify/app/uninstalled.json", "shopify/customers/redact.json", "shopify/shop/redact.json"];

/** Every sample under tests/fixtures/events, as `<provider>/<...>.json`. */
function samples() {
  const found = sampleNames();
  return [...found.filter((f) => !LAST.includes(f)), ...LAST.filter((f) => found.includes(f))];
}

describe("every sample event, healthy downstream", () => {
  let fake;
  let worker;

  useWorld({ vars: { MAX_ATTEMPTS: "3", RETRY_BASE_SECONDS: "0" } }, { ready: (w) => ({ worker, fake } = w) });

  test("yields no dead step and no unfinished step", async () => {
    const all = samples();
    assert.ok(all.length >= 20, `samples found: ${all.length}`);
    for (const name of all) {
      const provider = providerOf(name);
      const shopify = EXPECTED.cases.find((c) => c.fixture === name)?.shopify;
      if (provider === "shopify") assert.ok(shopify, `${name}: expected.json names its shop and webhook id`);
      const { key } = await deliver(worker, provider, fixture(name), {
        topic: shopifyTopic(name),
        shop: shopify?.shop_domain,
        webhookId: shopify?.webhook_id,
      });
      await settled(worker, provider, key);
    }
    const steps = await worker.all(
      "SELECT e.provider, e.type, s.name, s.status, s.last_error FROM steps s JOIN events e ON e.id = s.event_id ORDER BY e.received_at, s.name",
    );
    assert.ok(steps.length >= all.length, `steps: ${steps.length}`);
    const describe = (s) => `${s.provider} ${s.type} ${s.name}: ${s.status} ${s.last_error ?? ""}`;
    assert.deepEqual(steps.filter((s) => s.status === "dead").map(describe), [], "no dead step");
    assert.deepEqual(steps.filter((s) => !FINISHED.includes(s.status)).map(describe), [], "no unfinished step");
    const [events] = await worker.all("SELECT COUNT(*) AS n FROM events WHERE status = 'accepted'");
    assert.equal(events.n, all.length, "every sample accepted");

    // The admin sees the same: skipped steps counted apart from dead ones, and findable.
    const auth = { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}` };
    const stats = await worker.get("/admin/api/stats", auth);
    const skipped = steps.filter((s) => s.status === "skipped").length;
    assert.ok(skipped > 0, "the samples include steps they do not call for");
    assert.deepEqual([stats.json.steps.skipped, stats.json.steps.dead], [skipped, 0]);
    const listed = await worker.get("/admin/api/events?step_status=skipped&limit=200", auth);
    assert.equal(listed.status, 200, listed.text);
    const types = new Set(listed.json.events.map((e) => e.type));
    assert.ok(types.has("contact.propertyChange"), [...types].join(", "));
    for (const e of listed.json.events) assert.equal(e.steps_done, e.steps, `${e.type}: a skipped step counts as done`);
    const dead = await worker.get("/admin/api/dead", auth);
    assert.deepEqual(dead.json.groups, [], "nothing in the dead-letter view");
  });
});
