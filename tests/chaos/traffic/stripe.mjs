// Stripe traffic: checkouts (several of one person: one ordering entity, the buyer's email),
// subscription updates (several versions of one subscription, sent in whatever order the round
// shuffles them into), failed and paid invoices of one customer (one ordering entity), on the
// default path and the `eu` source. Payloads are the API
// reference samples of tests/fixtures/events/stripe with fresh ids. Every send is signed anew
// (Stripe re-signs its retries); expired (`t` an hour old) and forged (unknown secret) variants
// must be answered 401 and never stored.
import crypto from "node:crypto";
import { fixture } from "../../helpers/flows.mjs";
import { signedDelivery } from "../../helpers/stripe.mjs";
import { TEST_SECRETS } from "../../helpers/worker.mjs";
import { delivery, eventOf, SOURCE_SECRETS } from "./delivery.mjs";

const PRIMARY = TEST_SECRETS.STRIPE_WEBHOOK_SECRETS.split(",")[0];
const ROTATED = TEST_SECRETS.STRIPE_WEBHOOK_SECRETS.split(",")[1];
const secretOf = (source, rng) => (source === "eu" ? SOURCE_SECRETS.STRIPE_WEBHOOK_SECRETS__EU : rng.chance(0.2) ? ROTATED : PRIMARY);

let counter = 0;
const nextId = (prefix) => `${prefix}_chaos${String(++counter).padStart(7, "0")}`;

function envelope(type, object, createdMs) {
  const base = fixture(`stripe/${type}.json`);
  return { ...base, id: nextId("evt"), created: Math.floor(createdMs / 1000), data: { ...base.data, object } };
}

/** The ordering entity of a checkout's contact upsert (handlers/src/downstream/ordering.rs): 32
 * hex digits of SHA-256 of the lowercased email. */
const checkoutEntity = (email) => `stripe:checkout:${crypto.createHash("sha256").update(email.trim().toLowerCase()).digest("hex").slice(0, 32)}`;

const kinds = {
  checkout(rng, cast, p) {
    const base = fixture("stripe/checkout.session.completed.json").data.object;
    const object = {
      ...base,
      id: nextId("cs"),
      customer: p.stripeCustomer,
      customer_details: { ...base.customer_details, email: p.email, name: `${p.first} ${p.last}` },
    };
    const event = envelope("checkout.session.completed", object, Date.now() - rng.int(0, 600_000));
    return { event, entity: checkoutEntity(p.email), calls: ["hubspot.upsert_contact", "sendgrid.send"] };
  },
  subscription(rng, cast, p) {
    const base = fixture("stripe/customer.subscription.updated.json").data.object;
    const at = cast.nextVersion(`stripe:subscription:${p.subscription}`);
    const object = { ...base, id: p.subscription, customer: p.stripeCustomer, status: rng.pick(["active", "past_due", "active", "trialing"]) };
    const event = envelope("customer.subscription.updated", object, at);
    return { event, entity: `stripe:subscription:${p.subscription}`, calls: ["hubspot.upsert_contact"] };
  },
  invoice(rng, cast, p) {
    const failed = rng.chance(0.3);
    const type = failed ? "invoice.payment_failed" : "invoice.payment_succeeded";
    const base = fixture(`stripe/${type}.json`).data.object;
    const at = cast.nextVersion(`stripe:customer:${p.stripeCustomer}`);
    const number = `CHAOS-${String(++counter).padStart(7, "0")}`;
    const object = {
      ...base,
      id: nextId("in"),
      number,
      customer: p.stripeCustomer,
      customer_email: p.email,
      customer_name: `${p.first} ${p.last}`,
    };
    const event = envelope(type, object, at);
    const calls = failed ? ["sendgrid.send", "hubspot.upsert_contact", "slack.notify"] : ["hubspot.upsert_contact"];
    return { event, entity: `stripe:customer:${p.stripeCustomer}`, calls, slack: failed ? `invoice ${number}` : null };
  },
};

/** One Stripe delivery of a random kind, person and source. */
export function stripeDelivery(rng, cast, { forged = false, expired = false } = {}) {
  const source = rng.chance(0.3) ? "eu" : null;
  const kind = rng.weighted({ checkout: 3, subscription: 3, invoice: 3 });
  const { event, entity, calls, slack } = kinds[kind](rng, cast, cast.pick());
  const payload = JSON.stringify(event);
  const secret = forged ? "whsec_chaos_attacker_key_000" : secretOf(source, rng);
  const d = delivery({
    provider: "stripe",
    source,
    kind: `stripe.${kind}${forged ? ".forged" : expired ? ".expired" : ""}`,
    expect: forged || expired ? "unauthorized" : "accepted",
    sends: forged || expired ? 1 : 1 + (rng.chance(0.3) ? rng.int(1, 3) : 0),
    events: [eventOf({ key: event.id, source, type: event.type, occurredAt: event.created * 1000, entity, calls, slack })],
    // Stripe re-signs every retry with a fresh `t`; an expired one keeps a stale `t`.
    build: () => signedDelivery(payload, secret, expired ? Math.floor(Date.now() / 1000) - 3600 : undefined),
  });
  // The log of the account whose STRIPE_API_KEY the backfill uses has every event it sent to
  // the default endpoint (not forgeries). The `eu` source is another account: the backfill
  // stores under the default source, so listing the eu account's events there would store each
  // a second time (see BENCHMARKS.md "Issue 23").
  d.stripeEvent = forged || source ? null : event;
  return d;
}

/** A Stripe event only its event log has (the webhook was lost): the backfill must recover it. */
export function stripeLostEvent(rng, cast) {
  const { event, entity, calls, slack } = kinds.checkout(rng, cast, cast.pick());
  event.created = Math.floor(Date.now() / 1000) - rng.int(5, 120);
  return { event, record: eventOf({ key: event.id, source: null, type: event.type, occurredAt: event.created * 1000, entity, calls, slack }) };
}
