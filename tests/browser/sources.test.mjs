// The admin page's sources panel in headless Chromium against the worker in workerd: create a
// GitHub source through the form (the path to give the sender shown, the secret never), see a
// delivery signed with it accepted, rotate (add a secret, both verify, remove the old one by its
// fingerprint), disable (404 source_not_found) and enable it from its row, delete it; the
// connections form offers it as a source. Then a source created with a dedupe JSON Pointer,
// its event type edited through the row's edit form (a bad pointer refused naming the field),
// and deliveries showing both settings took effect.
// Screenshots go to test-artifacts/ (gitignored).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { sign } from "@octokit/webhooks-methods";
import { ARTIFACTS, SKIP_WITHOUT_CHROMIUM, useChromium } from "../helpers/browser.mjs";
import { TEST_SECRETS } from "../helpers/worker.mjs";
import { useWorld } from "../helpers/world.mjs";

const OLD = "gh-panel-secret-old-01";
const NEW = "gh-panel-secret-new-02";
const SECRETS_KEY = Buffer.alloc(32, 11).toString("base64");

describe("sources panel in headless Chromium", { skip: SKIP_WITHOUT_CHROMIUM }, () => {
  const problems = [];
  const w = useWorld({ port: 0, vars: { SECRETS_KEY } });
  const chrome = useChromium();

  let n = 0;
  async function deliver(secret) {
    n += 1;
    const body = JSON.stringify({ action: "opened", issue: { number: n } });
    return w.worker.post("/webhooks/in/gh-panel", body, {
      "X-Hub-Signature-256": await sign(secret, body), "X-GitHub-Delivery": `panel-${n}`, "X-GitHub-Event": "issues",
    });
  }

  test("create, deliver, rotate, disable, enable, delete", async () => {
    const page = await chrome.browser.newPage();
    page.on("console", (msg) => msg.type() === "error" && !/favicon/.test(msg.location().url) && problems.push(msg.text()));
    page.on("pageerror", (err) => problems.push(err.message));
    await page.goto(`${w.worker.url}/admin`);
    await page.fill("#token", TEST_SECRETS.ADMIN_TOKEN);
    await page.click("#login-btn");
    await page.click("#tab-sources");
    const form = page.locator("#source-form");
    await form.waitFor();
    await form.locator('[name="name"]').fill("gh-panel");
    await form.locator('[name="scheme"]').selectOption("github");
    await form.locator('[name="secret"]').fill(OLD);
    await page.click("#source-save");
    const row = page.locator('tr[data-source="gh-panel"]');
    await row.waitFor();
    assert.match(await row.textContent(), /\/webhooks\/in\/gh-panel/);
    assert.match(await page.textContent("#message"), /give the sender \/webhooks\/in\/gh-panel/);
    assert.ok(!(await page.content()).includes(OLD), "the secret is not shown");
    assert.equal((await deliver(OLD)).status, 200);

    // The connections form offers the new source.
    await page.click("#tab-gateway");
    await page.locator('#connection-form [name="source"] option[value="in:gh-panel"], #connection-form [name="source"] option:text-is("in:gh-panel")').first().waitFor({ state: "attached" });
    await page.click("#tab-sources");
    await row.waitFor();

    await row.locator("button.rotate").click();
    await page.locator('#source-rotate-form [name="secret"]').fill(NEW);
    await page.click("#source-rotate-save");
    await page.locator('tr[data-source="gh-panel"] button.remove-secret').first().waitFor();
    await page.screenshot({ path: path.join(ARTIFACTS, "sources.png"), fullPage: true });
    assert.equal((await deliver(OLD)).status, 200, "old verifies during the rotation");
    assert.equal((await deliver(NEW)).status, 200, "new verifies during the rotation");
    await page.locator('tr[data-source="gh-panel"] button.remove-secret').first().click();
    await page.waitForFunction(() => !document.querySelector('tr[data-source="gh-panel"] button.remove-secret'));
    assert.equal((await deliver(OLD)).status, 401, "old refused once removed");
    assert.equal((await deliver(NEW)).status, 200);

    await page.locator('tr[data-source="gh-panel"] button.toggle').click();
    await page.waitForFunction(() => /disabled/.test(document.querySelector('tr[data-source="gh-panel"]')?.textContent ?? ""));
    const off = await deliver(NEW);
    assert.deepEqual([off.status, off.json.error], [404, "source_not_found"]);
    await page.locator('tr[data-source="gh-panel"] button.toggle').click();
    await page.waitForFunction(() => /enabled/.test(document.querySelector('tr[data-source="gh-panel"]')?.textContent ?? ""));
    assert.equal((await deliver(NEW)).status, 200);

    await page.locator('tr[data-source="gh-panel"] button.delete').click();
    await page.waitForFunction(() => !document.querySelector('tr[data-source="gh-panel"]'));
    assert.equal((await w.worker.all("SELECT COUNT(*) AS n FROM registry_sources"))[0].n, 0);
    assert.equal((await w.worker.all("SELECT COUNT(*) AS n FROM events WHERE provider = 'in' AND source = 'gh-panel'"))[0].n, 5);
    assert.deepEqual(problems, []);
  });

  test("create with a dedupe pointer, edit the event type, deliveries follow both", async () => {
    const SECRET = "gh-edit-secret-0001";
    const page = await chrome.browser.newPage();
    page.on("pageerror", (err) => problems.push(err.message));
    await page.goto(`${w.worker.url}/admin`);
    await page.fill("#token", TEST_SECRETS.ADMIN_TOKEN);
    await page.click("#login-btn");
    await page.click("#tab-sources");
    const form = page.locator("#source-form");
    await form.waitFor();
    await form.locator('[name="name"]').fill("gh-edit");
    await form.locator('[name="scheme"]').selectOption("github");
    await form.locator('[name="secret"]').fill(SECRET);
    await form.locator('[name="dedupe_from"]').selectOption("pointer");
    await form.locator('[name="dedupe_at"]').fill("/delivery/id");
    await page.click("#source-save");
    const row = page.locator('tr[data-source="gh-edit"]');
    await row.waitFor();
    assert.match(await row.textContent(), /dedupe: pointer \/delivery\/id; type: scheme's/);

    let n = 0;
    const send = async (deliveryId, kind) => {
      n += 1;
      const body = JSON.stringify({ action: "opened", kind, delivery: { id: deliveryId } });
      return w.worker.post("/webhooks/in/gh-edit", body, {
        "X-Hub-Signature-256": await sign(SECRET, body), "X-GitHub-Delivery": `gh-edit-${n}`, "X-GitHub-Event": "issues",
      });
    };
    const stored = () => w.worker.all("SELECT dedupe_key, type FROM events WHERE provider = 'in' AND source = 'gh-edit' ORDER BY dedupe_key");
    assert.equal((await send("pd-1", "ticket.created")).json.status, "accepted");
    // The dedupe key is the pointer's, not GitHub's delivery id (which differs here).
    assert.equal((await send("pd-1", "ticket.created")).json.status, "duplicate");
    assert.deepEqual(await stored(), [{ dedupe_key: "src:gh-edit:pd-1", type: "issues.opened" }]);

    await row.locator("button.edit").click();
    const edit = page.locator("#source-edit-form");
    await edit.waitFor();
    assert.equal(await edit.locator('[name="dedupe_from"]').inputValue(), "pointer");
    assert.equal(await edit.locator('[name="dedupe_at"]').inputValue(), "/delivery/id");
    await edit.locator('[name="event_type_from"]').selectOption("pointer");
    await edit.locator('[name="event_type_at"]').fill("kind");
    await page.click("#source-edit-save");
    await page.waitForFunction(() => /invalid_field \(event_type\)/.test(document.querySelector("#message")?.textContent ?? ""));
    await edit.locator('[name="event_type_at"]').fill("/kind");
    await page.click("#source-edit-save");
    await page.waitForFunction(() => /type: pointer \/kind/.test(document.querySelector('tr[data-source="gh-edit"]')?.textContent ?? ""));
    assert.equal(await edit.isHidden(), true);
    assert.match(await row.textContent(), /dedupe: pointer \/delivery\/id/, "the edit kept the dedupe pointer");

    assert.equal((await send("pd-2", "ticket.closed")).json.status, "accepted");
    assert.deepEqual(await stored(), [
      { dedupe_key: "src:gh-edit:pd-1", type: "issues.opened" },
      { dedupe_key: "src:gh-edit:pd-2", type: "ticket.closed" },
    ]);
    await page.screenshot({ path: path.join(ARTIFACTS, "sources-edit.png"), fullPage: true });
    assert.deepEqual(problems, []);
  });
});
