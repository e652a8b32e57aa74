// SendGrid traffic: Event Webhook batches of engagement (delivered, open, click: a local counter)
// and suppressions (bounce, dropped, unsubscribe: a local row plus the HubSpot contact's email
// status, one ordering entity per recipient by `timestamp`), on the default path and the `mkt`
// source, some with malformed elements (kept as their own rejected rows, never costing the
// others). SendGrid re-signs a retry with a fresh timestamp over the same body. A forged batch
// (another key pair) must be 401 and never stored.
import crypto from "node:crypto";
import { sendgridDelivery, sendgridEvent } from "../../helpers/providers.mjs";
import { delivery, eventOf } from "./delivery.mjs";

let counter = 0;
const attacker = crypto.generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey;
const SUPPRESSIONS = ["bounce", "dropped", "unsubscribe", "spamreport"];

/** One SendGrid batch of 1–8 elements, maybe with malformed ones. */
export function sendgridDeliveryOf(rng, cast, { forged = false } = {}) {
  const source = rng.chance(0.3) ? "mkt" : null;
  const size = rng.int(1, 8);
  const elements = [];
  const events = [];
  for (let i = 0; i < size; i++) {
    const p = cast.pick();
    const type = rng.weighted({ delivered: 3, open: 2, click: 1, bounce: 1, dropped: 1, unsubscribe: 1, spamreport: 0.5 });
    const suppression = SUPPRESSIONS.includes(type);
    const entity = suppression ? `sendgrid:recipient:${p.email}` : null;
    const at = suppression ? cast.nextVersion(entity) : Date.now() - rng.int(0, 600_000);
    const sgEventId = `sg_chaos_${String(++counter).padStart(8, "0")}`;
    elements.push(sendgridEvent({ email: p.email, event: type, timestamp: Math.floor(at / 1000), sg_event_id: sgEventId, ...(suppression ? { reason: "550 5.1.1 mailbox unavailable" } : {}) }));
    events.push(eventOf({ key: sgEventId, source, type, occurredAt: Math.floor(at / 1000) * 1000, entity, calls: suppression ? ["suppression.record", "hubspot.upsert_contact"] : ["engagement.count"] }));
  }
  // Malformed elements: not an object, or an object without `sg_event_id`.
  let rejected = 0;
  if (rng.chance(0.25)) {
    const bad = rng.pick([42, "not an event", { email: "x@chaos.example", event: "open", timestamp: 1 }]);
    elements.splice(rng.int(0, elements.length), 0, bad);
    rejected += 1;
  }
  const payloadEvents = elements;
  return delivery({
    provider: "sendgrid",
    source,
    kind: `sendgrid.batch${forged ? ".forged" : ""}`,
    expect: forged ? "unauthorized" : "accepted",
    sends: forged ? 1 : 1 + (rng.chance(0.3) ? rng.int(1, 2) : 0),
    events,
    rejected,
    build: () => sendgridDelivery(payloadEvents, forged ? { privateKey: attacker } : {}),
  });
}
