// Test events and signed deliveries for SendGrid, HubSpot and Shopify (Stripe is in stripe.mjs).
// The signatures come from scripts/sign.mjs, the signers scripts/send uses too.
import crypto from "node:crypto";
import { hubspotHeaders, sendgridHeaders, shopifyHeaders } from "../../scripts/sign.mjs";

let counter = 0;
const unique = () => `${Date.now()}${process.pid}${++counter}`;

// ---- SendGrid: ECDSA P-256 over timestamp + body, DER signature, SPKI public key.
export const sendgridKeys = (() => {
  const { privateKey, publicKey } = crypto.generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  return { privateKey, publicKeyBase64: publicKey.export({ type: "spki", format: "der" }).toString("base64") };
})();

export function sendgridEvent(overrides = {}) {
  const id = unique();
  return {
    email: `reader${id}@example.com`,
    timestamp: Math.floor(Date.now() / 1000),
    "smtp-id": `<${id}@example.com>`,
    event: "delivered",
    category: ["receipts"],
    sg_event_id: `sg_${id}`,
    sg_message_id: `msg_${id}.filter0001`,
    response: "250 OK",
    ...overrides,
  };
}

export function sendgridDelivery(events, { privateKey = sendgridKeys.privateKey, timestamp } = {}) {
  const payload = JSON.stringify(events);
  return { payload, headers: { "content-type": "application/json", ...sendgridHeaders(payload, privateKey, timestamp) } };
}

// ---- HubSpot v3: base64 HMAC-SHA256 of method + uri + body + timestamp (ms).
export function hubspotEvent(overrides = {}) {
  const id = Number(String(unique()).slice(-12));
  return {
    eventId: id,
    subscriptionId: 4242,
    portalId: 62515,
    appId: 1160452,
    occurredAt: Date.now(),
    subscriptionType: "contact.propertyChange",
    attemptNumber: 0,
    objectId: 1246965,
    propertyName: "email",
    propertyValue: `person${id}@example.com`,
    changeSource: "CRM_UI",
    sourceId: "userId:215482",
    ...overrides,
  };
}

export function hubspotDelivery(events, secret, { url = "http://localhost/webhooks/hubspot", timestamp } = {}) {
  const payload = JSON.stringify(events);
  return { payload, headers: { "content-type": "application/json", ...hubspotHeaders(payload, secret, url, timestamp) } };
}

// ---- Shopify: base64 HMAC-SHA256 of the body; identity in headers.
export function shopifyOrder(overrides = {}) {
  const id = Number(String(unique()).slice(-12));
  return {
    id,
    admin_graphql_api_id: `gid://shopify/Order/${id}`,
    email: `buyer${id}@example.com`,
    created_at: "2026-11-23T10:00:00-05:00",
    updated_at: "2026-11-23T10:00:01-05:00",
    currency: "USD",
    total_price: "59.00",
    customer: { id: id + 1, email: `buyer${id}@example.com`, first_name: "Lin", last_name: "Ye", phone: "+15555550100" },
    line_items: [{ id: 1, title: "Edge T-shirt", quantity: 1, price: "59.00" }],
    ...overrides,
  };
}

// X-Shopify-Event-Id (the dedupe key) defaults to the webhook id, so a test's one id names the
// event; pass `eventId` to model several subscriptions delivering one event, or null to omit it.
export function shopifyDelivery(body, secret, { topic = "orders/create", shop = "edge-test.myshopify.com", webhookId, eventId } = {}) {
  const payload = typeof body === "string" ? body : JSON.stringify(body);
  const webhook = webhookId ?? `wh_${unique()}`;
  const event = eventId === undefined ? webhook : eventId;
  return {
    payload,
    headers: { "content-type": "application/json", ...shopifyHeaders(payload, secret, { topic, shop, webhookId: webhook, eventId: event }) },
  };
}
