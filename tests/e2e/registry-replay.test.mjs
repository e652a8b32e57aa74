// A captured delivery to a registry source re-posted under a fresh unsigned id, through workerd.
// GitHub signs the body but not X-GitHub-Delivery: the same body and signature with a fresh id is
// a duplicate (its content key), no new event and no second forward to the http destination,
// and stays one after retention deleted the event (its tombstone; the days are simulated by
// moving received_at back, and KV hints are cleared so D1 decides). A Standard Webhooks source
// signed under Svix's header names (`svix-*`, signed here by the `svix` SDK) signs its id and a
// timestamp: accepted with no content key, and its id or body changed, refused.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { sign as octokitSign } from "@octokit/webhooks-methods";
import { Webhook as SvixWebhook } from "svix";
import { useWorld } from "../helpers/world.mjs";
import { TEST_SECRETS, waitFor } from "../helpers/worker.mjs";

const DAY = 86_400_000;
const AUTH = `Bearer ${TEST_SECRETS.ADMIN_TOKEN}`;
const SECRETS_KEY = Buffer.alloc(32, 42).toString("base64");

describe("registry replay of a captured delivery", () => {
  const w = useWorld({ vars: { SECRETS_KEY, RETENTION_DAYS: "1", RETRY_BASE_SECONDS: "0" } });

  async function admin(method, path, body) {
    const res = await w.worker.mf.dispatchFetch(`http://localhost/admin/api/${path}`, {
      method,
      headers: { authorization: AUTH, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${text}`);
    return JSON.parse(text);
  }
  const post = (path, body, headers) => w.worker.post(path, body, Object.fromEntries(headers));
  const events = (name) => w.worker.all("SELECT * FROM events WHERE provider = 'in' AND source = ? ORDER BY received_at", name);

  /** Every KV dedupe hint forgotten, as if their TTL had passed. */
  async function forgetHints() {
    const kv = await w.worker.mf.getKVNamespace("IDEMPOTENCY");
    for (const { name } of (await kv.list()).keys) await kv.delete(name);
  }

  test("a GitHub body re-posted with a fresh X-GitHub-Delivery is a duplicate, before and after retention", async () => {
    const SECRET = "gh-replay-secret-0001";
    const { path } = await admin("POST", "sources", { name: "gh-replay", scheme: "github", secrets: [SECRET] });
    const receiver = w.fake.receiver("gh-replay-svc");
    await admin("POST", "destinations", { name: "gh-replay-svc", type: "http", url: receiver.url, secret: "whsec_" + Buffer.alloc(32, 9).toString("base64") });
    await admin("POST", "connections", { name: "gh-replay-all", source: "in:gh-replay", types: ["*"], destination: "gh-replay-svc" });

    const body = JSON.stringify({ action: "opened", issue: { number: 41 } });
    const signature = await octokitSign(SECRET, body);
    const delivery = (id) => [["X-Hub-Signature-256", signature], ["X-GitHub-Delivery", id], ["X-GitHub-Event", "issues"], ["content-type", "application/json"]];
    const first = await post(path, body, delivery("d-first"));
    assert.deepEqual([first.status, first.json.status], [200, "accepted"], first.text);
    await waitFor(() => receiver.calls().length === 1, { what: "the first forward" });

    const replayed = await post(path, body, delivery("d-fresh-1"));
    assert.deepEqual([replayed.status, replayed.json], [200, { status: "duplicate" }], replayed.text);
    const [event, ...more] = await events("gh-replay");
    assert.equal(more.length, 0, "no new event");
    assert.equal(event.dedupe_key, "src:gh-replay:d-first");
    assert.match(event.content_key, /^src:gh-replay:[0-9a-f]{64}$/);
    // Another signed body is a new event: the content key refuses only what was signed before.
    const other = JSON.stringify({ action: "closed", issue: { number: 41 } });
    const otherHeaders = [["X-Hub-Signature-256", await octokitSign(SECRET, other)], ["X-GitHub-Delivery", "d-other"], ["X-GitHub-Event", "issues"]];
    assert.equal((await post(path, other, otherHeaders)).json.status, "accepted");
    await waitFor(() => receiver.calls().length === 2, { what: "the other body's forward" });
    await w.noStepInFlight();
    await w.quiet();
    assert.deepEqual(receiver.calls().map((c) => JSON.parse(c.body).action), ["opened", "closed"], "no second forward of the replay");

    // Two days pass (simulated), past RETENTION_DAYS: retention deletes both events.
    await w.worker.all("UPDATE events SET received_at = received_at - ? WHERE provider = 'in' AND source = 'gh-replay'", 2 * DAY);
    await w.sweep();
    assert.equal((await events("gh-replay")).length, 0, "retention deleted them");
    const [tombstone] = await w.worker.all("SELECT * FROM dedupe_tombstones WHERE provider = 'in' AND dedupe_key = 'src:gh-replay:d-first'");
    assert.equal(tombstone.content_key, event.content_key);
    assert.equal(tombstone.expires_at - tombstone.received_at, 90 * DAY);
    await forgetHints();

    const late = await post(path, body, delivery("d-fresh-2"));
    assert.deepEqual([late.status, late.json], [200, { status: "duplicate" }], late.text);
    await w.quiet();
    assert.equal((await events("gh-replay")).length, 0, "no new event after retention");
    assert.equal(receiver.calls().length, 2, "no forward after retention");
  });

  test("standard-webhooks under svix-* header names: accepted without a content key; id or body changed, refused", async () => {
    const SECRET = "whsec_" + Buffer.alloc(32, 11).toString("base64");
    const { path } = await admin("POST", "sources", { name: "svix-in", scheme: "standard-webhooks", secrets: [SECRET] });
    const svix = new SvixWebhook(SECRET);
    const body = JSON.stringify({ type: "invoice.paid", data: { id: "inv_1" } });
    const signed = (id, payload = body) => {
      const at = new Date();
      return [["svix-id", id], ["svix-timestamp", String(Math.floor(at.getTime() / 1000))], ["svix-signature", svix.sign(id, at, payload)], ["content-type", "application/json"]];
    };
    const headers = signed("msg_svix_1");
    svix.verify(body, Object.fromEntries(headers)); // the SDK accepts what it signed
    const accepted = await post(path, body, headers);
    assert.deepEqual([accepted.status, accepted.json.status], [200, "accepted"], accepted.text);
    const [event] = await events("svix-in");
    assert.deepEqual([event.dedupe_key, event.type, event.content_key], ["src:svix-in:msg_svix_1", "invoice.paid", null]);

    const refused = (answer, what) => assert.deepEqual([answer.status, answer.json.error], [401, "signature_mismatch"], `${what}: ${answer.text}`);
    refused(await post(path, body.replace("inv_1", "inv_2"), headers), "body tampered");
    const freshId = headers.map(([n, v]) => [n, n === "svix-id" ? "msg_svix_2" : v]);
    refused(await post(path, body, freshId), "the signed id replaced");
    const sig = headers.find(([n]) => n === "svix-signature")[1];
    // One base64 character well inside the MAC (not the last one, whose low bits are padding).
    const flipped = sig.slice(0, 13) + (sig[13] === "A" ? "B" : "A") + sig.slice(14);
    refused(await post(path, body, headers.map(([n, v]) => [n, n === "svix-signature" ? flipped : v])), "signature tampered");
    assert.equal((await events("svix-in")).length, 1);
  });
});
