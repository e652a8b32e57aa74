// One logical provider delivery, as the chaos senders see it: which provider and source it goes
// to, the events it carries (their dedupe keys as D1 stores them, provider times, the entity
// they write and what downstream calls they should cause), what the answer must be (`accepted`,
// or `unauthorized` for an expired or forged signature, which must never be stored), and
// `build(n)`: the bytes and headers of its n-th send. A provider's retry is not always the same
// request: Stripe and SendGrid re-sign with a fresh timestamp, HubSpot also bumps
// `attemptNumber` in the body, Shopify resends identical bytes (and other subscriptions, or an
// attacker, post the same body with fresh unsigned ids). `sends` is how often the provider
// delivers it even when every answer is 2xx (repeats); 503s and dropped connections add retries.
import crypto from "node:crypto";

let serial = 0;

/** Secrets of the named sources the run declares (see cast.mjs SOURCES). Values are secrets: the
 * log check looks for them too. */
export const SOURCE_SECRETS = {
  STRIPE_WEBHOOK_SECRETS__EU: "whsec_chaos_source_eu_0001",
  SHOPIFY_WEBHOOK_SECRETS__STORE_B: "shpss_chaos_source_store_b_01",
  HUBSPOT_CLIENT_SECRETS__APP_2: "hubspot-chaos-source-app-2-secret",
};

/** `src:<source>:<key>` for a named source, the key itself on the default path (data-model.md). */
export const scoped = (source, key) => (source ? `src:${source}:${key}` : key);

/** D1's event id for a stored dedupe key (handlers/src/inbound/ids.rs `event_id`). */
export function eventId(provider, storedKey) {
  const digest = crypto.createHash("sha256").update(provider).update(Buffer.from([0])).update(storedKey).digest("hex");
  return `evt_${digest.slice(0, 24)}`;
}

export function delivery({ provider, source = null, kind, events, rejected = 0, expect = "accepted", sends = 1, build }) {
  serial += 1;
  return {
    id: `d${serial}`,
    provider,
    source,
    kind,
    path: `/webhooks/${provider}${source ? `/${source}` : ""}`,
    events: events.map((e) => ({ ...e, provider, source, eventId: eventId(provider, e.storedKey) })),
    rejected,
    expect,
    sends,
    build,
  };
}

/** The event record a generator fills in (see delivery()). */
export function eventOf({ key, source, type, occurredAt, entity = null, calls = [], slack = null, contentKey = null }) {
  return { key, storedKey: scoped(source, key), type, occurredAt, entity, calls, slack, contentKey };
}
