// The README's promise, checked: `scripts/dev` serves the worker on 127.0.0.1 with local D1
// migrated, and a Stripe event signed with the secret from .dev.vars.example gets 200 and a row
// in local D1 (read back with scripts/d1, as an admin would); scripts/d1 reads while the server
// stores a burst of events and runs their steps, and every one of them is accepted (issue 23:
// `wrangler d1 execute --local` beside `wrangler dev` failed with SQLITE_BUSY).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFile } from "node:child_process";
import { promisify } from "node:util";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ROOT, waitFor } from "../helpers/worker.mjs";
import { readDevVars } from "../../scripts/wrangler-config.mjs";
import { checkoutCompleted, signedDelivery } from "../helpers/stripe.mjs";

const PORT = 8797;

/** The first value of a setting in .dev.vars.example (what scripts/dev serves with here). */
function devVar(name) {
  return readDevVars(".dev.vars.example")[name]?.split(",")[0];
}

test("scripts/dev serves signed Stripe webhooks into local D1", { timeout: 240_000 }, async () => {
  const state = mkdtempSync(path.join(os.tmpdir(), "edgehooks-dev-"));
  const dev = spawn(path.join(ROOT, "scripts/dev"), ["--inspector-port", "9239"], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(PORT), EDGEHOOKS_STATE: state, DEV_FAKE_DOWNSTREAM: "0" },
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  dev.stdout.on("data", (d) => (output += d));
  dev.stderr.on("data", (d) => (output += d));
  try {
    await waitFor(
      async () => {
        if (dev.exitCode !== null) throw new Error(`scripts/dev exited early:\n${output}`);
        try {
          return (await fetch(`http://127.0.0.1:${PORT}/health`)).ok;
        } catch {
          return false;
        }
      },
      { timeoutMs: 200_000, intervalMs: 500, what: "scripts/dev to serve /health" },
    );
    const event = checkoutCompleted();
    const { payload, headers } = signedDelivery(event, devVar("STRIPE_WEBHOOK_SECRETS"));
    const res = await fetch(`http://127.0.0.1:${PORT}/webhooks/stripe`, { method: "POST", body: payload, headers });
    assert.equal(res.status, 200, await res.clone().text());
    assert.deepEqual(await res.json(), { status: "accepted", events: 1, duplicates: 0 });

    const d1 = (...args) => promisify(execFile)(path.join(ROOT, "scripts/d1"), ["--persist-to", state, ...args], { env: process.env });
    const { stdout } = await d1("sql", `SELECT provider, type, status FROM events WHERE dedupe_key = '${event.id}'`);
    assert.deepEqual(JSON.parse(stdout), [
      { provider: "stripe", type: "checkout.session.completed", status: "accepted" },
    ]);

    // Reads beside the server's writes: a burst of deliveries (each stored, then its steps run
    // by the queue consumer) while scripts/d1 reads; nothing fails on either side.
    const burst = Array.from({ length: 20 }, () => {
      const { payload, headers } = signedDelivery(checkoutCompleted(), devVar("STRIPE_WEBHOOK_SECRETS"));
      return fetch(`http://127.0.0.1:${PORT}/webhooks/stripe`, { method: "POST", body: payload, headers }).then((r) => r.status);
    });
    const reads = [d1("counts"), d1("recent", "5"), d1("stuck")];
    assert.deepEqual(await Promise.all(burst), Array(20).fill(200));
    for (const read of await Promise.all(reads)) assert.doesNotThrow(() => JSON.parse(read.stdout || "[]"));
  } finally {
    try {
      process.kill(-dev.pid, "SIGTERM");
    } catch {}
    await new Promise((r) => (dev.exitCode !== null ? r() : dev.on("exit", r)));
    rmSync(state, { recursive: true, force: true });
  }
});
