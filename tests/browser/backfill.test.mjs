// The admin page's Backfill panel in headless Chromium against the worker in workerd: it says
// the backfill is enabled, "Run now" stays disabled until a dry run, the dry run counts the
// missing Stripe event (listed by the fake's GET /v1/events), "Run now" ingests it for that same
// window (origin `backfill`), and the runs table lists both runs. Saves a screenshot to
// test-artifacts/ (gitignored).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import path from "node:path";
import { ARTIFACTS, CHROMIUM, useChromium } from "../helpers/browser.mjs";
import { TEST_SECRETS } from "../helpers/worker.mjs";
import { useWorld } from "../helpers/world.mjs";
import { stripeFixtureEvent } from "../helpers/fake-downstream.mjs";


describe("backfill panel in headless Chromium", { skip: !existsSync(CHROMIUM) && `${CHROMIUM} is missing` }, () => {
  const problems = [];
  const w = useWorld({ port: 0 });

  const chrome = useChromium();

  test("dry run first, then run now, and the runs are listed", async () => {
    const missed = stripeFixtureEvent("invoice.payment_failed", { id: `evt_panel_${Date.now()}`, created: Math.floor(Date.now() / 1000) - 600 });
    w.fake.stripeEvents.add(missed);
    const page = await chrome.browser.newPage();
    // The browser's own request for /favicon.ico (the page has none) is not the panel's doing.
    page.on("console", (msg) => msg.type() === "error" && !msg.location().url.endsWith("/favicon.ico") && problems.push(msg.text()));
    page.on("pageerror", (err) => problems.push(err.message));
    await page.goto(`${w.worker.url}/admin`);
    await page.fill("#token", TEST_SECRETS.ADMIN_TOKEN);
    await page.click("#login-btn");
    await page.waitForFunction(() => /enabled/.test(document.querySelector("#backfill-status")?.textContent ?? ""));
    assert.equal(await page.isDisabled("#backfill-run"), true, "no run before a dry run");

    await page.click("#backfill-dry");
    await page.waitForFunction(() => /Dry run/.test(document.querySelector("#backfill-result")?.textContent ?? ""));
    assert.equal(await page.textContent("#backfill-result"), "Dry run: 1 listed, 1 missing.");
    assert.equal((await w.worker.all("SELECT COUNT(*) AS n FROM events"))[0].n, 0);
    assert.equal(await page.isDisabled("#backfill-run"), false);

    await page.click("#backfill-run");
    await page.waitForFunction(() => /Ran/.test(document.querySelector("#backfill-result")?.textContent ?? ""));
    assert.equal(await page.textContent("#backfill-result"), "Ran: 1 listed, 1 ingested, 0 duplicates.");
    const [row] = await w.worker.all("SELECT origin FROM events WHERE dedupe_key = ?", missed.id);
    assert.equal(row.origin, "backfill");
    const runs = await page.locator("#backfill-runs tbody tr").allTextContents();
    assert.equal(runs.length, 2, runs.join("\n"));
    assert.match(runs[0], /admin.*1 listed, 1 ingested, 0 duplicates.*complete/);
    assert.match(runs[1], /admin \(dry run\).*1 listed, 1 missing/);
    assert.equal(await page.isDisabled("#backfill-run"), true, "a new dry run is needed before the next run");
    await page.screenshot({ path: path.join(ARTIFACTS, "admin-backfill.png"), fullPage: true });
    assert.deepEqual(problems, []);
  });
});
