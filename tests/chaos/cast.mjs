// The people and things the chaos traffic is about, shared by every provider's generator so one
// person's events cross providers as they do in a real shop: a Stripe customer (and
// subscription) who buys, a Shopify customer who orders, the HubSpot contact edgehooks upserts
// for them (the fake HubSpot answers each email with a stable contact id, `contactIdOf`), and
// the address SendGrid reports on. Entity versions (`nextVersion`) give each entity's events an
// increasing provider time, so generators can deliver them out of order and the ordering
// invariant can say which one is newer. Sources are the named sources the run declares besides
// each provider's default path.
export const SHOPS = { default: "chaos-main.myshopify.com", "store-b": "chaos-b.myshopify.com" };

/** provider -> named sources the run declares (WEBHOOK_SOURCES), besides the default path. */
export const SOURCES = { stripe: ["eu"], shopify: ["store-b"], hubspot: ["app-2"], sendgrid: ["mkt"] };

export function createCast(rng, size) {
  const people = Array.from({ length: size }, (_, i) => person(rng, i));
  const byEmail = new Map(people.map((p) => [p.email, p]));
  const versions = new Map();
  // Provider times start an hour ago and grow per entity: out-of-order delivery is then a
  // matter of sending order only.
  const epochMs = Date.now() - 3600_000;
  return {
    people,
    pick: () => rng.pick(people),
    byEmail: (email) => byEmail.get(String(email).toLowerCase()),
    /** The HubSpot contact id of an email (the fake HubSpot's answer to an upsert). */
    contactIdOf(email) {
      const p = byEmail.get(String(email).toLowerCase());
      return p ? p.contactId : 59000000000 + (hashOf(email) % 1000000);
    },
    /** The next provider time (ms) of `entity`: strictly increasing per entity. */
    nextVersion(entity) {
      const n = (versions.get(entity) ?? 0) + 1;
      versions.set(entity, n);
      return epochMs + n * 7000 + (hashOf(entity) % 5000);
    },
  };
}

function person(rng, i) {
  const first = rng.pick(["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Leslie"]);
  const last = rng.pick(["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Perlman", "Lamport"]);
  return {
    i,
    first,
    last,
    email: `${first}.${last}.${i}@chaos.example`.toLowerCase(),
    stripeCustomer: `cus_chaos${String(i).padStart(6, "0")}`,
    subscription: `sub_chaos${String(i).padStart(6, "0")}`,
    shopifyCustomer: 7100000000000 + i,
    contactId: 51000000000 + i,
  };
}

function hashOf(text) {
  let h = 7;
  for (const ch of String(text)) h = (Math.imul(h, 31) + ch.charCodeAt(0)) >>> 0;
  return h;
}
