// The admin page in real headless Chromium (Debian's /usr/bin/chromium driven by playwright-core)
// against the worker in workerd (Miniflare listening on a local port): sign in with the token,
// see a posted event, open its timeline, redrive its dead step once the downstream recovers, and
// see it succeed; a step the event does not call for shows as `skipped`, counted and filtered
// apart from dead ones. Saves screenshots to test-artifacts/ (gitignored).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import path from "node:path";
import { ARTIFACTS, CHROMIUM, useChromium } from "../helpers/browser.mjs";
import { waitFor, TEST_SECRETS } from "../helpers/worker.mjs";
import { useWorld } from "../helpers/world.mjs";
import { checkoutCompleted, signedDelivery } from "../helpers/stripe.mjs";
import { hubspotDelivery, hubspotEvent } from "../helpers/providers.mjs";
import { deliver, settled } from "../helpers/flows.mjs";

const UPSERT = "/crm/v3/objects/contacts/batch/upsert";

describe("admin page in headless Chromium", { skip: !existsSync(CHROMIUM) && `${CHROMIUM} is missing (scripts/setup --for-tests installs it)` }, () => {
  let fake;
  let worker;
  const problems = [];

  useWorld(
    { port: 0, vars: { MAX_ATTEMPTS: "2", RETRY_BASE_SECONDS: "0", DOWNSTREAM_TIMEOUT_MS: "3000" } },
    { ready: (w) => ({ worker, fake } = w) },
  );
  const chrome = useChromium();

  test("sign in, see the event, open its timeline, redrive its dead step", async () => {
    // The contact upsert keeps failing with 503 until it is dead (2 attempts).
    fake.always(UPSERT, { status: 503, headers: { "retry-after": "0" } });
    const event = checkoutCompleted({ id: `evt_browser_${Date.now()}`, email: "ada@example.com", name: "Ada Lovelace" });
    const { payload, headers } = signedDelivery(event, TEST_SECRETS.STRIPE_WEBHOOK_SECRETS.split(",")[0]);
    assert.equal((await worker.post("/webhooks/stripe", payload, headers)).status, 200);
    const [{ id: eventId }] = await worker.all("SELECT id FROM events WHERE dedupe_key = ?", event.id);
    const stepId = `${eventId}:hubspot.upsert_contact`;
    const stepStatus = async () => (await worker.all("SELECT status FROM steps WHERE id = ?", stepId))[0]?.status;
    await waitFor(async () => (await stepStatus()) === "dead", { what: "upsert step dead" });
    // A change of a HubSpot contact linked to no Stripe customer: skipped, not dead.
    const change = await deliver(worker, "hubspot", hubspotEvent({ objectId: 987654321, propertyName: "phone", propertyValue: "+15550001111" }));
    assert.equal((await settled(worker, "hubspot", change.key))[0].status, "skipped");

    const page = await chrome.browser.newPage();
    page.on("console", (msg) => msg.type() === "error" && problems.push(msg.text()));
    page.on("pageerror", (err) => problems.push(err.message));
    const inFlight = new Set();
    let refused = 0;
    page.on("request", (request) => inFlight.add(request));
    page.on("requestfinished", (request) => inFlight.delete(request));
    page.on("requestfailed", (request) => inFlight.delete(request));
    page.on("response", (response) => response.status() === 401 && refused++);
    await page.goto(`${worker.url}/admin`);

    // A wrong token is refused and the login form stays.
    await page.fill("#token", "not-the-token");
    await page.click("#login-btn");
    await page.waitForSelector("#login-error:not([hidden])");
    assert.match(await page.textContent("#login-error"), /not accepted/);
    // The sign-in started several reads at once and the first 401 shows the error; the browser
    // logs each 401 itself, the later ones after the error is shown. Wait for every read to end
    // and be logged before watching for problems (on a loaded machine the last came late).
    await waitFor(async () => inFlight.size === 0 && problems.filter((p) => p.includes("401")).length >= refused, {
      what: "the refused sign-in's reads ended and logged",
    });
    assert.ok(refused >= 1, "the wrong token was refused");
    problems.length = 0;

    await page.fill("#token", TEST_SECRETS.ADMIN_TOKEN);
    await page.click("#login-btn");
    const row = page.locator(`tr[data-event-id="${eventId}"]`);
    await row.waitFor();
    assert.match(await row.textContent(), /checkout\.session\.completed/);
    assert.match(await row.textContent(), /1 dead/);
    assert.equal(await page.locator('[data-total="dead steps"] b').textContent(), "1");
    assert.equal(await page.locator('[data-total="skipped steps"] b').textContent(), "1");

    // The step-status filter finds the skipped one, and only it.
    await page.selectOption('select[name="step_status"]', "skipped");
    await page.click('#filters button[type="submit"]');
    await page.waitForFunction(() => !document.querySelector("#events-table tbody")?.textContent.includes("checkout.session.completed"));
    const skippedRows = await page.locator("#events-table tbody tr").allTextContents();
    assert.equal(skippedRows.length, 1, skippedRows.join("\n"));
    assert.match(skippedRows[0], /contact\.propertyChange/);
    assert.match(skippedRows[0], /1\/1 done/);
    await page.selectOption('select[name="step_status"]', "");
    await page.click('#filters button[type="submit"]');

    await row.click();
    await page.waitForSelector("#timeline li");
    const timeline = await page.locator("#timeline li").allTextContents();
    assert.match(timeline[0], /received/);
    assert.equal(timeline.filter((t) => /hubspot\.upsert_contact attempt/.test(t)).length, 2);
    assert.ok(timeline.some((t) => /attempt 2: dead 503/.test(t)), timeline.join("\n"));
    assert.match(await page.textContent("#payload"), /"ada@example.com"/);
    await page.screenshot({ path: path.join(ARTIFACTS, "admin-timeline.png"), fullPage: true });

    // The downstream recovers; redrive the dead step from the dead-letter view.
    fake.reset();
    await page.click("#tab-dead");
    const group = page.locator("#dead-groups tbody tr", { hasText: "http_503" });
    await group.waitFor();
    assert.match(await group.textContent(), /hubspot/);
    await page.screenshot({ path: path.join(ARTIFACTS, "admin-dead-letters.png"), fullPage: true });
    await page.click(`button.redrive-step[data-step-id="${stepId}"]`);
    await page.waitForSelector("#message:not([hidden])");
    assert.match(await page.textContent("#message"), /Redrove 1 step/);
    await waitFor(async () => (await stepStatus()) === "succeeded", { what: "redriven step succeeded" });
    assert.equal(fake.callsTo(UPSERT).length, 1);

    // Back on the event: the step shows succeeded, after the two failed attempts.
    await page.click("#tab-events");
    await row.waitFor();
    await row.click();
    await page.waitForFunction(() => /succeeded/.test(document.querySelector("#steps")?.textContent ?? "")
      && !/dead/.test(document.querySelector("#steps tbody tr")?.textContent ?? ""));
    const after = await page.locator("#timeline li").allTextContents();
    assert.ok(after.some((t) => /hubspot\.upsert_contact attempt 1: succeeded 200/.test(t)), after.join("\n"));
    assert.equal(await page.locator('[data-total="dead steps"] b').textContent(), "0");
    await page.screenshot({ path: path.join(ARTIFACTS, "admin.png"), fullPage: true });

    assert.deepEqual(problems, [], "no console errors or CSP violations");
  });

  test("a payload search finds the event by JSON Pointer; its detail shows the masked headers", async () => {
    const order = { ...checkoutCompleted({ customer: "cus_search_browser" }) };
    const { payload, headers } = signedDelivery(order, TEST_SECRETS.STRIPE_WEBHOOK_SECRETS.split(",")[0]);
    assert.equal((await worker.post("/webhooks/stripe", payload, headers)).status, 200);
    const page = await chrome.browser.newPage();
    page.on("pageerror", (err) => problems.push(err.message));
    await page.goto(`${worker.url}/admin`);
    await page.fill("#token", TEST_SECRETS.ADMIN_TOKEN);
    await page.click("#login-btn");
    await page.waitForSelector("#events-table tbody tr");
    await page.fill('#filters input[name="pointer"]', "/data/object/customer");
    await page.fill('#filters input[name="equals"]', "cus_search_browser");
    await page.click('#filters button[type="submit"]');
    await page.waitForFunction(() => document.querySelectorAll("#events-table tbody tr").length === 1
      && document.querySelector("#events-table tbody")?.textContent.includes("checkout.session.completed"));
    await page.locator("#events-table tbody tr").click();
    await page.waitForSelector("#headers");
    const rows = await page.locator("#headers tr").allTextContents();
    assert.ok(rows.includes("stripe-signature[masked]"), rows.join("\n"));
    assert.ok(rows.includes("content-typeapplication/json"), rows.join("\n"));
    assert.ok(!(await page.textContent("#detail")).includes(headers["stripe-signature"]));
    await page.screenshot({ path: path.join(ARTIFACTS, "admin-search-headers.png"), fullPage: true });
    assert.deepEqual(problems, [], "no page errors");
  });

  test("a malformed batch element shows as rejected with its index and code", async () => {
    const { eventId: _, ...noEventId } = hubspotEvent();
    const d = hubspotDelivery([hubspotEvent(), noEventId], TEST_SECRETS.HUBSPOT_CLIENT_SECRETS.split(",")[0]);
    const res = await worker.post("/webhooks/hubspot", d.payload, d.headers);
    assert.equal(res.json?.rejected, 1, res.text);
    const [{ id }] = await worker.all("SELECT id FROM events WHERE provider = 'hubspot' AND status = 'rejected'");

    const page = await chrome.browser.newPage();
    page.on("pageerror", (err) => problems.push(err.message));
    await page.goto(`${worker.url}/admin`);
    await page.fill("#token", TEST_SECRETS.ADMIN_TOKEN);
    await page.click("#login-btn");
    const row = page.locator(`tr[data-event-id="${id}"]`);
    await row.waitFor();
    assert.match(await row.textContent(), /rejected\s*element 1: missing_field/);
    await row.click();
    await page.waitForSelector("#payload");
    const meta = await page.locator("#detail dl").textContent();
    assert.match(meta, /errormissing_field/);
    assert.match(meta, /batch element1/);
    await page.screenshot({ path: path.join(ARTIFACTS, "admin-rejected-element.png"), fullPage: true });
    assert.deepEqual(problems, [], "no page errors");
  });
});
