// Privacy requests through workerd against the downstream fake: a Shopify customer with hundreds
// of orders (customers/data_request with `orders_requested`, customers/redact with
// `orders_to_redact` of 300 ids: one bound JSON array, not 300 parameters), a redact removing
// every copy of the person (payloads of every provider, step and attempt error excerpts, contact
// links, suppressions, engagement, earlier exports), exports expiring in the sweeper, and HubSpot
// `contact.privacyDeletion` forgetting a contact through the default routes: every copy of the
// person (issue 23: payloads of every provider holding their address, the linked customer's own
// `customer.*` events, error excerpts quoting the address, suppressions, engagement, links), in
// pages of PRIVACY_PAGE_EVENTS events per run, as a Shopify customers/data_request and
// customers/redact of a customer with more events than a page are. Fixtures are the providers' API-reference-shaped
// samples (tests/fixtures/). Where time has to pass (an export's expiry) the test ages the row in
// D1 instead of waiting, and says so.
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { useWorld } from "../helpers/world.mjs";
import { checkoutCompleted } from "../helpers/stripe.mjs";
import { hubspotEvent, sendgridEvent, shopifyOrder } from "../helpers/providers.mjs";
import { MAIL, UPSERT, deliver, fixture, settled } from "../helpers/flows.mjs";
import { readFileSync } from "node:fs";
import path from "node:path";
import { ROOT } from "../helpers/worker.mjs";

const VARS = { MAX_ATTEMPTS: "3", RETRY_BASE_SECONDS: "0", DOWNSTREAM_TIMEOUT_MS: "3000" };
const SHOP = "privacy-many.myshopify.com";
let counter = 0;
const unique = (prefix) => `${prefix}${Date.now()}${++counter}`;

/** A worker + fake for one describe (tests/helpers/world.mjs), plus the stored payload of an event. */
function world() {
  const w = useWorld({ vars: VARS }, {
    ready: (ready) => {
      ready.payload = async (provider, key) =>
        (await ready.worker.all("SELECT payload FROM events WHERE provider = ? AND dedupe_key = ?", provider, key))[0]?.payload;
    },
  });
  return w;
}

describe("a Shopify customer with hundreds of orders", () => {
  const w = world();
  const EMAIL = `many.orders.${Date.now()}@example.com`;
  const CUSTOMER_ID = Number(String(Date.now()).slice(-9));
  const STRIPE_CUSTOMER = unique("cus_many_");
  const CONTACT = "70000000777";
  const shopify = (body, topic) => deliver(w.worker, "shopify", body, { topic, shop: SHOP, webhookId: unique("wh_") });
  const orderIds = [];
  const stored = {};
  let exportRequest;

  before(async () => {
    // Three of the 300 orders reached edgehooks as orders/create (first, middle, last).
    for (let i = 0; i < 300; i += 1) orderIds.push(7_000_000_000 + i);
    stored.orders = [];
    for (const id of [orderIds[0], orderIds[150], orderIds[299]]) {
      const order = shopifyOrder({ id, email: EMAIL, customer: { id: CUSTOMER_ID, email: EMAIL, first_name: "Mo", last_name: "Ny" } });
      const { key } = await shopify(order, "orders/create");
      await settled(w.worker, "shopify", key, { count: 3, timeoutMs: 30000 });
      stored.orders.push(key);
    }
    const other = await shopify(shopifyOrder(), "orders/create");
    await settled(w.worker, "shopify", other.key, { count: 3, timeoutMs: 30000 });
    stored.other = other.key;

    // The same person paid with Stripe: HubSpot linked the contact; SendGrid refused the
    // receipt with an answer quoting the address (kept as the step's and attempt's error).
    w.fake.always(UPSERT, { status: 200, body: { status: "COMPLETE", results: [{ id: CONTACT }] } });
    w.fake.always(MAIL, { status: 400, body: { errors: [{ message: `Does not contain a valid address: ${EMAIL}`, field: "personalizations.0.to" }] } });
    const checkout = checkoutCompleted({ email: EMAIL, name: "Mo Ny", customer: STRIPE_CUSTOMER });
    stored.checkout = (await deliver(w.worker, "stripe", checkout)).key;
    const steps = await settled(w.worker, "stripe", stored.checkout, { count: 2 });
    const mail = steps.find((s) => s.name === "sendgrid.send");
    assert.equal(mail.status, "dead");
    assert.ok(mail.last_error.includes(EMAIL), mail.last_error);

    // SendGrid events about the address: a suppression and an engagement counter.
    for (const event of ["bounce", "open"]) {
      const { key } = await deliver(w.worker, "sendgrid", sendgridEvent({ event, email: EMAIL }));
      await settled(w.worker, "sendgrid", key);
      stored[event] = key;
    }
  });

  test("customers/data_request with 300 orders_requested exports the customer's data, with an expiry", async () => {
    const request = { shop_id: 1, shop_domain: SHOP, orders_requested: orderIds, customer: { id: CUSTOMER_ID, email: EMAIL }, data_request: { id: 9001 } };
    const { key } = await shopify(request, "customers/data_request");
    const [step] = await settled(w.worker, "shopify", key);
    assert.equal(step.status, "succeeded", step.last_error);
    const [row] = await w.worker.all("SELECT * FROM privacy_requests WHERE event_id = ?", step.event_id);
    const exported = JSON.parse(row.export);
    const orders = exported.filter((e) => e.type === "orders/create").map((e) => JSON.parse(e.payload).id).sort();
    assert.deepEqual(orders, [orderIds[0], orderIds[150], orderIds[299]]);
    assert.ok(exported.some((e) => e.provider === "stripe"), "the address found in another provider's payload");
    assert.equal(row.export_expires_at, row.done_at + 30 * 86_400_000);
    exportRequest = step.event_id;
  });

  test("customers/redact with 300 orders_to_redact removes every copy of the person", async () => {
    const request = { shop_id: 1, shop_domain: SHOP, customer: { id: CUSTOMER_ID, email: EMAIL, phone: "+15555550100" }, orders_to_redact: orderIds };
    const { key } = await shopify(request, "customers/redact");
    const [step] = await settled(w.worker, "shopify", key);
    assert.equal(step.status, "succeeded", step.last_error);

    for (const order of stored.orders) assert.equal(await w.payload("shopify", order), null, "each order is gone");
    assert.equal(await w.payload("shopify", key), null, "the request itself");
    assert.equal(await w.payload("stripe", stored.checkout), null, "the Stripe copy");
    assert.equal(await w.payload("sendgrid", stored.bounce), null, "the SendGrid copies");
    assert.notEqual(await w.payload("shopify", stored.other), null, "another customer is untouched");

    // D1 allows few terms per compound SELECT: one query per table.
    const everything = JSON.stringify(await Promise.all([
      "SELECT last_error FROM steps", "SELECT error FROM attempts", "SELECT stripe_customer_id FROM contact_links",
      "SELECT email FROM suppressions", "SELECT email FROM engagement", "SELECT export, customer_email FROM privacy_requests",
      "SELECT payload FROM events", "SELECT id, email, name FROM stripe_customers",
    ].map((sql) => w.worker.all(sql))));
    assert.ok(!everything.includes(EMAIL), "the address is nowhere in D1");
    assert.ok(!everything.includes(STRIPE_CUSTOMER), "nor the contact link or stored copy of the person's Stripe customer");
    const [mail] = await w.worker.all("SELECT s.last_error FROM steps s JOIN events e ON e.id = s.event_id WHERE e.dedupe_key = ? AND s.name = 'sendgrid.send'", stored.checkout);
    assert.equal(mail.last_error, "http_400", "the error code stays for the admin");
    const [exported] = await w.worker.all("SELECT export, customer_email FROM privacy_requests WHERE event_id = ?", exportRequest);
    assert.deepEqual(exported, { export: null, customer_email: "[redacted]" });
    const [record] = await w.worker.all("SELECT events_affected FROM privacy_requests WHERE event_id = ?", step.event_id);
    assert.ok(record.events_affected >= 7, JSON.stringify(record));
  });
});

describe("an address with non-ASCII letters", () => {
  const w = world();
  const shopify = (body, topic) => deliver(w.worker, "shopify", body, { topic, shop: SHOP, webhookId: unique("wh_") });

  test("customers/redact finds its payloads whatever the case of its ASCII letters", async () => {
    // SQLite's lower() lowers ASCII only; the address is lowered the same way, so the stored
    // spelling of Ä is found (Unicode lowering would have searched for "ä" and missed it).
    const local = `jörg.Ärger.${Date.now()}`;
    const { key: bounce } = await deliver(w.worker, "sendgrid", sendgridEvent({ event: "bounce", email: `${local}@example.com` }));
    await settled(w.worker, "sendgrid", bounce);
    assert.notEqual(await w.payload("sendgrid", bounce), null);
    const request = { shop_id: 1, shop_domain: SHOP, customer: { id: 4242, email: `${local.replace("j", "J")}@Example.COM` }, orders_to_redact: [] };
    const { key } = await shopify(request, "customers/redact");
    const [step] = await settled(w.worker, "shopify", key);
    assert.equal(step.status, "succeeded", step.last_error);
    assert.equal(await w.payload("sendgrid", bounce), null, "the SendGrid copy is gone");
    const [suppression] = await w.worker.all("SELECT count(*) AS n FROM suppressions WHERE email LIKE ?", `%${local.slice(-13)}%`);
    assert.equal(suppression.n, 0, "and so is the suppression");
  });
});

describe("data-request exports expire", () => {
  const w = world();

  test("the sweeper drops an export past its expiry and keeps a fresh one", async () => {
    const keys = [];
    for (const email of ["old.export@example.com", "new.export@example.com"]) {
      const request = { shop_id: 1, shop_domain: SHOP, orders_requested: [], customer: { id: 42, email }, data_request: { id: 1 } };
      const { key } = await deliver(w.worker, "shopify", request, { topic: "customers/data_request", shop: SHOP, webhookId: unique("wh_") });
      const [step] = await settled(w.worker, "shopify", key);
      assert.equal(step.status, "succeeded", step.last_error);
      keys.push(step.event_id);
    }
    // The first export's expiry passes (simulated: moved into the past).
    await w.worker.all("UPDATE privacy_requests SET export_expires_at = ? WHERE event_id = ?", Date.now() - 1000, keys[0]);
    await w.sweep();
    const rows = await w.worker.all("SELECT event_id, export IS NULL AS gone FROM privacy_requests ORDER BY done_at");
    assert.deepEqual(rows, [{ event_id: keys[0], gone: 1 }, { event_id: keys[1], gone: 0 }]);
  });
});

describe("HubSpot contact.privacyDeletion", () => {
  const w = world();
  const CONTACT = "70000000888";
  const CUSTOMER = unique("cus_forget_");

  test("the default routes forget the contact: its link, its events and its customer's payloads", async () => {
    w.fake.always(UPSERT, { status: 200, body: { status: "COMPLETE", results: [{ id: CONTACT }] } });
    const checkout = await deliver(w.worker, "stripe", checkoutCompleted({ email: "forget.me@example.com", name: "Fay Get", customer: CUSTOMER }));
    await settled(w.worker, "stripe", checkout.key, { count: 2 });
    assert.equal((await w.worker.all("SELECT * FROM contact_links WHERE hubspot_contact_id = ?", CONTACT)).length, 1);
    assert.equal((await w.worker.all("SELECT * FROM stripe_customers WHERE id = ?", CUSTOMER)).length, 1, "ingest learned the customer");
    const change = await deliver(w.worker, "hubspot", hubspotEvent({ objectId: Number(CONTACT), propertyName: "firstname", propertyValue: "Fay", occurredAt: Date.now() - 1000 }));
    await settled(w.worker, "hubspot", change.key);
    const unrelated = await deliver(w.worker, "hubspot", hubspotEvent({ objectId: 70000000999, propertyName: "firstname", propertyValue: "Al" }));
    await settled(w.worker, "hubspot", unrelated.key);

    const deletion = hubspotEvent({ subscriptionType: "contact.privacyDeletion", objectId: Number(CONTACT), changeFlag: "DELETED" });
    delete deletion.propertyName;
    delete deletion.propertyValue;
    const { key } = await deliver(w.worker, "hubspot", deletion);
    const steps = await settled(w.worker, "hubspot", key);
    assert.deepEqual(steps.map((s) => [s.name, s.status, s.last_error]), [["privacy.redact", "succeeded", null]]);

    assert.deepEqual(await w.worker.all("SELECT * FROM contact_links WHERE hubspot_contact_id = ?", CONTACT), []);
    assert.deepEqual(await w.worker.all("SELECT * FROM stripe_customers WHERE id = ?", CUSTOMER), [], "the customer's stored copy");
    assert.equal(await w.payload("hubspot", change.key), null, "the contact's change event");
    assert.equal(await w.payload("hubspot", key), null, "the deletion itself");
    assert.equal(await w.payload("stripe", checkout.key), null, "the linked customer's Stripe event");
    assert.notEqual(await w.payload("hubspot", unrelated.key), null, "another contact is untouched");
    const [record] = await w.worker.all("SELECT topic, customer_id, events_affected FROM privacy_requests WHERE event_id = ?", steps[0].event_id);
    assert.deepEqual(record, { topic: "contact.privacyDeletion", customer_id: CONTACT, events_affected: 3 });
  });
});

describe("HubSpot contact.privacyDeletion forgets every copy of the person, in pages", () => {
  const PAGE = 2;
  const w = useWorld({ vars: { ...VARS, PRIVACY_PAGE_EVENTS: String(PAGE) } }, {
    ready: (ready) => {
      ready.payload = async (provider, key) =>
        (await ready.worker.all("SELECT payload FROM events WHERE provider = ? AND dedupe_key = ?", provider, key))[0]?.payload;
    },
  });
  const CONTACT = "70000000555";
  const CUSTOMER = unique("cus_pages_");
  const EMAIL = `pat.pages.${Date.now()}@example.com`;
  const OTHER = `someone.else.${Date.now()}@example.com`;
  const SHOP_NAME = "privacy-pages.myshopify.com";
  /** A fixture with the sample person's address replaced by `email` wherever it appears. */
  const withEmail = (name, sampleEmail, email) => JSON.parse(JSON.stringify(fixture(name)).replaceAll(sampleEmail, email));
  const stored = {};
  let request;

  before(async () => {
    // A Shopify order of the person; HubSpot refused its contact with an answer quoting the
    // address (kept as the step's and its attempts' error excerpt).
    w.fake.always(UPSERT, { status: 400, body: { status: "error", message: `Property values were not valid: ${EMAIL}`, category: "VALIDATION_ERROR" } });
    const order = withEmail("shopify/orders/create.json", "grace.hopper@example.com", EMAIL);
    order.id = Number(String(Date.now()).slice(-10));
    const webhookId = unique("wh_");
    await deliver(w.worker, "shopify", order, { topic: "orders/create", shop: SHOP_NAME, webhookId });
    const orderSteps = await settled(w.worker, "shopify", webhookId, { count: 3, timeoutMs: 30000 });
    const refused = orderSteps.find((s) => s.name === "hubspot.upsert_contact");
    assert.equal(refused.status, "dead");
    assert.ok(refused.last_error.includes(EMAIL), refused.last_error);
    stored.order = webhookId;

    // The person paid with Stripe: HubSpot linked the contact to the customer.
    w.fake.always(UPSERT, { status: 200, body: { status: "COMPLETE", results: [{ id: CONTACT }] } });
    const checkout = await deliver(w.worker, "stripe", checkoutCompleted({ email: EMAIL, name: "Pat Pages", customer: CUSTOMER }));
    await settled(w.worker, "stripe", checkout.key, { count: 2 });
    stored.checkout = checkout.key;
    assert.equal((await w.worker.all("SELECT * FROM contact_links WHERE hubspot_contact_id = ?", CONTACT)).length, 1);

    // The customer's own customer.updated (its id at /data/object/id; no address in it).
    const updated = JSON.parse(readFileSync(path.join(ROOT, "tests/fixtures/privacy/stripe-customer.updated.json"), "utf8"));
    updated.id = unique("evt_cus_upd_");
    updated.data.object.id = CUSTOMER;
    updated.data.object.email = null;
    stored.customerUpdated = (await deliver(w.worker, "stripe", updated)).key;

    // SendGrid events about the address: a suppression and an engagement counter; and another
    // person's bounce.
    for (const [name, email, key] of [["bounce", EMAIL, "bounce"], ["open", EMAIL, "open"], ["bounce", OTHER, "otherBounce"]]) {
      const event = { ...fixture(`sendgrid/${name}.json`), email, sg_event_id: unique(`sg_${key}_`), timestamp: Math.floor(Date.now() / 1000) };
      const { key: dedupe } = await deliver(w.worker, "sendgrid", event);
      await settled(w.worker, "sendgrid", dedupe);
      stored[key] = dedupe;
    }
    const rows = await w.worker.all("SELECT email FROM suppressions UNION ALL SELECT email FROM engagement");
    assert.ok(rows.some((r) => r.email === EMAIL), JSON.stringify(rows));

    // The contact changed its address in HubSpot once.
    const change = fixture("hubspot/contact.propertyChange.json");
    Object.assign(change, { eventId: Number(String(Date.now()).slice(-9)), objectId: Number(CONTACT), propertyValue: EMAIL, occurredAt: Date.now() - 1000 });
    stored.change = (await deliver(w.worker, "hubspot", change)).key;
    await settled(w.worker, "hubspot", stored.change);

    const deletion = fixture("hubspot/contact.privacyDeletion.json");
    Object.assign(deletion, { eventId: Number(String(Date.now()).slice(-9)) + 1, objectId: Number(CONTACT), occurredAt: Date.now() });
    const { key } = await deliver(w.worker, "hubspot", deletion);
    const steps = await settled(w.worker, "hubspot", key, { timeoutMs: 60000 });
    assert.deepEqual(steps.map((s) => [s.name, s.status, s.last_error]), [["privacy.redact", "succeeded", null]]);
    request = { key, eventId: steps[0].event_id };
  });

  test("more events than two pages: the step ran in several runs, each giving its claim back", async () => {
    const [{ n }] = await w.worker.all("SELECT count(*) AS n FROM events");
    assert.ok(n > 2 * PAGE, `${n} events: one run scans at most two pages of ${PAGE}`);
    const [progress] = await w.worker.all("SELECT phase, scanned_to >= scan_end AS scanned, emails, customers, done_at IS NOT NULL AS done FROM privacy_progress WHERE event_id = ?", request.eventId);
    assert.deepEqual(progress, { phase: "redact", scanned: 1, emails: "[]", customers: "[]", done: 1 });
    const [step] = await w.worker.all("SELECT attempts FROM steps WHERE event_id = ?", request.eventId);
    assert.equal(step.attempts, 1, "a page given back spends no attempt");
  });

  test("the payloads of every provider holding the address, and the customer's own customer.* event", async () => {
    assert.equal(await w.payload("shopify", stored.order), null, "the Shopify order with the address");
    assert.equal(await w.payload("sendgrid", stored.bounce), null, "the SendGrid bounce");
    assert.equal(await w.payload("sendgrid", stored.open), null, "the SendGrid open");
    assert.equal(await w.payload("stripe", stored.customerUpdated), null, "customer.updated of the linked customer (/data/object/id)");
    assert.equal(await w.payload("stripe", stored.checkout), null, "the linked customer's checkout");
    assert.equal(await w.payload("hubspot", stored.change), null, "the contact's own change");
    assert.equal(await w.payload("hubspot", request.key), null, "the request itself");
    assert.notEqual(await w.payload("sendgrid", stored.otherBounce), null, "another person's bounce stays");
  });

  test("the rows stay for the admin: ids, statuses, marked redacted", async () => {
    const rows = await w.worker.all("SELECT dedupe_key, status, redacted_at IS NOT NULL AS redacted FROM events WHERE dedupe_key IN (?, ?, ?)", stored.order, stored.bounce, stored.customerUpdated);
    assert.equal(rows.length, 3);
    for (const row of rows) assert.deepEqual([row.status, row.redacted], ["accepted", 1], JSON.stringify(row));
    const [record] = await w.worker.all("SELECT topic, customer_id, events_affected FROM privacy_requests WHERE event_id = ?", request.eventId);
    assert.deepEqual(record, { topic: "contact.privacyDeletion", customer_id: CONTACT, events_affected: 7 });
  });

  test("error excerpts quoting the address are cut to their code", async () => {
    const [refused] = await w.worker.all("SELECT s.id, s.last_error FROM steps s JOIN events e ON e.id = s.event_id WHERE e.dedupe_key = ? AND s.name = 'hubspot.upsert_contact'", stored.order);
    assert.equal(refused.last_error, "http_400");
    const attempts = await w.worker.all("SELECT error FROM attempts WHERE step_id = ?", refused.id);
    assert.ok(attempts.length >= 1);
    for (const a of attempts) assert.equal(a.error, "http_400");
  });

  test("the address's suppressions and engagement, the links and the stored customer are gone", async () => {
    assert.deepEqual(await w.worker.all("SELECT reason FROM suppressions WHERE email = ?", EMAIL), []);
    assert.deepEqual(await w.worker.all("SELECT kind FROM engagement WHERE email = ?", EMAIL), []);
    assert.equal((await w.worker.all("SELECT * FROM suppressions WHERE email = ?", OTHER)).length, 1, "another person's suppression stays");
    assert.deepEqual(await w.worker.all("SELECT * FROM contact_links WHERE hubspot_contact_id = ? OR stripe_customer_id = ?", CONTACT, CUSTOMER), []);
    assert.deepEqual(await w.worker.all("SELECT * FROM stripe_customers WHERE id = ?", CUSTOMER), []);
    // D1 allows few terms per compound SELECT: one query per table.
    const everything = JSON.stringify(await Promise.all([
      "SELECT payload FROM events", "SELECT last_error FROM steps", "SELECT error FROM attempts", "SELECT * FROM contact_links",
      "SELECT email FROM suppressions", "SELECT email FROM engagement", "SELECT * FROM stripe_customers", "SELECT * FROM privacy_progress",
    ].map((sql) => w.worker.all(sql))));
    assert.ok(!everything.includes(EMAIL), "the address is nowhere in D1");
    assert.ok(!everything.includes(CUSTOMER), "nor the customer id");
  });
});

describe("Shopify customers/data_request and customers/redact of a customer with more events than a page, in pages", () => {
  const PAGE = 2;
  const w = useWorld({ vars: { ...VARS, PRIVACY_PAGE_EVENTS: String(PAGE) } }, {
    ready: (ready) => {
      ready.payload = async (provider, key) =>
        (await ready.worker.all("SELECT payload FROM events WHERE provider = ? AND dedupe_key = ?", provider, key))[0]?.payload;
    },
  });
  const SHOP_NAME = "privacy-redact-pages.myshopify.com";
  const EMAIL = `red.pages.${Date.now()}@example.com`;
  const CUSTOMER_ID = Number(String(Date.now()).slice(-9));
  const shopify = (body, topic) => deliver(w.worker, "shopify", body, { topic, shop: SHOP_NAME, webhookId: unique("wh_") });
  const stored = { orders: [] };
  let request;

  before(async () => {
    // Five orders of the customer, another customer's order, and a SendGrid bounce of the address.
    for (let i = 0; i < 5; i += 1) {
      const order = shopifyOrder({ id: 8_000_000_000 + i, email: EMAIL, customer: { id: CUSTOMER_ID, email: EMAIL, first_name: "Red", last_name: "Pages" } });
      const { key } = await shopify(order, "orders/create");
      await settled(w.worker, "shopify", key, { count: 3, timeoutMs: 30000 });
      stored.orders.push(key);
    }
    const other = await shopify(shopifyOrder(), "orders/create");
    await settled(w.worker, "shopify", other.key, { count: 3, timeoutMs: 30000 });
    stored.other = other.key;
    const { key: bounce } = await deliver(w.worker, "sendgrid", sendgridEvent({ event: "bounce", email: EMAIL }));
    await settled(w.worker, "sendgrid", bounce);
    stored.bounce = bounce;

    // The customer's data request first, collected in the same pages.
    const dataRequest = { shop_id: 1, shop_domain: SHOP_NAME, orders_requested: [], customer: { id: CUSTOMER_ID, email: EMAIL }, data_request: { id: 9002 } };
    const exported = await shopify(dataRequest, "customers/data_request");
    const [exportStep] = await settled(w.worker, "shopify", exported.key, { timeoutMs: 60000 });
    assert.equal(exportStep.status, "succeeded", exportStep.last_error);
    const [record] = await w.worker.all("SELECT export, events_affected FROM privacy_requests WHERE event_id = ?", exportStep.event_id);
    stored.exportRequest = { eventId: exportStep.event_id, record };

    const body = { shop_id: 1, shop_domain: SHOP_NAME, customer: { id: CUSTOMER_ID, email: EMAIL }, orders_to_redact: [] };
    const { key } = await shopify(body, "customers/redact");
    const steps = await settled(w.worker, "shopify", key, { timeoutMs: 60000 });
    assert.deepEqual(steps.map((s) => [s.status, s.last_error]), [["succeeded", null]]);
    request = { key, eventId: steps[0].event_id };
  });

  test("more events than a page: the step ran in several runs, each giving its claim back", async () => {
    const [{ n }] = await w.worker.all("SELECT count(*) AS n FROM events");
    assert.ok(n > 2 * PAGE, `${n} events: one run scans at most one page of ${PAGE}`);
    const [progress] = await w.worker.all("SELECT scanned_to >= scan_end AS scanned, done_at IS NOT NULL AS done FROM privacy_progress WHERE event_id = ?", request.eventId);
    assert.deepEqual(progress, { scanned: 1, done: 1 });
    const [step] = await w.worker.all("SELECT attempts FROM steps WHERE event_id = ?", request.eventId);
    assert.equal(step.attempts, 1, "a page given back spends no attempt");
  });

  test("the data request's export was collected over several runs: the customer's events, oldest first", async () => {
    const { eventId, record } = stored.exportRequest;
    const [progress] = await w.worker.all("SELECT phase, export, done_at IS NOT NULL AS done FROM privacy_progress WHERE event_id = ?", eventId);
    assert.deepEqual(progress, { phase: "export", export: null, done: 1 });
    const [step] = await w.worker.all("SELECT attempts FROM steps WHERE event_id = ?", eventId);
    assert.equal(step.attempts, 1, "a page given back spends no attempt");
    assert.equal(record.events_affected, 7, "five orders, the bounce and the request");
    const events = JSON.parse(record.export);
    assert.deepEqual(events.filter((e) => e.type === "orders/create").map((e) => JSON.parse(e.payload).id), [0, 1, 2, 3, 4].map((i) => 8_000_000_000 + i));
    assert.ok(events.some((e) => e.provider === "sendgrid"), "the address found in another provider's payload");
    const times = events.map((e) => e.received_at);
    assert.deepEqual(times, [...times].sort((a, b) => a - b));
  });

  test("every copy of the customer is redacted at the end, and nothing of anyone else", async () => {
    for (const order of stored.orders) assert.equal(await w.payload("shopify", order), null, "each order is gone");
    assert.equal(await w.payload("sendgrid", stored.bounce), null, "the SendGrid copy");
    assert.equal(await w.payload("shopify", request.key), null, "the request itself");
    assert.notEqual(await w.payload("shopify", stored.other), null, "another customer is untouched");
    assert.deepEqual(await w.worker.all("SELECT reason FROM suppressions WHERE email = ?", EMAIL), []);
    const everything = JSON.stringify(await Promise.all([
      "SELECT payload, headers FROM events", "SELECT last_error FROM steps", "SELECT error FROM attempts",
      "SELECT email FROM suppressions", "SELECT * FROM privacy_requests",
    ].map((sql) => w.worker.all(sql))));
    assert.ok(!everything.includes(EMAIL), "the address is nowhere in D1");
    const [record] = await w.worker.all("SELECT topic, customer_id, customer_email, events_affected FROM privacy_requests WHERE event_id = ?", request.eventId);
    assert.deepEqual(record, { topic: "customers/redact", customer_id: String(CUSTOMER_ID), customer_email: "[redacted]", events_affected: 8 });
    const [exported] = await w.worker.all("SELECT export, customer_email FROM privacy_requests WHERE event_id = ?", stored.exportRequest.eventId);
    assert.deepEqual(exported, { export: null, customer_email: "[redacted]" }, "the earlier export");
  });
});
