// Headless Chromium for the admin page's browser tests: Debian's chromium (installed by
// `scripts/setup --for-tests`) driven by playwright-core, one fresh profile per test file,
// screenshots under test-artifacts/. `useChromium()` opens the browser before a file's tests and
// closes it (and removes its profile) after them.
import { after, before } from "node:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";
import { ROOT } from "./worker.mjs";

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
  });
  after(async () => {
    await chrome.browser?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });
  return chrome;
}
