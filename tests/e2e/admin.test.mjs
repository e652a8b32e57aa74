// Admin API end to end through workerd: bearer auth (missing/wrong → 401), event filters and
// keyset pagination, one event's timeline, replay (dry run vs real), dead letters and bulk
// redrive (dry run vs real), rejection counts and totals; no configured secret in any response.
import { after, before, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { startWorker, waitFor, TEST_SECRETS, waitForNoStepInFlight, consumersWith, ROOT } from "../helpers/worker.mjs";
import { useWorld } from "../helpers/world.mjs";
import { checkoutCompleted, signedDelivery } from "../helpers/stripe.mjs";
import { shopifyDelivery, shopifyOrder } from "../helpers/providers.mjs";

const [STRIPE_SECRET] = TEST_SECRETS.STRIPE_WEBHOOK_SECRETS.split(",");
const [SHOPIFY_SECRET] = TEST_SECRETS.SHOPIFY_WEBHOOK_SECRETS.split(",");
const UPSERT = "/crm/v3/objects/contacts/batch/upsert";
const AUTH = { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}` };
const SECRET_VALUES = Object.entries(TEST_SECRETS)
  .filter(([name]) => !name.startsWith("SENDGRID_TEMPLATE") && name !== "SENDGRID_FROM_EMAIL")
  .flatMap(([, v]) => [v, ...v.split(",")]);

describe("admin API", () => {
  let fake;
  let worker;

  useWorld({ vars: { MAX_ATTEMPTS: "3", RETRY_BASE_SECONDS: "0", DOWNSTREAM_TIMEOUT_MS: "3000" } }, { ready: (w) => ({ worker, fake } = w) });
  // Let earlier tests' steps finish first, so their downstream calls do not eat this test's
  // scripted fake responses.
  beforeEach(async () => {
    await waitForNoStepInFlight(worker);
    fake.reset();
  });

  /** Call the admin API; asserts that no secret value appears in the answer. */
  async function admin(path, { method = "GET", body, headers = AUTH } = {}) {
    const res =
      method === "GET"
        ? await worker.get(`/admin/api/${path}`, headers)
        : await worker.post(`/admin/api/${path}`, body ?? "", { ...headers, "content-type": "application/json" });
    for (const secret of SECRET_VALUES) assert.ok(!res.text.includes(secret), `response to ${path} leaks a secret`);
    return res;
  }

  async function postStripe(event) {
    const { payload, headers } = signedDelivery(event, STRIPE_SECRET);
    const res = await worker.post("/webhooks/stripe", payload, headers);
    assert.equal(res.status, 200, res.text);
    return payload;
  }

  async function eventByKey(dedupeKey) {
    const res = await admin(`events?q=${encodeURIComponent(dedupeKey)}`);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.events.length, 1, res.text);
    return res.json.events[0];
  }

  const stepsOf = (eventId) => worker.all("SELECT * FROM steps WHERE event_id = ? ORDER BY name", eventId);
  const settled = (eventId) =>
    waitFor(async () => {
      const steps = await stepsOf(eventId);
      return steps.length && steps.every((s) => ["succeeded", "skipped", "dead", "skipped_stale"].includes(s.status)) && steps;
    }, { what: `steps of ${eventId} settled` });

  test("every endpoint needs the bearer token; the page itself holds no data", async () => {
    for (const path of ["stats", "events", "events/evt_x", "dead", "rejections"]) {
      for (const headers of [{}, { authorization: "Bearer wrong-token" }, { authorization: `Basic ${TEST_SECRETS.ADMIN_TOKEN}` },
        { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}x` }, { authorization: "Bearer " }]) {
        const res = await admin(path, { headers });
        assert.equal(res.status, 401, `${path} ${JSON.stringify(headers)}`);
        assert.deepEqual(res.json, { error: "unauthorized" });
        assert.equal(res.headers.get("www-authenticate"), "Bearer");
      }
    }
    for (const path of ["redrive", "events/evt_x/replay"]) {
      const res = await admin(path, { method: "POST", headers: {} });
      assert.equal(res.status, 401);
    }
    assert.equal((await admin("stats")).status, 200);
    assert.equal((await admin("nope")).status, 404);
    assert.equal((await admin("stats", { method: "POST" })).status, 405);

    const page = await worker.get("/admin");
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type"), /text\/html/);
    assert.match(page.headers.get("content-security-policy"), /default-src 'none'/);
    assert.ok(!page.text.includes(TEST_SECRETS.ADMIN_TOKEN));
    assert.equal((await worker.get("/admin/admin.js")).status, 200);
    assert.equal((await worker.get("/admin/secret.txt")).status, 404);
  });

  test("the admin page is served by Static Assets with its headers, and is not in the wasm", async () => {
    const admin = path.join(ROOT, "src/admin");
    const page = await worker.get("/admin");
    assert.equal(page.text, readFileSync(path.join(admin, "admin.html"), "utf8"));
    for (const [name, value] of [
      ["x-content-type-options", "nosniff"],
      ["x-frame-options", "DENY"],
      ["referrer-policy", "no-referrer"],
      ["cache-control", "no-cache"],
    ]) {
      assert.equal(page.headers.get(name), value, name);
    }
    const wasm = readFileSync(path.join(ROOT, "build/index_bg.wasm"));
    const files = readdirSync(admin).filter((f) => /\.(js|css)$/.test(f));
    assert.ok(files.length >= 8, files.join());
    for (const file of files) {
      const text = readFileSync(path.join(admin, file), "utf8");
      const res = await worker.get(`/admin/${file}`);
      assert.equal(res.status, 200, file);
      assert.equal(res.text, text, file);
      assert.match(res.headers.get("content-type"), file.endsWith(".js") ? /text\/javascript/ : /text\/css/);
      assert.match(res.headers.get("content-security-policy"), /script-src 'self'/, file);
      // The first 200 bytes of each asset do not occur in the wasm: it no longer embeds them.
      assert.equal(wasm.indexOf(Buffer.from(text.slice(0, 200))), -1, `${file} is compiled into the wasm`);
    }
    assert.equal(wasm.indexOf(Buffer.from(page.text.slice(0, 200))), -1, "admin.html is compiled into the wasm");
  });

  test("filters and keyset pagination", async () => {
    const tag = `filt${Date.now()}`;
    const ids = [];
    for (let i = 0; i < 5; i++) {
      const event = checkoutCompleted({ id: `evt_${tag}_${i}`, email: `p${i}.${tag}@example.com` });
      await postStripe(event);
      ids.push(event.id);
    }
    const order = shopifyOrder();
    const shop = shopifyDelivery(order, SHOPIFY_SECRET, { shop: `${tag}.myshopify.com` });
    assert.equal((await worker.post("/webhooks/shopify", shop.payload, shop.headers)).status, 200);

    // Text search on the dedupe key, then pages of 2 through the 5 matches.
    const seen = [];
    let cursor = null;
    let pages = 0;
    do {
      const res = await admin(`events?provider=stripe&q=${tag}&limit=2${cursor ? `&cursor=${cursor}` : ""}`);
      assert.equal(res.status, 200, res.text);
      assert.ok(res.json.events.length <= 2);
      seen.push(...res.json.events.map((e) => e.dedupe_key));
      cursor = res.json.next_cursor;
      pages += 1;
    } while (cursor && pages < 10);
    assert.equal(pages, 3);
    assert.deepEqual([...seen].sort(), [...ids].sort(), "every match exactly once");

    const newest = (await admin(`events?q=${tag}&limit=1`)).json.events[0];
    assert.equal(newest.provider, "shopify", "newest first");
    assert.equal(newest.account, `${tag}.myshopify.com`, "search matches the account");
    const byType = await admin(`events?provider=shopify&type=orders%2Fcreate&q=${tag}`);
    assert.equal(byType.json.events.length, 1);
    assert.equal(byType.json.events[0].steps, 3);
    assert.equal((await admin(`events?provider=hubspot&q=${tag}`)).json.events.length, 0);
    assert.equal((await admin(`events?status=rejected&q=${tag}`)).json.events.length, 0);
    const future = Date.now() + 3_600_000;
    assert.equal((await admin(`events?q=${tag}&from=${future}`)).json.events.length, 0);
    assert.equal((await admin(`events?q=${tag}&to=${new Date(future).toISOString()}`)).json.events.length, 6);

    for (const [query, code] of [
      ["provider=paypal", "invalid_filter"],
      ["step_status=lost", "invalid_filter"],
      ["limit=5000", "invalid_filter"],
      ["sort=id", "invalid_filter"],
      ["cursor=not-a-cursor", "invalid_cursor"],
    ]) {
      const res = await admin(`events?${query}`);
      assert.equal(res.status, 400, query);
      assert.equal(res.json.error, code, query);
    }
  });

  test("one event: raw payload, steps and every attempt as a timeline", async () => {
    fake.script(UPSERT, [{ status: 503, headers: { "retry-after": "0" } }, { status: 200 }]);
    const event = checkoutCompleted({ id: `evt_timeline_${Date.now()}` });
    const payload = await postStripe(event);
    const summary = await eventByKey(event.id);
    await settled(summary.id);

    const res = await admin(`events/${summary.id}`);
    assert.equal(res.status, 200, res.text);
    const { event: e, steps, timeline } = res.json;
    assert.equal(e.payload, payload, "raw payload byte for byte");
    assert.equal(e.redacted, false);
    assert.equal(e.key_index, 0);
    assert.deepEqual(steps.map((s) => [s.name, s.status]), [["hubspot.upsert_contact", "succeeded"], ["sendgrid.send", "succeeded"]]);
    assert.equal(timeline[0].kind, "received");
    const upserts = timeline.filter((t) => t.step === "hubspot.upsert_contact");
    assert.deepEqual(upserts.map((t) => [t.n, t.status, t.outcome]), [[1, 503, "retry"], [2, 200, "succeeded"]]);
    assert.match(upserts[0].error, /^http_503/);
    assert.equal(timeline.filter((t) => t.step === "sendgrid.send").length, 1);
    const times = timeline.map((t) => t.at);
    assert.deepEqual(times, [...times].sort((a, b) => a - b), "timeline in order");

    // Redacted payloads are reported as such.
    await worker.all("UPDATE events SET payload = NULL, redacted_at = ? WHERE id = ?", Date.now(), summary.id);
    const redacted = (await admin(`events/${summary.id}`)).json.event;
    assert.equal(redacted.payload, null);
    assert.equal(redacted.redacted, true);
    assert.equal((await admin("events/evt_missing")).status, 404);
  });

  test("replay: dry run lists what would run, the real one re-enqueues only what is not done", async () => {
    fake.always(UPSERT, { status: 400 }); // permanent: the upsert dies at once
    const event = checkoutCompleted({ id: `evt_replay_${Date.now()}` });
    await postStripe(event);
    const { id } = await eventByKey(event.id);
    const before = await settled(id);
    assert.deepEqual(before.map((s) => [s.name, s.status]), [["hubspot.upsert_contact", "dead"], ["sendgrid.send", "succeeded"]]);

    const dry = await admin(`events/${id}/replay?dry_run=true`, { method: "POST" });
    assert.equal(dry.status, 200, dry.text);
    assert.equal(dry.json.dry_run, true);
    assert.equal(dry.json.would_run, 1);
    assert.deepEqual(dry.json.steps.map((s) => [s.name, s.action]), [["hubspot.upsert_contact", "run"], ["sendgrid.send", "already_done"]]);
    assert.deepEqual([dry.json.added_steps, dry.json.would_add], [[], 0], "the routes gave it no new step");
    assert.deepEqual((await stepsOf(id)).map((s) => s.status), ["dead", "succeeded"], "a dry run changes nothing");
    assert.equal(fake.callsTo(UPSERT).length, 1);

    fake.reset();
    const real = await admin(`events/${id}/replay`, { method: "POST" });
    assert.equal(real.status, 200, real.text);
    assert.equal(real.json.dry_run, false);
    assert.deepEqual(real.json.requeued, [`${id}:hubspot.upsert_contact`]);
    assert.deepEqual(real.json.added, []);
    assert.equal(real.json.sent, 1);
    const after = await settled(id);
    assert.deepEqual(after.map((s) => [s.name, s.status, s.attempts]), [["hubspot.upsert_contact", "succeeded", 1], ["sendgrid.send", "succeeded", 1]]);
    assert.equal(fake.callsTo("/v3/mail/send").length, 0, "the finished step did not run again");
    const attempts = await worker.all("SELECT outcome FROM attempts WHERE step_id = ? ORDER BY id", `${id}:hubspot.upsert_contact`);
    assert.deepEqual(attempts.map((a) => a.outcome), ["dead", "succeeded"], "attempt history kept");

    const again = await admin(`events/${id}/replay?dry_run=1`, { method: "POST" });
    assert.equal(again.json.would_run, 0);
    assert.equal((await admin(`events/${id}/replay?dry_run=maybe`, { method: "POST" })).status, 400);
  });

  test("dead letters grouped, bulk redrive with dry run", async () => {
    const since = Date.now();
    fake.always(UPSERT, { status: 422 });
    const ids = [];
    for (let i = 0; i < 3; i++) {
      const event = checkoutCompleted({ id: `evt_redrive_${since}_${i}` });
      await postStripe(event);
      const { id } = await eventByKey(event.id);
      await settled(id);
      ids.push(`${id}:hubspot.upsert_contact`);
    }
    const dead = await admin("dead?destination=hubspot");
    assert.equal(dead.status, 200, dead.text);
    const group = dead.json.groups.find((g) => g.destination === "hubspot" && g.error === "http_422");
    assert.ok(group && group.count >= 3, dead.text);
    assert.ok(ids.every((id) => dead.json.steps.some((s) => s.id === id)));

    const filter = { destination: "hubspot", error: "http_422", from: since };
    const dry = await admin("redrive", { method: "POST", body: JSON.stringify({ ...filter, dry_run: true }) });
    assert.equal(dry.status, 200, dry.text);
    assert.equal(dry.json.dry_run, true);
    assert.equal(dry.json.matched, 3);
    assert.deepEqual(dry.json.steps.map((s) => s.id).sort(), [...ids].sort());
    const still = await worker.all("SELECT COUNT(*) AS n FROM steps WHERE status = 'dead' AND id IN (?, ?, ?)", ...ids);
    assert.equal(still[0].n, 3, "dry run changes nothing");

    const limited = await admin("redrive?dry_run=true", { method: "POST", body: JSON.stringify({ ...filter, limit: 2 }) });
    assert.equal(limited.json.matched, 2);
    assert.equal(limited.json.more, true);

    fake.reset();
    const real = await admin("redrive", { method: "POST", body: JSON.stringify(filter) });
    assert.equal(real.status, 200, real.text);
    assert.deepEqual([...real.json.redriven].sort(), [...ids].sort());
    assert.equal(real.json.sent, 3);
    await waitFor(async () => {
      const rows = await worker.all("SELECT status FROM steps WHERE id IN (?, ?, ?)", ...ids);
      return rows.every((r) => r.status === "succeeded");
    }, { what: "redriven steps succeeded" });
    const inputs = fake.callsTo(UPSERT).flatMap((c) => JSON.parse(c.body).inputs);
    assert.equal(inputs.length, 3, "each redriven upsert sent once (as calls of their own or inputs of one)");
    const after = await admin("redrive?dry_run=true", { method: "POST", body: JSON.stringify(filter) });
    assert.equal(after.json.matched, 0);

    // Any lowercase name may be an http destination's; one no destination can have is refused.
    for (const bad of ['{"destination":"Mail Chimp!"}', "[1]", "{", '{"limit":0}']) {
      const res = await admin("redrive", { method: "POST", body: bad });
      assert.equal(res.status, 400, bad);
    }
  });

  test("rejection counts and dashboard totals", async () => {
    const event = checkoutCompleted();
    const { payload } = signedDelivery(event, STRIPE_SECRET);
    const bad = await worker.post("/webhooks/stripe", payload, { "stripe-signature": `t=${Math.floor(Date.now() / 1000)},v1=${"0".repeat(64)}` });
    assert.equal(bad.status, 401);
    await (await worker.mf.getWorker()).scheduled({ cron: "* * * * *" }); // writes the isolate's tally
    const rejections = await admin("rejections?hours=1");
    assert.equal(rejections.status, 200, rejections.text);
    const row = rejections.json.rejections.find((r) => r.provider === "stripe" && r.reason === "signature_mismatch");
    assert.ok(row && row.count >= 1, rejections.text);
    assert.equal((await admin("rejections?hours=0")).status, 400);

    const stats = await admin("stats");
    assert.equal(stats.status, 200, stats.text);
    const [events] = await worker.all("SELECT COUNT(*) AS n FROM events WHERE status = 'accepted'");
    assert.equal(stats.json.events.accepted, events.n);
    assert.deepEqual(Object.keys(stats.json.steps).sort(), ["dead", "enqueued", "pending", "running", "skipped", "skipped_stale", "succeeded"]);
    const [steps] = await worker.all("SELECT COUNT(*) AS n FROM steps WHERE status = 'succeeded'");
    assert.equal(stats.json.steps.succeeded, steps.n);
    assert.ok(stats.json.rejections_24h >= 1);
  });
});

describe("admin redrive of 500 step ids", () => {
  let worker;
  before(async () => {
    // No consumer for `steps`: the redriven messages wait in the queue, so the test sees only
    // what the redrive itself did.
    worker = await startWorker({
      miniflare: { queueConsumers: consumersWith({ steps: null }) },
    });
  });
  after(async () => worker?.dispose());

  test("one request redrives all 500 (the ids are one bound JSON array, not 500 parameters)", async () => {
    const now = Date.now();
    for (let i = 0; i < 500; i += 25) {
      const ids = Array.from({ length: 25 }, (_, j) => `evt_bulk_${i + j}`);
      await worker.all(`INSERT INTO events (id, provider, dedupe_key, type, received_at, status, payload, payload_bytes) VALUES ${ids.map((id) => `('${id}', 'stripe', '${id}', 'invoice.paid', ${now}, 'accepted', '{}', 2)`).join(", ")}`);
      await worker.all(`INSERT INTO steps (id, event_id, name, destination, status, attempts, last_error, idempotency_key, created_at, updated_at) VALUES ${ids.map((id) => `('${id}:slack.notify', '${id}', 'slack.notify', 'slack', 'dead', 3, 'http_500: down', '${id}:slack.notify', ${now}, ${now})`).join(", ")}`);
    }
    const stepIds = Array.from({ length: 500 }, (_, i) => `evt_bulk_${i}:slack.notify`);
    const res = await worker.post("/admin/api/redrive", JSON.stringify({ step_ids: stepIds, limit: 500 }), { ...AUTH, "content-type": "application/json" });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.matched, 500);
    assert.equal(res.json.redriven.length, 500);
    assert.deepEqual([...res.json.redriven].sort(), [...stepIds].sort());
    assert.deepEqual(await worker.all("SELECT status, attempts, COUNT(*) AS n FROM steps GROUP BY 1, 2"), [{ status: "enqueued", attempts: 0, n: 500 }]);
  });
});

describe("admin sign-in (issue 23)", () => {
  const LONG = "rotated-admin-token-0123456789abcdef";
  const NEXT = "next-admin-token-abcdef0123456789xyz";
  const w = useWorld({
    captureLogs: true,
    vars: { ADMIN_TOKEN: `${LONG},${NEXT}`, LOG_LEVEL: "warn", ALERT_SIGNATURE_FAILURES: "3" },
  }, { each: true });
  const bearer = (token) => ({ authorization: `Bearer ${token}` });

  test("ADMIN_TOKEN is a rotation list: each token signs in, the list itself does not", async () => {
    assert.equal((await w.worker.get("/admin/api/stats", bearer(LONG))).status, 200);
    assert.equal((await w.worker.get("/admin/api/stats", bearer(NEXT))).status, 200);
    assert.equal((await w.worker.get("/admin/api/stats", bearer(`${LONG},${NEXT}`))).status, 401);
    assert.equal((await w.worker.get("/admin/api/stats", AUTH)).status, 401, "a token not in the list");
  });

  test("a failed sign-in is logged at warn without the token, counted, and alerts", async () => {
    const guess = `guessed-${crypto.randomUUID()}`;
    for (let i = 0; i < 3; i++) {
      const res = await w.worker.get("/admin/api/events", bearer(guess));
      assert.equal(res.status, 401);
    }
    assert.equal((await w.worker.get("/admin/api/stats")).status, 401, "no header at all");
    // LOG_LEVEL=warn: the line is written at warn (or above).
    const lines = await waitFor(() => {
      const found = w.worker.workerLogs().filter((l) => l.kind === "admin_unauthorized");
      return found.length === 4 && found;
    }, { what: "four admin_unauthorized log lines" });
    assert.deepEqual(lines.map((l) => [l.reason, l.path]), [
      ["token_mismatch", "/admin/api/events"],
      ["token_mismatch", "/admin/api/events"],
      ["token_mismatch", "/admin/api/events"],
      ["missing_token", "/admin/api/stats"],
    ]);
    assert.ok(!w.worker.logs.some((line) => line.includes(guess)), "the presented token is never logged");

    await w.sweep(); // writes the isolate's tallies, then evaluates the alerts
    const rejections = await w.worker.get("/admin/api/rejections?hours=1", bearer(LONG));
    const counted = (reason) => rejections.json.rejections.find((r) => r.provider === "admin" && r.reason === reason)?.count;
    assert.deepEqual([counted("token_mismatch"), counted("missing_token")], [3, 1], rejections.text);
    const metrics = await w.worker.get("/admin/api/metrics?window=1h", bearer(LONG));
    assert.equal(metrics.json.signature_failures["admin:token_mismatch"].total, 3, metrics.text);
    const [alert] = await w.worker.all("SELECT key, detail FROM alerts WHERE kind = 'signature_failures'");
    assert.equal(alert.key, "admin:token_mismatch");
    assert.match(alert.detail, /^3 admin sign-ins failed \(token_mismatch\) in 5 minutes/);
  });
});

describe("an ADMIN_TOKEN shorter than 24 characters", () => {
  const SHORT = "short-admin-token-0123";
  const w = useWorld({ vars: { ADMIN_TOKEN: SHORT } });

  test("refuses the admin API, even to that token, and /health says misconfigured", async () => {
    for (const headers of [{ authorization: `Bearer ${SHORT}` }, {}]) {
      const res = await w.worker.get("/admin/api/stats", headers);
      assert.equal(res.status, 503, res.text);
      assert.deepEqual(res.json, { error: "misconfigured", detail: "ADMIN_TOKEN: entry 0 is shorter than 24 characters" });
    }
    assert.deepEqual((await w.worker.get("/health")).json, { status: "misconfigured" });
  });
});

describe("admin bodies: broken ones refused, bulk requests that filter nothing dry (issue 23)", () => {
  let worker;
  before(async () => {
    // No consumer for `steps`: what a request changed stays visible as it left it.
    worker = await startWorker({ brokenBodies: true, miniflare: { queueConsumers: consumersWith({ steps: null }) } });
    const now = Date.now();
    for (const id of ["evt_empty_1", "evt_empty_2"]) {
      await worker.all("INSERT INTO events (id, provider, dedupe_key, type, received_at, status, payload, payload_bytes) VALUES (?, 'stripe', ?, 'invoice.paid', ?, 'accepted', '{}', 2)", id, id, now);
      await worker.all("INSERT INTO steps (id, event_id, name, destination, status, attempts, last_error, idempotency_key, created_at, updated_at) VALUES (?, ?, 'slack.notify', 'slack', 'dead', 3, 'http_500: down', ?, ?, ?)", `${id}:slack.notify`, id, `${id}:slack.notify`, now, now);
    }
  });
  after(async () => worker?.dispose());
  const post = (path, body) => worker.post(`/admin/api/${path}`, body, { ...AUTH, "content-type": "application/json" });
  const statuses = async () => (await worker.all("SELECT status, attempts FROM steps ORDER BY id")).map((s) => [s.status, s.attempts]);

  test("a body that breaks off is 400 unreadable_body, never read as an empty one", async () => {
    for (const [path, first] of [["redrive", ""], ["redrive", '{"dry_run":false'], ["replay", ""], ["connections", "{"]]) {
      const res = await worker.postBrokenBody(`/admin/api/${path}`, first, { ...AUTH, "content-type": "application/json" });
      assert.equal(res.status, 400, `${path}: ${res.text}`);
      assert.equal(res.json.error, "unreadable_body", path);
    }
    assert.deepEqual(await statuses(), [["dead", 3], ["dead", 3]], "nothing redriven or replayed");
  });

  test("an empty or filterless redrive is a dry run; dry_run false acts", async () => {
    for (const body of ["", "{}", '{"limit":10}']) {
      const res = await post("redrive", body);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.dry_run, true, `${JSON.stringify(body)} is a dry run`);
      assert.equal(res.json.matched, 2);
      assert.match(res.json.note, /dry_run.*false/);
      assert.deepEqual(await statuses(), [["dead", 3], ["dead", 3]], "nothing redriven");
    }
    const real = await post("redrive", '{"dry_run":false}');
    assert.equal(real.status, 200, real.text);
    assert.equal(real.json.redriven.length, 2);
    assert.deepEqual(await statuses(), [["enqueued", 0], ["enqueued", 0]]);
  });

  test("an empty bulk replay is a dry run", async () => {
    await worker.all("UPDATE steps SET status = 'dead', attempts = 3");
    const res = await post("replay", "");
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.dry_run, true);
    assert.equal(res.json.events, 2);
    assert.match(res.json.note, /dry_run.*false/);
    assert.deepEqual(await statuses(), [["dead", 3], ["dead", 3]], "nothing replayed");
  });
});
