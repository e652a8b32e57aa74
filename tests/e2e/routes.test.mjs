// Every default route end to end through workerd, driven by tests/fixtures/events/expected.json:
// each sample event is delivered properly signed to /webhooks/<provider>, the STEPS consumer
// runs its steps against the downstream fake, and what the fake received (method, path, the
// headers the API needs, body) must be exactly what expected.json lists. D1 steps are checked
// in their tables, deliberate skips as step status `skipped` + last_error, ordering keys in
// entity_versions. The subscription samples name their customer only by id: the checkout
// sample before them taught it at ingest, so they make no customer lookup.
//
// One worker for the whole file, events delivered one at a time (each settles before the next),
// because some routes read state earlier ones wrote: the checkout upsert stores the HubSpot
// contact -> Stripe customer link that expected.json's HubSpot cases assume (the fake answers
// the upsert with that contact's id). Some cases are moved, on purpose:
// - shopify/customers/create (updated_at 09:14:02) before shopify/orders/create (09:15:43): both
//   write contact shopify:customer:7012345678901, and in file order the older customer event
//   would rightly be skipped_stale (that behaviour has its own test in workflows.test.mjs);
// - the two privacy redactions last, so data_request still finds payloads to export and the
//   redactions can be checked against everything stored before them; HubSpot's
//   contact.privacyDeletion after them (its own payload is redacted too).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startWorker } from "../helpers/worker.mjs";
import { startFakeDownstream } from "../helpers/fake-downstream.mjs";
import { quiet } from "../helpers/world.mjs";
import { EXPECTED, UPSERT, deliver, fixture, providerOf, settled, shopifyTopic } from "../helpers/flows.mjs";

const CONTACT_ID = "51234567890"; // objectId of the HubSpot samples

function ordered(cases) {
  const byName = (name) => cases.find((c) => c.fixture === name);
  const moved = ["shopify/customers/create.json", "shopify/customers/redact.json", "shopify/shop/redact.json", "hubspot/contact.privacyDeletion.json"];
  const rest = cases.filter((c) => !moved.includes(c.fixture));
  const at = rest.indexOf(byName("shopify/orders/create.json"));
  rest.splice(at, 0, byName("shopify/customers/create.json"));
  return [...rest, byName("shopify/customers/redact.json"), byName("shopify/shop/redact.json"), byName("hubspot/contact.privacyDeletion.json")];
}

const CASES = ordered(EXPECTED.cases);

describe("default routes send exactly what expected.json lists", () => {
  let fake;
  let worker;
  const events = new Map(); // fixture -> { key, eventId }

  before(async () => {
    fake = await startFakeDownstream();
    const s = EXPECTED.settings;
    worker = await startWorker({
      vars: {
        ...s,
        HUBSPOT_API_BASE: fake.url,
        SENDGRID_API_BASE: fake.url,
        STRIPE_API_BASE: fake.url,
        SLACK_WEBHOOK_URL: fake.url + new URL(s.SLACK_WEBHOOK_URL).pathname,
        MAX_ATTEMPTS: "2",
        RETRY_BASE_SECONDS: "0",
      },
    });
    // HubSpot answers a batch upsert with the contact's id; the checkout's upsert links it.
    fake.always(UPSERT, { status: 200, body: { status: "COMPLETE", results: [{ id: CONTACT_ID }] } });
  });
  after(async () => {
    await worker?.dispose();
    await fake?.close();
  });

  assert.equal(CASES.length, EXPECTED.cases.length);
  for (const c of CASES) {
    test(c.fixture, async () => {
      const provider = providerOf(c.fixture);
      const event = fixture(c.fixture);
      const mark = fake.calls.length;
      const { key } = await deliver(worker, provider, event, {
        topic: shopifyTopic(c.fixture),
        shop: c.shopify?.shop_domain,
        webhookId: c.shopify?.webhook_id,
      });
      const steps = await settled(worker, provider, key, { count: c.steps.length });
      events.set(c.fixture, { key, eventId: steps[0].event_id });
      await quiet(fake, { windowMs: 100 }); // room for a wrong extra call to show up
      const calls = fake.calls.slice(mark);
      assert.deepEqual(
        steps.map((s) => s.name).sort(),
        c.steps.map((s) => s.step).sort(),
        "the route planned exactly these steps",
      );
      const requests = c.steps.filter((s) => s.request);
      assert.equal(calls.length, requests.length, `calls: ${calls.map((x) => x.path).join(", ")}`);
      for (const expected of c.steps) {
        const step = steps.find((s) => s.name === expected.step);
        if (expected.request) await checkRequest(step, expected, calls);
        else if (expected.skip) {
          assert.equal(step.status, "skipped", `${step.name}: ${step.last_error}`);
          assert.equal(step.last_error, expected.skip);
          assert.equal(step.attempts, 0, "a deliberate skip makes no attempt");
        } else {
          assert.equal(step.status, "succeeded", `${step.name}: ${step.last_error}`);
          assert.equal(step.attempts, 1);
          await checkLocal(step, expected.local, c);
        }
      }
    });
  }

  async function checkRequest(step, expected, calls) {
    const r = expected.request;
    assert.equal(step.status, "succeeded", `${step.name}: ${step.last_error}`);
    assert.equal(step.attempts, 1);
    assert.equal(step.last_status, 200);
    const wanted = new URL(r.url).pathname;
    const matching = calls.filter((call) => call.path === wanted);
    assert.equal(matching.length, 1, `one call to ${wanted}`);
    const [call] = matching;
    assert.equal(call.method, r.method);
    assert.equal(call.query, "", "no query string");
    for (const [name, value] of r.headers) {
      assert.equal(call.headers[name.toLowerCase()], value.replace("{step_id}", step.id), name);
    }
    if (r.json !== undefined) {
      const body = JSON.parse(JSON.stringify(r.json).replaceAll("{step_id}", step.id));
      // A contact upsert goes out as an input of a batch call, tagged with its step id.
      if (wanted === UPSERT) for (const input of body.inputs) input.objectWriteTraceId = step.id;
      assert.deepEqual(JSON.parse(call.body), body);
    } else {
      assert.equal(call.body, r.form);
    }
    // The ordering key the route declares is the one the shell recorded.
    const versions = await worker.all("SELECT entity, event_id FROM entity_versions WHERE step = ? AND event_id = ?", step.name, step.event_id);
    assert.deepEqual(versions.map((v) => v.entity), expected.entity_key === null ? [] : [expected.entity_key]);
  }

  async function checkLocal(step, local, c) {
    switch (local.action) {
      case "mark_shop_inactive": {
        const shops = await worker.all("SELECT active, uninstalled_at FROM shops WHERE shop_domain = ?", local.shop_domain);
        assert.equal(shops.length, 1);
        assert.equal(shops[0].active, 0);
        assert.ok(shops[0].uninstalled_at > 0);
        break;
      }
      case "record_suppression": {
        const rows = await worker.all("SELECT event_id FROM suppressions WHERE email = ? AND reason = ?", local.email, local.reason);
        assert.deepEqual(rows, [{ event_id: step.event_id }]);
        break;
      }
      case "count_engagement": {
        const rows = await worker.all("SELECT count FROM engagement WHERE email = ? AND kind = ?", local.email, local.kind);
        assert.deepEqual(rows, [{ count: 1 }]);
        break;
      }
      case "mark_mapping_deleted": {
        const rows = await worker.all("SELECT deleted_at FROM contact_links WHERE hubspot_contact_id = ?", local.hubspot_contact_id);
        assert.equal(rows.length, 1, "the link the checkout upsert created");
        assert.ok(rows[0].deleted_at > 0);
        break;
      }
      case "export": {
        const [request] = await worker.all("SELECT * FROM privacy_requests WHERE event_id = ?", step.event_id);
        assert.equal(request.topic, "customers/data_request");
        assert.equal(request.shop_domain, local.shop_domain);
        assert.equal(request.customer_id, local.customer_id);
        const exported = JSON.parse(request.export);
        assert.equal(request.events_affected, exported.length);
        // Everything stored about the customer so far: the order, both customer events and the
        // request itself; nothing of other providers (Stripe samples are about someone else).
        assert.deepEqual(exported.map((e) => e.type).sort(), ["customers/create", "customers/data_request", "customers/update", "orders/create"]);
        assert.ok(exported.every((e) => e.provider === "shopify" && typeof e.payload === "string"));
        break;
      }
      case "redact": {
        const [request] = await worker.all("SELECT * FROM privacy_requests WHERE event_id = ?", step.event_id);
        assert.equal(request.topic, shopifyTopic(c.fixture));
        assert.equal(request.shop_domain, local.shop_domain);
        assert.equal(request.customer_id, local.customer_id);
        assert.ok(request.done_at > 0);
        const rows = await worker.all("SELECT provider, type, payload, redacted_at FROM events WHERE status = 'accepted'");
        const redacted = rows.filter((r) => r.payload === null);
        assert.ok(redacted.every((r) => r.redacted_at > 0), "a redacted payload says when");
        assert.equal(request.events_affected, local.customer_id ? redacted.length : redacted.length - 5);
        const types = (list) => list.map((r) => `${r.provider} ${r.type}`).sort();
        if (local.customer_id) {
          assert.deepEqual(types(redacted), [
            "shopify customers/create",
            "shopify customers/data_request",
            "shopify customers/redact",
            "shopify customers/update",
            "shopify orders/create",
          ]);
        } else {
          // shop/redact: everything of the shop is gone, other providers' events are untouched.
          assert.deepEqual(types(rows.filter((r) => r.provider === "shopify" && r.payload !== null)), []);
          assert.ok(rows.filter((r) => r.provider !== "shopify").every((r) => r.payload !== null));
        }
        break;
      }
      case "forget_contact": {
        const [request] = await worker.all("SELECT * FROM privacy_requests WHERE event_id = ?", step.event_id);
        assert.deepEqual([request.topic, request.customer_id], ["contact.privacyDeletion", local.hubspot_contact_id]);
        const [own] = await worker.all("SELECT payload FROM events WHERE id = ?", step.event_id);
        assert.equal(own.payload, null, "the request's own payload names the contact");
        assert.deepEqual(await worker.all("SELECT * FROM contact_links WHERE hubspot_contact_id = ?", local.hubspot_contact_id), []);
        break;
      }
      default:
        assert.fail(`unknown local action ${local.action}`);
    }
  }

  test("the HubSpot contact link came from the checkout upsert and followed the name change", async () => {
    const [link] = await worker.all("SELECT * FROM contact_links WHERE hubspot_contact_id = ?", CONTACT_ID);
    assert.equal(link.stripe_customer_id, "cus_PiEWZ5vTqL0p2d");
    assert.equal(link.firstname, "Ada");
    assert.equal(link.lastname, "King-Noel");
  });

  test("no step is left unfinished and no request was sent twice", async () => {
    const open = await worker.all("SELECT id, status FROM steps WHERE status NOT IN ('succeeded', 'skipped', 'skipped_stale', 'dead')");
    assert.deepEqual(open, []);
    const wanted = EXPECTED.cases.flatMap((c) => c.steps).filter((s) => s.request).length;
    assert.equal(fake.calls.length, wanted);
  });
});
