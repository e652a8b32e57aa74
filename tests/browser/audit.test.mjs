// The admin page's Audit panel in headless Chromium against the worker in workerd: an operator
// token (minted through the API) signs in, the header says who and which role, the operator's
// redrive and a refused destination change (403) are in the trail with their actions and
// results, newest first, and the who filter narrows it. Saves a screenshot to test-artifacts/
// (gitignored).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { ARTIFACTS, SKIP_WITHOUT_CHROMIUM, useChromium } from "../helpers/browser.mjs";
import { TEST_SECRETS } from "../helpers/worker.mjs";
import { useWorld } from "../helpers/world.mjs";

describe("audit panel in headless Chromium", { skip: SKIP_WITHOUT_CHROMIUM }, () => {
  const problems = [];
  const w = useWorld({ port: 0 });
  const chrome = useChromium();

  async function api(method, route, token, body) {
    // Through the worker helper's door, so the answer is checked against openapi/admin.json.
    const res = await w.worker.mf.dispatchFetch(`http://localhost/admin/api/${route}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, json: await res.json() };
  }

  test("who is signed in, and their changes (refused ones too), newest first, filtered by who", async () => {
    const minted = await api("POST", "tokens", TEST_SECRETS.ADMIN_TOKEN, { name: "on-call", role: "operator" });
    assert.equal(minted.status, 201);
    const operator = minted.json.token;
    assert.equal((await api("POST", "redrive", operator, {})).status, 200);
    assert.equal((await api("POST", "destinations", operator, { name: "x" })).status, 403);

    const page = await chrome.browser.newPage();
    page.on("console", (msg) => msg.type() === "error" && !msg.location().url.endsWith("/favicon.ico") && !msg.text().includes("403") && problems.push(msg.text()));
    page.on("pageerror", (err) => problems.push(err.message));
    await page.goto(`${w.worker.url}/admin`);
    await page.fill("#token", operator);
    await page.click("#login-btn");
    await page.waitForFunction(() => /operator/.test(document.querySelector("#whoami")?.textContent ?? ""));
    assert.equal(await page.textContent("#whoami"), "token:on-call (operator)");

    await page.click("#tab-audit");
    await page.waitForFunction(() => document.querySelectorAll("#audit-table tbody tr td").length > 1);
    const rows = await page.locator("#audit-table tbody tr").allTextContents();
    assert.equal(rows.length, 3, rows.join("\n"));
    assert.match(rows[0], /token:on-call.*operator.*POST destinations.*403/);
    assert.match(rows[1], /token:on-call.*operator.*POST redrive.*200/);
    assert.match(rows[2], /ADMIN_TOKEN\[0\].*admin.*POST tokens.*201/);

    await page.fill("#audit-who", "ADMIN_TOKEN[0]");
    await page.click("#audit-filters button[type=submit]");
    await page.waitForFunction(() => document.querySelectorAll("#audit-table tbody tr").length === 1);
    assert.match(await page.textContent("#audit-table tbody"), /POST tokens/);
    await page.screenshot({ path: path.join(ARTIFACTS, "admin-audit.png"), fullPage: true });
    assert.deepEqual(problems, []);
  });
});
