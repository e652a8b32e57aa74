// Sources added at runtime through the admin API (issue 26), end to end through workerd: the
// committed SDK-generated vectors of every scheme (tests/fixtures/schemes/vectors.json) replayed
// against sources created through `POST /admin/api/sources`; the schemes whose signature covers
// a timestamp or the URL are signed again in this test, by the same rule and SDK the generator
// uses, for the worker's clock and URL. Then a source's life: it receives, dedupes and forwards
// through a connection to an http destination; its secret rotated, old and new verify; disabled,
// it answers 404 source_not_found; a bad scheme config is a 400 naming the field; secrets are in
// no answer, no log line, and not in D1 as plaintext.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { Webhook as StandardWebhook } from "standardwebhooks";
import { sign as octokitSign } from "@octokit/webhooks-methods";
import twilio from "twilio";
import { WebhooksHelper } from "square";
import { Paddle } from "@paddle/paddle-node-sdk";
import { WorkOS } from "@workos-inc/node";
import { useWorld } from "../helpers/world.mjs";
import { TEST_SECRETS, waitFor } from "../helpers/worker.mjs";
import { assertNoPanics } from "../helpers/logs.mjs";

const AUTH = `Bearer ${TEST_SECRETS.ADMIN_TOKEN}`;
const SECRETS_KEY = Buffer.alloc(32, 42).toString("base64");
const { cases } = JSON.parse(readFileSync(new URL("../fixtures/schemes/vectors.json", import.meta.url), "utf8"));
const sha256 = (text) => createHash("sha256").update(text).digest("hex");
const hmac = (alg, key, data, enc) => createHmac(alg, key).update(data).digest(enc);
/** A secret's fingerprint as the worker shows it under SECRETS_KEY (tests/e2e/fingerprints.test.mjs). */
const keyedPrint = (secret) => hmac("sha256", hmac("sha256", Buffer.from(SECRETS_KEY, "base64"), "edgehooks registry secret fingerprint v1"), secret, "hex").slice(0, 12);
// The SDKs' verifiers (no API call is made).
const paddle = new Paddle("pdl_sdbx_apikey_01hv8x2acma2gz8mve4sfj4qta_e2e");
const workos = new WorkOS("sk_test_e2e_0000000000000000");

// Schemes whose vectors replay byte for byte: no timestamp and no URL under the signature.
const TIMED_OR_URL = new Set(["standard-webhooks", "slack", "linear", "calendly", "zoom", "paddle", "workos", "twilio", "square"]);
const replayable = (c) => !TIMED_OR_URL.has(c.scheme) && !(c.config?.timestamp_header || c.config?.signed === "url+body");

describe("registry sources", () => {
  const w = useWorld({ captureLogs: true, vars: { SECRETS_KEY, RETRY_BASE_SECONDS: "0", ALERT_SIGNATURE_FAILURES: "3" } });
  const answers = [];
  const usedSecrets = new Set();
  let made = 0;

  async function admin(method, path, body) {
    const res = await w.worker.mf.dispatchFetch(`http://localhost/admin/api/${path}`, {
      method,
      headers: { authorization: AUTH, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    answers.push(text);
    return { status: res.status, json: text ? JSON.parse(text) : undefined, text };
  }

  /** Create a source (a fresh name unless given); returns its view. */
  async function source({ scheme, config = null, secrets, name, ...rest }) {
    made += 1;
    name ??= `v${made}-${scheme}`;
    const extra = Object.fromEntries(["dedupe", "event_type", "max_body_bytes", "enabled"].filter((k) => k in rest).map((k) => [k, rest[k]]));
    secrets.forEach((s) => usedSecrets.add(s));
    const res = await admin("POST", "sources", { name, scheme, config, secrets, ...extra });
    assert.equal(res.status, 201, res.text);
    return res.json;
  }

  const fromVector = (c) => ({ scheme: c.scheme, config: c.config, secrets: c.secrets });
  const post = (path, body, headers) => w.worker.post(path, body, Object.fromEntries(headers));
  const urlOf = (path) => `http://localhost${path}`;
  const stored = (name) => w.worker.all("SELECT * FROM events WHERE provider = 'in' AND source = ? ORDER BY received_at", name);

  function expectRefused(answer, code, what) {
    assert.equal(answer.status, code === "empty_body" ? 400 : 401, `${what}: ${answer.text}`);
    assert.equal(answer.json.error, code, what);
  }

  test("every committed vector that signs no time and no URL replays through workerd", async () => {
    const replayed = cases.filter(replayable);
    assert.ok(new Set(replayed.map((c) => c.scheme)).size >= 7, "github, typeform, intercom, gitlab, hmac, token, basic");
    for (const c of replayed) {
      const { path, name } = await source(fromVector(c));
      const answer = await post(path, c.body, c.headers);
      if (c.expected.err) {
        expectRefused(answer, c.expected.err, c.name);
        assert.equal((await stored(name)).length, 0, `${c.name}: nothing stored`);
        continue;
      }
      assert.equal(answer.status, 200, `${c.name}: ${answer.text}`);
      const [event] = await stored(name);
      const key = c.expected.ok.dedupe_key ?? `sha256:${sha256(c.body)}`;
      assert.equal(event.dedupe_key, `src:${name}:${key}`, c.name);
      assert.equal(event.type, c.expected.ok.event_type ?? "webhook", c.name);
      assert.equal(event.payload, c.body, c.name);
      if (c.body_signed) {
        const tampered = c.body.replace(/.$/, (ch) => (ch === "}" ? " " : "}"));
        expectRefused(await post(path, tampered, c.headers), "signature_mismatch", `${c.name}, body tampered`);
      }
    }
  });

  // Per scheme signing a time or the URL: the valid vector signed again for now and the
  // worker's URL, accepted; its body, signature and timestamp tampered, refused.
  const now = () => Math.floor(Date.now() / 1000);
  const vector = (name) => cases.find((c) => c.name === name);
  const header = (headers, name) => headers.find(([n]) => n.toLowerCase() === name.toLowerCase())?.[1];
  const replaceHeader = (headers, name, value) => headers.map(([n, v]) => [n, n.toLowerCase() === name.toLowerCase() ? value : v]);
  const withoutHeader = (headers, name) => headers.filter(([n]) => n.toLowerCase() !== name.toLowerCase());

  const signers = {
    "standard-webhooks valid": {
      sign: (c, ts, _url, body) => {
        const id = header(c.headers, "webhook-id");
        const signature = new StandardWebhook(c.secrets[0]).sign(id, new Date(ts * 1000), body);
        return [["webhook-id", id], ["webhook-timestamp", String(ts)], ["webhook-signature", signature], ["content-type", "application/json"]];
      },
      signature: "webhook-signature",
    },
    "slack event callback": {
      sign: (c, ts, _url, body) => [
        ["X-Slack-Request-Timestamp", String(ts)],
        ["X-Slack-Signature", `v0=${hmac("sha256", c.secrets[0], `v0:${ts}:${body}`, "hex")}`],
        ["content-type", "application/json"],
      ],
      signature: "X-Slack-Signature",
    },
    "linear valid": {
      body: (c, ts) => c.body.replace(/"webhookTimestamp":\d+/, `"webhookTimestamp":${ts * 1000}`),
      sign: (c, _ts, _url, body) => replaceHeader(c.headers, "Linear-Signature", hmac("sha256", c.secrets[0], body, "hex")),
      signature: "Linear-Signature",
    },
    "calendly valid": {
      sign: (c, ts, _url, body) => [["Calendly-Webhook-Signature", `t=${ts},v1=${hmac("sha256", c.secrets[0], `${ts}.${body}`, "hex")}`], ["content-type", "application/json"]],
      signature: "Calendly-Webhook-Signature",
    },
    "zoom valid": {
      sign: (c, ts, _url, body) => [
        ["x-zm-request-timestamp", String(ts)],
        ["x-zm-signature", `v0=${hmac("sha256", c.secrets[0], `v0:${ts}:${body}`, "hex")}`],
        ["content-type", "application/json"],
      ],
      signature: "x-zm-signature",
    },
    "paddle valid": {
      sign: (c, ts, _url, body) => [["Paddle-Signature", `ts=${ts};h1=${hmac("sha256", c.secrets[0], `${ts}:${body}`, "hex")}`], ["content-type", "application/json"]],
      check: (c, _url, body, headers) => paddle.webhooks.isSignatureValid(body, c.secrets[0], header(headers, "Paddle-Signature")),
      signature: "Paddle-Signature",
    },
    "workos valid": {
      sign: (c, ts, _url, body) => [["WorkOS-Signature", `t=${ts * 1000}, v1=${hmac("sha256", c.secrets[0], `${ts * 1000}.${body}`, "hex")}`], ["content-type", "application/json"]],
      check: (c, _url, body, headers) => workos.webhooks.verifyHeader({ payload: JSON.parse(body), sigHeader: header(headers, "WorkOS-Signature"), secret: c.secrets[0] }),
      signature: "WorkOS-Signature",
    },
    "hmac sha512 base64 timestamp.body": {
      sign: (c, ts, _url, body) => [["X-Sig", hmac("sha512", c.secrets[0], `${ts}.${body}`, "base64")], ["X-Timestamp", String(ts)], ["content-type", "application/json"]],
      signature: "X-Sig",
    },
    "twilio form post (documentation example)": {
      untimed: true,
      sign: (c, _ts, url, body) => {
        const params = Object.fromEntries(new URLSearchParams(body));
        return replaceHeader(c.headers, "X-Twilio-Signature", twilio.getExpectedTwilioSignature(c.secrets[0], url, params));
      },
      signature: "X-Twilio-Signature",
    },
    "square valid": {
      untimed: true,
      sign: (c, _ts, url, body) => replaceHeader(c.headers, "x-square-hmacsha256-signature", hmac("sha256", c.secrets[0], url + body, "base64")),
      check: (c, url, body, headers) =>
        WebhooksHelper.verifySignature({ requestBody: body, signatureHeader: header(headers, "x-square-hmacsha256-signature"), signatureKey: c.secrets[0], notificationUrl: url }),
      signature: "x-square-hmacsha256-signature",
    },
    "hmac sha1 base64 url+body": {
      untimed: true,
      sign: (c, _ts, url, body) => [["X-Sig", hmac("sha1", c.secrets[0], url + body, "base64")], ["content-type", "application/json"]],
      signature: "X-Sig",
    },
  };

  for (const [caseName, signer] of Object.entries(signers)) {
    test(`${caseName}: signed for the worker's clock and URL, accepted; tampered, refused`, async () => {
      const c = vector(caseName);
      assert.ok(c && c.expected.ok, caseName);
      const { path, name } = await source(fromVector(c));
      const url = urlOf(path);
      const signed = (ts, body = signer.body?.(c, ts) ?? c.body) => ({ body, headers: signer.sign(c, ts, url, body) });
      const fresh = signed(now());
      if (signer.check) assert.ok(await signer.check(c, url, fresh.body, fresh.headers), "the SDK accepts the re-signed delivery");
      const accepted = await post(path, fresh.body, fresh.headers);
      assert.equal(accepted.status, 200, accepted.text);
      assert.equal(accepted.json.status, "accepted");
      const [event] = await stored(name);
      assert.equal(event.type, c.expected.ok.event_type ?? "webhook");
      assert.equal(event.payload, fresh.body);
      // Each later post is signed just before it is sent (the same body), so a scheme's short
      // tolerance (Paddle's 5 s) never depends on how fast this machine runs the test.
      const again = () => ({ body: fresh.body, headers: signer.sign(c, now(), url, fresh.body) });
      // The sender's retry is a duplicate.
      const retry = again();
      assert.equal((await post(path, retry.body, retry.headers)).json.status, "duplicate");

      const forTamper = again();
      const tampered = forTamper.body.replace(/.$/, " ");
      expectRefused(await post(path, tampered, forTamper.headers), "signature_mismatch", "body tampered");
      const forFlip = again();
      const flipped = header(forFlip.headers, signer.signature).replace(/[0-9a-f](?=[^0-9a-f]*$)/, (d) => (d === "0" ? "1" : "0"));
      expectRefused(await post(path, forFlip.body, replaceHeader(forFlip.headers, signer.signature, flipped)), "signature_mismatch", "signature tampered");
      const forMissing = again();
      expectRefused(await post(path, forMissing.body, withoutHeader(forMissing.headers, signer.signature)), "missing_signature", "signature missing");
      if (!signer.untimed) {
        const stale = signed(now() - 3600);
        expectRefused(await post(path, stale.body, stale.headers), "timestamp_out_of_tolerance", "an hour old");
      } else {
        // The URL is signed: the same delivery at another source's URL does not verify.
        const other = await source({ scheme: c.scheme, config: c.config, secrets: c.secrets });
        expectRefused(await post(other.path, fresh.body, fresh.headers), "signature_mismatch", "another URL");
      }
      assert.equal((await stored(name)).length, 1);
    });
  }

  test("Slack's url_verification and Zoom's endpoint.url_validation are answered, not stored", async () => {
    for (const caseName of ["slack url_verification answered", "zoom endpoint.url_validation answered"]) {
      const c = vector(caseName);
      const { path, name } = await source(fromVector(c));
      const ts = now();
      const [tsHeader, sigHeader] = c.scheme === "slack" ? ["X-Slack-Request-Timestamp", "X-Slack-Signature"] : ["x-zm-request-timestamp", "x-zm-signature"];
      const secret = c.secrets[c.expected.ok.key_index];
      const headers = [[tsHeader, String(ts)], [sigHeader, `v0=${hmac("sha256", secret, `v0:${ts}:${c.body}`, "hex")}`], ["content-type", "application/json"]];
      const answer = await post(path, c.body, headers);
      assert.equal(answer.status, 200, answer.text);
      assert.deepEqual(answer.json, c.expected.ok.challenge.body, caseName);
      assert.equal((await stored(name)).length, 0, `${caseName}: nothing stored`);
    }
  });

  test("a source receives, dedupes and forwards to an http destination through a connection", async () => {
    const GH = "gh-e2e-secret-0001";
    const created = await source({ name: "github-main", scheme: "github", secrets: [GH] });
    assert.equal(created.path, "/webhooks/in/github-main");
    assert.equal(created.secrets, 1);
    assert.equal(created.secret_fingerprints.length, 1);
    const receiver = w.fake.receiver("gh-svc");
    const DEST_SECRET = "whsec_" + Buffer.alloc(32, 3).toString("base64");
    usedSecrets.add(DEST_SECRET);
    const dest = await admin("POST", "destinations", { name: "gh-svc", type: "http", url: receiver.url, secret: DEST_SECRET });
    assert.equal(dest.status, 201, dest.text);
    const [destRow] = await w.worker.all("SELECT config FROM destinations WHERE name = 'gh-svc'");
    assert.ok(!destRow.config.includes(DEST_SECRET.slice(6)), "the destination's secret is sealed in D1");
    assert.match(JSON.parse(destRow.config).secrets[0], /^v1:/);
    const conn = await admin("POST", "connections", { name: "gh-issues", source: "in:github-main", types: ["issues.*"], destination: "gh-svc" });
    assert.equal(conn.status, 201, conn.text);

    const body = JSON.stringify({ action: "opened", issue: { number: 7 } });
    const headers = [["X-Hub-Signature-256", await octokitSign(GH, body)], ["X-GitHub-Delivery", "d-0001"], ["X-GitHub-Event", "issues"], ["content-type", "application/json"]];
    const first = await post(created.path, body, headers);
    assert.deepEqual([first.status, first.json.status], [200, "accepted"], first.text);
    const again = await post(created.path, body, headers);
    assert.deepEqual([again.status, again.json.status], [200, "duplicate"]);
    const [call] = await waitFor(() => receiver.calls().length > 0 && receiver.calls(), { what: "delivery to gh-svc" });
    assert.equal(call.body, body);
    assert.equal(call.headers["edgehooks-provider"], "in");
    assert.equal(call.headers["edgehooks-event-type"], "issues.opened");
    // Signed with the secret as given (opened from its sealed form).
    new StandardWebhook(DEST_SECRET).verify(call.body, call.headers);
    const events = await stored("github-main");
    assert.equal(events.length, 1);
    assert.equal(events[0].dedupe_key, "src:github-main:d-0001");
    // A push (not issues.*) is stored but not forwarded.
    const push = JSON.stringify({ ref: "refs/heads/main" });
    const pushHeaders = [["X-Hub-Signature-256", await octokitSign(GH, push)], ["X-GitHub-Delivery", "d-0002"], ["X-GitHub-Event", "push"]];
    assert.equal((await post(created.path, push, pushHeaders)).status, 200);
    assert.equal((await stored("github-main")).length, 2);
    await w.noStepInFlight();
    assert.equal(receiver.calls().length, 1);
    // The event log, bulk replay and the dashboard take these events like any other.
    const list = await admin("GET", "events?provider=in&source=github-main");
    assert.equal(list.status, 200, list.text);
    assert.equal(list.json.events.length, 2, list.text);
    const dry = await admin("POST", "replay", { connection: "gh-issues", dry_run: true });
    assert.equal(dry.status, 200, dry.text);
    assert.equal(dry.json.events, 1, "the connection takes the issues event only");
    assert.deepEqual(dry.json.steps.map((s) => s.name), ["http:gh-svc"]);
    await w.sweep(); // flushes the isolate's tallies
    const metrics = await admin("GET", "metrics?window=1h");
    assert.equal(metrics.json.sources["github-main"].accepted.total, 2, metrics.text);
    assert.equal(metrics.json.sources["github-main"].duplicate.total, 1, metrics.text);
  });

  test("a destination stored with a plaintext secret (before SECRETS_KEY) still signs, and is sealed when next written", async () => {
    const LEGACY = "whsec_" + Buffer.alloc(32, 5).toString("base64");
    usedSecrets.add(LEGACY);
    const receiver = w.fake.receiver("legacy-svc");
    const config = JSON.stringify({ name: "legacy-svc", type: "http", url: receiver.url, secrets: [LEGACY] });
    await w.worker.all(
      "INSERT INTO destinations (name, type, url, config, timeout_ms, paused, created_at, updated_at) VALUES ('legacy-svc', 'http', ?, ?, 10000, 0, 0, 0)",
      receiver.url,
      config,
    );
    const view = await admin("GET", "destinations/legacy-svc");
    assert.equal(view.status, 200, view.text);
    assert.equal(view.json.secrets, 1);
    const [{ id: eventId }] = await w.worker.all("SELECT id FROM events WHERE provider = 'in' LIMIT 1");
    const test = await admin("POST", "destinations/legacy-svc/test", { event_id: eventId });
    assert.equal(test.json.ok, true, test.text);
    const [call] = receiver.calls();
    new StandardWebhook(LEGACY).verify(call.body, call.headers);
    const edited = await admin("PATCH", "destinations/legacy-svc", { timeout_ms: 5000 });
    assert.equal(edited.status, 200, edited.text);
    const [row] = await w.worker.all("SELECT config FROM destinations WHERE name = 'legacy-svc'");
    assert.ok(!row.config.includes(LEGACY.slice(6)), "sealed on the edit");
    assert.equal((await admin("POST", "destinations/legacy-svc/test", { event_id: eventId })).json.ok, true);
    new StandardWebhook(LEGACY).verify(receiver.calls()[1].body, receiver.calls()[1].headers);
  });

  test("a rotation verifies old and new; a disabled source answers 404 source_not_found", async () => {
    const OLD = "token-old-000001";
    const NEW = "token-new-000002";
    const { path, name } = await source({ name: "ops-hook", scheme: "token", config: { header: "X-Token" }, secrets: [OLD] });
    const send = (token, id) => post(path, JSON.stringify({ id }), [["X-Token", token]]);
    assert.equal((await send(OLD, "a")).status, 200);
    expectRefused(await send(NEW, "b"), "signature_mismatch", "the new secret before the rotation");

    const rotating = await admin("POST", `sources/${name}/secrets`, { add: [NEW] });
    usedSecrets.add(NEW);
    assert.equal(rotating.status, 200, rotating.text);
    assert.equal(rotating.json.secrets, 2);
    assert.equal((await send(OLD, "c")).status, 200, "old verifies during the rotation");
    assert.equal((await send(NEW, "d")).status, 200, "new verifies during the rotation");
    const [oldPrint] = rotating.json.secret_fingerprints;
    const done = await admin("POST", `sources/${name}/secrets`, { remove: [oldPrint] });
    assert.equal(done.json.secrets, 1, done.text);
    expectRefused(await send(OLD, "e"), "signature_mismatch", "old after the rotation");
    assert.equal((await send(NEW, "f")).status, 200);

    // Forged deliveries are counted per source (no D1 write on their path), so the
    // signature_failures alert sees them and names the source (ALERT_SIGNATURE_FAILURES=3 here).
    for (const id of ["x1", "x2", "x3"]) expectRefused(await send("wrong-token-000", id), "signature_mismatch", "forged");
    await w.sweep();
    const [alert] = await w.worker.all("SELECT detail FROM alerts WHERE kind = 'signature_failures' AND key = 'in:ops-hook:signature_mismatch'");
    assert.match(alert?.detail ?? "", /registry source ops-hook failed verification \(signature_mismatch\)/);

    const off = await admin("POST", `sources/${name}/disable`);
    assert.equal(off.json.enabled, false, off.text);
    const refused = await send(NEW, "g");
    assert.deepEqual([refused.status, refused.json.error], [404, "source_not_found"]);
    assert.equal((await admin("POST", `sources/${name}/enable`)).json.enabled, true);
    assert.equal((await send(NEW, "h")).status, 200);
    // The source's own body limit; and without the scheme's header the body is never read:
    // past the limit, it is still missing_signature (with the header, 413).
    const tiny = await source({ name: "tiny", scheme: "token", config: { header: "X-Token" }, secrets: [NEW], max_body_bytes: 16 });
    assert.equal(tiny.max_body_bytes, 16);
    const big = JSON.stringify({ id: "x".repeat(64) });
    const unread = await post(tiny.path, big, []);
    assert.deepEqual([unread.status, unread.json.error], [401, "missing_signature"]);
    const read = await post(tiny.path, big, [["X-Token", NEW]]);
    assert.deepEqual([read.status, read.json.error], [413, "payload_too_large"]);
    assert.equal((await post(tiny.path, "{}", [["X-Token", NEW]])).status, 200);
    const unknown = await post("/webhooks/in/no-such-source", "{}", [["X-Token", NEW]]);
    assert.deepEqual([unknown.status, unknown.json.error], [404, "source_not_found"]);
    assert.equal((await w.worker.get("/webhooks/in")).status, 405);
    assert.equal((await post("/webhooks/in", "{}", [])).status, 404);
  });

  test("a stored spec that is JSON but not an object: its webhook is 503 misconfigured, the list leaves it out", async () => {
    const secret = "token-not-an-object-01";
    const { path, name } = await source({ name: "not-an-object", scheme: "token", config: { header: "X-Token" }, secrets: [secret] });
    await source({ name: "still-an-object", scheme: "token", config: { header: "X-Token" }, secrets: [secret] });
    await w.worker.db.prepare("UPDATE registry_sources SET spec = '[]' WHERE name = ?").bind(name).run();
    const res = await post(path, "{}", [["X-Token", secret]]);
    assert.deepEqual([res.status, res.json.error], [503, "misconfigured"], res.text);
    const list = await admin("GET", "sources");
    assert.equal(list.status, 200, list.text);
    assert.ok(list.json.sources.some((s) => s.name === "still-an-object"), "the other sources are listed");
    assert.ok(!list.json.sources.some((s) => s.name === name), "the broken row is left out");
    const invalid = w.worker.logs.filter((l) => l.includes("stored_source_invalid") && l.includes(name));
    assert.ok(invalid.length >= 2, "logged by the webhook and by the list");
    assertNoPanics(w.worker.logs);
  });

  test("bad configurations are 400s naming the field; a taken name is 409", async () => {
    const cases = [
      [{ name: "x1", scheme: "hmac", config: { algorithm: "md5", header: "X-Sig" }, secrets: ["s"] }, "invalid_scheme_config", "config.algorithm"],
      [{ name: "x2", scheme: "github", config: { header: "X" }, secrets: ["s"] }, "invalid_scheme_config", "config.header"],
      [{ name: "x3", scheme: "nope", secrets: ["s"] }, "invalid_scheme_config", "scheme"],
      [{ name: "Bad Name", scheme: "github", secrets: ["s"] }, "invalid_field", "name"],
      [{ name: "x4", scheme: "github", secrets: [] }, "invalid_field", "secrets"],
      [{ name: "x5", scheme: "github", secrets: ["s"], dedupe: { pointer: "id" } }, "invalid_field", "dedupe"],
      [{ name: "x6", scheme: "standard-webhooks", secrets: ["not-a-whsec-key"] }, "invalid_field", "secrets"],
      // A secret that is the sender's credential (token, basic, gitlab) is at least 16 bytes.
      [{ name: "x7", scheme: "token", config: { header: "X-Token" }, secrets: ["fifteen-bytes-x"] }, "weak_secret", "secrets"],
      [{ name: "x8", scheme: "basic", secrets: ["user:short"] }, "weak_secret", "secrets"],
      [{ name: "x9", scheme: "gitlab", secrets: ["glpat-short"] }, "weak_secret", "secrets"],
    ];
    for (const [body, code, field] of cases) {
      const res = await admin("POST", "sources", body);
      assert.equal(res.status, 400, res.text);
      assert.deepEqual([res.json.error, res.json.field], [code, field], JSON.stringify(body));
    }
    const taken = await source({ name: "taken", scheme: "github", secrets: ["s-taken-1"] });
    // A viewer sees a keyed fingerprint: not the secret's plain SHA-256, which a guess could be
    // checked against.
    assert.notEqual(taken.secret_fingerprints[0], sha256("s-taken-1").slice(0, 12));
    assert.deepEqual(taken.secret_fingerprints, [keyedPrint("s-taken-1")]);
    const again = await admin("POST", "sources", { name: "taken", scheme: "github", secrets: ["s-taken-2"] });
    assert.deepEqual([again.status, again.json.error], [409, "name_taken"]);
    const edit = await admin("PATCH", "sources/taken", { config: { prefix: 1 } });
    assert.deepEqual([edit.status, edit.json.error, edit.json.field], [400, "invalid_scheme_config", "config.prefix"]);
    assert.equal((await admin("DELETE", "sources/taken")).status, 200);
    assert.equal((await admin("GET", "sources/taken")).status, 404);
  });

  test("an event type read from the body with a line break is delivered, its header percent-encoded", async () => {
    const SECRET = "tok-crlf-0000001";
    const { path, name } = await source({ name: "crlf-kind", scheme: "token", config: { header: "X-Token" }, secrets: [SECRET], event_type: { pointer: "/kind" } });
    const receiver = w.fake.receiver("crlf-svc");
    const DEST_SECRET = "whsec_" + Buffer.alloc(32, 5).toString("base64");
    usedSecrets.add(DEST_SECRET);
    assert.equal((await admin("POST", "destinations", { name: "crlf-svc", type: "http", url: receiver.url, secret: DEST_SECRET })).status, 201);
    const conn = await admin("POST", "connections", { name: "crlf-all", source: `in:${name}`, destination: "crlf-svc" });
    assert.equal(conn.status, 201, conn.text);
    const body = JSON.stringify({ kind: "a\nb" });
    const answer = await post(path, body, [["X-Token", SECRET], ["content-type", "application/json"]]);
    assert.deepEqual([answer.status, answer.json.status], [200, "accepted"], answer.text);
    const [call] = await waitFor(() => receiver.calls().length > 0 && receiver.calls(), { what: "delivery to crlf-svc" });
    assert.equal(call.headers["edgehooks-event-type"], "a%0Ab");
    new StandardWebhook(DEST_SECRET).verify(call.body, call.headers);
    await w.noStepInFlight();
    const [event] = await stored(name);
    assert.equal(event.type, "a\nb", "the event keeps its type as read");
    const steps = await w.worker.all("SELECT name, status FROM steps WHERE event_id = ?", event.id);
    assert.deepEqual(steps.map((s) => [s.name, s.status]), [["http:crlf-svc", "succeeded"]]);
  });

  test("an edit of a source's settings applies to the next delivery; a bad field is a 400 naming it; viewers and operators are 403", async () => {
    const SECRET = "tok-edit-0000001";
    const { path, name } = await source({ name: "edit-me", scheme: "token", config: { header: "X-Token" }, secrets: [SECRET], dedupe: { pointer: "/id" } });
    const send = (body, headers = []) => post(path, JSON.stringify(body), [["X-Token", SECRET], ...headers]);
    assert.equal((await send({ id: "e1", kind: "a.b" })).status, 200);
    const edited = await admin("PATCH", `sources/${name}`, { event_type: { header: "X-Kind" }, max_body_bytes: 4096 });
    assert.equal(edited.status, 200, edited.text);
    assert.deepEqual([edited.json.event_type, edited.json.dedupe, edited.json.max_body_bytes], [{ header: "X-Kind" }, { pointer: "/id" }, 4096]);
    assert.deepEqual((await admin("GET", `sources/${name}`)).json.event_type, { header: "X-Kind" });
    assert.equal((await send({ id: "e2" }, [["X-Kind", "order.paid"]])).status, 200);
    assert.deepEqual(
      (await stored(name)).map((e) => [e.dedupe_key, e.type]),
      [["src:edit-me:e1", "webhook"], ["src:edit-me:e2", "order.paid"]],
    );
    const big = await send({ id: "e3", pad: "x".repeat(5000) }, [["X-Kind", "order.paid"]]);
    assert.deepEqual([big.status, big.json.error], [413, "payload_too_large"]);

    // The scheme's config: the token moves to another header, behind a prefix.
    const moved = await admin("PATCH", `sources/${name}`, { config: { header: "X-Auth", prefix: "Bearer " } });
    assert.equal(moved.status, 200, moved.text);
    assert.deepEqual(moved.json.config, { header: "X-Auth", prefix: "Bearer " });
    assert.ok(!moved.text.includes(SECRET), "the answer has fingerprints only");
    assert.deepEqual(moved.json.secret_fingerprints, edited.json.secret_fingerprints);
    const oldHeader = await send({ id: "e4" }, [["X-Kind", "order.paid"]]);
    assert.equal(oldHeader.status, 401, oldHeader.text);
    const newHeader = await post(path, JSON.stringify({ id: "e5" }), [["X-Auth", `Bearer ${SECRET}`], ["X-Kind", "order.paid"]]);
    assert.equal(newHeader.status, 200, newHeader.text);
    assert.deepEqual((await stored(name)).map((e) => e.dedupe_key), ["src:edit-me:e1", "src:edit-me:e2", "src:edit-me:e5"]);

    for (const [change, code, field] of [
      [{ event_type: { pointer: "kind" } }, "invalid_field", "event_type"],
      [{ dedupe: { header: "bad header" } }, "invalid_field", "dedupe"],
      [{ max_body_bytes: 0 }, "invalid_field", "max_body_bytes"],
      [{ name: "renamed" }, "invalid_field", "name"],
      [{ colour: "red" }, "invalid_field", "colour"],
      [{ config: { header: "X-Auth", prefix: 5 }, max_body_bytes: 100 }, "invalid_scheme_config", "config.prefix"],
    ]) {
      const refused = await admin("PATCH", `sources/${name}`, change);
      assert.deepEqual([refused.status, refused.json.error, refused.json.field], [400, code, field], JSON.stringify(change));
    }
    const after = await admin("GET", `sources/${name}`);
    assert.deepEqual(
      [after.json.event_type, after.json.max_body_bytes, after.json.config],
      [{ header: "X-Kind" }, 4096, { header: "X-Auth", prefix: "Bearer " }],
      "a refused edit changes nothing",
    );
    assert.equal((await admin("PATCH", "sources/no-such-source", { enabled: false })).status, 404);

    for (const role of ["viewer", "operator"]) {
      const minted = await admin("POST", "tokens", { name: `edit-${role}`, role });
      assert.equal(minted.status, 201, minted.text);
      for (const method of ["PATCH", "PUT"]) {
        const res = await w.worker.mf.dispatchFetch(`http://localhost/admin/api/sources/${name}`, {
          method,
          headers: { authorization: `Bearer ${minted.json.token}`, "content-type": "application/json" },
          body: JSON.stringify({ event_type: null }),
        });
        assert.deepEqual([res.status, (await res.json()).error], [403, "forbidden_role"], `${role} ${method}`);
      }
    }
    assert.deepEqual((await admin("GET", `sources/${name}`)).json.event_type, { header: "X-Kind" });
    const audited = await w.worker.all("SELECT role, action, status FROM admin_audit WHERE target = ? AND action LIKE 'P%' ORDER BY id", name);
    assert.ok(audited.some((a) => a.status === 200 && a.action === "PATCH sources/{name}"), JSON.stringify(audited));
    assert.ok(audited.some((a) => a.status === 400), JSON.stringify(audited));
    assert.equal(audited.filter((a) => a.status === 403).length, 4, JSON.stringify(audited));
  });

  test("plaintext secrets at rest (an install from before SECRETS_KEY) are sealed by the cron sweeper, still sign and verify, and the health warning goes", async () => {
    const NEWEST = "whsec_" + Buffer.alloc(32, 8).toString("base64");
    const OLDER = "whsec_" + Buffer.alloc(32, 9).toString("base64");
    const TOKEN = "tok-plain-at-rest-01";
    usedSecrets.add(NEWEST).add(OLDER).add(TOKEN);
    const receiver = w.fake.receiver("old-install");
    // The rows as the code before sealing wrote them: secrets as given.
    const config = JSON.stringify({ name: "old-install", type: "http", url: receiver.url, secrets: [NEWEST, OLDER] });
    await w.worker.all(
      "INSERT INTO destinations (name, type, url, config, timeout_ms, paused, created_at, updated_at) VALUES ('old-install', 'http', ?, ?, 10000, 0, 7, 7)",
      receiver.url,
      config,
    );
    const spec = JSON.stringify({ scheme: "token", config: { header: "X-Token" }, dedupe: { pointer: "/id" }, event_type: null, max_body_bytes: null, enabled: true });
    const print = createHash("sha256").update(TOKEN).digest("hex").slice(0, 12);
    await w.worker.all(
      "INSERT INTO registry_sources (name, scheme, spec, secrets, fingerprints, enabled, created_at, updated_at) VALUES ('old-source', 'token', ?, ?, ?, 1, 7, 7)",
      spec,
      JSON.stringify([TOKEN]),
      JSON.stringify([print]),
    );
    const warnings = async () => (await admin("GET", "health")).json.warnings;
    assert.deepEqual(await warnings(), [
      { affects: "secrets_at_rest", setting: "SECRETS_KEY", key: "set", plaintext: { destinations: 1, sources: 1 } },
    ]);
    const fingerprints = (await admin("GET", "destinations/old-install")).json.secret_fingerprints;
    // Keyed, from the plaintext secrets as from sealed ones.
    assert.deepEqual(fingerprints, [NEWEST, OLDER].map((s) => keyedPrint(Buffer.from(s.slice(6), "base64"))));
    // Written before keyed fingerprints: its unkeyed print is not shown, its count is.
    const before = (await admin("GET", "sources/old-source")).json;
    assert.deepEqual([before.secrets, before.secret_fingerprints], [1, []]);
    const deliver = (id) => post("/webhooks/in/old-source", JSON.stringify({ id }), [["X-Token", TOKEN]]);
    assert.equal((await deliver("before")).status, 200, "a plaintext source verifies as it did");

    await w.sweep();
    const [row] = await w.worker.all("SELECT config, updated_at FROM destinations WHERE name = 'old-install'");
    const sealed = JSON.parse(row.config);
    assert.equal(sealed.secrets.length, 2);
    for (const secret of sealed.secrets) assert.match(secret, /^v1:[A-Za-z0-9+/=]+$/);
    for (const secret of [NEWEST, OLDER]) assert.ok(!row.config.includes(secret.slice(6)), "no plaintext in D1");
    assert.equal(row.updated_at, 7, "the settings did not change");
    assert.deepEqual({ ...sealed, secrets: undefined }, { ...JSON.parse(config), secrets: undefined });
    const [source] = await w.worker.all("SELECT secrets, fingerprints, updated_at FROM registry_sources WHERE name = 'old-source'");
    assert.match(source.secrets, /^v1:[A-Za-z0-9+/=]+$/);
    assert.ok(!source.secrets.includes(TOKEN));
    // The same tick re-keyed its fingerprints from the secrets it sealed.
    assert.deepEqual([source.fingerprints, source.updated_at], [JSON.stringify([`k1:${keyedPrint(TOKEN)}`]), 7]);
    assert.deepEqual((await admin("GET", "sources/old-source")).json.secret_fingerprints, [keyedPrint(TOKEN)]);
    assert.deepEqual(await warnings(), [], "nothing left to warn about");
    assert.deepEqual((await admin("GET", "destinations/old-install")).json.secret_fingerprints, fingerprints, "the same secrets, in order");
    // Another tick leaves sealed rows as they are.
    await w.sweep();
    assert.equal((await w.worker.all("SELECT config FROM destinations WHERE name = 'old-install'"))[0].config, row.config);
    assert.equal((await w.worker.all("SELECT secrets FROM registry_sources WHERE name = 'old-source'"))[0].secrets, source.secrets);

    // An edit opens the row the sweeper sealed (a 500 if it did not open) and makes the isolate
    // forget its cached copy; the next delivery verifies against the row read again.
    const reopened = await admin("PATCH", "sources/old-source", { event_type: { header: "X-Kind" } });
    assert.equal(reopened.status, 200, reopened.text);
    // Written again: its fingerprint is keyed, the same as the sweeper's.
    assert.deepEqual(reopened.json.secret_fingerprints, [keyedPrint(TOKEN)]);
    assert.equal((await deliver("after")).status, 200, "the sealed source verifies");
    assert.equal((await post("/webhooks/in/old-source", JSON.stringify({ id: "x" }), [["X-Token", "tok-wrong"]])).status, 401);
    const [{ id: eventId }] = await w.worker.all("SELECT id FROM events WHERE provider = 'in' AND source = 'old-source' LIMIT 1");
    const test = await admin("POST", "destinations/old-install/test", { event_id: eventId });
    assert.equal(test.json.ok, true, test.text);
    const [call] = receiver.calls();
    // Signed with both original secrets, each verifying on its own.
    new StandardWebhook(NEWEST).verify(call.body, call.headers);
    new StandardWebhook(OLDER).verify(call.body, call.headers);
    // The unkeyed print the row held names nothing in a rotation; the keyed one does.
    const NEXT = "tok-plain-at-rest-02";
    usedSecrets.add(NEXT);
    const byUnkeyed = await admin("POST", "sources/old-source/secrets", { add: [NEXT], remove: [print] });
    assert.deepEqual([byUnkeyed.status, byUnkeyed.json.field], [400, "remove"], byUnkeyed.text);
    const rotated = await admin("POST", "sources/old-source/secrets", { add: [NEXT], remove: [keyedPrint(TOKEN)] });
    assert.equal(rotated.status, 200, rotated.text);
    assert.equal(rotated.json.secret_fingerprints.length, 1);
    assert.equal((await deliver("old token")).status, 401);
  });

  test("secrets are in no answer, no log line, and not plaintext in D1", async () => {
    const list = await admin("GET", "sources");
    assert.equal(list.status, 200);
    assert.ok(list.json.sources.length > 10);
    const rows = await w.worker.all("SELECT name, secrets, fingerprints FROM registry_sources");
    const logs = w.worker.logs.join("\n");
    const everything = answers.join("\n");
    for (const secret of usedSecrets) {
      if (secret.length < 6) continue;
      assert.ok(!everything.includes(secret), `an answer holds a secret`);
      assert.ok(!logs.includes(secret), `a log line holds a secret`);
      for (const row of rows) assert.ok(!row.secrets.includes(secret), `${row.name}: plaintext secret in D1`);
    }
    for (const row of rows) assert.match(row.secrets, /^v1:[A-Za-z0-9+/=]+$/, row.name);
    const health = await admin("GET", "health");
    assert.deepEqual(health.json.registry, { state: "enabled", setting: "SECRETS_KEY" });
  });
});

describe("registry sources without SECRETS_KEY", () => {
  const w = useWorld({});
  test("creating a source is refused and the admin health names the setting", async () => {
    const res = await w.worker.mf.dispatchFetch("http://localhost/admin/api/sources", {
      method: "POST",
      headers: { authorization: AUTH, "content-type": "application/json" },
      body: JSON.stringify({ name: "gh", scheme: "github", secrets: ["s-123456"] }),
    });
    const json = await res.json();
    assert.deepEqual([res.status, json.error], [409, "secrets_key_unset"]);
    assert.match(json.detail, /SECRETS_KEY/);
    const health = await w.worker.get("/admin/api/health", { authorization: AUTH });
    assert.deepEqual(health.json.registry, { state: "disabled", setting: "SECRETS_KEY" });
  });

  test("a destination is still created (its secret stored as given), and the admin health warns", async () => {
    const SECRET = "whsec_" + Buffer.alloc(32, 6).toString("base64");
    const health = async () => (await w.worker.get("/admin/api/health", { authorization: AUTH })).json;
    const warning = (destinations) => [{ affects: "secrets_at_rest", setting: "SECRETS_KEY", key: "unset", plaintext: { destinations, sources: 0 } }];
    assert.deepEqual((await health()).warnings, warning(0), "the key unset is a warning on its own");
    const res = await w.worker.mf.dispatchFetch("http://localhost/admin/api/destinations", {
      method: "POST",
      headers: { authorization: AUTH, "content-type": "application/json" },
      body: JSON.stringify({ name: "keyless", type: "http", url: w.fake.receiver("keyless").url, secret: SECRET }),
    });
    assert.equal(res.status, 201, await res.text());
    const after = await health();
    assert.deepEqual(after.warnings, warning(1));
    assert.ok(!JSON.stringify(after).includes(SECRET) && !JSON.stringify(after).includes("keyless"), "names no secret and no destination");
    assert.deepEqual(after.misconfigured, [], "a warning, not a misconfiguration");
    await w.sweep();
    const [row] = await w.worker.all("SELECT config FROM destinations WHERE name = 'keyless'");
    assert.deepEqual(JSON.parse(row.config).secrets, [SECRET], "without the key the sweeper leaves it");
  });
});
