// Several sources per provider through workerd: `/webhooks/{provider}/{source}` verifies only
// with the source's own secrets (WEBHOOK_SOURCES + <KEY SETTING>__<SOURCE>), stores the event
// with its source, dedupes per (provider, source), keeps the default path working, answers 404
// `source_not_found` for a source not declared, reports each source in the admin health by state, signs
// HubSpot v3 over the source URL, verifies a second SendGrid webhook with its own public key, and
// filters the admin event list by source.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { TEST_SECRETS, waitFor } from "../helpers/worker.mjs";
import { useWorld } from "../helpers/world.mjs";
import { checkoutCompleted, signedDelivery } from "../helpers/stripe.mjs";
import crypto from "node:crypto";
import { hubspotDelivery, hubspotEvent, sendgridDelivery, sendgridEvent, shopifyDelivery, shopifyOrder } from "../helpers/providers.mjs";

const [STRIPE_DEFAULT] = TEST_SECRETS.STRIPE_WEBHOOK_SECRETS.split(",");
const AUTH = { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}` };
// A second SendGrid webhook (another subuser) signs with its own key pair.
const MARKETING = crypto.generateKeyPairSync("ec", { namedCurve: "prime256v1" });
const SOURCES = {
  WEBHOOK_SOURCES: "stripe:eu,stripe:us,stripe:idle,shopify:store-a,shopify:store-b,hubspot:app-2,sendgrid:marketing",
  SENDGRID_WEBHOOK_PUBLIC_KEYS__MARKETING: MARKETING.publicKey.export({ type: "spki", format: "der" }).toString("base64"),
  STRIPE_WEBHOOK_SECRETS__EU: "whsec_source_eu",
  STRIPE_WEBHOOK_SECRETS__US: "whsec_source_us_old,whsec_source_us",
  SHOPIFY_WEBHOOK_SECRETS__STORE_A: "shpss_store_a",
  SHOPIFY_WEBHOOK_SECRETS__STORE_B: "shpss_store_b",
  HUBSPOT_CLIENT_SECRETS__APP_2: "hubspot-app-2-secret",
};

describe("several sources per provider", () => {
  const w = useWorld({ vars: SOURCES });
  const eventRow = (provider, id) => w.worker.all("SELECT * FROM events WHERE provider = ? AND id = ?", provider, id);
  const rowsByKey = (provider, key) =>
    w.worker.all("SELECT source, dedupe_key FROM events WHERE provider = ? AND dedupe_key LIKE ? ORDER BY source", provider, `%${key}`);

  function stripeTo(path, event, secret) {
    const { payload, headers } = signedDelivery(event, secret);
    return w.worker.post(path, payload, headers);
  }

  test("two Stripe sources verify only their own secrets and store their source", async () => {
    const event = checkoutCompleted();
    assert.equal((await stripeTo("/webhooks/stripe/us", event, "whsec_source_eu")).json.error, "signature_mismatch");
    assert.equal((await stripeTo("/webhooks/stripe/eu", event, "whsec_source_us")).json.error, "signature_mismatch");
    assert.equal((await stripeTo("/webhooks/stripe/eu", event, STRIPE_DEFAULT)).json.error, "signature_mismatch");
    const eu = await stripeTo("/webhooks/stripe/eu", event, "whsec_source_eu");
    assert.equal(eu.status, 200, eu.text);
    assert.equal(eu.json.status, "accepted");
    // The same event id from the other account is another event (dedupe is per source) ...
    const us = await stripeTo("/webhooks/stripe/us", event, "whsec_source_us");
    assert.equal(us.json.status, "accepted", us.text);
    // ... and a retry to the same source is a duplicate.
    assert.equal((await stripeTo("/webhooks/stripe/eu", event, "whsec_source_eu")).json.status, "duplicate");
    // The default path still works, with its own secret, and is a third event.
    const plain = await stripeTo("/webhooks/stripe", event, STRIPE_DEFAULT);
    assert.equal(plain.json.status, "accepted", plain.text);
    const rows = await rowsByKey("stripe", event.id);
    assert.deepEqual(
      rows.map((r) => [r.source, r.dedupe_key]),
      [
        [null, event.id],
        ["eu", `src:eu:${event.id}`],
        ["us", `src:us:${event.id}`],
      ],
    );
    // Each source's event planned its steps like the default's.
    const steps = await w.worker.all(
      "SELECT e.source, COUNT(s.id) AS n FROM events e JOIN steps s ON s.event_id = e.id WHERE e.dedupe_key LIKE ? GROUP BY e.source ORDER BY e.source",
      `%${event.id}`,
    );
    assert.equal(steps.length, 3);
    assert.ok(steps.every((r) => r.n === steps[0].n && r.n > 0));
  });

  test("an unknown or invalid source is 404 source_not_found; a source without secrets is disabled", async () => {
    const event = checkoutCompleted();
    for (const path of ["/webhooks/stripe/asia", "/webhooks/stripe/store-a", "/webhooks/stripe/EU", "/webhooks/stripe/default", "/webhooks/shopify/eu"]) {
      const res = await stripeTo(path, event, "whsec_source_eu");
      assert.equal(res.status, 404, path);
      assert.equal(res.json.error, "source_not_found", path);
    }
    const idle = await stripeTo("/webhooks/stripe/idle", event, "whsec_source_eu");
    assert.equal(idle.status, 404);
    assert.equal(idle.json.error, "provider_disabled");
    assert.equal((await w.worker.get("/webhooks/stripe/eu")).status, 405);
    assert.equal((await w.worker.post("/webhooks/stripe/eu/extra", "{}")).status, 404);
    assert.equal((await w.worker.all("SELECT id FROM events WHERE dedupe_key LIKE ?", `%${event.id}`)).length, 0);
  });

  test("two Shopify stores: each verifies its own secret; one event delivered to both is two events", async () => {
    const order = shopifyOrder();
    const webhookId = `wh_src_${order.id}`;
    const to = (path, secret, shop) => {
      const { payload, headers } = shopifyDelivery(order, secret, { shop, webhookId });
      return w.worker.post(path, payload, headers);
    };
    assert.equal((await to("/webhooks/shopify/store-b", "shpss_store_a", "a.myshopify.com")).json.error, "signature_mismatch");
    assert.equal((await to("/webhooks/shopify/store-a", "shpss_store_a", "a.myshopify.com")).json.status, "accepted");
    assert.equal((await to("/webhooks/shopify/store-b", "shpss_store_b", "b.myshopify.com")).json.status, "accepted");
    // A re-post of the same signed body to store-a collides on its content key within the source.
    assert.equal((await to("/webhooks/shopify/store-a", "shpss_store_a", "a.myshopify.com")).json.status, "duplicate");
    const rows = await rowsByKey("shopify", webhookId);
    assert.deepEqual(rows.map((r) => r.source), ["store-a", "store-b"]);
  });

  test("HubSpot v3 signs the source URL: the source segment is part of the signed URI", async () => {
    const event = hubspotEvent();
    const url = "http://localhost/webhooks/hubspot/app-2";
    const signedForDefault = hubspotDelivery([event], "hubspot-app-2-secret", { url: "http://localhost/webhooks/hubspot" });
    const wrongPath = await w.worker.post("/webhooks/hubspot/app-2", signedForDefault.payload, signedForDefault.headers);
    assert.equal(wrongPath.status, 401, wrongPath.text);
    assert.equal(wrongPath.json.error, "signature_mismatch");
    const defaultSecret = hubspotDelivery([event], TEST_SECRETS.HUBSPOT_CLIENT_SECRETS.split(",")[0], { url });
    assert.equal((await w.worker.post("/webhooks/hubspot/app-2", defaultSecret.payload, defaultSecret.headers)).status, 401);
    const good = hubspotDelivery([event], "hubspot-app-2-secret", { url });
    const res = await w.worker.post("/webhooks/hubspot/app-2", good.payload, good.headers);
    assert.equal(res.status, 200, res.text);
    const key = `${event.portalId}:${event.subscriptionId}:${event.eventId}`;
    assert.deepEqual((await rowsByKey("hubspot", key)).map((r) => [r.source, r.dedupe_key]), [["app-2", `src:app-2:${key}`]]);
  });

  test("a second SendGrid webhook verifies with its own public key", async () => {
    const event = sendgridEvent();
    const withDefaultKey = sendgridDelivery([event]);
    const refused = await w.worker.post("/webhooks/sendgrid/marketing", withDefaultKey.payload, withDefaultKey.headers);
    assert.equal(refused.status, 401, refused.text);
    const own = sendgridDelivery([event], { privateKey: MARKETING.privateKey });
    assert.equal((await w.worker.post("/webhooks/sendgrid", own.payload, own.headers)).status, 401, "its key is not the default's");
    const res = await w.worker.post("/webhooks/sendgrid/marketing", own.payload, own.headers);
    assert.equal(res.json?.status, "accepted", res.text);
    assert.deepEqual((await rowsByKey("sendgrid", event.sg_event_id)).map((r) => r.source), ["marketing"]);
  });

  test("the admin health reports each source by state and never a value; /health no name", async () => {
    const open = await w.worker.get("/health");
    assert.deepEqual(open.json, { status: "ok" });
    const res = await w.worker.get("/admin/api/health", AUTH);
    assert.deepEqual(res.json.sources, {
      "stripe:eu": "enabled",
      "stripe:us": "enabled",
      "stripe:idle": "disabled",
      "shopify:store-a": "enabled",
      "shopify:store-b": "enabled",
      "hubspot:app-2": "enabled",
      "sendgrid:marketing": "enabled",
    });
    for (const value of Object.values(SOURCES).slice(2)) assert.ok(!res.text.includes(value));
  });

  test("the admin API filters events by source and shows it", async () => {
    const event = checkoutCompleted();
    assert.equal((await stripeTo("/webhooks/stripe/eu", event, "whsec_source_eu")).json.status, "accepted");
    assert.equal((await stripeTo("/webhooks/stripe", event, STRIPE_DEFAULT)).json.status, "accepted");
    const list = async (query) => (await w.worker.get(`/admin/api/events?provider=stripe&${query}`, AUTH)).json.events;
    const eu = await list("source=eu&limit=200");
    assert.ok(eu.length > 0 && eu.every((e) => e.source === "eu"));
    assert.ok(eu.some((e) => e.dedupe_key === `src:eu:${event.id}`));
    const plain = await list("source=default&limit=200");
    assert.ok(plain.every((e) => e.source === null));
    assert.ok(plain.some((e) => e.dedupe_key === event.id));
    const detail = await w.worker.get(`/admin/api/events/${eu[0].id}`, AUTH);
    assert.equal(detail.json.event.source, "eu");
    const bad = await w.worker.get("/admin/api/events?source=Not%20A%20Source", AUTH);
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error, "invalid_filter");
    assert.match(bad.json.detail, /^source/);
    assert.ok((await eventRow("stripe", eu[0].id))[0].source === "eu");
  });
  test("a connection scoped to one source takes only that source's events", async () => {
    const admin = (path, body) =>
      w.worker.mf.dispatchFetch(`http://localhost/admin/api/${path}`, {
        method: "POST",
        headers: { ...AUTH, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    const receiver = w.fake.receiver("eu-orders");
    const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    assert.equal((await admin("destinations", { name: "eu-orders", type: "http", url: receiver.url, secret })).status, 201);
    const created = await admin("connections", { source: "stripe:eu", types: ["checkout.session.completed"], destination: "eu-orders" });
    assert.equal(created.status, 201, await created.clone().text());
    assert.equal((await created.json()).source, "stripe:eu");
    const bad = await admin("connections", { source: "stripe:EU", destination: "eu-orders" });
    assert.equal(bad.status, 400);
    assert.equal((await bad.json()).field, "source");

    const [eu, us, plain] = [checkoutCompleted(), checkoutCompleted(), checkoutCompleted()];
    assert.equal((await stripeTo("/webhooks/stripe/us", us, "whsec_source_us")).json.status, "accepted");
    assert.equal((await stripeTo("/webhooks/stripe", plain, STRIPE_DEFAULT)).json.status, "accepted");
    assert.equal((await stripeTo("/webhooks/stripe/eu", eu, "whsec_source_eu")).json.status, "accepted");
    const [call] = await waitFor(() => receiver.calls().length > 0 && receiver.calls(), { what: "the eu delivery" });
    assert.equal(JSON.parse(call.body).id, eu.id);
    await w.quiet();
    assert.deepEqual(receiver.calls().map((c) => JSON.parse(c.body).id), [eu.id], "only the eu source's event");
    const planned = await w.worker.all(
      "SELECT e.source FROM steps s JOIN events e ON e.id = s.event_id WHERE s.name = 'http:eu-orders'",
    );
    assert.deepEqual(planned.map((r) => r.source), ["eu"]);
  });
});
