// Transformations per connection end to end through workerd (issue 27): a connection's transform
// reshapes what its http destination receives (operations by JSON Pointer, constant and
// templated headers), the Standard Webhooks signature covers exactly the transformed body
// (verified with the official `standardwebhooks` package), the preview of the stored event shows
// what was delivered and sends and writes nothing (an unsaved transform included), an invalid
// transform is 400 invalid_transform naming the operation and writes nothing, a step whose
// connection is gone is not sent untransformed, and the preview route's role (operator: allowed;
// viewer: 403).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Webhook } from "standardwebhooks";
import { useWorld } from "../helpers/world.mjs";
import { TEST_SECRETS, waitFor } from "../helpers/worker.mjs";

const ADMIN = `Bearer ${TEST_SECRETS.ADMIN_TOKEN}`;
const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

const TRANSFORM = {
  ops: [
    { op: "select", paths: ["/id", "/type", "/data/object"] },
    { op: "rename", from: "/data/object", to: "/invoice" },
    { op: "remove", path: "/invoice/customer_email" },
    { op: "remove", path: "/data" },
    { op: "set", path: "/source", value: { via: "edgehooks", v: 1 } },
  ],
  headers: { "x-tenant": "acme", "x-invoice": "{{/data/object/id}}", "x-event": "{{event.type}}/{{event.id}}" },
};

let n = 0;
function invoicePaid() {
  n += 1;
  const id = `evt_tf_${Date.now()}_${n}`;
  return {
    id, object: "event", api_version: "2024-06-20", created: Math.floor(Date.now() / 1000), livemode: false, type: "invoice.paid",
    data: { object: { id: `in_tf_${n}`, object: "invoice", amount_paid: 1200, customer_email: "ada@example.com", lines: { data: [{ id: "il_1" }] } } },
  };
}

describe("transformations per connection", () => {
  const w = useWorld({ vars: { RETRY_BASE_SECONDS: "0" } });

  async function admin(method, path, body, auth = ADMIN) {
    const res = await w.worker.mf.dispatchFetch(`http://localhost/admin/api/${path}`, {
      method,
      headers: { authorization: auth, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : undefined, text };
  }

  async function destination(name) {
    const res = await admin("POST", "destinations", { name, type: "http", url: w.fake.receiver(name).url, secret: SECRET });
    assert.equal(res.status, 201, res.text);
  }

  const eventIdOf = async (key) => (await w.worker.all("SELECT id FROM events WHERE provider = 'stripe' AND dedupe_key = ?", key))[0].id;
  const counts = async () => (await w.worker.all(
    "SELECT (SELECT COUNT(*) FROM connections) AS connections, (SELECT COUNT(*) FROM steps) AS steps, (SELECT COUNT(*) FROM attempts) AS attempts",
  ))[0];

  test("the destination receives the transformed body and headers, signed over exactly those bytes; the preview shows the same", async () => {
    await destination("shaped");
    const created = await admin("POST", "connections", { name: "shaped-feed", source: "stripe", types: ["invoice.paid"], destination: "shaped", transform: TRANSFORM });
    assert.equal(created.status, 201, created.text);
    assert.deepEqual(created.json.transform.ops, TRANSFORM.ops);
    assert.deepEqual(created.json.transform.headers, TRANSFORM.headers);

    const event = invoicePaid();
    const { key } = await w.deliver("stripe", event);
    const eventId = await eventIdOf(key);
    const receiver = w.fake.receiver("shaped");
    const [call] = await waitFor(() => receiver.calls().length > 0 && receiver.calls(), { what: "delivery to shaped" });
    const expected = {
      id: event.id, type: "invoice.paid", source: { via: "edgehooks", v: 1 },
      invoice: { id: event.data.object.id, object: "invoice", amount_paid: 1200, lines: { data: [{ id: "il_1" }] } },
    };
    assert.deepEqual(JSON.parse(call.body), expected);
    assert.ok(!call.body.includes("ada@example.com"), "the removed field is not sent");
    assert.equal(call.headers["x-tenant"], "acme");
    assert.equal(call.headers["x-invoice"], event.data.object.id, "a template reads the payload as it arrived");
    assert.equal(call.headers["x-event"], `invoice.paid/${eventId}`);
    assert.equal(call.headers["content-type"], "application/json");
    assert.equal(call.headers["webhook-id"], `${eventId}:http:shaped`);
    const verified = new Webhook(SECRET).verify(call.body, call.headers);
    assert.deepEqual(verified, expected, "the official package verifies the signature over the transformed body");
    assert.throws(() => new Webhook(SECRET).verify(JSON.stringify(event), call.headers), "and not over the payload as it arrived");
    await w.stepReaches("stripe", key, "http:shaped", ["succeeded"]);

    const before = await counts();
    const preview = await admin("POST", "connections/shaped-feed/preview", { event_id: eventId });
    assert.equal(preview.status, 200, preview.text);
    assert.equal(preview.json.body, call.body, "the preview's body is byte for byte what was delivered");
    for (const [name, value] of Object.entries(preview.json.headers)) assert.equal(call.headers[name], value, name);
    assert.deepEqual(preview.json.signed_when_sent, ["webhook-timestamp", "webhook-signature"]);
    assert.equal(preview.json.headers["webhook-signature"], undefined, "no signature is handed out");
    assert.equal(preview.json.unsaved, false);

    const tried = await admin("POST", "connections/shaped-feed/preview", { event_id: eventId, transform: { ops: [{ op: "select", paths: ["/id"] }], headers: { "X-Try": "{{/data/object/amount_paid}}" } } });
    assert.equal(tried.status, 200, tried.text);
    assert.equal(tried.json.body, JSON.stringify({ id: event.id }));
    assert.equal(tried.json.headers["x-try"], "1200");
    assert.equal(tried.json.unsaved, true);
    assert.deepEqual(await counts(), before, "a preview writes nothing");
    assert.equal(receiver.calls().length, 1, "and sends nothing");
    assert.deepEqual((await admin("GET", "connections/shaped-feed")).json.transform.ops, TRANSFORM.ops, "an unsaved transform stays unsaved");
  });

  test("an invalid transform is 400 invalid_transform naming the operation, and nothing is written", async () => {
    await destination("strict");
    const base = { name: "strict-feed", source: "stripe", types: ["invoice.paid"], destination: "strict" };
    const before = await counts();
    const cases = [
      [{ ops: [{ op: "select", paths: ["/id"] }, { op: "rename", from: "/id" }] }, "transform.ops[1].to"],
      [{ ops: [{ op: "explode", path: "/id" }] }, "transform.ops[0].op"],
      [{ ops: [{ op: "remove", path: "no-slash" }] }, "transform.ops[0].path"],
      [{ ops: [{ op: "remove", path: "/a~2b" }] }, "transform.ops[0].path"],
      [{ headers: { "Content-Length": "1" } }, "transform.headers.Content-Length"],
      [{ headers: { "webhook-signature": "v1,forged" } }, "transform.headers.webhook-signature"],
      [{ headers: { "x-id": "{{data.id}}" } }, "transform.headers.x-id"],
      [{ ops: Array.from({ length: 33 }, () => ({ op: "remove", path: "/a" })) }, "transform.ops"],
    ];
    for (const [transform, field] of cases) {
      const res = await admin("POST", "connections", { ...base, transform });
      assert.equal(res.status, 400, res.text);
      assert.equal(res.json.error, "invalid_transform", res.text);
      assert.equal(res.json.field, field, res.text);
    }
    const builtin = await admin("POST", "connections", { source: "stripe", destination: "slack.notify", transform: { headers: { "x-a": "b" } } });
    assert.deepEqual([builtin.status, builtin.json.error, builtin.json.field], [400, "invalid_transform", "transform"]);
    assert.deepEqual(await counts(), before, "no connection written");

    assert.equal((await admin("POST", "connections", base)).status, 201);
    const edited = await admin("PATCH", "connections/strict-feed", { transform: { ops: [{ op: "set", path: "/a" }] } });
    assert.deepEqual([edited.status, edited.json.field], [400, "transform.ops[0].value"]);
    assert.equal((await admin("GET", "connections/strict-feed")).json.transform, null, "the stored connection is unchanged");
    const badPreview = await admin("POST", "connections/strict-feed/preview", { event_id: "nope", transform: { ops: [1] } });
    assert.deepEqual([badPreview.status, badPreview.json.error, badPreview.json.field], [400, "invalid_transform", "transform.ops[0]"]);
    const unknown = await admin("POST", "connections/strict-feed/preview", { event_id: "no-such-event" });
    assert.deepEqual([unknown.status, unknown.json.field], [400, "event_id"]);
    assert.equal((await admin("POST", "connections/no-such/preview", { event_id: "x" })).status, 404);
  });

  test("a step whose connection is gone when it is sent ends dead, never sent untransformed", async () => {
    await destination("gone");
    await admin("POST", "connections", { name: "gone-feed", source: "stripe", types: ["invoice.paid"], destination: "gone", transform: TRANSFORM });
    assert.equal((await admin("POST", "destinations/gone/pause")).status, 200);
    const { key } = await w.deliver("stripe", invoicePaid());
    const parked = await w.stepReaches("stripe", key, "http:gone", ["enqueued"]);
    await waitFor(async () => (await w.worker.all("SELECT last_error FROM steps WHERE id = ?", parked.id))[0].last_error === "destination_paused", { what: "parked" });
    assert.equal((await admin("DELETE", "connections/gone-feed")).status, 200);
    assert.equal((await admin("POST", "destinations/gone/resume")).status, 200);
    const step = await w.stepReaches("stripe", key, "http:gone", ["dead"]);
    assert.equal(step.last_error, "connection_missing");
    assert.equal(w.fake.receiver("gone").calls().length, 0);
  });

  test("the preview route is an operator's: a viewer is 403 forbidden_role", async () => {
    await destination("roles");
    await admin("POST", "connections", { name: "roles-feed", source: "stripe", types: ["invoice.paid"], destination: "roles", transform: TRANSFORM });
    const { key } = await w.deliver("stripe", invoicePaid());
    const eventId = await eventIdOf(key);
    const mint = async (name, role) => (await admin("POST", "tokens", { name, role })).json.token;
    const operator = await mint("tf-operator", "operator");
    const viewer = await mint("tf-viewer", "viewer");
    const allowed = await admin("POST", "connections/roles-feed/preview", { event_id: eventId }, `Bearer ${operator}`);
    assert.equal(allowed.status, 200, allowed.text);
    assert.equal(JSON.parse(allowed.json.body).source.via, "edgehooks");
    const refused = await admin("POST", "connections/roles-feed/preview", { event_id: eventId }, `Bearer ${viewer}`);
    assert.deepEqual([refused.status, refused.json], [403, { error: "forbidden_role", needed: "operator", role: "viewer" }]);
    const edit = await admin("PATCH", "connections/roles-feed", { transform: null }, `Bearer ${operator}`);
    assert.deepEqual([edit.status, edit.json.needed], [403, "admin"], "editing a transform stays an admin's");
  });
});
