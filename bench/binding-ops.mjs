#!/usr/bin/env node
// What each binding operation costs the runtime, apart from any worker's own code: a tiny JS
// worker (written below) runs one kind of operation in a loop, in PAR concurrent requests, under
// Miniflare with the project's migrations, and the CPU time of workerd's threads (read from
// /proc, so Linux only) is divided by the operations done. workerd runs this worker and the
// KV/D1/Queue simulators on one main thread, so the figure is what the simulators (and the
// runtime's binding client code) spend per operation: the part of `compare.sh`'s cpu/req that
// neither edgehooks' Rust nor the peer's JavaScript can change, other than by doing fewer
// operations. `fetch` calls an HTTP server in this process; its own CPU is shown apart.
// The operations are the ones the two sides of `compare.sh` make: the peer's D1 insert, and
// edgehooks' ingest batch (the events INSERT of src/db/ingest.rs with the Stripe customer upsert).
//   node bench/binding-ops.mjs            (N=960 operations per row, PAR="1 32", REPS=3)
//   N=.. PAR="1 8 32" REPS=.. OPS=kv_put,d1_peer_insert node bench/binding-ops.mjs
import { readFileSync, readdirSync, mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { migrate } from "../tests/helpers/worker.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const N = Number(process.env.N ?? 960);
const PARS = (process.env.PAR ?? "1 32").split(/\s+/).filter(Boolean).map(Number);
const REPS = Number(process.env.REPS ?? 3);

const WORKER = `
const PAYLOAD = JSON.stringify({ id: "evt_x", object: "event", data: { object: { id: "cs_x", object: "checkout.session", padding: "x".repeat(1900) } } });
const EVENT_COLUMNS = "id, provider, dedupe_key, type, account, occurred_at, received_at, status, key_index, payload, payload_bytes, content_key, origin, source, version_key";
const eventsInsert = (env, k) => env.DB.prepare("INSERT INTO events (" + EVENT_COLUMNS + ") SELECT * FROM (VALUES (?6, ?1, ?7, ?8, ?9, ?10, ?2, 'accepted', ?3, ?11, ?12, ?13, ?4, ?5, ?14)) WHERE (column15 IS NULL OR NOT EXISTS (SELECT 1 FROM events e WHERE e.provider = ?1 AND e.version_key = column15 AND e.origin <> ?4)) ON CONFLICT DO NOTHING RETURNING id")
  .bind("stripe", Date.now(), 0, "webhook", null, "ev_" + k, k, "checkout.session.completed", null, Date.now(), PAYLOAD, PAYLOAD.length, null, null);
const customerUpsert = (env, k) => env.DB.prepare("INSERT INTO stripe_customers (id, email, name, phone, deleted, source, as_of, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (id) DO UPDATE SET email = excluded.email, name = COALESCE(excluded.name, stripe_customers.name), phone = COALESCE(excluded.phone, stripe_customers.phone), deleted = excluded.deleted, source = excluded.source, as_of = excluded.as_of, updated_at = excluded.updated_at WHERE excluded.as_of >= stripe_customers.as_of")
  .bind("cus_" + k, "jenny@example.com", "Jenny Rosen", null, 0, "checkout.session.completed", Date.now(), Date.now());
const OPS = {
  noop: async () => {},
  kv_get: (env, k) => env.KV.get(k),
  kv_get_bulk: (env, k) => env.KV.get([k]),
  kv_put: (env, k) => env.KV.put(k, "1", { expirationTtl: 86400 }),
  d1_peer_insert: (env, k) => env.DB.prepare("INSERT INTO peer_events (provider, event_id, type, payload, received_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (provider, event_id) DO NOTHING").bind("stripe", k, "checkout.session.completed", PAYLOAD, Date.now()).run(),
  d1_events_batch: (env, k) => env.DB.batch([eventsInsert(env, k)]),
  d1_ingest_batch: (env, k) => env.DB.batch([eventsInsert(env, k), customerUpsert(env, k)]),
  queue_send: (env, k) => env.Q.send({ step_id: k }),
  queue_send_batch: (env, k) => env.Q.sendBatch([{ body: JSON.stringify({ step_id: k }), contentType: "json" }]),
  fetch: async (env, k) => { const r = await fetch(env.FAKE + "/" + k, { method: "POST", body: "{}" }); await r.arrayBuffer(); },
};
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const op = OPS[url.pathname.slice(1)];
    if (!op) return new Response("unknown operation", { status: 404 });
    const n = Number(url.searchParams.get("n"));
    for (let i = 0; i < n; i++) await op(env, url.searchParams.get("prefix") + "_" + i);
    return new Response("ok");
  },
  async queue(batch) { for (const message of batch.messages) message.ack(); },
};`;

/** CPU ticks (user + system) of every thread of `pid`, in microseconds. */
function threadCpuUs(pid) {
  const tick = 1e6 / 100; // USER_HZ
  let total = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    const fields = readFileSync(`/proc/${pid}/task/${task}/stat`, "utf8").split(") ")[1].split(" ");
    total += (Number(fields[11]) + Number(fields[12])) * tick;
  }
  return total;
}

/** The workerd process Miniflare started (the newest one that is a child of this process). */
function workerdPid() {
  for (const entry of readdirSync("/proc").filter((e) => /^\d+$/.test(e)).sort((a, b) => b - a)) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const parent = Number(stat.split(") ")[1].split(" ")[1]);
      if (stat.includes("(workerd)") && parent === process.pid) return Number(entry);
    } catch {}
  }
  throw new Error("no workerd child process found");
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

const fake = createServer((req, res) => req.resume().on("end", () => res.end('{"ok":true}')));
await new Promise((resolve) => fake.listen(0, "127.0.0.1", resolve));
const dir = mkdtempSync(path.join(os.tmpdir(), "edgehooks-binding-ops-"));
writeFileSync(path.join(dir, "worker.mjs"), WORKER);
const mf = new Miniflare({
  scriptPath: path.join(dir, "worker.mjs"),
  modulesRoot: dir,
  modules: true,
  compatibilityDate: "2026-04-01",
  kvNamespaces: ["KV"],
  d1Databases: ["DB"],
  queueProducers: { Q: "q" },
  queueConsumers: { q: { maxBatchSize: 10, maxBatchTimeout: 1 } },
  bindings: { FAKE: `http://127.0.0.1:${fake.address().port}` },
  d1Persist: path.join(dir, "d1"),
  kvPersist: path.join(dir, "kv"),
});
try {
  const url = await mf.ready;
  const db = await mf.getD1Database("DB");
  await migrate(db);
  await db.prepare("CREATE TABLE peer_events (id INTEGER PRIMARY KEY AUTOINCREMENT, provider TEXT NOT NULL, event_id TEXT NOT NULL, type TEXT NOT NULL, payload TEXT NOT NULL, received_at INTEGER NOT NULL, UNIQUE (provider, event_id))").run();
  const workerd = workerdPid();
  const ops = (process.env.OPS ?? "noop,kv_get,kv_get_bulk,kv_put,d1_peer_insert,d1_events_batch,d1_ingest_batch,queue_send,queue_send_batch,fetch").split(",");
  const rows = [];
  for (const par of PARS) {
    for (const op of ops) {
      const cpu = [], nodeCpu = [], wall = [];
      for (let rep = 0; rep < REPS; rep++) {
        const prefix = `${op}_${par}_${rep}`;
        await (await fetch(`${url}${op}?n=10&prefix=warm_${prefix}`)).text();
        const perRequest = Math.max(1, Math.round(N / par));
        const [cpu0, node0, wall0] = [threadCpuUs(workerd), process.cpuUsage(), performance.now()];
        await Promise.all(Array.from({ length: par }, (_, j) => fetch(`${url}${op}?n=${perRequest}&prefix=${prefix}_${j}`).then((r) => r.text())));
        const done = perRequest * par;
        const nodeUsed = process.cpuUsage(node0);
        cpu.push((threadCpuUs(workerd) - cpu0) / done);
        nodeCpu.push((nodeUsed.user + nodeUsed.system) / done);
        wall.push(((performance.now() - wall0) * 1000) / done);
      }
      const row = { op, concurrency: par, workerd_cpu_us: Math.round(median(cpu)), node_cpu_us: Math.round(median(nodeCpu)), wall_us: Math.round(median(wall)), runs: cpu.map(Math.round) };
      console.log(JSON.stringify(row));
      rows.push(row);
    }
  }
  const table = [
    "| operation | concurrent requests | workerd CPU µs per op (median) | runs | node CPU µs per op | wall µs per op |",
    "|---|---|---|---|---|---|",
    ...rows.map((r) => `| ${r.op} | ${r.concurrency} | ${r.workerd_cpu_us} | ${r.runs.join(" / ")} | ${r.node_cpu_us} | ${r.wall_us} |`),
  ].join("\n");
  writeFileSync(path.join(ROOT, "target/bench-binding-ops.md"), table + "\n");
  console.log(table);
} finally {
  await mf.dispose();
  fake.close();
  rmSync(dir, { recursive: true, force: true });
}
