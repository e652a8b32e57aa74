// scripts/d1's saved queries against a throwaway local D1 (migrated with wrangler, selected with
// --persist-to and with EDGEHOOKS_STATE, as scripts/dev does): recent events, dead steps grouped
// by destination and error, stuck steps, counts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { ROOT } from "../helpers/worker.mjs";

const run = promisify(execFile);
const D1 = path.join(ROOT, "scripts/d1");

test("scripts/d1 saved queries", { timeout: 180_000 }, async () => {
  const state = mkdtempSync(path.join(os.tmpdir(), "edgehooks-d1-"));
  const env = { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true" };
  try {
    await run(path.join(ROOT, "node_modules/.bin/wrangler"), ["d1", "migrations", "apply", "DB", "--local", "--persist-to", state], { cwd: ROOT, env });
    const old = Date.now() - 3_600_000;
    await run(D1, ["--persist-to", state, "sql", `
      INSERT INTO events (id, provider, dedupe_key, type, received_at, status) VALUES ('evt_d1test', 'stripe', 'evt_saved_query', 'invoice.payment_failed', ${old}, 'accepted');
      INSERT INTO steps (id, event_id, name, destination, status, idempotency_key, created_at, updated_at, last_error)
        VALUES ('evt_d1test:slack.notify', 'evt_d1test', 'slack.notify', 'slack', 'dead', 'k1', ${old}, ${old}, 'http_500: boom'),
               ('evt_d1test:sendgrid.send', 'evt_d1test', 'sendgrid.send', 'sendgrid', 'pending', 'k2', ${old}, ${old}, NULL)`], { env });

    const recent = (await run(D1, ["recent", "5"], { env: { ...env, EDGEHOOKS_STATE: state } })).stdout;
    assert.match(recent, /"dedupe_key": "evt_saved_query"/);
    assert.match(recent, /"steps_done": "0\/2"/);
    const dead = (await run(D1, ["--persist-to", state, "dead"], { env })).stdout;
    assert.match(dead, /"destination": "slack",\s+"error": "http_500",\s+"count": 1/);
    const stuck = (await run(D1, ["--persist-to", state, "stuck"], { env })).stdout;
    assert.match(stuck, /"id": "evt_d1test:sendgrid.send"/);
    assert.doesNotMatch(stuck, /slack\.notify/);
    const counts = (await run(D1, ["--persist-to", state, "counts"], { env })).stdout;
    assert.match(counts, /"kind": "step",\s+"status": "dead",\s+"count": 1/);
    await assert.rejects(run(D1, ["bogus"], { env }), (e) => e.code === 2 && /saved queries|recent/.test(e.stderr));
  } finally {
    rmSync(state, { recursive: true, force: true });
  }
});
