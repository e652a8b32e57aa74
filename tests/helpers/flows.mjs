// Helpers for the workflow tests: deliver any provider's event properly signed, find the steps
// an event planned, wait until they are all finished, and read the sample events of
// tests/fixtures/events/ with their expected.json.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import assert from "node:assert/strict";
import { ROOT, TEST_SECRETS, waitFor } from "./worker.mjs";
import { signedDelivery } from "./stripe.mjs";
import { hubspotDelivery, sendgridDelivery, shopifyDelivery } from "./providers.mjs";

export const FIXTURES = path.join(ROOT, "tests/fixtures/events");
export const EXPECTED = JSON.parse(readFileSync(path.join(FIXTURES, "expected.json"), "utf8"));
export const FINISHED = ["succeeded", "skipped", "skipped_stale", "dead"];
export const UPSERT = "/crm/v3/objects/contacts/batch/upsert";
export const DEALS = "/crm/v3/objects/deals";
export const DEALS_UPSERT = "/crm/v3/objects/deals/batch/upsert";
export const MAIL = "/v3/mail/send";

const first = (list) => list.split(",")[0];

/** A sample event (parsed) from tests/fixtures/events/<name>. */
export function fixture(name) {
  return JSON.parse(readFileSync(path.join(FIXTURES, name), "utf8"));
}

/** Every sample under tests/fixtures/events, as `<provider>/<...>.json`, sorted. */
export function sampleNames() {
  const found = [];
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith(".json") && dir !== FIXTURES) found.push(path.relative(FIXTURES, full).split(path.sep).join("/"));
    }
  };
  walk(FIXTURES);
  return found.sort();
}

/** The provider of a fixture path (`stripe/...`). */
export const providerOf = (name) => name.split("/")[0];

/** The Shopify topic of a fixture path: `shopify/orders/create.json` -> `orders/create`. */
export const shopifyTopic = (name) => name.replace(/^shopify\//, "").replace(/\.json$/, "");

/** The dedupe key edgehooks stores for one event (docs/contract.md, *Providers*). */
export function dedupeKey(provider, event, { webhookId } = {}) {
  switch (provider) {
    case "stripe":
      return event.id;
    case "sendgrid":
      return event.sg_event_id;
    case "hubspot":
      return `${event.portalId}:${event.subscriptionId}:${event.eventId}`;
    case "shopify":
      return webhookId;
    default:
      throw new Error(`unknown provider ${provider}`);
  }
}

/**
 * POST one event to /webhooks/<provider>, signed with the first configured secret. SendGrid and
 * HubSpot events are wrapped in a one-element batch. Returns the response and the dedupe key.
 */
export async function deliver(worker, provider, event, { topic, shop, webhookId } = {}) {
  let delivery;
  switch (provider) {
    case "stripe":
      delivery = signedDelivery(event, first(TEST_SECRETS.STRIPE_WEBHOOK_SECRETS));
      break;
    case "sendgrid":
      delivery = sendgridDelivery([event]);
      break;
    case "hubspot":
      delivery = hubspotDelivery([event], first(TEST_SECRETS.HUBSPOT_CLIENT_SECRETS));
      break;
    case "shopify":
      assert.ok(topic && shop && webhookId, "shopify deliveries need topic, shop and webhookId");
      delivery = shopifyDelivery(event, first(TEST_SECRETS.SHOPIFY_WEBHOOK_SECRETS), { topic, shop, webhookId });
      break;
    default:
      throw new Error(`unknown provider ${provider}`);
  }
  const res = await worker.post(`/webhooks/${provider}`, delivery.payload, delivery.headers);
  assert.equal(res.status, 200, `${provider}: ${res.text}`);
  return { res, key: dedupeKey(provider, event, { webhookId }), payload: delivery.payload };
}

/** The event row and its steps (by name) for a stored event. */
export async function stepsOf(worker, provider, key) {
  return worker.all(
    "SELECT s.*, e.id AS event_id FROM steps s JOIN events e ON e.id = s.event_id WHERE e.provider = ? AND e.dedupe_key = ? ORDER BY s.name",
    provider,
    key,
  );
}

/** Wait until every step of the event is finished (succeeded, skipped, skipped_stale or dead). */
export async function settled(worker, provider, key, { timeoutMs = 20000, count } = {}) {
  return waitFor(
    async () => {
      const steps = await stepsOf(worker, provider, key);
      const enough = count === undefined ? steps.length > 0 : steps.length === count;
      return enough && steps.every((s) => FINISHED.includes(s.status)) && steps;
    },
    { timeoutMs, what: `steps of ${provider} ${key} finished` },
  );
}

/** One step by name, waiting until it reaches one of `statuses`. */
export async function stepReaches(worker, provider, key, name, statuses, { timeoutMs = 20000 } = {}) {
  return waitFor(
    async () => {
      const step = (await stepsOf(worker, provider, key)).find((s) => s.name === name);
      return step && statuses.includes(step.status) && step;
    },
    { timeoutMs, what: `${name} of ${key} in ${statuses.join("|")}` },
  );
}

