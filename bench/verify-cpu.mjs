// Isolate CPU of signature verification in workerd: one worker (Miniflare, the release build, or
// `--build <dir>` for another build), requests sent one at a time (no concurrency: this is not a
// load test), the CPU time of the workerd processes read from /proc before and after each set.
// workerd freezes the isolate's clocks between I/O (a Spectre mitigation), so timing inside the
// isolate would read 0; process CPU over hundreds of requests is the measure instead.
//
// Sets, each `--count` requests (default 300) after a warm-up of 30:
//   sendgrid_mismatch_batch50  a SendGrid batch of 50 events (~13 KB) signed with a key that is not
//                              the configured one: one full ECDSA P-256 verify, no storage
//   stripe_mismatch            a Stripe event with a wrong v1: one HMAC-SHA256, no storage (floor)
//   stripe_duplicate_2kb       a correctly signed ~2 KB Stripe event already stored: HMAC, parse of
//                              the wanted fields, one KV hint lookup, answered as a duplicate (the
//                              accepted path with the least storage; what opt-level changes).
//                              STRIPE_NOTE_BYTES=250000 makes it a ~250 KB body.
// Prints JSON (last line; also to --out): CPU ms per request per set, and their difference (the ECDSA verify of a batch).
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { startWorker } from "../tests/helpers/worker.mjs";
import { sendgridDelivery, sendgridEvent } from "../tests/helpers/providers.mjs";
import { ROOT } from "../scripts/wrangler-config.mjs";
import { stripeHeaders as signedStripeHeaders } from "../scripts/sign.mjs";

const { values: args } = parseArgs({
  options: { build: { type: "string" }, count: { type: "string", default: "300" }, out: { type: "string" } },
});
const COUNT = Number(args.count);
const build = args.build ? path.resolve(args.build) : undefined;
const vectors = JSON.parse(readFileSync(path.join(ROOT, "tests/fixtures/sendgrid/vectors.json"), "utf8"));
const otherKey = vectors.cases.find((c) => c.name === "sdk_vector_single_event_high_s").public_keys[0];
const TICK_MS = 1000 / 100; // USER_HZ

/** utime + stime of every workerd process under this one, in ms. */
function workerdCpuMs() {
  let total = 0;
  for (const pid of descendants(process.pid)) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (!stat.includes("(workerd)")) continue;
      total += (Number(fields[11]) + Number(fields[12])) * TICK_MS;
    } catch {
      // exited
    }
  }
  return total;
}

function descendants(root) {
  const children = new Map();
  for (const pid of readdirNumeric("/proc")) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), pid]);
    } catch {
      // exited
    }
  }
  const out = [];
  const walk = (pid) => (children.get(pid) ?? []).forEach((c) => (out.push(c), walk(c)));
  walk(root);
  return out;
}

function readdirNumeric(dir) {
  return readdirSync(dir).filter((name) => /^\d+$/.test(name)).map(Number);
}

async function measure(worker, name, makeRequest) {
  for (let i = 0; i < 30; i += 1) await makeRequest();
  const before = workerdCpuMs();
  const statuses = new Set();
  for (let i = 0; i < COUNT; i += 1) statuses.add((await makeRequest()).status);
  const cpu = workerdCpuMs() - before;
  return { set: name, requests: COUNT, statuses: [...statuses], cpu_ms_per_request: +(cpu / COUNT).toFixed(3) };
}

const worker = await startWorker({
  vars: { SENDGRID_WEBHOOK_PUBLIC_KEYS: otherKey },
  miniflare: build ? { scriptPath: path.join(build, "index.js"), modulesRoot: build } : {},
});
try {
  const batch = sendgridDelivery(Array.from({ length: 50 }, () => sendgridEvent()));
  const stripeBody = JSON.stringify({ id: "evt_cpu", type: "checkout.session.completed", data: { object: {} } });
  const stripeHeaders = { "stripe-signature": `t=${Math.floor(Date.now() / 1000)},v1=${"0".repeat(64)}` };
  const sendgrid = await measure(worker, "sendgrid_mismatch_batch50", () => worker.post("/webhooks/sendgrid", batch.payload, batch.headers));
  const stripe = await measure(worker, "stripe_mismatch", () => worker.post("/webhooks/stripe", stripeBody, stripeHeaders));
  const stored = JSON.stringify({
    id: "evt_cpu_duplicate",
    type: "checkout.session.completed",
    created: Math.floor(Date.now() / 1000),
    data: { object: { id: "cs_cpu", customer: "cus_cpu", metadata: { note: "x".repeat(Number(process.env.STRIPE_NOTE_BYTES ?? 1800)) } } },
  });
  const storedHeaders = signedStripeHeaders(stored, "whsec_test_primary");
  const duplicate = await measure(worker, "stripe_duplicate_2kb", () => worker.post("/webhooks/stripe", stored, storedHeaders));
  const result = JSON.stringify({
    build: build ?? "build",
    batch_bytes: batch.payload.length,
    sets: [sendgrid, stripe, duplicate],
    ecdsa_verify_cpu_ms: +(sendgrid.cpu_ms_per_request - stripe.cpu_ms_per_request).toFixed(3),
  });
  // The worker's request log lines share stdout; the result goes last, and to --out if given.
  if (args.out) writeFileSync(args.out, result + "\n");
  console.log(result);
} finally {
  await worker.dispose();
}
