// Hostile and malformed input through workerd: oversized bodies (declared and streamed without a
// length), invalid UTF-8, deeply nested JSON, huge headers, wrong content types, unknown
// providers, paths and methods. Each gets a clear 4xx with a stable code, nothing is stored but
// the rejection count (and, per docs/contract.md, a delivery that *verified* but cannot be parsed is kept
// as `rejected` for admins), and the isolate never panics or resets (checked on workerd's
// captured output). Last, the secret hygiene check for the whole file: no configured secret or
// token in any log line or in any admin or error response.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { startWorker, TEST_SECRETS } from "../helpers/worker.mjs";
import { checkoutCompleted, signedDelivery } from "../helpers/stripe.mjs";
import { sendgridKeys, shopifyDelivery } from "../helpers/providers.mjs";
import { assertCaptured, assertNoPanics, assertNoSecrets } from "../helpers/logs.mjs";
import { sendgridHeaders, shopifyHmac, stripeBytesSignature } from "../../scripts/sign.mjs";

const [STRIPE_SECRET] = TEST_SECRETS.STRIPE_WEBHOOK_SECRETS.split(",");
const [SHOPIFY_SECRET] = TEST_SECRETS.SHOPIFY_WEBHOOK_SECRETS.split(",");
const MAX = 1024 * 1024; // wrangler.toml's MAX_BODY_BYTES

/** Stripe headers for raw bytes (the SDK signs strings; invalid UTF-8 needs the raw HMAC). */
function stripeSignedBytes(bytes, contentType = "application/json") {
  return { "content-type": contentType, "stripe-signature": stripeBytesSignature(bytes, STRIPE_SECRET) };
}

function sendgridSignedBytes(bytes) {
  return { "content-type": "application/json", ...sendgridHeaders(bytes, sendgridKeys.privateKey) };
}

describe("abuse", () => {
  let worker;
  let baseline;
  let isolateBefore;
  let sent = 0; // requests made through `send` after isolateBefore
  const responses = []; // every response body, for the secret check
  const isolate = async () => {
    const res = await worker.get("/admin/api/stats", { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}` });
    return res.json.isolate;
  };
  const counts = async () =>
    Object.fromEntries(
      await Promise.all(
        ["events", "steps", "attempts"].map(async (t) => [t, (await worker.all(`SELECT COUNT(*) AS n FROM ${t}`))[0].n]),
      ),
    );
  const rejectedRows = () => worker.all("SELECT provider, error, payload_bytes FROM events WHERE status = 'rejected'");
  // The admin page's files are answered by Static Assets (any method) without running the worker.
  const servedByAssets = (path) => path === "/admin" || /^\/admin\/[\w-]+\.(js|css)$/.test(path);
  const send = async (path, body, headers = {}, method = "POST") => {
    if (!servedByAssets(path)) sent += 1;
    const res = await worker.mf.dispatchFetch(`http://localhost${path}`, { method, body, headers });
    const text = await res.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch {}
    responses.push(text);
    return { status: res.status, headers: res.headers, json, text };
  };

  before(async () => {
    worker = await startWorker({ captureLogs: true });
    baseline = await counts();
    isolateBefore = await isolate();
  });
  after(async () => worker?.dispose());

  test("a body over MAX_BODY_BYTES with Content-Length is 413 at once", async () => {
    const big = Buffer.alloc(2 * MAX, 0x20);
    const started = Date.now();
    const res = await send("/webhooks/stripe", big, stripeSignedBytes(big));
    assert.deepEqual([res.status, res.json], [413, { error: "payload_too_large", limit: MAX }]);
    assert.ok(Date.now() - started < 5000);
  });

  test("a streamed body with no length is cut off at the limit, not buffered to the end", async () => {
    // Raw node:http on a fresh connection: chunked upload of up to 64 MiB, 64 KiB at a time,
    // with backpressure, so `sent` is what the worker actually pulled (plus socket buffers).
    const url = await worker.mf.ready;
    const started = Date.now();
    const { status, body, sent } = await new Promise((resolve, reject) => {
      let sent = 0;
      let answered = false;
      const req = http.request(
        { host: url.hostname, port: url.port, path: "/webhooks/stripe", method: "POST", agent: false,
          headers: { "content-type": "application/json", "stripe-signature": "t=1,v1=00", "transfer-encoding": "chunked" } },
        (res) => {
          answered = true;
          let body = "";
          res.on("data", (d) => (body += d));
          res.on("end", () => resolve({ status: res.statusCode, body, sent }));
        },
      );
      // The server closing the upload after answering is expected; before answering it is not.
      req.on("error", (error) => answered || reject(error));
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const pump = () => {
        while (!answered && sent < 64 * MAX) {
          sent += chunk.length;
          if (!req.write(chunk)) return void req.once("drain", pump);
        }
        req.end();
      };
      pump();
    });
    const elapsed = Date.now() - started;
    assert.equal(status, 413, body);
    assert.deepEqual(JSON.parse(body), { error: "payload_too_large", limit: MAX });
    assert.ok(sent < 16 * MAX, `the worker stopped reading early (client wrote ${sent} of ${64 * MAX} bytes)`);
    assert.ok(elapsed < 10_000, `answered in ${elapsed} ms`);
  });

  test("invalid UTF-8: unsigned is 401 and unstored; signed is 400 invalid_json and kept as rejected", async () => {
    const bytes = Buffer.concat([Buffer.from('{"id":"evt_bad_utf8","type":"x","name":"'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}')]);
    const forged = await send("/webhooks/stripe", bytes, { "content-type": "application/json", "stripe-signature": "t=1,v1=" + "0".repeat(64) });
    assert.equal(forged.status, 401);
    const before = (await rejectedRows()).length;
    const signed = await send("/webhooks/stripe", bytes, stripeSignedBytes(bytes));
    assert.deepEqual([signed.status, signed.json?.error], [400, "invalid_json"]);
    const sg = await send("/webhooks/sendgrid", bytes, sendgridSignedBytes(bytes));
    assert.deepEqual([sg.status, sg.json?.error], [400, "invalid_json"]);
    const shop = shopifyDelivery("x", SHOPIFY_SECRET);
    shop.headers["x-shopify-hmac-sha256"] = shopifyHmac(bytes, SHOPIFY_SECRET);
    const shopRes = await send("/webhooks/shopify", bytes, shop.headers);
    assert.deepEqual([shopRes.status, shopRes.json?.error], [400, "invalid_json"]);
    assert.equal((await rejectedRows()).length, before + 3, "each verified-but-unparsable delivery kept once");
  });

  test("deeply nested JSON is a 400, not a stack overflow", async () => {
    const depth = 100_000;
    const deep = (open, close) => open.repeat(depth) + close.repeat(depth);
    const stripeBody = Buffer.from(`{"id":"evt_deep","type":"charge.succeeded","data":${deep("[", "]")}}`);
    const a = await send("/webhooks/stripe", stripeBody, stripeSignedBytes(stripeBody));
    assert.deepEqual([a.status, a.json?.error], [400, "invalid_json"]);
    const sgBody = Buffer.from(`[{"sg_event_id":"sg_deep","event":"open","x":${deep('{"a":', "}").replace(/\}$/, "1}")}}]`);
    const b = await send("/webhooks/sendgrid", sgBody, sendgridSignedBytes(sgBody));
    assert.equal(b.status, 400, b.text);
    const shopBody = Buffer.from(`{"id":1,"x":${deep("[", "]")}}`);
    const shop = shopifyDelivery(shopBody.toString(), SHOPIFY_SECRET);
    const c = await send("/webhooks/shopify", shopBody, shop.headers);
    assert.deepEqual([c.status, c.json?.error], [400, "invalid_json"]);
    // Nesting just within serde_json's limit still parses and is accepted.
    const ok = checkoutCompleted();
    ok.data.object.metadata = JSON.parse("[".repeat(100) + "]".repeat(100));
    const d = signedDelivery(ok, STRIPE_SECRET);
    assert.equal((await send("/webhooks/stripe", d.payload, d.headers)).status, 200);
  });

  test("huge headers: a 60 KB signature header is a fast 401; oversized header blocks are refused", async (t) => {
    const event = checkoutCompleted();
    const payload = JSON.stringify(event);
    const manyV1 = `t=${Math.floor(Date.now() / 1000)},` + Array.from({ length: 900 }, () => `v1=${"ab".repeat(32)}`).join(",");
    const started = Date.now();
    const res = await send("/webhooks/stripe", payload, { "content-type": "application/json", "stripe-signature": manyV1 });
    assert.deepEqual([res.status, res.json], [401, { error: "signature_mismatch" }]);
    assert.ok(Date.now() - started < 2000);

    const padded = { ...signedDelivery(event, STRIPE_SECRET).headers };
    for (let i = 0; i < 100; i += 1) padded[`x-pad-${i}`] = "p".repeat(1000);
    const many = await send("/webhooks/stripe", payload, padded);
    assert.equal(many.status, 200, "100 KB of extra headers on a valid delivery: still accepted");

    let status;
    try {
      status = (await send("/webhooks/stripe", payload, { ...signedDelivery(event, STRIPE_SECRET).headers, "x-huge": "h".repeat(1024 * 1024) })).status;
    } catch (error) {
      status = `refused before the worker: ${error.cause?.code ?? error.message}`;
    }
    t.diagnostic(`a 1 MiB header: ${status}`);
    assert.ok(typeof status === "string" || (status >= 400 && status < 500), String(status));
  });

  test("content types: the signature, not Content-Type, decides; non-JSON bodies are clear 4xx", async () => {
    const event = checkoutCompleted();
    const { payload, headers } = signedDelivery(event, STRIPE_SECRET);
    // Content-Type is not signed; refusing authentic bytes for it would only lose events.
    const textPlain = await send("/webhooks/stripe", payload, { ...headers, "content-type": "text/plain" });
    assert.deepEqual(textPlain.json, { status: "accepted", events: 1, duplicates: 0 });

    const form = Buffer.from("id=evt_form&type=charge.succeeded");
    const unsignedForm = await send("/webhooks/stripe", form, { "content-type": "application/x-www-form-urlencoded" });
    assert.deepEqual([unsignedForm.status, unsignedForm.json], [401, { error: "missing_signature" }]);
    const signedForm = await send("/webhooks/stripe", form, stripeSignedBytes(form, "application/x-www-form-urlencoded"));
    assert.deepEqual([signedForm.status, signedForm.json?.error], [400, "invalid_json"]);
    const multipart = Buffer.from('--b\r\nContent-Disposition: form-data; name="x"\r\n\r\n1\r\n--b--\r\n');
    const mp = await send("/webhooks/sendgrid", multipart, { "content-type": "multipart/form-data; boundary=b" });
    assert.deepEqual([mp.status, mp.json], [401, { error: "missing_signature" }]);
    const empty = await send("/webhooks/stripe", "", { "content-type": "application/json" });
    assert.deepEqual([empty.status, empty.json], [400, { error: "empty_body" }]);
  });

  test("unknown providers and paths are 404, wrong methods 405 with Allow", async () => {
    for (const path of ["/webhooks/paypal", "/webhooks/", "/webhooks", "/webhooks/stripe/extra/more", "/webhooks/Stripe", "/webhooks/stripe%00", "/webhooks/..%2fadmin", "/"]) {
      const res = await send(path, "{}", { "content-type": "application/json" });
      assert.deepEqual([path, res.status, res.json], [path, 404, { error: "not_found" }]);
    }
    // A third segment names a source: none is declared here.
    for (const path of ["/webhooks/stripe/extra", "/webhooks/stripe/", "/webhooks/stripe/..%2fadmin"]) {
      const res = await send(path, "{}", { "content-type": "application/json" });
      assert.deepEqual([path, res.status, res.json], [path, 404, { error: "source_not_found" }]);
    }
    for (const method of ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "PURGE"]) {
      const res = await send("/webhooks/stripe", method === "GET" || method === "OPTIONS" ? undefined : "{}", {}, method);
      assert.deepEqual([method, res.status, res.json], [method, 405, { error: "method_not_allowed" }]);
      assert.equal(res.headers.get("allow"), "POST");
    }
    const head = await send("/webhooks/shopify", undefined, {}, "HEAD");
    assert.equal(head.status, 405);
    // Every 405 names the methods of the route it came from.
    const auth = { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}` };
    for (const [path, method, allow] of [
      ["/health", "POST", "GET, HEAD"],
      ["/health", "DELETE", "GET, HEAD"],
      ["/admin", "POST", "GET, HEAD"],
      ["/admin/admin.js", "PUT", "GET, HEAD"],
      ["/admin/api/stats", "POST", "GET, HEAD"],
      ["/admin/api/events/evt_x", "DELETE", "GET, HEAD"],
      ["/admin/api/rejections", "POST", "GET, HEAD"],
      ["/admin/api/redrive", "GET", "POST"],
      ["/admin/api/replay", "GET", "POST"],
      ["/admin/api/events/evt_x/replay", "GET", "POST"],
      // A method outside the ones the router knows is refused, never taken for GET.
      ["/health", "PURGE", "GET, HEAD"],
      ["/metrics", "PURGE", "GET, HEAD"],
      ["/admin", "PURGE", "GET, HEAD"],
      ["/admin/admin.js", "PURGE", "GET, HEAD"],
      ["/admin/api/stats", "PURGE", "GET, HEAD"],
      ["/admin/api/events", "PROPFIND", "GET, HEAD"],
      ["/admin/api/redrive", "PURGE", "POST"],
      ["/admin/api/tokens", "PURGE", "GET, POST"],
      ["/admin/api/destinations/d", "COPY", "GET, POST, PUT, PATCH, DELETE"],
    ]) {
      const res = await send(path, method === "GET" ? undefined : "{}", auth, method);
      assert.deepEqual([path, method, res.status, res.headers.get("allow")], [path, method, 405, allow]);
      if (!servedByAssets(path)) assert.deepEqual(res.json, { error: "method_not_allowed" }, `${method} ${path}`);
    }
  });

  test("nothing stored but rejection counts and verified-but-unparsable deliveries", async () => {
    const now = await counts();
    const rejected = await rejectedRows();
    // Accepted: the text/plain delivery and the 100-deep metadata (2 steps each), and the one
    // with 100 KB of extra headers. Rejected-but-kept: 3 invalid UTF-8, 3 deep, 1 signed form.
    assert.equal(now.events - baseline.events, 3 + rejected.length);
    assert.equal(rejected.length, 7, JSON.stringify(rejected));
    assert.ok(rejected.every((r) => r.error === "invalid_json"), JSON.stringify(rejected));
    assert.equal(now.steps - baseline.steps, 3 * 2);
    await (await worker.mf.getWorker()).scheduled({ cron: "* * * * *" }); // writes the isolate's tally
    const reasons = await worker.all("SELECT provider, reason, SUM(count) AS n FROM rejections GROUP BY provider, reason ORDER BY provider, reason");
    assert.ok(reasons.some((r) => r.provider === "stripe" && r.reason === "signature_mismatch" && r.n >= 2), JSON.stringify(reasons));
    assert.ok(reasons.some((r) => r.reason === "missing_signature"), JSON.stringify(reasons));
  });

  test("no panic, no isolate reset", async () => {
    assertCaptured(worker.logs);
    assertNoPanics(worker.logs);
    // The isolate that answered the first stats request answered every abusive request: a reset
    // would start a new wasm instance, with a new start time and its fetch count back at 1.
    const after = await isolate();
    assert.ok(isolateBefore.started_at_ms > 0, JSON.stringify(isolateBefore));
    assert.equal(after.started_at_ms, isolateBefore.started_at_ms, "the isolate was reset during the abuse suite");
    assert.ok(sent > 20, `the suite sent ${sent} requests`);
    assert.ok(after.fetches - isolateBefore.fetches >= sent, `${after.fetches - isolateBefore.fetches} fetches served, ${sent} sent`);
  });

  test("no secret in any log line, admin or error response", async () => {
    const token = TEST_SECRETS.ADMIN_TOKEN;
    for (const path of ["/admin", "/admin/api/events", "/admin/api/steps?status=dead", "/admin/api/attempts", "/admin/api/dead", "/health"]) {
      for (const auth of [undefined, `Bearer ${token}`, `Bearer ${token}x`, token]) {
        await send(path, undefined, auth ? { authorization: auth } : {}, "GET");
      }
    }
    await send("/admin/api/replay", JSON.stringify({ dry_run: true }), { authorization: `Bearer ${token}`, "content-type": "application/json" });
    assertNoSecrets([...worker.logs, ...responses]);
  });
});

describe("forged requests cost no D1 write", () => {
  let worker;
  before(async () => {
    worker = await startWorker();
  });
  after(async () => worker?.dispose());
  const sweep = async () => (await worker.mf.getWorker()).scheduled({ cron: "* * * * *" });
  const rejectionRows = () =>
    worker.all("SELECT provider, reason, SUM(count) AS n FROM rejections GROUP BY provider, reason ORDER BY provider, reason");

  test("a burst is tallied in memory and written once by the sweeper, with the right totals", async () => {
    const { payload } = signedDelivery(checkoutCompleted(), "whsec_attacker");
    const forged = { "content-type": "application/json", "stripe-signature": `t=${Math.floor(Date.now() / 1000)},v1=${"0".repeat(64)}` };
    const shop = shopifyDelivery('{"id":1}', "shpss_attacker");
    const statuses = [];
    for (let i = 0; i < 30; i += 1) statuses.push((await worker.post("/webhooks/stripe", payload, forged)).status);
    for (let i = 0; i < 10; i += 1) statuses.push((await worker.post("/webhooks/shopify", shop.payload, shop.headers)).status);
    for (let i = 0; i < 5; i += 1) statuses.push((await worker.post("/webhooks/hubspot", "[]", { "content-type": "application/json" })).status);
    assert.ok(statuses.every((s) => s === 401), JSON.stringify(statuses));
    assert.deepEqual(await rejectionRows(), [], "no request wrote to D1");
    assert.deepEqual(await worker.all("SELECT COUNT(*) AS n FROM events"), [{ n: 0 }]);

    await sweep();
    assert.deepEqual(await rejectionRows(), [
      { provider: "hubspot", reason: "missing_signature", n: 5 },
      { provider: "shopify", reason: "signature_mismatch", n: 10 },
      { provider: "stripe", reason: "signature_mismatch", n: 30 },
    ]);
    await sweep();
    assert.equal((await rejectionRows()).reduce((sum, r) => sum + r.n, 0), 45, "a second sweep writes nothing twice");

    const view = await worker.get("/admin/api/rejections?hours=1", { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}` });
    assert.equal(view.json.total, 45, view.text);
    assert.deepEqual(
      view.json.rejections.map((r) => [r.provider, r.reason, r.count]),
      [["stripe", "signature_mismatch", 30], ["shopify", "signature_mismatch", 10], ["hubspot", "missing_signature", 5]],
    );
  });

  test("a request without the signature header is refused before its body is read", { timeout: 20_000 }, async () => {
    // A chunked upload that never ends: the worker must answer without waiting for the body.
    const url = await worker.mf.ready;
    const { status, body } = await new Promise((resolve, reject) => {
      const req = http.request(
        { host: url.hostname, port: url.port, path: "/webhooks/stripe", method: "POST", agent: false,
          headers: { "content-type": "application/json", "transfer-encoding": "chunked" } },
        (res) => {
          let text = "";
          res.on("data", (d) => (text += d));
          res.on("end", () => {
            req.destroy();
            resolve({ status: res.statusCode, body: text });
          });
        },
      );
      req.on("error", (error) => (error.code === "ECONNRESET" ? undefined : reject(error)));
      req.write('{"id":"evt_never_ending","data":[');
    });
    assert.deepEqual([status, JSON.parse(body)], [401, { error: "missing_signature" }]);
    for (const [provider, header] of [["sendgrid", "x-twilio-email-event-webhook-signature"], ["shopify", "x-shopify-hmac-sha256"], ["hubspot", "x-hubspot-signature-v3"]]) {
      const unsigned = await worker.post(`/webhooks/${provider}`, "[{}]", { "content-type": "application/json" });
      assert.deepEqual([provider, unsigned.status, unsigned.json], [provider, 401, { error: "missing_signature" }]);
      const blank = await worker.post(`/webhooks/${provider}`, "[{}]", { [header]: " " });
      assert.deepEqual([provider, blank.status, blank.json], [provider, 401, { error: "missing_signature" }]);
    }
  });
});

describe("misconfiguration errors never echo the secret", () => {
  test("a malformed secret list is a 503 naming the setting, not its value", async () => {
    const leaky = "whsec_should_never_be_echoed_1234";
    const worker = await startWorker({
      captureLogs: true,
      vars: {
        STRIPE_WEBHOOK_SECRETS: `${leaky},,whsec_other_secret_5678`,
        SENDGRID_WEBHOOK_PUBLIC_KEYS: "not-base64-but-secretish-value!!",
      },
    });
    try {
      const stripe = await worker.post("/webhooks/stripe", "{}", { "stripe-signature": "t=1,v1=00" });
      assert.equal(stripe.status, 503);
      assert.equal(stripe.json.error, "misconfigured");
      assert.match(stripe.json.detail, /STRIPE_WEBHOOK_SECRETS/);
      const sg = await worker.post("/webhooks/sendgrid", "[]", {});
      assert.equal(sg.status, 503);
      assert.match(sg.json.detail, /SENDGRID_WEBHOOK_PUBLIC_KEYS/);
      assertNoSecrets([...worker.logs, stripe.text, sg.text], [leaky, "whsec_other_secret_5678", "not-base64-but-secretish-value"]);
      assertNoPanics(worker.logs);
    } finally {
      await worker.dispose();
    }
  });
});
