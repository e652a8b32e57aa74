// The worker under chaos: the built worker (build/) in workerd through Miniflare, with D1 and
// KV persisted to a run directory so the runtime can be killed mid-flight and started again on
// the same state (`restart()`), as a deploy or an evicted isolate would. A small entry module in
// a copy of build/ runs the real entrypoint with two platform faults it can switch on (over a
// test-only path, `/__chaos/faults`): D1 refusing every call made while answering a webhook
// (ingest must answer 503 + Retry-After and store nothing), and the STEPS queue refusing sends
// (ingest must still answer 200; the sweeper sends the `pending` steps later). Every worker's
// log lines are kept across restarts for the panic and secret checks.
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ROOT, startWorker } from "../helpers/worker.mjs";

const FAULTS_PATH = "/__chaos/faults";

const ENTRY = `
import Worker from "./index.js";
const faults = { d1Ingest: false, queue: false };
const refused = { d1: 0, queue: 0 };
const d1Error = () => new Error("D1_ERROR: chaos: the database refused the call (simulated outage)");
function refusingStatement(statement) {
  return new Proxy(statement, { get(target, key) {
    const value = Reflect.get(target, key);
    if (typeof value !== "function" || key === "constructor") return value;
    if (key === "bind") return (...args) => refusingStatement(value.apply(target, args));
    if (["first", "all", "run", "raw"].includes(key)) return () => { refused.d1 += 1; return Promise.reject(d1Error()); };
    return value.bind(target);
  } });
}
function refusingDb(db) {
  return new Proxy(db, { get(target, key) {
    const value = Reflect.get(target, key);
    if (typeof value !== "function" || key === "constructor") return value;
    if (key === "prepare") return (sql) => refusingStatement(value.call(target, sql));
    if (key === "batch" || key === "exec") return () => { refused.d1 += 1; return Promise.reject(d1Error()); };
    return value.bind(target);
  } });
}
function refusingQueue(queue) {
  return new Proxy(queue, { get(target, key) {
    const value = Reflect.get(target, key);
    if (typeof value !== "function" || key === "constructor") return value;
    if (key === "send" || key === "sendBatch") return (...args) => {
      if (!faults.queue) return value.apply(target, args);
      refused.queue += 1;
      return Promise.reject(new Error("Queue send failed (chaos: simulated outage)"));
    };
    return value.bind(target);
  } });
}
function envFor(env, ingest) {
  return new Proxy(env, { get(target, key) {
    const binding = Reflect.get(target, key);
    if (key === "STEPS") return refusingQueue(binding);
    if (key === "DB" && ingest && faults.d1Ingest) return refusingDb(binding);
    return binding;
  } });
}
export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname === "${FAULTS_PATH}") {
      if (request.method === "POST") Object.assign(faults, await request.json());
      return Response.json({ faults, refused });
    }
    const ingest = url.pathname.startsWith("/webhooks/");
    return new Worker(ctx, envFor(env, ingest)).fetch(request);
  },
  queue(batch, env, ctx) {
    return new Worker(ctx, envFor(env, false)).queue(batch);
  },
  scheduled(event, env, ctx) {
    return new Worker(ctx, envFor(env, false)).scheduled(event);
  },
};
`;

/**
 * Start the worker with `vars` on a fresh run directory. Returns the runtime: `current` (the
 * startWorker handle, null while restarting), `post`/`get`/`all`/`scheduled` that go to the
 * current worker (throwing like a refused connection while it is down), `setFaults`,
 * `restart()`, `logs()` (every line of every worker so far) and `dispose()`.
 */
export async function startRuntime({ vars, captureLogs = true }) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "edgehooks-chaos-"));
  const buildCopy = path.join(dir, "build");
  cpSync(path.join(ROOT, "build"), buildCopy, { recursive: true });
  writeFileSync(path.join(buildCopy, "chaos-entry.mjs"), ENTRY);
  const persist = { d1Persist: path.join(dir, "d1"), kvPersist: path.join(dir, "kv") };
  mkdirSync(persist.d1Persist);
  mkdirSync(persist.kvPersist);
  const miniflare = {
    ...persist,
    scriptPath: path.join(buildCopy, "chaos-entry.mjs"),
    modulesRoot: buildCopy,
    modulesRules: [
      { type: "ESModule", include: ["**/*.js", "**/*.mjs"] },
      { type: "CompiledWasm", include: ["**/*.wasm"], fallthrough: true },
    ],
  };
  const pastLogs = [];
  let faults = { d1Ingest: false, queue: false };
  let restarts = 0;
  let current = await startWorker({ vars, captureLogs, miniflare });
  let ready = Promise.resolve();

  const live = () => {
    if (!current) throw new Error("chaos: worker is down (restarting)");
    return current;
  };
  const runtime = {
    dir,
    get current() {
      return current;
    },
    get restarts() {
      return restarts;
    },
    get db() {
      return live().db;
    },
    /** Resolves once the worker is up (immediately unless a restart is under way). */
    ready: () => ready,
    post: (pathname, body, headers) => live().post(pathname, body, headers),
    get: (pathname, headers) => live().get(pathname, headers),
    all: (sql, ...params) => live().all(sql, ...params),
    /** Run the cron trigger once (sweeper, retention, backfill, metrics, alerts). */
    async scheduled() {
      await ready;
      const worker = await live().mf.getWorker();
      return worker.scheduled({ cron: "* * * * *", scheduledTime: new Date() });
    },
    /** Switch the platform faults ({d1Ingest, queue}); answers the refusals counted so far. */
    async setFaults(change) {
      faults = { ...faults, ...change };
      await ready;
      const res = await live().mf.dispatchFetch(`http://localhost${FAULTS_PATH}`, { method: "POST", body: JSON.stringify(faults) });
      return res.json();
    },
    faults: () => ({ ...faults }),
    /** Kill the runtime (whatever is in flight is lost) and start it again on the persisted state. */
    async restart() {
      const old = current;
      current = null;
      let done;
      ready = new Promise((resolve) => (done = resolve));
      try {
        pastLogs.push(...old.logs);
        await old.mf.dispose();
        current = await startWorker({ vars, captureLogs, miniflare, migrate: false });
        restarts += 1;
        // A new isolate starts without faults; put the run's current ones back.
        await current.mf.dispatchFetch(`http://localhost${FAULTS_PATH}`, { method: "POST", body: JSON.stringify(faults) });
      } finally {
        done();
      }
    },
    logs: () => [...pastLogs, ...(current?.logs ?? [])],
    async dispose({ keep = false } = {}) {
      if (current) {
        pastLogs.push(...current.logs);
        await current.mf.dispose();
        current = null;
      }
      if (!keep) rmSync(dir, { recursive: true, force: true });
    },
  };
  return runtime;
}
