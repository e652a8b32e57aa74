// scripts/d1's saved queries against a throwaway local D1 (migrated with wrangler, selected with
// --persist-to and with EDGEHOOKS_STATE, as scripts/dev does): recent events, dead steps grouped
// by destination and error, stuck steps, counts; and scripts/d1 beside a writer that holds the
// database's write lock, as `wrangler dev` does while it commits (issue 23: `wrangler d1 execute
// --local` failed at once with SQLITE_BUSY there).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readlinkSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { ROOT, waitFor } from "../helpers/worker.mjs";
import { localD1File } from "../../scripts/wrangler-config.mjs";

const run = promisify(execFile);
const D1 = path.join(ROOT, "scripts/d1");
const env = { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true" };

/** scripts/d1's rows: one JSON array per statement that returned rows, concatenated. */
async function rows(...args) {
  const { stdout } = await run(D1, args, { env });
  return stdout.trim() === "" ? [] : JSON.parse(`[${stdout.trim().replace(/\]\s*\[/g, "],[")}]`).flat();
}

/** A sqlite3 session on `file` holding a write transaction open until `release()`. */
async function holdWriteLock(file) {
  const holder = spawn("sqlite3", [file], { stdio: ["pipe", "pipe", "inherit"] });
  let out = "";
  holder.stdout.on("data", (d) => (out += d));
  holder.stdin.write("BEGIN IMMEDIATE;\nINSERT INTO rejections (provider, reason, hour, count) VALUES ('held', 'lock', 1, 1);\n.print holding\n");
  await waitFor(() => out.includes("holding"), { timeoutMs: 10_000, intervalMs: 20, what: "sqlite3 to hold the write lock" });
  const exited = new Promise((r) => holder.on("exit", r));
  return async () => {
    holder.stdin.end("COMMIT;\n");
    await exited;
  };
}

/** Whether process `pid` has `file` open (scripts/d1 execs sqlite3, so its pid is the client's). */
function hasOpen(pid, file) {
  try {
    return readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`) === file;
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}

describe("scripts/d1", () => {
  let state;
  before(async () => {
    state = mkdtempSync(path.join(os.tmpdir(), "edgehooks-d1-"));
    await run(path.join(ROOT, "node_modules/.bin/wrangler"), ["d1", "migrations", "apply", "DB", "--local", "--persist-to", state], { cwd: ROOT, env });
  });
  after(() => rmSync(state, { recursive: true, force: true }));

  test("saved queries", { timeout: 120_000 }, async () => {
    const old = Date.now() - 3_600_000;
    await run(D1, ["--persist-to", state, "sql", `
      INSERT INTO events (id, provider, dedupe_key, type, received_at, status) VALUES ('evt_d1test', 'stripe', 'evt_saved_query', 'invoice.payment_failed', ${old}, 'accepted');
      INSERT INTO steps (id, event_id, name, destination, status, idempotency_key, created_at, updated_at, last_error)
        VALUES ('evt_d1test:slack.notify', 'evt_d1test', 'slack.notify', 'slack', 'dead', 'k1', ${old}, ${old}, 'http_500: boom'),
               ('evt_d1test:sendgrid.send', 'evt_d1test', 'sendgrid.send', 'sendgrid', 'pending', 'k2', ${old}, ${old}, NULL)`], { env });

    const { stdout } = await run(D1, ["recent", "5"], { env: { ...env, EDGEHOOKS_STATE: state } });
    const [recent] = JSON.parse(stdout);
    assert.equal(recent.dedupe_key, "evt_saved_query");
    assert.equal(recent.steps_done, "0/2");
    const dead = await rows("--persist-to", state, "dead");
    assert.deepEqual(dead[0], { destination: "slack", error: "http_500", count: 1, newest: dead[0].newest });
    assert.equal(dead[1].id, "evt_d1test:slack.notify");
    const stuck = await rows("--persist-to", state, "stuck");
    assert.deepEqual(stuck.map((s) => s.id), ["evt_d1test:sendgrid.send"]);
    const counts = await rows("--persist-to", state, "counts");
    assert.ok(counts.some((c) => c.kind === "step" && c.status === "dead" && c.count === 1), JSON.stringify(counts));
    await assert.rejects(run(D1, ["bogus"], { env }), (e) => e.code === 2 && /saved queries|recent/.test(e.stderr));
    await assert.rejects(
      run(D1, ["sql", "INSERT INTO steps (id, event_id, name, destination, idempotency_key, created_at, updated_at) VALUES ('x', 'no_such_event', 'n', 'd', 'k', 0, 0)"], { env: { ...env, EDGEHOOKS_STATE: state } }),
      (e) => /FOREIGN KEY/.test(e.stderr),
      "foreign keys are enforced, as in D1",
    );
    await assert.rejects(run(D1, ["--persist-to", path.join(state, "missing"), "counts"], { env }), (e) => e.code === 1 && /run scripts\/dev/.test(e.stderr));
  });

  test("reads and writes beside a writer holding the database's write lock", { timeout: 120_000 }, async () => {
    const file = await localD1File(state);
    const release = await holdWriteLock(file);
    let writer;
    try {
      // A read never needs the lock: it sees what was committed, not the held insert.
      const counts = await rows("--persist-to", state, "counts");
      assert.ok(counts.some((c) => c.kind === "event"), JSON.stringify(counts));
      assert.deepEqual(await rows("--persist-to", state, "sql", "SELECT count(*) AS n FROM rejections WHERE provider = 'held'"), [{ n: 0 }]);

      // A write waits for the lock (busy_timeout) instead of failing: it is still running once
      // it has the database open, and succeeds when the holder commits.
      writer = run(D1, ["--persist-to", state, "sql", "INSERT INTO rejections (provider, reason, hour, count) VALUES ('waited', 'lock', 1, 1)"], { env });
      const pid = writer.child.pid;
      let done = false;
      writer.then(() => (done = true), () => (done = true));
      await waitFor(() => done || hasOpen(pid, file), { timeoutMs: 30_000, intervalMs: 20, what: "scripts/d1 to open the database" });
      assert.equal(done, false, "the write did not finish while the lock was held");
    } finally {
      await release();
    }
    await writer;
    const stored = await rows("--persist-to", state, "sql", "SELECT provider FROM rejections WHERE reason = 'lock' ORDER BY provider");
    assert.deepEqual(stored, [{ provider: "held" }, { provider: "waited" }]);
  });
});
