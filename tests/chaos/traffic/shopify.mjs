// Shopify traffic: new orders and customer updates of one customer (one ordering entity, by the
// body's `updated_at`), on the default shop and the `store-b` source. Shopify signs only the
// body, so a delivery's sends differ in unsigned headers: its retries resend identical requests,
// a second subscription to the topic delivers the same `X-Shopify-Event-Id` under its own
// webhook id, and a replay re-posts the captured body with fresh ids (must be a duplicate: the
// stored digest of the body is unique). A forged delivery has a wrong HMAC: 401, not stored.
import crypto from "node:crypto";
import { fixture } from "../../helpers/flows.mjs";
import { shopifyDelivery } from "../../helpers/providers.mjs";
import { TEST_SECRETS } from "../../helpers/worker.mjs";
import { SHOPS } from "../cast.mjs";
import { delivery, eventOf, scoped, SOURCE_SECRETS } from "./delivery.mjs";

const [PRIMARY, OLD] = TEST_SECRETS.SHOPIFY_WEBHOOK_SECRETS.split(",");
let counter = 0;

const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

const kinds = {
  order(rng, cast, p) {
    const base = fixture("shopify/orders/create.json");
    const n = ++counter;
    const at = cast.nextVersion(`shopify:customer:${p.shopifyCustomer}`);
    const id = 5600000000000 + n;
    const body = {
      ...base,
      id,
      admin_graphql_api_id: `gid://shopify/Order/${id}`,
      name: `#C${n}`,
      order_number: 100000 + n,
      email: p.email,
      contact_email: p.email,
      created_at: iso(at),
      updated_at: iso(at),
      customer: { ...base.customer, id: p.shopifyCustomer, email: p.email, first_name: p.first, last_name: p.last, updated_at: iso(at) },
    };
    return { topic: "orders/create", body, entity: `shopify:customer:${p.shopifyCustomer}`, calls: ["hubspot.upsert_contact", "hubspot.create_deal", "slack.notify"], slack: `order #C${n} on` };
  },
  customer(rng, cast, p) {
    const base = fixture("shopify/customers/update.json");
    const at = cast.nextVersion(`shopify:customer:${p.shopifyCustomer}`);
    const body = { ...base, id: p.shopifyCustomer, email: p.email, first_name: p.first, last_name: rng.pick([p.last, `${p.last}-${rng.int(1, 99)}`]), updated_at: iso(at) };
    return { topic: "customers/update", body, entity: `shopify:customer:${p.shopifyCustomer}`, calls: ["hubspot.upsert_contact"], slack: null };
  },
};

/** One Shopify delivery (with its repeats planned) of a random kind, customer and shop. */
export function shopifyDeliveryOf(rng, cast, { forged = false } = {}) {
  const source = rng.chance(0.3) ? "store-b" : null;
  const shop = SHOPS[source ?? "default"];
  const kind = rng.weighted({ order: 2, customer: 3 });
  const { topic, body, entity, calls, slack } = kinds[kind](rng, cast, cast.pick());
  const payload = JSON.stringify(body);
  const secret = forged ? "shpss_chaos_attacker_0000" : source ? SOURCE_SECRETS.SHOPIFY_WEBHOOK_SECRETS__STORE_B : rng.chance(0.2) ? OLD : PRIMARY;
  const eventIdHeader = `chaos-ev-${crypto.randomUUID()}`;
  const firstWebhook = `chaos-wh-${crypto.randomUUID()}`;
  // Send n: 0 the first delivery; then identical retries, another subscription's delivery of
  // the same event, or a replay of the body with fresh unsigned ids.
  const variants = ["retry", "subscription", "replay"];
  const plan = Array.from({ length: 4 }, () => rng.pick(variants));
  const occurredAt = Date.parse(body.updated_at);
  const d = delivery({
    provider: "shopify",
    source,
    kind: `shopify.${kind}${forged ? ".forged" : ""}`,
    expect: forged ? "unauthorized" : "accepted",
    sends: forged ? 1 : 1 + (rng.chance(0.4) ? rng.int(1, 3) : 0),
    events: [
      eventOf({
        key: eventIdHeader,
        source,
        type: topic,
        occurredAt,
        entity,
        calls,
        slack,
        contentKey: scoped(source, crypto.createHash("sha256").update(payload).digest("hex")),
      }),
    ],
    build(n) {
      const variant = n === 0 ? "first" : plan[(n - 1) % plan.length];
      const ids =
        variant === "subscription"
          ? { webhookId: `chaos-wh-${crypto.randomUUID()}`, eventId: eventIdHeader }
          : variant === "replay"
            ? { webhookId: `chaos-wh-${crypto.randomUUID()}`, eventId: `chaos-ev-${crypto.randomUUID()}` }
            : { webhookId: firstWebhook, eventId: eventIdHeader };
      return shopifyDelivery(payload, secret, { topic, shop, ...ids });
    },
  });
  /** The captured body posted again with fresh unsigned ids (an attacker, or a replay tool). */
  d.buildReplay = () =>
    shopifyDelivery(payload, secret, { topic, shop, webhookId: `chaos-wh-${crypto.randomUUID()}`, eventId: `chaos-ev-${crypto.randomUUID()}` });
  return d;
}
