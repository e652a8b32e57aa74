// Counts what the worker asks of its bindings, per invocation: every D1 round trip (a `batch`,
// or a statement's `first`/`all`/`run`/`raw`, each named by its first SQL statement) with the rows
// D1 reports it read and wrote (`meta.rows_read` / `meta.rows_written`, summed over a batch's
// results) and the database size after it (`meta.size_after`), KV operations, Queue sends (and
// the messages in them), and for a queue invocation the messages delivered and retried. The built
// worker runs unchanged: a small entry module in a copy of build/ constructs the real entrypoint
// with an `env` whose D1, KV and Queue bindings are wrapped, records one entry per
// fetch/queue/scheduled invocation, and serves the record at `GET /__binding_counts` (the path
// exists only in this test build). D1, KV and Queues stay the real Miniflare ones. `first()`
// returns no meta, so the wrapper answers it from `all()` on the same statement (D1's `first`
// runs the whole query too, so the rows read are the same); `raw()` returns no meta either and is
// counted in `unmetered`. Each record also carries `startedAt` and `wallMs` (the invocation's
// wall time, e.g. a queue batch's latency). A plain object-style worker (`export default { fetch, queue }`, e.g. the
// JS peer) can be wrapped the same way (`style: "object"`, its binding names in `bindings`).
// Used by tests/e2e/round-trips.test.mjs (a budget per event and per step),
// tests/e2e/drain.test.mjs (the work per drained step), bench/round-trips.mjs, bench/drain.mjs and
// bench/cost.mjs.
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ROOT } from "./worker.mjs";

export const COUNTS_PATH = "/__binding_counts";

/** The entry module's source: `style` "class" (edgehooks: `new Worker(ctx, env).fetch(request)`) or "object". */
function entrySource({ style, bindings }) {
  const invoke = style === "class"
    ? { fetch: "new Worker(ctx, env).fetch(request)", queue: "new Worker(ctx, env).queue(batch)", scheduled: "new Worker(ctx, env).scheduled(event)" }
    : { fetch: "Worker.fetch(request, env, ctx)", queue: "Worker.queue(batch, env, ctx)", scheduled: "Worker.scheduled(event, env, ctx)" };
  return `
import Worker from "./index.js";
const BINDINGS = ${JSON.stringify(bindings)};
const invocations = [];
// One entry per statement run: [sql, rows read, rows written] (a batch's each on its own).
function statementRun(record, sql, meta) {
  record.d1Statements.push([sql, meta?.rows_read ?? 0, meta?.rows_written ?? 0]);
}
// One entry per round trip beside record.d1: [rows read, rows written, D1's own duration (ms), wall ms].
function roundTrip(record, label) {
  record.d1.push(label);
  const trip = [0, 0, 0, 0];
  record.d1Trips.push(trip);
  return trip;
}
function meter(record, trip, meta) {
  if (!meta) return;
  trip[0] += meta.rows_read ?? 0;
  trip[1] += meta.rows_written ?? 0;
  trip[2] += meta.duration ?? 0;
  record.rowsRead += meta.rows_read ?? 0;
  record.rowsWritten += meta.rows_written ?? 0;
  if (typeof meta.size_after === "number") record.sizeAfter = meta.size_after;
}
async function timed(record, trip, promise) {
  const start = Date.now();
  try { return await promise; } finally { trip[3] = Date.now() - start; record.d1WallMs += trip[3]; }
}
async function firstFromAll(target, sql, record, trip, column) {
  const result = await timed(record, trip, target.all());
  meter(record, trip, result.meta);
  statementRun(record, sql, result.meta);
  const row = result.results?.[0];
  if (row === undefined) return null;
  if (column === undefined || column === null) return row;
  if (!(column in row)) throw new Error("D1_COLUMN_NOTFOUND: Column not found (" + column + ")");
  return row[column];
}
function wrapStatement(statement, sql, record) {
  return new Proxy(statement, { get(target, key) {
    if (key === "__sql") return sql;
    if (key === "__target") return target;
    const value = Reflect.get(target, key);
    if (typeof value !== "function" || key === "constructor") return value;
    if (key === "bind") return (...args) => wrapStatement(value.apply(target, args), sql, record);
    if (key === "first") return (column) => firstFromAll(target, sql, record, roundTrip(record, "first " + sql), column);
    if (key === "raw") return (...args) => { record.unmetered += 1; return timed(record, roundTrip(record, "raw " + sql), value.apply(target, args)); };
    if (key === "all" || key === "run") return async (...args) => {
      const trip = roundTrip(record, key + " " + sql);
      const result = await timed(record, trip, value.apply(target, args));
      meter(record, trip, result?.meta);
      statementRun(record, sql, result?.meta);
      return result;
    };
    return value.bind(target);
  } });
}
function messagesIn(args) {
  return Array.isArray(args[0]) ? args[0].length : 1;
}
function wrapBinding(binding, name, kind, record) {
  return new Proxy(binding, { get(target, key) {
    const value = Reflect.get(target, key);
    if (typeof value !== "function" || key === "constructor") return value;
    if (kind === "d1" && key === "prepare") return (sql) => wrapStatement(value.call(target, sql), sql, record);
    if (kind === "d1" && key === "batch") return async (statements) => {
      const trip = roundTrip(record, "batch[" + statements.length + "] " + (statements[0]?.__sql ?? ""));
      const results = await timed(record, trip, value.call(target, statements.map((s) => s.__target ?? s)));
      for (const result of results ?? []) meter(record, trip, result?.meta);
      statements.forEach((s, i) => statementRun(record, s.__sql ?? "", results?.[i]?.meta));
      return results;
    };
    if (kind === "d1") return value.bind(target);
    return (...args) => {
      record.calls.push(name + "." + String(key));
      if (kind === "queue" && (key === "send" || key === "sendBatch")) record.sent += messagesIn(args);
      if (kind === "kv" && (key === "get" || key === "getWithMetadata")) record.kvKeysRead += messagesIn(args);
      return value.apply(target, args);
    };
  } });
}
function wrapEnv(env, record) {
  return new Proxy(env, { get(target, key) {
    const binding = Reflect.get(target, key);
    const kind = Object.keys(BINDINGS).find((k) => BINDINGS[k].includes(key));
    return kind ? wrapBinding(binding, key, kind, record) : binding;
  } });
}
// The batch as the worker sees it, counting the messages it hands back for another delivery.
function wrapBatch(batch, record) {
  const messages = batch.messages.map((message) => new Proxy(message, { get(target, key) {
    const value = Reflect.get(target, key);
    if (typeof value !== "function") return value;
    if (key === "retry") return (...args) => { record.retried += 1; return value.apply(target, args); };
    return value.bind(target);
  } }));
  return new Proxy(batch, { get(target, key) {
    if (key === "messages") return messages;
    const value = Reflect.get(target, key);
    if (typeof value !== "function") return value;
    if (key === "retryAll") return (...args) => { record.retried = messages.length; return value.apply(target, args); };
    return value.bind(target);
  } });
}
function begin(kind, detail) {
  const record = { kind, detail, d1: [], d1Trips: [], d1Statements: [], calls: [], rowsRead: 0, rowsWritten: 0, sizeAfter: null, d1WallMs: 0, unmetered: 0, sent: 0, kvKeysRead: 0, delivered: 0, retried: 0, failed: false, startedAt: Date.now(), wallMs: null };
  invocations.push(record);
  return record;
}
export default {
  fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname === "${COUNTS_PATH}") return Response.json(invocations);
    const record = begin("fetch", request.method + " " + url.pathname);
    env = wrapEnv(env, record);
    return ${invoke.fetch};
  },
  async queue(batch, env, ctx) {
    const record = begin("queue", batch.queue + " " + batch.messages.length);
    record.delivered = batch.messages.length;
    env = wrapEnv(env, record);
    batch = wrapBatch(batch, record);
    try {
      return await ${invoke.queue};
    } catch (error) {
      record.failed = true;
      throw error;
    } finally {
      record.wallMs = Date.now() - record.startedAt;
    }
  },
  scheduled(event, env, ctx) {
    const record = begin("scheduled", event.cron);
    env = wrapEnv(env, record);
    return ${invoke.scheduled};
  },
};
`;
}

/** edgehooks' bindings by kind (the `bindings` option's shape). */
export const EDGEHOOKS_BINDINGS = { d1: ["DB"], kv: ["IDEMPOTENCY"], queue: ["STEPS"] };

/**
 * Miniflare options that run a counting copy of build/ (or of the build in `from`, whose entry is
 * `index.js`; pass as `startWorker({ miniflare })`), and `cleanup()` for the copy. `style` and
 * `bindings` describe another worker (see the header).
 */
export function countingBuild({ from = path.join(ROOT, "build"), style = "class", bindings = EDGEHOOKS_BINDINGS } = {}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "edgehooks-counting-"));
  cpSync(from, dir, { recursive: true });
  writeFileSync(path.join(dir, "counting-entry.mjs"), entrySource({ style, bindings }));
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

/**
 * Every invocation recorded so far: `{ kind, detail, d1: [what + sql], d1Trips: [[rows read, rows written,
 * D1 duration ms, wall ms] per round trip], d1Statements: [[sql, rows read, rows written] per
 * statement, a batch's each on its own], calls: ["IDEMPOTENCY.get", …],
 * rowsRead, rowsWritten, sizeAfter, d1WallMs, unmetered, sent, kvKeysRead (a bulk get counts its keys),
 * delivered, retried, failed }`.
 */
export async function invocations(worker) {
  const res = await worker.mf.dispatchFetch(`http://localhost${COUNTS_PATH}`);
  return res.json();
}
