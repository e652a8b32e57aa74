// The one place Node code signs a webhook delivery the way each provider does: scripts/send, the
// end-to-end, browser and dev tests all sign through here. Signatures come from code independent
// of the worker's Rust verifiers: the official `stripe` SDK for Stripe, the official
// @hubspot/api-client for HubSpot v3, node:crypto ECDSA P-256 for SendGrid (DER, base64) and
// node:crypto HMAC for Shopify. tests/e2e/signing.test.mjs checks every signer here against the
// SDK-generated vectors (tests/fixtures/<provider>/vectors.json) that handlers/tests replays
// against the Rust verifiers, so both sides agree on the same bytes.
//
// Each `<provider>Headers` returns the provider's signature headers for a payload (a string, the
// exact bytes sent); callers add content-type and identity headers.
import crypto from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import Stripe from "stripe";

const require = createRequire(import.meta.url);
const { Signature: HubSpotSignature } = require("@hubspot/api-client");
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const stripe = new Stripe("sk_test_unused");

const nowSeconds = () => Math.floor(Date.now() / 1000);

/** `Stripe-Signature` for `payload` at `timestamp` (Unix seconds), from the Stripe SDK. */
export function stripeSignature(payload, secret, timestamp = nowSeconds()) {
  return stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp });
}

/**
 * `Stripe-Signature` for raw bytes (a Buffer that need not be UTF-8, which the SDK cannot sign
 * because it signs strings): the same HMAC-SHA256 of `<t>.` + bytes, hex, computed directly.
 */
export function stripeBytesSignature(bytes, secret, timestamp = nowSeconds()) {
  const mac = crypto.createHmac("sha256", secret).update(`${timestamp}.`).update(bytes).digest("hex");
  return `t=${timestamp},v1=${mac}`;
}

export function stripeHeaders(payload, secret, timestamp) {
  return { "stripe-signature": stripeSignature(payload, secret, timestamp) };
}

/** The private key whose public half .dev.vars.example configures for local SendGrid deliveries. */
export function localSendgridKey() {
  return readFileSync(path.join(ROOT, "tests/fixtures/sendgrid/local-dev-key.pem"), "utf8");
}

/**
 * SendGrid's Event Webhook headers: ECDSA P-256/SHA-256 over timestamp + payload (string or
 * bytes), DER, base64.
 */
export function sendgridHeaders(payload, privateKey, timestamp = nowSeconds()) {
  const ts = String(timestamp);
  const signed = Buffer.concat([Buffer.from(ts), Buffer.from(payload)]);
  const signature = crypto.sign("sha256", signed, privateKey).toString("base64");
  return {
    "x-twilio-email-event-webhook-signature": signature,
    "x-twilio-email-event-webhook-timestamp": ts,
  };
}

/** HubSpot v3 headers: the SDK's HMAC over POST + `url` + payload + timestamp (ms). */
export function hubspotHeaders(payload, secret, url, timestamp = Date.now()) {
  const signature = HubSpotSignature.getSignature("POST", "v3", {
    clientSecret: secret,
    requestBody: payload,
    url,
    timestamp,
  });
  return { "x-hubspot-signature-v3": signature, "x-hubspot-request-timestamp": String(timestamp) };
}

/** `X-Shopify-Hmac-Sha256`: base64 HMAC-SHA256 of the payload (string as UTF-8, or bytes). */
export function shopifyHmac(payload, secret) {
  return crypto.createHmac("sha256", secret).update(payload).digest("base64");
}

/**
 * Shopify's headers: the HMAC and the delivery's identity (`topic`, `shop`, `webhookId`,
 * `eventId`; a null `eventId` leaves X-Shopify-Event-Id out).
 */
export function shopifyHeaders(payload, secret, { topic, shop, webhookId, eventId }) {
  return {
    "x-shopify-hmac-sha256": shopifyHmac(payload, secret),
    "x-shopify-topic": topic,
    "x-shopify-shop-domain": shop,
    "x-shopify-webhook-id": webhookId,
    ...(eventId === null ? {} : { "x-shopify-event-id": eventId }),
    "x-shopify-triggered-at": new Date().toISOString(),
    "x-shopify-api-version": "2025-10",
  };
}
