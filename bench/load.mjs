#!/usr/bin/env node
// Load client for a running edgehooks (`wrangler dev` via scripts/dev): sends unique, validly
// signed deliveries at a fixed concurrency and reports requests/s, latency percentiles and the
// non-2xx count as one JSON line. Deliveries are generated and signed *before* the clock starts
// (the client shares the machine's cores with workerd), with the same secrets `wrangler dev`
// reads from .dev.vars: Stripe events signed by the official `stripe` SDK, SendGrid batches signed
// with the local test key whose public half is in .dev.vars.example.
//
// Usage: node bench/load.mjs --base http://127.0.0.1:8911 --kind stripe|sendgrid
//          [--concurrency 8] [--requests 400] [--warmup 20] [--batch 50]
import http from "node:http";
import crypto from "node:crypto";
import { parseArgs } from "node:util";
import { localSendgridKey, sendgridHeaders, stripeHeaders } from "../scripts/sign.mjs";
import { devVar } from "./dev-vars.mjs";

const { values: args } = parseArgs({
  options: {
    base: { type: "string", default: "http://127.0.0.1:8911" },
    kind: { type: "string", default: "stripe" },
    concurrency: { type: "string", default: "8" },
    requests: { type: "string", default: "400" },
    warmup: { type: "string", default: "20" },
    batch: { type: "string", default: "50" },
  },
});
const concurrency = Number(args.concurrency);
const total = Number(args.requests);
const warmup = Number(args.warmup);
const batchSize = Number(args.batch);

const run = `${Date.now().toString(36)}${process.pid}`;
let counter = 0;

function stripeDelivery(secret) {
  counter += 1;
  const id = `evt_load_${run}_${counter}`;
  const payload = JSON.stringify({
    id,
    object: "event",
    api_version: "2024-06-20",
    created: Math.floor(Date.now() / 1000),
    livemode: false,
    pending_webhooks: 1,
    type: "checkout.session.completed",
    data: {
      object: {
        id: `cs_test_${run}_${counter}`,
        object: "checkout.session",
        amount_total: 4200,
        currency: "usd",
        customer: `cus_load_${counter}`,
        customer_details: { email: `load${counter}.${run}@example.com`, name: "Ada Lovelace" },
        mode: "payment",
        payment_status: "paid",
        status: "complete",
      },
    },
  });
  return { path: "/webhooks/stripe", payload, headers: { "content-type": "application/json", ...stripeHeaders(payload, secret) } };
}

function sendgridDelivery(privateKey, n) {
  const now = Math.floor(Date.now() / 1000);
  const events = [];
  for (let i = 0; i < n; i += 1) {
    counter += 1;
    events.push({
      email: `reader${counter}.${run}@example.com`,
      timestamp: now,
      "smtp-id": `<${run}.${counter}@example.com>`,
      event: i % 2 ? "open" : "delivered",
      category: ["receipts"],
      sg_event_id: `sg_load_${run}_${counter}`,
      sg_message_id: `msg_${run}_${counter}.filter0001`,
      response: "250 OK",
    });
  }
  const payload = JSON.stringify(events);
  return {
    path: "/webhooks/sendgrid",
    payload,
    headers: { "content-type": "application/json", ...sendgridHeaders(payload, privateKey, now) },
  };
}

function makeDeliveries(count) {
  // Profiling kinds: the same path minus work, to see where time goes.
  if (args.kind === "health") return Array.from({ length: count }, () => ({ path: "/health", method: "GET" }));
  if (args.kind === "forged") {
    // Verification fails: no KV, one D1 write (the rejection counter).
    return Array.from({ length: count }, () => ({ ...stripeDelivery("whsec_not_the_configured_secret") }));
  }
  if (args.kind === "duplicate") {
    // One event re-sent: once a repeat has reached D1 and left its hint, each is verify + parse +
    // one KV read (the hint), no D1 write.
    const one = stripeDelivery(devVar("STRIPE_WEBHOOK_SECRETS"));
    return Array.from({ length: count }, () => one);
  }
  if (args.kind === "stripe") {
    const secret = devVar("STRIPE_WEBHOOK_SECRETS");
    return Array.from({ length: count }, () => stripeDelivery(secret));
  }
  if (args.kind === "sendgrid") {
    const key = crypto.createPrivateKey(localSendgridKey());
    return Array.from({ length: count }, () => sendgridDelivery(key, batchSize));
  }
  throw new Error(`unknown --kind ${args.kind}`);
}

const agent = new http.Agent({ keepAlive: process.env.LOAD_KEEPALIVE !== "0", maxSockets: concurrency });
const base = new URL(args.base);

function send(delivery) {
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    const req = http.request(
      {
        host: base.hostname,
        port: base.port,
        path: delivery.path,
        method: delivery.method ?? "POST",
        agent,
        headers: { ...delivery.headers, "content-length": Buffer.byteLength(delivery.payload ?? "") },
      },
      (res) => {
        let body = "";
        res.on("data", (d) => (body += d));
        res.on("end", () =>
          resolve({
            status: res.statusCode,
            ms: Number(process.hrtime.bigint() - started) / 1e6,
            body: res.statusCode >= 300 ? `${res.statusCode} ${JSON.stringify(res.headers)} ${body.slice(0, 300)}` : undefined,
          }),
        );
      },
    );
    req.on("error", (error) => resolve({ status: 0, error: error.code ?? error.message, ms: Number(process.hrtime.bigint() - started) / 1e6 }));
    req.end(delivery.payload ?? undefined);
  });
}

async function drive(deliveries) {
  const results = [];
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, deliveries.length) }, async () => {
    while (next < deliveries.length) {
      const delivery = deliveries[next++];
      results.push(await send(delivery));
    }
  });
  const started = process.hrtime.bigint();
  await Promise.all(lanes);
  return { results, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];

if (warmup > 0) await drive(makeDeliveries(warmup));
const deliveries = makeDeliveries(total);
const { results, seconds } = await drive(deliveries);
const latencies = results.map((r) => r.ms).sort((a, b) => a - b);
const statuses = {};
for (const r of results) statuses[r.status] = (statuses[r.status] ?? 0) + 1;
const round = (x) => Math.round(x * 10) / 10;
console.log(
  JSON.stringify({
    kind: args.kind,
    events_per_request: args.kind === "sendgrid" ? batchSize : 1,
    body_bytes: Buffer.byteLength(deliveries[0].payload ?? ""),
    concurrency,
    requests: results.length,
    seconds: round(seconds * 100) / 100,
    rps: round(results.length / seconds),
    p50_ms: round(percentile(latencies, 50)),
    p90_ms: round(percentile(latencies, 90)),
    p99_ms: round(percentile(latencies, 99)),
    max_ms: round(latencies[latencies.length - 1]),
    over_5s: latencies.filter((ms) => ms > 5000).length,
    non_2xx: results.filter((r) => !(r.status >= 200 && r.status < 300)).length,
    statuses,
    errors: [...new Set(results.filter((r) => r.error).map((r) => r.error))],
    // When failed connections failed (a timeout shows as a cluster at one value).
    error_ms: results.filter((r) => r.error).map((r) => round(r.ms)).sort((a, b) => a - b).slice(0, 40),
    non_2xx_bodies: [...new Set(results.filter((r) => r.body).map((r) => r.body))].slice(0, 5),
  }),
);
agent.destroy();
