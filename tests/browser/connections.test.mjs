// The admin page's connections screen in real headless Chromium against the worker in workerd:
// create an http destination and a connection through the forms, see the next event delivered
// (verified with the official `standardwebhooks` package), pause and resume the destination
// from its row, preview which connections match a stored event and send it to the destination
// as a test from the event's detail, rotate the secret through the edit form, delete the
// connection; redrive an http destination's dead-letter group from the dead-letter view.
// Screenshots go to test-artifacts/ (gitignored).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import path from "node:path";
import { ARTIFACTS, CHROMIUM, useChromium } from "../helpers/browser.mjs";
import { Webhook } from "standardwebhooks";
import { waitFor, TEST_SECRETS } from "../helpers/worker.mjs";
import { useWorld } from "../helpers/world.mjs";
import { checkoutCompleted } from "../helpers/stripe.mjs";

const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const NEWER = "whsec_" + Buffer.alloc(32, 9).toString("base64");

describe("connections screen in headless Chromium", { skip: !existsSync(CHROMIUM) && `${CHROMIUM} is missing (scripts/setup --for-tests installs it)` }, () => {
  const problems = [];
  const w = useWorld({ port: 0, vars: { RETRY_BASE_SECONDS: "0" } });

  const chrome = useChromium({ viewport: { width: 1280, height: 900 } });

  /** A new tab on the admin page, signed in; its console errors and 4xx/5xx go to `problems`. */
  async function signedInPage() {
    const page = await chrome.browser.newPage();
    page.on("console", (msg) => msg.type() === "error" && problems.push(msg.text()));
    page.on("pageerror", (err) => problems.push(err.message));
    page.on("response", (res) => res.status() >= 400 && problems.push(`${res.status()} ${res.url()}`));
    // The browser asks for a favicon the worker does not serve; that 404 is not the page's.
    await page.route("**/favicon.ico", (route) => route.fulfill({ status: 204 }));
    await page.goto(`${w.worker.url}/admin`);
    await page.fill("#token", TEST_SECRETS.ADMIN_TOKEN);
    await page.click("#login-btn");
    return page;
  }

  test("create, deliver, pause/resume, preview, test send, rotate, delete", async () => {
    const receiver = w.fake.receiver("orders-svc");
    const page = await signedInPage();
    await page.click("#tab-gateway");
    await page.waitForSelector("#destination-form");

    const dest = page.locator("#destination-form");
    await dest.locator('[name="name"]').fill("orders-svc");
    await dest.locator('[name="url"]').fill(receiver.url);
    await dest.locator('[name="secret"]').fill(SECRET);
    await page.click("#destination-save");
    const destRow = page.locator('tr[data-destination="orders-svc"]');
    await destRow.waitFor();
    assert.ok(!(await page.content()).includes(SECRET.slice(6)), "the secret is not shown");

    const conn = page.locator("#connection-form");
    await conn.locator('[name="source"]').selectOption("stripe");
    await conn.locator('[name="types"]').fill("checkout.session.completed");
    await conn.locator('[name="destination"]').fill("orders-svc");
    await page.click("#connection-save");
    const connRow = page.locator('tr[data-connection="stripe-to-orders-svc"]');
    await connRow.waitFor();
    await page.screenshot({ path: path.join(ARTIFACTS, "connections.png"), fullPage: true });

    const event = checkoutCompleted();
    await w.deliver("stripe", event);
    const [call] = await waitFor(() => receiver.calls().length > 0 && receiver.calls(), { what: "delivery" });
    new Webhook(SECRET).verify(call.body, call.headers);

    await destRow.locator("button.pause").click();
    await page.waitForFunction(() => /paused/.test(document.querySelector('tr[data-destination="orders-svc"]')?.textContent ?? ""));
    assert.equal((await w.worker.all("SELECT paused FROM destinations WHERE name = 'orders-svc'"))[0].paused, 1);
    await page.locator('tr[data-destination="orders-svc"] button.resume').click();
    await page.waitForFunction(() => /active/.test(document.querySelector('tr[data-destination="orders-svc"]')?.textContent ?? ""));
    assert.match(await page.textContent("#message"), /orders-svc resumed: 0 parked step\(s\) draining, 0 sent now/);

    // The event's detail: which connections match, and a test send.
    const [{ id: eventId }] = await w.worker.all("SELECT id FROM events WHERE dedupe_key = ?", event.id);
    await page.click("#tab-events");
    const row = page.locator(`tr[data-event-id="${eventId}"]`);
    await row.waitFor();
    await row.click();
    await page.click("#match-preview");
    await page.waitForSelector("#match-list li");
    const matches = await page.locator("#match-list li").allTextContents();
    assert.ok(matches.some((m) => /http:orders-svc → orders-svc \(connection stripe-to-orders-svc\)/.test(m)), matches.join("\n"));
    await page.click("#test-send");
    await page.waitForSelector("#test-result");
    assert.match(await page.textContent("#test-result"), /^delivered: 200/);
    await page.screenshot({ path: path.join(ARTIFACTS, "connections-event-preview.png"), fullPage: true });
    const testCall = receiver.calls().find((c) => c.headers["webhook-id"].startsWith("test:"));
    new Webhook(SECRET).verify(testCall.body, testCall.headers);

    // A transform typed into the connection form (not saved) previewed on the stored event:
    // the body and headers it would send, nothing sent; saved, the next delivery is that body.
    await page.click("#tab-gateway");
    const sentBefore = receiver.calls().length;
    await page.locator('tr[data-connection="stripe-to-orders-svc"] button.edit').click();
    const transform = { ops: [{ op: "select", paths: ["/id", "/type"] }, { op: "set", path: "/via", value: "edgehooks" }],
      headers: { "x-event": "{{event.type}}" } };
    await conn.locator('[name="transform"]').fill(JSON.stringify(transform));
    await conn.locator('[name="preview_event"]').fill(eventId);
    await page.click("#transform-preview-button");
    await page.waitForFunction(() => /POST →/.test(document.querySelector("#transform-preview")?.textContent ?? ""));
    const preview = await page.textContent("#transform-preview");
    assert.match(preview, /x-event: checkout\.session\.completed/);
    const previewBody = JSON.parse(preview.slice(preview.indexOf("\n\n") + 2));
    assert.deepEqual(previewBody, { id: event.id, type: "checkout.session.completed", via: "edgehooks" });
    assert.equal(receiver.calls().length, sentBefore, "a preview sends nothing");
    assert.equal((await w.worker.all("SELECT transform FROM connections"))[0].transform, null, "nor saves the transform");
    await page.click("#connection-save");
    await waitFor(async () => (await w.worker.all("SELECT transform FROM connections"))[0].transform !== null, { what: "transform saved" });
    const next = checkoutCompleted();
    await w.deliver("stripe", next);
    const delivered = await waitFor(() => receiver.calls().find((c) => JSON.parse(c.body).id === next.id), { what: "transformed delivery" });
    assert.deepEqual(JSON.parse(delivered.body), { id: next.id, type: "checkout.session.completed", via: "edgehooks" });
    assert.equal(delivered.headers["x-event"], "checkout.session.completed");
    new Webhook(SECRET).verify(delivered.body, delivered.headers);

    // Rotate the secret through the edit form.
    await page.locator('tr[data-destination="orders-svc"] button.edit').click();
    await dest.locator('[name="secret"]').fill(NEWER);
    await page.click("#destination-save");
    await page.waitForFunction(() => /^2 /.test(document.querySelector('tr[data-destination="orders-svc"] td:nth-child(3)')?.textContent ?? ""));

    await page.locator('tr[data-connection="stripe-to-orders-svc"] button.delete').click();
    await page.waitForFunction(() => !document.querySelector('tr[data-connection="stripe-to-orders-svc"]'));
    assert.equal((await w.worker.all("SELECT COUNT(*) AS n FROM connections"))[0].n, 0);
    assert.deepEqual(problems, [], "no console errors or CSP violations");
  });

  test("a slower, older load never draws over the rows a save just loaded", async () => {
    // Opening the tab loads the lists; a save before those answers came loads them again. Before
    // the fix the older load drew last, putting the stale secret count back over the new one.
    const admin = async (method, path, body) => {
      const res = await w.worker.mf.dispatchFetch(`http://localhost/admin/api/${path}`, {
        method,
        headers: { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}`, "content-type": "application/json" },
        body: body && JSON.stringify(body),
      });
      assert.ok(res.ok, await res.text());
    };
    await admin("POST", "destinations", { name: "slow-load-svc", type: "http", url: w.fake.receiver("slow-load-svc").url, secret: SECRET });
    const page = await signedInPage();
    await page.click("#tab-gateway");
    const secrets = () => page.textContent('tr[data-destination="slow-load-svc"] td:nth-child(3)');
    await page.waitForFunction(() => /^1 /.test(document.querySelector('tr[data-destination="slow-load-svc"] td:nth-child(3)')?.textContent ?? ""));

    // Hold the answer of the next destinations list (the tab's own load) until the save is drawn.
    let releaseHeld;
    const held = new Promise((resolve) => (releaseHeld = resolve));
    let holding = true;
    await page.route("**/admin/api/destinations", async (route) => {
      if (route.request().method() !== "GET" || !holding) return route.continue();
      holding = false;
      const answer = await route.fetch();
      await held;
      await route.fulfill({ response: answer });
    });
    const staleAnswered = page.waitForResponse((res) => res.url().endsWith("/admin/api/destinations") && res.request().method() === "GET");
    await page.click("#tab-gateway");
    await page.locator('tr[data-destination="slow-load-svc"] button.edit').click();
    await page.locator('#destination-form [name="secret"]').fill(NEWER);
    await page.click("#destination-save");
    await page.waitForFunction(() => /^2 /.test(document.querySelector('tr[data-destination="slow-load-svc"] td:nth-child(3)')?.textContent ?? ""));
    releaseHeld();
    const stale = await staleAnswered;
    // The held load reads its answer and draws (or not) within a few tasks of receiving it.
    await stale.finished();
    await page.evaluate(() => new Promise((resolve) => setTimeout(resolve, 200)));
    assert.match(await secrets(), /^2 /, "the older load drew its stale rows over the save's");
    await page.unroute("**/admin/api/destinations");
    await admin("DELETE", "destinations/slow-load-svc");
  });

  test("the dead-letter view redrives an http destination's group", async () => {
    // Before issue 23 the redrive API knew only the built-in destinations: this button was a 400.
    const receiver = w.fake.receiver("flaky-svc");
    const admin = async (path, body) => {
      const res = await w.worker.mf.dispatchFetch(`http://localhost/admin/api/${path}`, {
        method: "POST",
        headers: { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      assert.equal(res.status, 201, await res.text());
    };
    await admin("destinations", { name: "flaky-svc", type: "http", url: receiver.url, secret: SECRET, max_attempts: 1 });
    await admin("connections", { source: "stripe", types: ["invoice.created"], destination: "flaky-svc" });
    w.fake.always(receiver.path, { status: 500 });
    const event = { id: `evt_redrive_group_${Date.now()}`, object: "event", type: "invoice.created", created: Math.floor(Date.now() / 1000), data: { object: { id: "in_redrive", object: "invoice" } } };
    await w.deliver("stripe", event);
    const [{ id: eventId }] = await w.worker.all("SELECT id FROM events WHERE dedupe_key = ?", event.id);
    const stepId = `${eventId}:http:flaky-svc`;
    const status = async () => (await w.worker.all("SELECT status FROM steps WHERE id = ?", stepId))[0]?.status;
    await waitFor(async () => (await status()) === "dead", { what: "the http step dead" });
    w.fake.reset();

    const page = await signedInPage();
    await page.click("#tab-dead");
    const group = page.locator("#dead-groups tbody tr", { hasText: "flaky-svc" });
    await group.waitFor();
    assert.match(await group.textContent(), /http_500/);
    await group.locator("button.redrive-group").click();
    await page.waitForFunction(() => /Redrove 1 step/.test(document.querySelector("#message")?.textContent ?? ""));
    await waitFor(async () => (await status()) === "succeeded", { what: "the redriven group delivered" });
    assert.deepEqual(receiver.calls().map((c) => c.headers["webhook-id"]), [stepId]);
    await page.screenshot({ path: path.join(ARTIFACTS, "connections-redrive-group.png"), fullPage: true });
    assert.deepEqual(problems, [], "no 400 from the redrive, no console errors");
  });
});
