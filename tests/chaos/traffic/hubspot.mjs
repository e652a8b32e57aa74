// HubSpot traffic: batches of `contact.propertyChange` events (firstname, lastname, phone) of the
// contacts edgehooks upserted for Stripe customers (the fake HubSpot gives each email a stable
// contact id, so these reach `stripe.update_customer` through the stored contact link), on the
// default path and the `app-2` source. Each property of a contact is one ordering entity (by
// `occurredAt`). HubSpot retries a batch with every element's `attemptNumber` bumped, so the
// bytes change while the dedupe keys (`portalId:subscriptionId:eventId`) stay. An expired
// request (timestamp 10 minutes old) and a forged one must be 401 and never stored.
import { hubspotDelivery, hubspotEvent } from "../../helpers/providers.mjs";
import { TEST_SECRETS } from "../../helpers/worker.mjs";
import { delivery, eventOf, SOURCE_SECRETS } from "./delivery.mjs";

const [PRIMARY, NEXT] = TEST_SECRETS.HUBSPOT_CLIENT_SECRETS.split(",");
let counter = 0;

/** One HubSpot batch of 1–5 property changes. */
export function hubspotDeliveryOf(rng, cast, { forged = false, expired = false } = {}) {
  const source = rng.chance(0.3) ? "app-2" : null;
  const size = rng.int(1, 5);
  const elements = Array.from({ length: size }, () => {
    const p = cast.pick();
    const propertyName = rng.pick(["firstname", "lastname", "phone"]);
    const entity = `hubspot:contact:${p.contactId}:${propertyName}`;
    const value = propertyName === "phone" ? `+1555${String(rng.int(0, 9999999)).padStart(7, "0")}` : `${propertyName === "firstname" ? p.first : p.last}${rng.int(1, 999)}`;
    return hubspotEvent({
      eventId: 880000000 + ++counter,
      subscriptionId: source ? 5151 : 4242,
      portalId: 62515,
      objectId: p.contactId,
      propertyName,
      propertyValue: value,
      occurredAt: cast.nextVersion(entity),
      sourceId: "userId:215482",
      changeSource: "CRM_UI",
      _entity: entity,
    });
  });
  const events = elements.map(({ _entity, ...e }) =>
    eventOf({
      key: `${e.portalId}:${e.subscriptionId}:${e.eventId}`,
      source,
      type: e.subscriptionType,
      occurredAt: e.occurredAt,
      entity: _entity,
      calls: ["stripe.update_customer"],
    }),
  );
  const clean = elements.map(({ _entity, ...e }) => e);
  const secret = forged ? "hubspot-chaos-attacker-secret" : source ? SOURCE_SECRETS.HUBSPOT_CLIENT_SECRETS__APP_2 : rng.chance(0.2) ? NEXT : PRIMARY;
  const url = `http://localhost/webhooks/hubspot${source ? `/${source}` : ""}`;
  return delivery({
    provider: "hubspot",
    source,
    kind: `hubspot.propertyChange${forged ? ".forged" : expired ? ".expired" : ""}`,
    expect: forged || expired ? "unauthorized" : "accepted",
    sends: forged || expired ? 1 : 1 + (rng.chance(0.3) ? rng.int(1, 3) : 0),
    events,
    // HubSpot's retry of a batch: same events, attemptNumber one higher, signed anew.
    build: (n) =>
      hubspotDelivery(
        clean.map((e) => ({ ...e, attemptNumber: n })),
        secret,
        { url, timestamp: expired ? Date.now() - 600_000 : undefined },
      ),
  });
}
