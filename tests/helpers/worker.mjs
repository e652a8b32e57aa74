// Runs the built worker (build/index.js + wasm) in workerd through Miniflare, with the bindings
// wrangler.toml declares (read by wrangler's own config reader, scripts/wrangler-config.mjs):
// KV IDEMPOTENCY, D1 DB (migrated from migrations/), queues STEPS and STEPS_DLQ with their
// consumers. Each call gets fresh, isolated storage.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare, Log, LogLevel, Response as MfResponse } from "miniflare";
import { bindingOptions, readWranglerConfig, stringVars } from "../../scripts/wrangler-config.mjs";
import { sendgridKeys } from "./providers.mjs";
import { checkAdminAnswer } from "./openapi.mjs";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const BUILD = path.join(ROOT, "build");

/**
 * Test-only departures from wrangler.toml, kept in one place: consumers flush after 0.2 s instead
 * of holding a batch for wrangler.toml's second (tests would wait for nothing). Everything else
 * (compatibility date and flags, vars, KV/D1 bindings, queue producers, consumer batch size,
 * retries and dead-letter queue) comes from wrangler.toml through wrangler's own reader.
 */
export const TEST_BATCH_TIMEOUT_SECS = 0.2;

const config = await readWranglerConfig(path.join(ROOT, "wrangler.toml"));
const { queueConsumers: CONFIGURED_CONSUMERS, ...CONFIGURED_BINDINGS } = bindingOptions(config, {
  batchTimeoutSecs: TEST_BATCH_TIMEOUT_SECS,
});
/** wrangler.toml's [vars] as strings, so tests start from the real defaults. */
export const WRANGLER_VARS = stringVars(config);

/**
 * The configured queue consumers with per-queue test changes: `{ steps: { maxRetries: 3 } }`
 * merges into the `steps` consumer; `{ steps: null }` leaves that queue without a consumer.
 */
export function consumersWith(changes = {}) {
  const consumers = structuredClone(CONFIGURED_CONSUMERS);
  for (const [queue, change] of Object.entries(changes)) {
    if (change === null) delete consumers[queue];
    else consumers[queue] = { ...consumers[queue], ...change };
  }
  return consumers;
}

/** The configured queue producers without the given bindings (e.g. a worker that cannot send to STEPS). */
export function producersWithout(...bindings) {
  return Object.fromEntries(Object.entries(CONFIGURED_BINDINGS.queueProducers).filter(([b]) => !bindings.includes(b)));
}

export const TEST_SECRETS = {
  STRIPE_WEBHOOK_SECRETS: "whsec_test_primary,whsec_test_rotated_in",
  ADMIN_TOKEN: "test-admin-token-0123456789abcdef",
  HUBSPOT_ACCESS_TOKEN: "pat-test-hubspot-token",
  SENDGRID_API_KEY: "SG.test-sendgrid-key",
  STRIPE_API_KEY: "sk_test_edgehooks_downstream",
  SENDGRID_FROM_EMAIL: "shop@example.com",
  SENDGRID_TEMPLATE_ORDER_CONFIRMATION: "d-test-order-confirmation",
  SENDGRID_TEMPLATE_CANCELLATION: "d-test-cancellation",
  SENDGRID_TEMPLATE_DUNNING: "d-test-dunning",
  SENDGRID_WEBHOOK_PUBLIC_KEYS: sendgridKeys.publicKeyBase64,
  HUBSPOT_CLIENT_SECRETS: "hubspot-client-secret-primary,hubspot-client-secret-next",
  SHOPIFY_WEBHOOK_SECRETS: "shpss_test_primary,shpss_test_old",
};

/** Downstream settings pointing every destination at a fake at `base`. */
export function downstreamVars(base) {
  return {
    HUBSPOT_API_BASE: base,
    SENDGRID_API_BASE: base,
    STRIPE_API_BASE: base,
    SLACK_WEBHOOK_URL: `${base}/services/T000/B000/test`,
    // Inert without SHOPIFY_ADMIN_TOKEN (the Shopify reconciliation's shops live under /shops).
    SHOPIFY_ADMIN_API_BASE: `${base}/shops/{shop}`,
  };
}

/** A response as the helpers answer it: { status, headers, json (undefined unless JSON), text }. */
async function answerOf(res) {
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json, text };
}

/**
 * Start the worker. `vars` override wrangler.toml's [vars] and TEST_SECRETS. With `queueFault`,
 * the STEPS producer binding is a stand-in that forwards to the real `steps` queue but throws
 * from send/sendBatch while `queueFault.fail(true)` is set (a Queues outage as the worker sees
 * it); the result then has `queueFault.fail(on)` and `queueFault.refused()` (sends refused so far).
 * With `captureLogs`, `logs` collects Miniflare's messages and every line the worker writes to
 * stdout/stderr (console.log / console.error), in order; `workerLogs()` parses the worker's JSON
 * lines. `port` (0 = any free one) also serves the worker over HTTP on 127.0.0.1 (e.g. for a
 * browser); the result's `url` is then its origin. `miniflare` overrides Miniflare options (e.g.
 * drop a binding, persist D1 to a folder); `migrate: false` leaves D1 without the schema (both
 * used by the fault tests). `brokenBodies` adds a caller worker for `postBrokenBody` (a request
 * body that breaks off part-way). Every worker's stdout/stderr is collected into `logs` (and still
 * printed unless captureLogs), so dispose() can check that no configured secret was ever logged.
 */
export async function startWorker({
  vars = {},
  captureLogs = false,
  queueFault = false,
  port,
  miniflare = {},
  migrate: applyMigrations = true,
  brokenBodies = false,
} = {}) {
  const logs = [];
  const log = captureLogs ? new CapturingLog(logs) : new Log(LogLevel.WARN);
  // Persistence and the inspector are shared by all workers; the rest (bindings) belong to ours.
  const { d1Persist, kvPersist, inspectorPort, ...workerOverrides } = miniflare;
  const worker = {
    name: "edgehooks",
    scriptPath: path.join(BUILD, "index.js"),
    modulesRoot: BUILD,
    modules: true,
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"], fallthrough: true }],
    ...CONFIGURED_BINDINGS,
    queueConsumers: structuredClone(CONFIGURED_CONSUMERS),
    // A test that reads the logs gets every line (LOG_LEVEL=info); the others run with the
    // default of wrangler.toml, as a deployment does.
    bindings: { ...WRANGLER_VARS, ...(captureLogs ? { LOG_LEVEL: "info" } : {}), ...TEST_SECRETS, ...vars },
    ...workerOverrides,
  };
  const fault = { failing: false, refused: 0 };
  const workers = [worker];
  const hasDb = Array.isArray(worker.d1Databases) ? worker.d1Databases.includes("DB") : Boolean(worker.d1Databases?.DB);
  if (hasDb) {
    workers.push({ name: "test-sql", modules: true, compatibilityDate: "2024-09-23", script: SQL_WORKER, d1Databases: { DB: d1Id(worker.d1Databases) }, routes: [`${SQL_HOST}/*`] });
  }
  if (brokenBodies) {
    workers.push({ name: "broken-body-caller", modules: true, compatibilityDate: "2024-09-23", script: BROKEN_BODY_CALLER, serviceBindings: { EDGEHOOKS: "edgehooks" } });
  }
  if (queueFault) {
    const { STEPS: realSteps, ...otherProducers } = worker.queueProducers;
    worker.queueProducers = otherProducers;
    worker.wrappedBindings = { STEPS: "failing-steps-producer" };
    workers.push({
      name: "failing-steps-producer",
      modules: true,
      script: FAILING_PRODUCER,
      queueProducers: { REAL: realSteps },
      serviceBindings: {
        CONTROL: () => {
          if (fault.failing) fault.refused += 1;
          return new MfResponse(fault.failing ? "fail" : "ok");
        },
      },
    });
  }
  const listen = port === undefined ? {} : { host: "127.0.0.1", port };
  const persist = {
    ...(d1Persist ? { d1Persist } : {}),
    ...(kvPersist ? { kvPersist } : {}),
    ...(inspectorPort ? { inspectorPort } : {}),
  };
  const mf = new Miniflare({
    workers,
    cf: false,
    log,
    handleRuntimeStdio: (stdout, stderr) => collectLines([stdout, stderr], logs, !captureLogs),
    ...listen,
    ...persist,
  });
  holdToDocument(mf);
  const db = hasDb ? new D1OverHttp(mf) : null;
  let url;
  try {
    url = await mf.ready;
    if (db && applyMigrations) await migrate(db);
  } catch (error) {
    // A worker that never came up must not outlive the failure: its workerd would keep the test
    // process alive, and the run would hang instead of failing.
    await mf.dispose().catch(() => {});
    throw error;
  }
  return {
    mf,
    db,
    logs,
    url: port === undefined ? undefined : url.origin,
    /** The worker's JSON log lines so far, parsed (captureLogs only). */
    workerLogs() {
      return logs.flatMap((line) => {
        const start = line.indexOf("{");
        if (start < 0) return [];
        try {
          return [JSON.parse(line.slice(start))];
        } catch {
          return [];
        }
      });
    },
    /** POST raw bytes to a path with headers; returns { status, json, text }. */
    async post(pathname, body, headers = {}) {
      const res = await mf.dispatchFetch(`http://localhost${pathname}`, { method: "POST", body, headers });
      return answerOf(res);
    },
    async get(pathname, headers = {}) {
      const res = await mf.dispatchFetch(`http://localhost${pathname}`, { headers });
      return answerOf(res);
    },
    /**
     * (brokenBodies only) POST to `pathname` through a service binding with a body that
     * declares its length, sends `firstChunk` and then breaks off, as a client that drops the
     * connection mid-body does; returns { status, json, text } of the worker's answer.
     */
    async postBrokenBody(pathname, firstChunk, headers = {}) {
      const caller = await mf.getWorker("broken-body-caller");
      const res = await caller.fetch(`http://localhost${pathname}`, { method: "POST", headers: { ...headers, "x-first-chunk": firstChunk } });
      return answerOf(res);
    },
    async all(sql, ...params) {
      return (await db.prepare(sql).bind(...params).all()).results;
    },
    async dispose() {
      await mf.dispose();
      const leaks = leakedSecrets(logs, { ...TEST_SECRETS, ...vars });
      if (leaks.length) throw new Error(`configured secrets appeared in worker logs:\n${leaks.join("\n")}`);
    },
    queueFault: queueFault
      ? {
          fail(on) {
            fault.failing = on;
          },
          /** How many send/sendBatch calls the simulated outage has refused so far. */
          refused() {
            return fault.refused;
          },
        }
      : undefined,
  };
}

/**
 * Every answer the tests get through `mf.dispatchFetch` (the helpers below and the tests' own
 * calls) is checked against the admin API's OpenAPI document (helpers/openapi.mjs): an admin
 * answer whose route, status or body the document does not describe throws, failing the test
 * that made the call.
 */
function holdToDocument(mf) {
  const dispatch = mf.dispatchFetch.bind(mf);
  mf.dispatchFetch = async (input, init) => {
    const res = await dispatch(input, init);
    await checkAdminAnswer(input, init, res);
    return res;
  };
}

/**
 * The tests' own door to D1. Miniflare's `getD1Database` proxy answers every property read and
 * every synchronous call (`prepare`, `bind`) with a blocking round trip through a worker thread
 * (its SynchronousFetcher), and under load one of those round trips has come back without its
 * answer, failing Miniflare's internal `message?.id === id` assertion in whatever setup or poll
 * happened to run. So the tests never use that proxy: a second worker (`test-sql`), bound to
 * the same D1 database, runs the statements, and the tests reach it with plain asynchronous
 * `dispatchFetch` calls routed by host. `prepare(sql).bind(...).all() / .run() / .first()` and
 * `batch([...])` behave like D1's own, so helpers and tests read as before.
 */
const SQL_HOST = "test-sql.invalid";

/** The D1 database id behind binding DB, in either of Miniflare's binding shapes. */
function d1Id(d1Databases) {
  return Array.isArray(d1Databases) ? "DB" : d1Databases.DB;
}

const SQL_WORKER = `
const statement = (db, { sql, params }) => db.prepare(sql).bind(...params);
export default {
  async fetch(request, env) {
    const { op, statements } = await request.json();
    try {
      if (op === "batch") {
        const results = await env.DB.batch(statements.map((s) => statement(env.DB, s)));
        return Response.json({ ok: true, results });
      }
      const result = await statement(env.DB, statements[0])[op]();
      return Response.json({ ok: true, result });
    } catch (error) {
      return Response.json({ ok: false, message: String(error?.message ?? error) });
    }
  },
};
`;

class D1OverHttp {
  #mf;
  constructor(mf) {
    this.#mf = mf;
  }
  prepare(sql) {
    return new StatementOverHttp(this, sql, []);
  }
  async batch(statements) {
    return this.send("batch", statements.map((s) => s.toJSON()));
  }
  /** Run `op` on the statements in the test-sql worker; throws D1's error message as an Error. */
  async send(op, statements) {
    const res = await this.#mf.dispatchFetch(`http://${SQL_HOST}/`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ op, statements }),
    });
    const answer = await res.json();
    if (!answer.ok) throw new Error(answer.message);
    return op === "batch" ? answer.results : answer.result;
  }
}

class StatementOverHttp {
  #db;
  #sql;
  #params;
  constructor(db, sql, params) {
    this.#db = db;
    this.#sql = sql;
    this.#params = params;
  }
  bind(...params) {
    return new StatementOverHttp(this.#db, this.#sql, params);
  }
  toJSON() {
    return { sql: this.#sql, params: this.#params };
  }
  all() {
    return this.#db.send("all", [this.toJSON()]);
  }
  run() {
    return this.#db.send("run", [this.toJSON()]);
  }
  first() {
    return this.#db.send("first", [this.toJSON()]);
  }
}

// The STEPS stand-in for `queueFault`. Its class is named like the runtime's queue binding,
// because workers-rs checks the binding's constructor name.
const FAILING_PRODUCER = `
class WorkerQueue {
  constructor(env) { this.env = env; }
  async check() {
    const answer = await (await this.env.CONTROL.fetch("http://control/")).text();
    if (answer === "fail") throw new Error("Queue send failed (simulated outage)");
  }
  async send(body, options) { await this.check(); return this.env.REAL.send(body, options); }
  async sendBatch(messages, options) { await this.check(); return this.env.REAL.sendBatch(messages, options); }
}
export default function (env) { return new WorkerQueue(env); }
`;

// The caller for `brokenBodies`: forwards the request to edgehooks with a body that declares its
// length (a FixedLengthStream: `Content-Length`), sends the first chunk and then breaks off, so
// the worker's read of it fails (a stream that merely ends early reads as a shorter body).
const BROKEN_BODY_CALLER = `
export default {
  async fetch(request, env) {
    const first = new TextEncoder().encode(request.headers.get("x-first-chunk") ?? "");
    const headers = new Headers(request.headers);
    headers.delete("x-first-chunk");
    const { readable, writable } = new FixedLengthStream(first.length + 100);
    const writer = writable.getWriter();
    writer.write(first).then(() => writer.abort(new Error("the client went away"))).catch(() => {});
    try {
      return await env.EDGEHOOKS.fetch(request.url, { method: "POST", headers, body: readable });
    } catch (e) {
      return new Response(JSON.stringify({ caller_error: String(e) }), { status: 599 });
    }
  },
};
`;

/** Apply migrations/*.sql in order, statement by statement. */
export async function migrate(db) {
  const dir = path.join(ROOT, "migrations");
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".sql")).sort()) {
    const sql = readFileSync(path.join(dir, file), "utf8").replace(/--[^\n]*/g, "");
    for (const statement of sql.split(";").map((s) => s.trim()).filter(Boolean)) {
      await db.prepare(statement).run();
    }
  }
}

/** Wait until no step is pending, enqueued or running (earlier tests' work has settled). */
export async function waitForNoStepInFlight(worker) {
  await waitFor(
    async () => {
      const [row] = await worker.all("SELECT COUNT(*) AS n FROM steps WHERE status IN ('pending', 'enqueued', 'running')");
      return row.n === 0;
    },
    { what: "no step in flight" },
  );
}

/** Poll `check` until it returns a truthy value or `timeoutMs` passes (then throw, naming `what`). */
export async function waitFor(check, { timeoutMs = 15000, intervalMs = 100, what = "condition" } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await check();
    if (last) return last;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out waiting for ${what}; last value: ${JSON.stringify(last)}`);
}

/** Log lines containing the value of any secret-looking setting (names with SECRET, TOKEN, KEY or a webhook URL). */
export function leakedSecrets(lines, settings) {
  const values = Object.entries(settings)
    .filter(([name]) => /SECRET|TOKEN|_KEY|WEBHOOK_URL/.test(name) && !/TEMPLATE/.test(name))
    .flatMap(([, value]) => String(value).split(",").map((v) => v.trim()))
    .filter((v) => v.length >= 8);
  return lines.filter((line) => values.some((v) => line.includes(v))).map((line) => line.slice(0, 200));
}

function collectLines(streams, sink, echo) {
  for (const [i, stream] of streams.entries()) {
    let rest = "";
    stream.setEncoding("utf8");
    stream.on("data", (chunk) => {
      if (echo) (i === 0 ? process.stdout : process.stderr).write(chunk);
      const lines = (rest + chunk).split("\n");
      rest = lines.pop();
      sink.push(...lines.filter((l) => l.trim()));
    });
    stream.on("end", () => rest.trim() && sink.push(rest));
  }
}

class CapturingLog extends Log {
  constructor(sink) {
    super(LogLevel.DEBUG);
    this.sink = sink;
  }
  log(message) {
    this.sink.push(message);
  }
}
