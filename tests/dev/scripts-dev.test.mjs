// The README's promise, checked: `scripts/dev` serves the worker on 127.0.0.1 with local D1
// migrated, and a Stripe event signed with the secret from .dev.vars.example gets 200 and a row
// in local D1 (read back with `wrangler d1 execute --local`, as an admin would).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
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

    const out = execFileSync(
      path.join(ROOT, "node_modules/.bin/wrangler"),
      ["d1", "execute", "DB", "--local", "--persist-to", state, "--json", "--command",
        `SELECT provider, type, status FROM events WHERE dedupe_key = '${event.id}'`],
      { cwd: ROOT, env: { ...process.env, CI: "true", WRANGLER_SEND_METRICS: "false" }, encoding: "utf8" },
    );
    assert.deepEqual(JSON.parse(out)[0].results, [
      { provider: "stripe", type: "checkout.session.completed", status: "accepted" },
    ]);
  } finally {
    try {
      process.kill(-dev.pid, "SIGTERM");
    } catch {}
    await new Promise((r) => (dev.exitCode !== null ? r() : dev.on("exit", r)));
    rmSync(state, { recursive: true, force: true });
  }
});
