// A local stand-in for the downstream SaaS APIs (HubSpot, SendGrid, Stripe, Slack). It records
// every call and answers like the real APIs would by default (2xx with a JSON body); tests can
// script failures per path: status codes, Retry-After, slow answers, dropped connections,
// answers held back until the test releases them (`hold`: a promise the answer waits for), and
// answers that send their headers and then never finish the body (`stallBody`).
// HubSpot deals are modelled with state (see hubspotDeals below): a scripted response stands in
// front of the model (the request never reached HubSpot) unless it says `commit: true`, in which
// case HubSpot does the work and the scripted part only spoils the answer (`drop`, `delayMs`).
// Stripe customers are modelled the same way (see stripeCustomers below): `GET /v1/customers/{id}`
// checks the Bearer key and answers the stored customer, a deleted customer's stub, or 404
// `resource_missing`; scripted responses for that path (status codes, Retry-After, slow or
// dropped answers) stand in front of it.
// HubSpot contacts likewise (see hubspotContacts below): `POST …/contacts/batch/upsert` keyed by
// email, one result per input, 207 with per-input errors, duplicate ids refused. HubSpot's own
// budget can be switched on (`hubspotRateLimit({ limit: 100, windowMs: 10_000 })`): every CRM
// call over it is answered 429 with `Retry-After` and HubSpot's body, before anything scripted.
// Any other path is a generic receiver, as an `http` destination's URL is: `receiver(name)` names
// one (`/receiver/<name>`), records what it receives and plays whatever is scripted for it
// (status codes, Retry-After, slow answers) like any path.
// Stripe's event log likewise (see stripeEvents below): `GET /v1/events` lists the events tests
// added, newest first, filtered and paginated as Stripe does; a scripted response for
// `/v1/events` (e.g. 429 with Retry-After) stands in front of it, and `{commit: true, hold}`
// computes the real page and holds it back (a webhook can be delivered meanwhile).
// Shopify's Admin API orders listing likewise (fake-shopify-admin.mjs): `shopifyAdmin.upsert`
// adds orders per shop, `token` sets a shop's access token; scripted responses for the orders
// path (429 with Retry-After, 5xx) stand in front of it.
import fs from "node:fs";
import http from "node:http";
import { shopifyAdminOrders } from "./fake-shopify-admin.mjs";

const CONTACTS_UPSERT = "/crm/v3/objects/contacts/batch/upsert";
const DEALS = "/crm/v3/objects/deals";
const DEALS_UPSERT = "/crm/v3/objects/deals/batch/upsert";
/** The unique deal property edgehooks keys deal upserts by (docs/providers.md, "HubSpot setup for deals"). */
export const DEAL_ID_PROPERTY = "edgehooks_idempotency_key";

export async function startFakeDownstream({ port = 0 } = {}) {
  const calls = [];
  const listeners = [];
  const scripts = new Map(); // path -> array of responses to play in order, then default
  const always = new Map(); // path -> response played forever
  const sockets = new Set();
  let chaos = null; // (call) => response or null: a per-call planner (fault injection)
  const hubspot = hubspotDeals();
  const contacts = hubspotContacts();
  const rateLimit = hubspotRateLimit();
  const stripe = stripeCustomers();
  const stripeLog = stripeEvents();
  const shopifyAdmin = shopifyAdminOrders();

  const server = http.createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      const url = new URL(req.url, "http://fake");
      const call = { method: req.method, path: url.pathname, query: url.search, headers: req.headers, body, at: Date.now() };
      calls.push(call);
      for (const listener of listeners) listener(call);
      const limited = rateLimit.check(url.pathname);
      if (limited) {
        call.status = 429;
        res.writeHead(429, { "content-type": "application/json", ...limited.headers });
        res.end(JSON.stringify(limited.body));
        return;
      }
      const queued = scripts.get(url.pathname);
      const scripted = (queued && queued.length ? queued.shift() : null) ?? always.get(url.pathname) ?? chaos?.(call);
      // A scripted response may be a function of the call, for values computed when it plays.
      let plan = (typeof scripted === "function" ? scripted(call) : scripted) ?? { status: 200 };
      if (hubspot.handles(req.method, url.pathname) && (!scripted || plan.commit)) {
        const { commit, ...spoiled } = plan;
        plan = { ...hubspot.answer(req.method, url.pathname, body), ...(scripted ? spoiled : {}) };
      }
      if (contacts.handles(req.method, url.pathname) && (!scripted || plan.commit)) {
        const { commit, ...spoiled } = plan;
        plan = { ...contacts.answer(body), ...(scripted ? spoiled : {}) };
      }
      if (stripe.handles(req.method, url.pathname) && (!scripted || plan.commit)) {
        const { commit, ...spoiled } = plan;
        plan = { ...stripe.answer(url.pathname, req.headers), ...(scripted ? spoiled : {}) };
      }
      if (stripeLog.handles(req.method, url.pathname) && (!scripted || plan.commit)) {
        const { commit, ...spoiled } = plan;
        plan = { ...stripeLog.answer(url.searchParams, req.headers), ...(scripted ? spoiled : {}) };
      }
      if (shopifyAdmin.handles(req.method, url.pathname) && (!scripted || plan.commit)) {
        const { commit, ...spoiled } = plan;
        plan = { ...shopifyAdmin.answer(url, req.headers), ...(scripted ? spoiled : {}) };
      }
      const answer = () => {
        if (plan.drop) {
          req.socket.destroy();
          return;
        }
        const headers = { "content-type": "application/json", ...(plan.headers ?? {}) };
        res.writeHead(plan.status ?? 200, headers);
        // `text`: the exact bytes (Stripe pretty-prints its API answers).
        const text = plan.text ?? JSON.stringify(plan.body ?? defaultBody(url.pathname, plan.status ?? 200));
        if (plan.stallBody) {
          // Headers and the first half of the body, then nothing more, ever (until close()).
          res.write(text.slice(0, Math.floor(text.length / 2)));
          return;
        }
        res.end(text);
      };
      const go = () => (plan.delayMs ? setTimeout(answer, plan.delayMs) : answer());
      if (plan.hold) Promise.resolve(plan.hold).then(go);
      else go();
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));

  return {
    url: `http://127.0.0.1:${server.address().port}`,
    calls,
    callsTo: (path) => calls.filter((c) => c.path === path),
    /** A generic receiver for an http destination: its `url`, `path` and the `calls` it got. */
    receiver(name) {
      const path = `/receiver/${name}`;
      return { path, url: `http://127.0.0.1:${server.address().port}${path}`, calls: () => calls.filter((c) => c.path === path) };
    },
    onCall: (listener) => listeners.push(listener),
    /** HubSpot's deal store: `deals()` lists them; `uniqueDealProperties` is the portal's set of
     * deal properties with unique values (delete DEAL_ID_PROPERTY to model a portal without it). */
    hubspot,
    /** HubSpot's contacts: `contacts()` lists them (`properties`, `writes`: how many upserts
     * applied), `get(email)`, `refuse(email)` makes HubSpot refuse that contact's input (a
     * per-input VALIDATION_ERROR). */
    hubspotContacts: contacts,
    /** HubSpot's rolling budget: `set({ limit, windowMs })` turns it on (null: off), `rejected()`
     * counts the 429s it answered. */
    hubspotRateLimit: rateLimit,
    /** Stripe's customers: `add(overrides)` stores a complete Customer object (returned),
     * `remove(id)` deletes it (GET then answers `{id, object, deleted: true}`), `get(id)`. The
     * fixture customer of tests/fixtures/events (cus_PiEWZ5vTqL0p2d, Ada Lovelace) is there from
     * the start. */
    stripe,
    /** Stripe's event log behind `GET /v1/events`: `add(event)` appends an event object (as a
     * webhook would carry it), `events()` lists them, `clear()`, `pageSize` (a test knob: at
     * most this many events a page). See stripeEvents. */
    stripeEvents: stripeLog,
    /** Shopify's Admin API orders per shop (see fake-shopify-admin.mjs). */
    shopifyAdmin,
    /** Play these responses (objects, or functions of the call), in order, for the next calls to `path`. */
    script(path, responses) {
      scripts.set(path, [...responses]);
    },
    /** Answer every call to `path` with `response` until reset. */
    always(path, response) {
      always.set(path, response);
    },
    /** Decide every call's response with `planner(call)` (null: the default 2xx) until reset. */
    chaos(planner) {
      chaos = planner;
    },
    reset() {
      chaos = null;
      hubspot.reset();
      contacts.reset();
      rateLimit.set(null);
      stripe.reset();
      stripeLog.clear();
      stripeLog.pageSize = Infinity;
      shopifyAdmin.clear();
      calls.length = 0;
      scripts.clear();
      always.clear();
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * HubSpot CRM v3 deals as HubSpot behaves (as far as edgehooks relies on it):
 * - `POST /crm/v3/objects/deals/batch/upsert`: each input `{idProperty, id, properties}` updates
 *   the deal whose `idProperty` equals `id`, else creates one with it (`new: true|false` in the
 *   result). An `idProperty` that is not a unique deal property of the portal (unknown, or not
 *   "require unique values") refuses the whole batch with 400 VALIDATION_ERROR "Unable to perform
 *   update/upsert by non-unique 0-3 property <name>"; the same id twice in one batch is 400
 *   "Duplicate IDs found in batch input".
 * - `POST /crm/v3/objects/deals`: always creates a deal (201), unless a unique property's value is
 *   already taken: 400 VALIDATION_ERROR.
 */
function hubspotDeals() {
  const deals = [];
  let nextId = 20000000001;
  const uniqueDealProperties = new Set([DEAL_ID_PROPERTY]);
  const now = () => new Date().toISOString();
  const record = (deal, extra = {}) => ({ id: deal.id, properties: { ...deal.properties, hs_object_id: deal.id },
    createdAt: deal.createdAt, updatedAt: deal.updatedAt, archived: false, ...extra });
  const error = (status, message, extra = {}) => ({
    status, body: { status: "error", message, correlationId: `fake-${Date.now()}`, category: "VALIDATION_ERROR", ...extra },
  });
  const create = (properties) => {
    const at = now();
    const deal = { id: String(nextId++), properties: { ...properties }, createdAt: at, updatedAt: at };
    deals.push(deal);
    return deal;
  };
  const takenUnique = (properties, except) =>
    [...uniqueDealProperties].find((name) =>
      properties[name] !== undefined && deals.some((d) => d !== except && d.properties[name] === String(properties[name])));
  const stringify = (properties = {}) => Object.fromEntries(Object.entries(properties).map(([k, v]) => [k, String(v)]));

  function upsert(request) {
    const inputs = Array.isArray(request?.inputs) ? request.inputs : null;
    if (!inputs) return error(400, "Invalid input JSON: inputs is required");
    for (const input of inputs) {
      if (!uniqueDealProperties.has(input.idProperty)) {
        return error(400, `Unable to perform update/upsert by non-unique 0-3 property ${input.idProperty} in portal ID 12345678`);
      }
    }
    const ids = inputs.map((i) => String(i.id));
    const repeated = ids.filter((id, n) => ids.indexOf(id) !== n);
    if (repeated.length) {
      return error(400, `Duplicate IDs found in batch input: [${repeated.join(", ")}]. IDs must be unique`, { context: { ids: repeated } });
    }
    const startedAt = now();
    const results = inputs.map((input) => {
      const properties = { ...stringify(input.properties), [input.idProperty]: String(input.id) };
      const existing = deals.find((d) => d.properties[input.idProperty] === String(input.id));
      if (existing) {
        Object.assign(existing.properties, properties);
        existing.updatedAt = now();
        return record(existing, { new: false });
      }
      return record(create(properties), { new: true });
    });
    return { status: 200, body: { status: "COMPLETE", results, startedAt, completedAt: now() } };
  }

  function createOne(request) {
    const properties = stringify(request?.properties);
    const taken = takenUnique(properties);
    if (taken) {
      return error(400, `Property values were not valid: [{"isValid":false,"message":"${properties[taken]} already has that value.","error":"INVALID_UNIQUE_VALUE","name":"${taken}"}]`);
    }
    return { status: 201, body: record(create(properties)) };
  }

  return {
    uniqueDealProperties,
    deals: () => deals.map((d) => record(d)),
    handles: (method, path) => method === "POST" && (path === DEALS_UPSERT || path === DEALS),
    answer(method, path, text) {
      let request;
      try {
        request = JSON.parse(text);
      } catch {
        return error(400, "Invalid input JSON on line 1");
      }
      return path === DEALS_UPSERT ? upsert(request) : createOne(request);
    },
    reset() {
      deals.length = 0;
      uniqueDealProperties.clear();
      uniqueDealProperties.add(DEAL_ID_PROPERTY);
    },
  };
}

/** A Stripe Customer object as the API reference shows it (API version 2023-10-16). */
export function stripeCustomer(overrides = {}) {
  return {
    id: "cus_PiEWZ5vTqL0p2d",
    object: "customer",
    address: { city: "London", country: "GB", line1: "12 St James's Square", line2: null, postal_code: "SW1Y 4JH", state: null },
    balance: 0,
    created: 1709999990,
    currency: "usd",
    default_source: null,
    delinquent: false,
    description: null,
    discount: null,
    email: "ada@example.com",
    invoice_prefix: "6F3A1C2E",
    invoice_settings: { custom_fields: null, default_payment_method: "pm_1OtJ5xLkdIwHu7ixkD0cQ7pZ", footer: null, rendering_options: null },
    livemode: false,
    metadata: {},
    name: "Ada Lovelace",
    next_invoice_sequence: 2,
    phone: "+442071234567",
    preferred_locales: ["en"],
    shipping: null,
    tax_exempt: "none",
    test_clock: null,
    ...overrides,
  };
}

/**
 * Stripe's `GET /v1/customers/{id}` as Stripe answers it: 401 without a Bearer secret key
 * (`sk_`/`rk_`), the customer object, `{id, object: "customer", deleted: true}` (200) for a
 * deleted one, 404 `resource_missing` for an id it never had.
 */
function stripeCustomers() {
  const PREFIX = "/v1/customers/";
  const customers = new Map();
  const deleted = new Set();
  const requestId = () => `req_fake${Date.now().toString(36)}`;
  const failure = (status, error) => ({ status, headers: { "request-id": requestId() }, body: { error } });
  const seed = () => {
    customers.clear();
    deleted.clear();
    const ada = stripeCustomer();
    customers.set(ada.id, ada);
  };
  seed();
  return {
    add(overrides = {}) {
      const customer = stripeCustomer(overrides);
      customers.set(customer.id, customer);
      deleted.delete(customer.id);
      return customer;
    },
    remove(id) {
      customers.delete(id);
      deleted.add(id);
    },
    get: (id) => customers.get(id),
    handles: (method, path) => method === "GET" && path.startsWith(PREFIX) && path.length > PREFIX.length && !path.slice(PREFIX.length).includes("/"),
    answer(path, headers) {
      const key = /^Bearer ((?:sk|rk)_\S+)$/.exec(headers.authorization ?? "")?.[1];
      if (!key) {
        return failure(401, {
          message: headers.authorization ? "Invalid API Key provided: ****" : "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
          type: "invalid_request_error",
        });
      }
      const id = decodeURIComponent(path.slice(PREFIX.length));
      if (deleted.has(id)) return { status: 200, headers: { "request-id": requestId() }, body: { id, object: "customer", deleted: true } };
      const customer = customers.get(id);
      if (!customer) {
        return failure(404, {
          code: "resource_missing",
          doc_url: "https://stripe.com/docs/error-codes/resource-missing",
          message: `No such customer: '${id}'`,
          param: "id",
          request_log_url: `https://dashboard.stripe.com/test/logs/${requestId()}`,
          type: "invalid_request_error",
        });
      }
      return { status: 200, headers: { "request-id": requestId() }, body: customer };
    },
    reset: seed,
  };
}

/** A Stripe event from tests/fixtures/events/stripe/<type>.json (Stripe's API reference shape),
 * with `overrides` (a fresh `id` and `created`, typically). */
export function stripeFixtureEvent(type, overrides = {}) {
  const url = new URL(`../fixtures/events/stripe/${type}.json`, import.meta.url);
  return { ...JSON.parse(fs.readFileSync(url, "utf8")), ...overrides };
}

/**
 * Stripe's `GET /v1/events` as Stripe answers it: 401 without a Bearer secret key; 400
 * `parameter_invalid_integer`/`parameter_invalid` for a bad `limit` (1..100), more than 20
 * `types[]`, or a `starting_after` it does not know; otherwise a list object `{object: "list",
 * url: "/v1/events", has_more, data}` of the events with `created >= created[gte]` whose type is
 * one of `types[]` (all types when none), newest first (later `created` first; among equal
 * `created`, the later added first), at most `limit` (default 10), starting after the event
 * `starting_after` (fewer with the `pageSize` knob). The answer is pretty-printed as Stripe's API does, so the events' bytes differ
 * from a webhook body's (compact JSON) while the objects are equal.
 */
function stripeEvents() {
  const log = [];
  let sequence = 0;
  const invalid = (message, param, code = "parameter_invalid") => ({
    status: 400, body: { error: { code, message, param, type: "invalid_request_error" } },
  });
  const order = (a, b) => b.event.created - a.event.created || b.seq - a.seq;
  const fake = {
    /** Test knob: serve at most this many events per page whatever `limit` asks (many pages
     * without hundreds of events). Stripe itself fills pages to `limit`. */
    pageSize: Infinity,
    add(event) {
      log.push({ event, seq: ++sequence });
      return event;
    },
    events: () => log.map((e) => e.event),
    clear() {
      log.length = 0;
    },
    handles: (method, path) => method === "GET" && path === "/v1/events",
    answer(params, headers) {
      if (!/^Bearer (?:sk|rk)_\S+$/.test(headers.authorization ?? "")) {
        return { status: 401, body: { error: { message: "You did not provide a valid API key.", type: "invalid_request_error" } } };
      }
      const limit = params.has("limit") ? Number(params.get("limit")) : 10;
      if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
        return invalid("Invalid integer: limit must be between 1 and 100", "limit", "parameter_invalid_integer");
      }
      const types = params.getAll("types[]");
      if (types.length > 20) return invalid("You may only specify up to 20 types.", "types");
      const gte = params.has("created[gte]") ? Number(params.get("created[gte]")) : -Infinity;
      // `starting_after` is a place in Stripe's order, whatever the filters.
      let ordered = [...log].sort(order);
      const after = params.get("starting_after");
      if (after) {
        const at = ordered.findIndex((e) => e.event.id === after);
        if (at < 0) return invalid(`No such event: '${after}'`, "starting_after", "resource_missing");
        ordered = ordered.slice(at + 1);
      }
      const matching = ordered.filter((e) => e.event.created >= gte && (types.length === 0 || types.includes(e.event.type)));
      const size = Math.min(limit, fake.pageSize);
      const data = matching.slice(0, size).map((e) => e.event);
      const body = { object: "list", data, has_more: matching.length > size, url: "/v1/events" };
      return { status: 200, headers: { "request-id": `req_fake${Date.now().toString(36)}` }, text: JSON.stringify(body, null, 2) };
    },
  };
  return fake;
}

/**
 * HubSpot CRM v3 contacts as HubSpot behaves for `POST /crm/v3/objects/contacts/batch/upsert`
 * (as far as edgehooks relies on it): at most 100 inputs; two inputs naming one contact (emails
 * compare without case) refuse the whole batch with 400 "Duplicate IDs found in batch input";
 * each input `{idProperty: "email", id, properties, objectWriteTraceId}` updates the contact with
 * that email (its properties merged) or creates it. An input HubSpot refuses (an id that is no
 * email, or one `refuse`d) is an error of its own: with multi-status (every input carries an
 * `objectWriteTraceId`) the answer is 207 with the applied inputs' `results` and an `errors`
 * entry naming the refused input's trace id; otherwise the whole batch is refused with 400
 * naming the value. Results echo the input's `objectWriteTraceId`. A property the portal lacks
 * (`lackProperty`) refuses the whole batch that writes it, 207 or not, with a 400 that names the
 * property (`PROPERTY_DOESNT_EXIST`) and no input, as HubSpot does; an email `refuseBatch`ed
 * refuses the whole batch holding it, 207 or not, with a 400 naming that email.
 */
function hubspotContacts() {
  const contacts = new Map(); // lowercased email -> { id, properties, writes, createdAt, updatedAt }
  const refused = new Set();
  const lacking = new Set(); // property names the portal does not have
  const refusedBatch = new Set(); // emails that refuse the whole batch, named
  let nextId = 1001;
  const now = () => new Date().toISOString();
  const error = (status, message, extra = {}) => ({
    status, body: { status: "error", message, correlationId: `fake-${Date.now()}`, category: "VALIDATION_ERROR", ...extra },
  });
  const invalid = (input) => {
    const id = String(input.id ?? "");
    return input.idProperty !== "email" || !id.includes("@") || refused.has(id.toLowerCase());
  };
  const apply = (input) => {
    const email = String(input.id).toLowerCase();
    const properties = Object.fromEntries(Object.entries(input.properties ?? {}).map(([k, v]) => [k, String(v)]));
    let contact = contacts.get(email);
    const created = !contact;
    if (!contact) {
      contact = { id: String(nextId++), properties: {}, writes: 0, createdAt: now() };
      contacts.set(email, contact);
    }
    Object.assign(contact.properties, properties, { email: contact.properties.email ?? String(input.id) });
    contact.writes += 1;
    contact.updatedAt = now();
    const result = { id: contact.id, properties: { ...contact.properties, hs_object_id: contact.id },
      createdAt: contact.createdAt, updatedAt: contact.updatedAt, archived: false, new: created };
    if (input.objectWriteTraceId !== undefined) result.objectWriteTraceId = input.objectWriteTraceId;
    return result;
  };
  function upsert(request) {
    const inputs = Array.isArray(request?.inputs) ? request.inputs : null;
    if (!inputs) return error(400, "Invalid input JSON: inputs is required");
    if (inputs.length > 100) return error(400, `Batch size ${inputs.length} exceeds the limit of 100`);
    const ids = inputs.map((i) => String(i.id).toLowerCase());
    const repeated = ids.filter((id, n) => ids.indexOf(id) !== n);
    if (repeated.length) {
      return error(400, `Duplicate IDs found in batch input: [${repeated.join(", ")}]. IDs must be unique`, { context: { ids: repeated } });
    }
    const unknown = inputs.flatMap((i) => Object.keys(i.properties ?? {})).find((name) => lacking.has(name));
    if (unknown !== undefined) {
      const why = `Property \\"${unknown}\\" does not exist`;
      return error(400, `Property values were not valid: [{"isValid":false,"message":"${why}","error":"PROPERTY_DOESNT_EXIST","name":"${unknown}","localizedErrorMessage":"${why}"}]`);
    }
    const named = ids.find((id) => refusedBatch.has(id));
    if (named !== undefined) {
      return error(400, `Property values were not valid: [{"isValid":false,"message":"${named} is not a valid email address","error":"INVALID_EMAIL","name":"email"}]`);
    }
    const bad = inputs.filter(invalid);
    const multiStatus = inputs.every((i) => i.objectWriteTraceId !== undefined);
    if (bad.length && !multiStatus) {
      return error(400, `Property values were not valid: [{"isValid":false,"message":"${bad[0].id} is not a valid email address","error":"INVALID_EMAIL","name":"email"}]`);
    }
    const startedAt = now();
    const results = inputs.filter((i) => !invalid(i)).map(apply);
    const errors = bad.map((i) => ({
      status: "error", category: "VALIDATION_ERROR", message: `Property values were not valid: ${i.id} is not a valid email address`,
      context: { objectWriteTraceId: [String(i.objectWriteTraceId)] },
    }));
    const body = { status: "COMPLETE", results, startedAt, completedAt: now() };
    if (!errors.length) return { status: 200, body };
    return { status: 207, body: { ...body, numErrors: errors.length, errors } };
  }
  return {
    contacts: () => [...contacts.values()].map((c) => ({ ...c, properties: { ...c.properties } })),
    get: (email) => contacts.get(String(email).toLowerCase()),
    refuse: (email) => refused.add(String(email).toLowerCase()),
    lackProperty: (name) => lacking.add(String(name)),
    refuseBatch: (email) => refusedBatch.add(String(email).toLowerCase()),
    handles: (method, path) => method === "POST" && path === CONTACTS_UPSERT,
    answer(text) {
      try {
        return upsert(JSON.parse(text));
      } catch {
        return error(400, "Invalid input JSON on line 1");
      }
    },
    reset() {
      contacts.clear();
      refused.clear();
      lacking.clear();
      refusedBatch.clear();
      nextId = 1001;
    },
  };
}

/** HubSpot's rolling budget on its CRM API (off until `set`): the calls of the last `windowMs`
 * that it let through are counted, and one over `limit` is answered 429 as HubSpot does. */
function hubspotRateLimit() {
  let policy = null;
  let passed = [];
  let rejected = 0;
  return {
    set(next) {
      policy = next;
      passed = [];
      rejected = 0;
    },
    rejected: () => rejected,
    check(path) {
      if (!policy || !path.startsWith("/crm/")) return null;
      const at = Date.now();
      passed = passed.filter((t) => t > at - policy.windowMs);
      if (passed.length < policy.limit) {
        passed.push(at);
        return null;
      }
      rejected += 1;
      const wait = Math.max(1, Math.ceil((passed[0] + policy.windowMs - at) / 1000));
      return {
        headers: {
          "retry-after": String(wait),
          "x-hubspot-ratelimit-interval-milliseconds": String(policy.windowMs),
          "x-hubspot-ratelimit-max": String(policy.limit),
          "x-hubspot-ratelimit-remaining": "0",
        },
        body: {
          status: "error",
          message: "You have reached your ten_secondly_rolling limit.",
          errorType: "RATE_LIMIT",
          correlationId: `fake-${at}`,
          policyName: "TEN_SECONDLY_ROLLING",
          groupName: "publicapi:app-id:12345:portal-id:12345678",
        },
      };
    },
  };
}

function defaultBody(path, status) {
  if (status >= 400) return { status: "error", message: `fake failure ${status}` };
  if (path.endsWith("/batch/upsert")) return { status: "COMPLETE", results: [{ id: "1001" }] };
  return { ok: true };
}
