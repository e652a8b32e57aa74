#!/usr/bin/env node
// The JavaScript baseline for the native benchmark: the official SDKs verifying the *same bytes*
// the Rust bench used (handlers/benches/verify.rs writes them to target/bench-bodies/ when
// EDGEHOOKS_BENCH_DUMP is set; scripts/bench does that), in Node on the same machine, in the same
// run. Stripe: `stripe.webhooks.constructEvent(Buffer, header, secret)` (HMAC via node:crypto,
// i.e. OpenSSL, then JSON.parse). SendGrid: `@sendgrid/eventwebhook` `verifySignature` (ECDSA in
// pure JS via starkbank-ecdsa) plus `JSON.parse`, the way its README shows. Floor: one
// node:crypto HMAC-SHA256 over the same bytes. Prints one JSON object.
import crypto from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";
import Stripe from "stripe";
import { sendgridHeaders, stripeSignature } from "../scripts/sign.mjs";

const require = createRequire(import.meta.url);
const { EventWebhook } = require("@sendgrid/eventwebhook");
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const DIR = path.join(ROOT, "target/bench-bodies");
const SIZES = ["2KB", "16KB", "256KB"];
const SECRET = "whsec_bench_0123456789abcdef0123456789abcdef";
const stripe = new Stripe("sk_test_unused");

/** Median ns per call of `fn` over batches sized to ~`budgetMs` each. */
function measure(fn, budgetMs = 300) {
  for (let i = 0; i < 50; i += 1) fn(); // warm up the JIT
  let iters = 1;
  for (;;) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < iters; i += 1) fn();
    if (Number(process.hrtime.bigint() - t) / 1e6 > 20) break;
    iters *= 2;
  }
  iters = Math.max(1, Math.round((iters * budgetMs) / 20 / 10));
  const samples = [];
  for (let s = 0; s < 10; s += 1) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < iters; i += 1) fn();
    samples.push(Number(process.hrtime.bigint() - t) / iters);
  }
  samples.sort((a, b) => a - b);
  return samples[5];
}

const result = { node: process.version, stripe_sdk: JSON.parse(readFileSync(path.join(ROOT, "node_modules/stripe/package.json"), "utf8")).version, results: [] };
const row = (name, size, bytes, ns) =>
  result.results.push({ name, size, bytes, us: Math.round(ns / 10) / 100, mib_s: Math.round((bytes / ns) * 1e9 / 1048576) });

for (const size of SIZES) {
  const body = readFileSync(path.join(DIR, `stripe-${size}.json`));
  const header = stripeSignature(body.toString("utf8"), SECRET);
  const event = stripe.webhooks.constructEvent(body, header, SECRET);
  if (!event.id) throw new Error("constructEvent returned no event");
  row("stripe sdk constructEvent", size, body.length, measure(() => stripe.webhooks.constructEvent(body, header, SECRET)));
  row("node:crypto hmac-sha256 (floor)", size, body.length, measure(() => crypto.createHmac("sha256", SECRET).update(body).digest()));

  const sgBody = readFileSync(path.join(DIR, `sendgrid-${size}.json`));
  const { privateKey, publicKey } = crypto.generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const {
    "x-twilio-email-event-webhook-signature": signature,
    "x-twilio-email-event-webhook-timestamp": ts,
  } = sendgridHeaders(sgBody, privateKey);
  const ew = new EventWebhook();
  const key = ew.convertPublicKeyToECDSA(publicKey.export({ type: "spki", format: "der" }).toString("base64"));
  const payload = sgBody.toString("utf8");
  if (!ew.verifySignature(key, payload, signature, ts)) throw new Error("sendgrid sdk did not verify");
  row("sendgrid sdk verifySignature + JSON.parse", size, sgBody.length, measure(() => ew.verifySignature(key, payload, signature, ts) && JSON.parse(payload), 500));
}
console.log(JSON.stringify(result, null, 2));
