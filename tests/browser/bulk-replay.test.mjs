// The admin page's bulk replay panel in headless Chromium against the worker in workerd: filter
// the event list by source, dry run (the counts per step), then replay the page and see the
// events' steps sent again and the missing ones added, other sources untouched; then choose a
// connection (its payload condition applied), see the per-step counts of the whole event and of
// the connection's step alone, and replay only that step. No consumer runs
// `steps`, so what the replay sent waits in the queue and D1 shows exactly what it did.
// Saves screenshots to test-artifacts/ (gitignored).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import path from "node:path";
import { ARTIFACTS, CHROMIUM, useChromium } from "../helpers/browser.mjs";
import { consumersWith, TEST_SECRETS } from "../helpers/worker.mjs";
import { useWorld } from "../helpers/world.mjs";

/** A page signed in to the admin page, its console errors collected in `problems`, once the
 * event `firstEventId` is listed. */
async function signIn(chrome, url, problems, firstEventId) {
  const page = await chrome.browser.newPage();
  // The browser's own favicon request is a 404 (the page has none); anything else counts.
  page.on("console", (msg) => msg.type() === "error" && !/favicon/.test(msg.location().url) && problems.push(msg.text()));
  page.on("pageerror", (err) => problems.push(err.message));
  await page.goto(`${url}/admin`);
  await page.fill("#token", TEST_SECRETS.ADMIN_TOKEN);
  await page.click("#login-btn");
  await page.locator(`tr[data-event-id="${firstEventId}"]`).waitFor();
  return page;
}


describe("bulk replay panel in headless Chromium", { skip: !existsSync(CHROMIUM) && `${CHROMIUM} is missing (scripts/setup --for-tests installs it)` }, () => {
  let worker;
  const problems = [];
  useWorld({ port: 0, miniflare: { queueConsumers: consumersWith({ steps: null }) } }, { ready: (w) => ({ worker } = w) });
  const chrome = useChromium();

  test("dry run, then replay the events of one source", async () => {
    const now = Date.now() - 60_000;
    const events = [0, 1, 2].map((i) => ({ id: `evt_panel_eu_${i}`, source: "eu" })).concat([{ id: "evt_panel_default", source: null }]);
    for (const [i, e] of events.entries()) {
      await worker.all(
        "INSERT INTO events (id, provider, dedupe_key, type, received_at, status, payload, payload_bytes, source) VALUES (?, 'stripe', ?, 'invoice.payment_failed', ?, 'accepted', '{}', 2, ?)",
        e.id, e.id, now + i, e.source,
      );
      await worker.all(
        "INSERT INTO steps (id, event_id, name, destination, status, attempts, last_error, idempotency_key, created_at, updated_at) VALUES (?, ?, 'slack.notify', 'slack', 'dead', 3, 'http_500: down', ?, ?, ?)",
        `${e.id}:slack.notify`, e.id, `${e.id}:slack.notify`, now, now,
      );
    }
    const page = await signIn(chrome, worker.url, problems, "evt_panel_default");

    await page.fill('#filters input[name="source"]', "eu");
    await page.click('#filters button[type="submit"]');
    await page.waitForFunction(() => !document.querySelector('tr[data-event-id="evt_panel_default"]'));
    assert.match(await page.locator('tr[data-event-id="evt_panel_eu_0"]').textContent(), /source eu/);

    await page.click("#bulk-replay summary");
    await page.click("#bulk-dry-run");
    await page.waitForSelector("#bulk-summary");
    assert.match(await page.textContent("#bulk-summary"), /^3 events match; 3 steps would run again and 6 would be added, in 1 page/);
    assert.match(await page.locator('#bulk-steps tr[data-step="sendgrid.send"]').textContent(), /sendgrid\.send03/);
    const dead = async () => (await worker.all("SELECT COUNT(*) AS n FROM steps WHERE status = 'dead'"))[0].n;
    assert.equal(await dead(), 4, "the dry run changed nothing");
    await page.screenshot({ path: path.join(ARTIFACTS, "admin-bulk-replay-dry-run.png"), fullPage: true });

    await page.click("#bulk-run");
    await page.waitForFunction(() => /Done\./.test(document.querySelector("#bulk-progress")?.textContent ?? ""));
    assert.match(await page.textContent("#bulk-progress"), /Replayed 3 events so far \(3 steps sent again, 6 added/);
    assert.equal(await page.locator("#bulk-run").isDisabled(), true, "nothing left to replay");
    const rows = await worker.all("SELECT id, status, dispatch FROM steps ORDER BY id");
    const byId = Object.fromEntries(rows.map((r) => [r.id, r]));
    for (const i of [0, 1, 2]) {
      assert.equal(byId[`evt_panel_eu_${i}:slack.notify`].status, "enqueued");
      assert.equal(byId[`evt_panel_eu_${i}:slack.notify`].dispatch, 1);
      assert.equal(byId[`evt_panel_eu_${i}:sendgrid.send`]?.status, "enqueued");
    }
    assert.equal(byId["evt_panel_default:slack.notify"].status, "dead", "another source is untouched");
    await page.screenshot({ path: path.join(ARTIFACTS, "admin-bulk-replay.png"), fullPage: true });
    assert.deepEqual(problems, [], "no console errors or CSP violations");
    await page.close();
  });

  test("choose a connection: the dry run counts its step per name, the replay adds only that step", async () => {
    const auth = { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}`, "content-type": "application/json" };
    const made = [
      ["destinations", { name: "orders-svc", type: "http", url: "https://orders.example/hooks", secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" }],
      ["connections", { name: "live-invoices", source: "stripe:eu", types: ["invoice.*"], destination: "orders-svc", conditions: [{ path: "/data/object/livemode", equals: true }] }],
    ];
    for (const [what, body] of made) {
      const res = await worker.post(`/admin/api/${what}`, JSON.stringify(body), auth);
      assert.equal(res.status, 201, res.text);
    }
    const at = Date.now() - 30_000;
    for (const [i, livemode] of [true, false, true].entries()) {
      const id = `evt_conn_${i}`;
      await worker.all(
        "INSERT INTO events (id, provider, dedupe_key, type, received_at, status, payload, payload_bytes, source) VALUES (?, 'stripe', ?, 'invoice.payment_failed', ?, 'accepted', ?, 2, 'eu')",
        id, `src:eu:${id}`, at + i, JSON.stringify({ data: { object: { livemode } } }),
      );
      await worker.all(
        "INSERT INTO steps (id, event_id, name, destination, status, attempts, last_error, idempotency_key, created_at, updated_at) VALUES (?, ?, 'hubspot.upsert_contact', 'hubspot', 'dead', 3, 'http_500: down', ?, ?, ?)",
        `${id}:hubspot.upsert_contact`, id, `${id}:hubspot.upsert_contact`, at, at,
      );
    }
    const page = await signIn(chrome, worker.url, problems, "evt_conn_0");
    await page.click("#bulk-replay summary");
    await page.locator('#bulk-connection option[value="live-invoices"]').waitFor({ state: "attached" });
    await page.selectOption("#bulk-connection", "live-invoices");

    await page.click("#bulk-whole-event");
    await page.click("#bulk-dry-run");
    await page.waitForSelector('#bulk-steps tr[data-step="sendgrid.send"]');
    assert.match(await page.textContent("#bulk-summary"), /^2 events match; 2 steps would run again and 6 would be added/);
    assert.match(await page.locator('#bulk-steps tr[data-step="http:orders-svc"]').textContent(), /http:orders-svc0200/);
    assert.match(await page.locator('#bulk-steps tr[data-step="hubspot.upsert_contact"]').textContent(), /hubspot\.upsert_contact2000/);

    await page.click("#bulk-whole-event");
    await page.click("#bulk-dry-run");
    await page.waitForFunction(() => !document.querySelector('#bulk-steps tr[data-step="sendgrid.send"]'));
    assert.match(await page.textContent("#bulk-summary"), /^2 events match; 0 steps would run again and 2 would be added/);
    assert.deepEqual(await page.locator("#bulk-steps tbody tr").evaluateAll((rows) => rows.map((r) => r.dataset.step)), ["http:orders-svc"]);
    assert.match(await page.textContent("#bulk-result"), /sample: evt_conn_0, evt_conn_2/);
    await page.screenshot({ path: path.join(ARTIFACTS, "admin-bulk-replay-connection.png"), fullPage: true });

    await page.click("#bulk-run");
    await page.waitForFunction(() => /Done\./.test(document.querySelector("#bulk-progress")?.textContent ?? ""));
    assert.match(await page.textContent("#bulk-progress"), /Replayed 2 events so far \(0 steps sent again, 2 added/);
    const rows = await worker.all("SELECT id, status FROM steps WHERE event_id LIKE 'evt_conn_%' ORDER BY id");
    assert.deepEqual(rows.map((r) => [r.id, r.status]), [
      ["evt_conn_0:http:orders-svc", "enqueued"],
      ["evt_conn_0:hubspot.upsert_contact", "dead"],
      ["evt_conn_1:hubspot.upsert_contact", "dead"],
      ["evt_conn_2:http:orders-svc", "enqueued"],
      ["evt_conn_2:hubspot.upsert_contact", "dead"],
    ]);
    assert.deepEqual(problems, [], "no console errors or CSP violations");
  });
});
