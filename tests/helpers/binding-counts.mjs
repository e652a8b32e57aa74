// Counts what the worker asks of its bindings, per invocation: every D1 round trip (a `batch`,
// or a statement's `first`/`all`/`run`/`raw`, each named by its first SQL statement), KV
// operations and Queue sends. The built worker runs unchanged: a small entry module in a copy of
// build/ constructs the real entrypoint with an `env` whose DB, IDEMPOTENCY and STEPS bindings
// are wrapped, records one entry per fetch/queue/scheduled invocation, and serves the record at
// `GET /__binding_counts` (the path exists only in this test build). D1, KV and Queues stay the
// real Miniflare ones. Used by tests/e2e/round-trips.test.mjs (a budget per event and per step),
// tests/e2e/drain.test.mjs (the work per drained step), bench/round-trips.mjs and bench/drain.mjs.
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ROOT } from "./worker.mjs";

export const COUNTS_PATH = "/__binding_counts";

const ENTRY = `
import Worker from "./index.js";
const invocations = [];
function wrapStatement(statement, sql, record) {
  return new Proxy(statement, { get(target, key) {
    if (key === "__sql") return sql;
    const value = Reflect.get(target, key);
    if (typeof value !== "function" || key === "constructor") return value;
    if (key === "bind") return (...args) => wrapStatement(value.apply(target, args), sql, record);
    if (["first", "all", "run", "raw"].includes(key)) return (...args) => { record.d1.push(key + " " + sql); return value.apply(target, args); };
    return value.bind(target);
  } });
}
function wrapBinding(binding, name, record) {
  return new Proxy(binding, { get(target, key) {
    const value = Reflect.get(target, key);
    if (typeof value !== "function" || key === "constructor") return value;
    if (name === "DB" && key === "prepare") return (sql) => wrapStatement(value.call(target, sql), sql, record);
    if (name === "DB" && key === "batch") return (statements) => { record.d1.push("batch[" + statements.length + "] " + (statements[0]?.__sql ?? "")); return value.call(target, statements); };
    if (name === "DB") return value.bind(target);
    return (...args) => { record.calls.push(name + "." + String(key)); return value.apply(target, args); };
  } });
}
function wrapEnv(env, record) {
  return new Proxy(env, { get(target, key) {
    const binding = Reflect.get(target, key);
    return ["DB", "IDEMPOTENCY", "STEPS"].includes(key) ? wrapBinding(binding, key, record) : binding;
  } });
}
function begin(kind, detail) {
  const record = { kind, detail, d1: [], calls: [] };
  invocations.push(record);
  return record;
}
export default {
  fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname === "${COUNTS_PATH}") return Response.json(invocations);
    const record = begin("fetch", request.method + " " + url.pathname);
    return new Worker(ctx, wrapEnv(env, record)).fetch(request);
  },
  queue(batch, env, ctx) {
    const record = begin("queue", batch.queue + " " + batch.messages.length);
    return new Worker(ctx, wrapEnv(env, record)).queue(batch);
  },
  scheduled(event, env, ctx) {
    const record = begin("scheduled", event.cron);
    return new Worker(ctx, wrapEnv(env, record)).scheduled(event);
  },
};
`;

/**
 * Miniflare options that run a counting copy of build/ (or of the build in `from`; pass as
 * `startWorker({ miniflare })`), and `cleanup()` for the copy.
 */
export function countingBuild({ from = path.join(ROOT, "build") } = {}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "edgehooks-counting-"));
  cpSync(from, dir, { recursive: true });
  writeFileSync(path.join(dir, "counting-entry.mjs"), ENTRY);
  return {
    miniflare: {
      scriptPath: path.join(dir, "counting-entry.mjs"),
      modulesRoot: dir,
      modulesRules: [
        { type: "ESModule", include: ["**/*.js", "**/*.mjs"] },
        { type: "CompiledWasm", include: ["**/*.wasm"], fallthrough: true },
      ],
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Every invocation recorded so far: `{ kind, detail, d1: [what + sql], calls: ["KV.get", …] }`. */
export async function invocations(worker) {
  const res = await worker.mf.dispatchFetch(`http://localhost${COUNTS_PATH}`);
  return res.json();
}
