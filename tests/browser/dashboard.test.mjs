// The dashboard in real headless Chromium against the worker in workerd: after known traffic
// (3 accepted Stripe events, 1 duplicate, 2 forged deliveries; a registry source `github-main`
// with 2 accepted and 1 forged), a cron run (which flushes the
// metrics tally and opens a signature-failure alert) and a backfill run recorded in
// `backfill_runs`, the page opens on SVG charts whose series carry exactly those counts, the
// per-destination latency, the registry source's own row, the last backfill and the alert; the 24-hour window draws the same
// totals. No console error or CSP violation. Screenshots go to test-artifacts/.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import path from "node:path";
import { ARTIFACTS, CHROMIUM, useChromium } from "../helpers/browser.mjs";
import { TEST_SECRETS, waitForNoStepInFlight } from "../helpers/worker.mjs";
import { useWorld } from "../helpers/world.mjs";
import { checkoutCompleted, signedDelivery } from "../helpers/stripe.mjs";
import { settled } from "../helpers/flows.mjs";


describe("dashboard in headless Chromium", { skip: !existsSync(CHROMIUM) && `${CHROMIUM} is missing` }, () => {
  let worker;
  const problems = [];

  // Alerts go to an http destination that is not stored: each alert shows its held http delivery.
  useWorld(
    { port: 0, vars: { SECRETS_KEY: Buffer.alloc(32, 42).toString("base64"), ALERT_SIGNATURE_FAILURES: "2", RETRY_BASE_SECONDS: "0", ALERT_DESTINATION: "ops-alerts" } },
    { ready: (w) => ({ worker } = w) },
  );
  const chrome = useChromium({ viewport: { width: 1366, height: 900 } });

  test("charts, latency, last backfill and alerts drawn from known traffic", async () => {
    const secret = TEST_SECRETS.STRIPE_WEBHOOK_SECRETS.split(",")[0];
    const events = [checkoutCompleted(), checkoutCompleted(), checkoutCompleted()];
    for (const e of [...events, events[0]]) {
      const { payload, headers } = signedDelivery(e, secret);
      assert.equal((await worker.post("/webhooks/stripe", payload, headers)).status, 200);
    }
    for (let i = 0; i < 2; i++) {
      const { payload, headers } = signedDelivery(checkoutCompleted(), "whsec_wrongly_rotated");
      assert.equal((await worker.post("/webhooks/stripe", payload, headers)).status, 401);
    }
    const created = await worker.mf.dispatchFetch(`${worker.url}/admin/api/sources`, {
      method: "POST",
      headers: { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "github-main", scheme: "token", config: { header: "X-Token" }, secrets: ["token-dash-00001"] }),
    });
    assert.equal(created.status, 201, await created.text());
    for (const [token, status] of [["token-dash-00001", 200], ["token-dash-00001", 200], ["forged-token-001", 401]]) {
      const res = await worker.post("/webhooks/in/github-main", JSON.stringify({ id: `${token}-${Math.random()}` }), { "X-Token": token });
      assert.equal(res.status, status, res.text);
    }
    for (const e of events) await settled(worker, "stripe", e.id);
    await waitForNoStepInFlight(worker);
    await worker.all("INSERT INTO backfill_runs (id, provider, origin, started_at, finished_at, since, listed, ingested, duplicates) VALUES (1007, 'stripe', 'admin', ?, ?, 0, 12, 4, 8)", Date.now() - 2000, Date.now() - 1000);
    await (await worker.mf.getWorker()).scheduled({ cron: "* * * * *" });
    const succeeded = await worker.all("SELECT destination, COUNT(*) AS n FROM steps WHERE status = 'succeeded' GROUP BY destination");

    const page = await chrome.browser.newPage();
    // The browser asks for /favicon.ico on its own (there is none: 404); anything else counts.
    page.on("console", (msg) => msg.type() === "error" && !/favicon/.test(msg.location()?.url ?? "") && problems.push(`${msg.text()} ${msg.location()?.url ?? ""}`));
    page.on("pageerror", (err) => problems.push(err.message));
    await page.goto(`${worker.url}/admin`);
    await page.fill("#token", TEST_SECRETS.ADMIN_TOKEN);
    await page.click("#login-btn");
    await page.waitForSelector('#dashboard[data-loaded="true"]');

    const total = (chart, series) => page.getAttribute(`svg[data-chart="${chart}"] path[data-series="${series}"]`, "data-total");
    assert.equal(await total("events", "stripe accepted"), "3");
    assert.equal(await total("events", "stripe duplicate"), "1");
    assert.equal(await total("events", "stripe rejected"), "2");
    const bars = await page.locator('svg[data-chart="signature-failures"] rect.bar').evaluateAll((rects) => rects.map((r) => Number(r.dataset.count)));
    assert.equal(bars.reduce((a, b) => a + b, 0), 3, "failure bars add up to the forged deliveries");
    assert.match(await page.textContent("#dash-failures"), /stripe signature_mismatch\s*2/);
    assert.match(await page.textContent("#dash-failures"), /in:github-main signature_mismatch\s*1/);
    const cell = (outcome) => page.textContent(`#sources tr[data-source="github-main"] td[data-outcome="${outcome}"]`);
    assert.deepEqual([await cell("accepted"), await cell("rejected")], ["2", "1"], "the source's own row");
    assert.equal(await total("sources", "in:github-main accepted"), "2");
    assert.ok(succeeded.length > 0);
    for (const { destination, n } of succeeded) {
      assert.equal(await total(`steps-${destination}`, "succeeded"), String(n), destination);
      const p50 = await page.getAttribute(`[data-destination="${destination}"] .latency`, "data-p50");
      assert.ok(Number(p50) > 0, `${destination} p50 ${p50}`);
      const p95 = await page.getAttribute(`[data-destination="${destination}"] .latency`, "data-p95");
      assert.equal(await total(`latency-${destination}`, "p95 ms"), p95, "the p95 line is drawn");
    }
    assert.equal(await page.textContent('#dash-backfill [data-field="ingested"]'), "4");
    assert.equal(await page.textContent('#dash-backfill [data-field="listed"]'), "12");
    const alerts = await page.locator("#alerts tbody tr[data-alert]").allTextContents();
    assert.ok(alerts.some((t) => /signature_failures\s*stripe:signature_mismatch/.test(t)), alerts.join("\n"));
    assert.ok(alerts.some((t) => /backfill_recovered\s*1007.*recovered 4 events/.test(t)), alerts.join("\n"));
    const channels = await page.locator("#alerts tbody tr[data-alert] [data-channel]").evaluateAll((cells) =>
      cells.map((c) => `${c.dataset.channel} ${c.className} ${c.textContent}`));
    assert.ok(channels.some((t) => /^http pending http: fired pending \(alert_destination_unknown\)/.test(t)), channels.join("\n"));
    assert.equal(channels.filter((t) => t.startsWith("http ")).length, alerts.length, "every alert shows its http delivery");
    await page.screenshot({ path: path.join(ARTIFACTS, "dashboard.png"), fullPage: true });

    await page.click('button[data-window="24h"]');
    await page.waitForSelector('#dashboard[data-window="24h"]');
    assert.equal(await total("events", "stripe accepted"), "3");
    await page.screenshot({ path: path.join(ARTIFACTS, "dashboard-24h.png"), fullPage: true });
    assert.deepEqual(problems, [], "no console errors or CSP violations");
  });
});
