// Headless Chromium for the admin page's browser tests: Debian's chromium (installed by
// `scripts/setup --for-tests`) driven by playwright-core, one fresh profile per test file,
// screenshots under test-artifacts/. `useChromium()` opens the browser before a file's tests and
// closes it (and removes its profile) after them. Every answer the page gets is held to the admin
// API's OpenAPI document as the e2e suite's are (helpers/openapi.mjs); a file whose page got one
// the document does not describe fails when it closes, naming each.
import { after, before } from "node:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";
import { ROOT } from "./worker.mjs";
import { checkAdminAnswer } from "./openapi.mjs";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const ARTIFACTS = path.join(ROOT, "test-artifacts");
/** Why a browser suite is skipped on this machine, or false when it can run. */
export const SKIP_WITHOUT_CHROMIUM = !existsSync(CHROMIUM) && `${CHROMIUM} is missing (scripts/setup --for-tests installs it)`;

/** A headless Chromium for the current test file: `chrome.browser` once its tests run. */
export function useChromium({ viewport = { width: 1280, height: 860 } } = {}) {
  const chrome = { browser: undefined };
  let profile;
  before(async () => {
    // A fresh profile directory (playwright passes it as --user-data-dir).
    profile = mkdtempSync(path.join(os.tmpdir(), "edgehooks-chromium-"));
    chrome.browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport,
      args: [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
      ],
    });
    mkdirSync(ARTIFACTS, { recursive: true });
    chrome.browser.on("response", (response) => checks.push(check(response)));
  });
  const checks = [];
  after(async () => {
    await chrome.browser?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    const problems = (await Promise.all(checks)).filter(Boolean);
    if (problems.length) throw new Error(problems.join("\n"));
  });
  return chrome;
}

/** The page's answer `response` (Playwright's) against the OpenAPI document: the problem, or
 * undefined. An answer whose body the browser no longer holds (a page navigated away) is taken
 * as empty. */
async function check(response) {
  const status = response.status();
  const body = [101, 204, 205, 304].includes(status) ? null : await response.body().catch(() => Buffer.alloc(0));
  const answer = new Response(body, { status, headers: response.headers() });
  try {
    await checkAdminAnswer(response.url(), { method: response.request().method() }, answer);
  } catch (error) {
    return error.message;
  }
}
