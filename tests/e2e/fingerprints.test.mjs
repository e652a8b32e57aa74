// The secret fingerprints the admin API shows, end to end through workerd: an http
// destination's and a registry source's are keyed (HMAC-SHA256 under a key derived from
// SECRETS_KEY, recomputed here in Node), never the plain SHA-256 a viewer could check a guessed
// secret against, and differ under another SECRETS_KEY. A source row stored in the old form
// (sealed secrets beside unkeyed prints, inserted into D1 as the build before wrote it) never
// shows them, to an admin or a viewer: its view has the count and no print until the cron
// sweeper re-keys it, and a rotation no longer takes the unkeyed print. Without SECRETS_KEY a
// destination shows its count and no print.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createCipheriv, createHash, createHmac, randomBytes } from "node:crypto";
import { useWorld } from "../helpers/world.mjs";
import { TEST_SECRETS } from "../helpers/worker.mjs";

const KEY_A = Buffer.alloc(32, 42).toString("base64");
const KEY_B = Buffer.alloc(32, 43).toString("base64");
const DEST_KEY = Buffer.alloc(32, 5);
const DEST_SECRET = "whsec_" + DEST_KEY.toString("base64");
const TOKEN = "tok-old-form-000001";
const NEXT_TOKEN = "tok-old-form-000002";
const SPEC = JSON.stringify({ scheme: "token", config: { header: "X-Token" }, dedupe: null, event_type: null, max_body_bytes: null, enabled: true });

/** The first 12 hex digits of the secret's plain SHA-256: the old, unkeyed fingerprint. */
const unkeyed = (bytes) => createHash("sha256").update(bytes).digest("hex").slice(0, 12);
/** The keyed fingerprint, as the worker computes it. */
function keyed(secretsKey, bytes) {
  const derived = createHmac("sha256", Buffer.from(secretsKey, "base64")).update("edgehooks registry secret fingerprint v1").digest();
  return createHmac("sha256", derived).update(bytes).digest("hex").slice(0, 12);
}
/** A value sealed as the worker seals it: `v1:` + base64(nonce, ciphertext, tag), bound to its row. */
function seal(secretsKey, context, plaintext) {
  const nonce = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", Buffer.from(secretsKey, "base64"), nonce);
  cipher.setAAD(Buffer.from(context));
  const sealed = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  return "v1:" + Buffer.concat([nonce, sealed]).toString("base64");
}

function adminOf(w) {
  return async (method, path, body, token = TEST_SECRETS.ADMIN_TOKEN) => {
    const res = await w.worker.mf.dispatchFetch(`http://localhost/admin/api/${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : undefined, text };
  };
}

async function createDestination(w, admin) {
  const res = await admin("POST", "destinations", { name: "fp-svc", type: "http", url: w.fake.receiver("fp-svc").url, secret: DEST_SECRET });
  assert.equal(res.status, 201, res.text);
  return res.json;
}

const printsUnder = {};

describe("fingerprints under SECRETS_KEY", () => {
  const w = useWorld({ vars: { SECRETS_KEY: KEY_A } });
  const admin = adminOf(w);

  test("a destination's fingerprint is keyed, the same to a viewer, never the key's plain SHA-256", async () => {
    const created = await createDestination(w, admin);
    assert.equal(created.secrets, 1);
    assert.deepEqual(created.secret_fingerprints, [keyed(KEY_A, DEST_KEY)]);
    assert.notEqual(created.secret_fingerprints[0], unkeyed(DEST_KEY));
    assert.ok(!JSON.stringify(created).includes(DEST_SECRET.slice(6)), "never the secret");
    const viewer = await admin("POST", "tokens", { name: "fp-viewer", role: "viewer" });
    assert.equal(viewer.status, 201, viewer.text);
    const seen = await admin("GET", "destinations/fp-svc", undefined, viewer.json.token);
    assert.equal(seen.status, 200, seen.text);
    assert.deepEqual(seen.json.secret_fingerprints, created.secret_fingerprints);
    // Rotated: both secrets, newest first, each keyed.
    const NEWER = Buffer.alloc(32, 6);
    const rotated = await admin("PATCH", "destinations/fp-svc", { add_secret: "whsec_" + NEWER.toString("base64") });
    assert.equal(rotated.status, 200, rotated.text);
    assert.deepEqual(rotated.json.secret_fingerprints, [keyed(KEY_A, NEWER), keyed(KEY_A, DEST_KEY)]);
    const listed = (await admin("GET", "destinations")).json.destinations.find((d) => d.name === "fp-svc");
    assert.deepEqual(listed.secret_fingerprints, rotated.json.secret_fingerprints);
    printsUnder.A = keyed(KEY_A, DEST_KEY);
  });

  test("a source stored in the old form shows no unkeyed print, to an admin or a viewer, until the sweeper re-keys it", async () => {
    const sealed = seal(KEY_A, "edgehooks:source:old-form", JSON.stringify([TOKEN]));
    const old = JSON.stringify([unkeyed(TOKEN)]);
    await w.worker.all(
      "INSERT INTO registry_sources (name, scheme, spec, secrets, fingerprints, enabled, created_at, updated_at) VALUES ('old-form', 'token', ?, ?, ?, 1, 7, 7)",
      SPEC,
      sealed,
      old,
    );
    const viewer = await admin("POST", "tokens", { name: "fp-viewer-2", role: "viewer" });
    for (const token of [TEST_SECRETS.ADMIN_TOKEN, viewer.json.token]) {
      const one = await admin("GET", "sources/old-form", undefined, token);
      assert.equal(one.status, 200, one.text);
      assert.deepEqual([one.json.secrets, one.json.secret_fingerprints], [1, []], one.text);
      const listed = (await admin("GET", "sources", undefined, token)).json.sources.find((s) => s.name === "old-form");
      assert.deepEqual([listed.secrets, listed.secret_fingerprints], [1, []]);
      assert.ok(!one.text.includes(unkeyed(TOKEN)) && !one.text.includes(TOKEN));
    }
    // The unkeyed print it used to show no longer names its secret in a rotation.
    const byOld = await admin("POST", "sources/old-form/secrets", { add: [NEXT_TOKEN], remove: [unkeyed(TOKEN)] });
    assert.deepEqual([byOld.status, byOld.json.error, byOld.json.field], [400, "invalid_field", "remove"], byOld.text);

    await w.sweep();
    const [row] = await w.worker.all("SELECT secrets, fingerprints, updated_at FROM registry_sources WHERE name = 'old-form'");
    assert.deepEqual([row.secrets, row.fingerprints, row.updated_at], [sealed, JSON.stringify([`k1:${keyed(KEY_A, TOKEN)}`]), 7], "re-keyed in D1, nothing else changed");
    const shown = await admin("GET", "sources/old-form", undefined, viewer.json.token);
    assert.deepEqual(shown.json.secret_fingerprints, [keyed(KEY_A, TOKEN)]);
    await w.sweep();
    assert.equal((await w.worker.all("SELECT fingerprints FROM registry_sources WHERE name = 'old-form'"))[0].fingerprints, row.fingerprints, "a keyed row is left as it is");

    // The keyed print names it: a rotation by it works, and the new secret's print is keyed too.
    const rotated = await admin("POST", "sources/old-form/secrets", { add: [NEXT_TOKEN], remove: [keyed(KEY_A, TOKEN)] });
    assert.equal(rotated.status, 200, rotated.text);
    assert.deepEqual(rotated.json.secret_fingerprints, [keyed(KEY_A, NEXT_TOKEN)]);
    const deliver = (token) => w.worker.post("/webhooks/in/old-form", JSON.stringify({ id: token }), { "X-Token": token });
    assert.equal((await deliver(NEXT_TOKEN)).status, 200);
    assert.equal((await deliver(TOKEN)).status, 401);
  });
});

describe("fingerprints under another SECRETS_KEY", () => {
  const w = useWorld({ vars: { SECRETS_KEY: KEY_B } });
  test("the same destination secret has another fingerprint", async () => {
    const created = await createDestination(w, adminOf(w));
    assert.deepEqual(created.secret_fingerprints, [keyed(KEY_B, DEST_KEY)]);
    assert.ok(printsUnder.A, "the first world ran");
    assert.notEqual(created.secret_fingerprints[0], printsUnder.A);
  });
});

describe("fingerprints without SECRETS_KEY", () => {
  const w = useWorld({});
  test("a destination shows its count and no fingerprint; an old-form source shows none and is left as it is", async () => {
    const admin = adminOf(w);
    const created = await createDestination(w, admin);
    assert.deepEqual([created.secrets, created.secret_fingerprints], [1, []]);
    const old = JSON.stringify([unkeyed(TOKEN)]);
    await w.worker.all(
      "INSERT INTO registry_sources (name, scheme, spec, secrets, fingerprints, enabled, created_at, updated_at) VALUES ('old-plain', 'token', ?, ?, ?, 1, 7, 7)",
      SPEC,
      JSON.stringify([TOKEN]),
      old,
    );
    const one = await admin("GET", "sources/old-plain");
    assert.deepEqual([one.json.secrets, one.json.secret_fingerprints], [1, []], one.text);
    await w.sweep();
    assert.equal((await w.worker.all("SELECT fingerprints FROM registry_sources WHERE name = 'old-plain'"))[0].fingerprints, old, "nothing to key them with");
  });
});
