// What both sides of issue 25's burst share (bench/burst.mjs: edgehooks, bench/burst-peer.mjs: the
// JS peer): the N checkouts they are sent, each its own customer, signed and posted CONC at a
// time, and how the HubSpot calls that synced them are summarised from the downstream fake.
import { checkoutCompleted, signedDelivery } from "../tests/helpers/stripe.mjs";

export const UPSERT = "/crm/v3/objects/contacts/batch/upsert";
export const MAIL = "/v3/mail/send";

/** Send N signed `checkout.session.completed` webhooks, CONC at a time, through `post(payload,
 * headers)` (which answers a status); logs the load time and answers when it started, when the
 * last was answered and how many were not 200. */
export async function sendBurst({ n, conc, secret, post }) {
  const started = Date.now();
  let next = 0;
  let refused = 0;
  async function sender() {
    while (next < n) {
      const i = next++;
      const event = checkoutCompleted({ email: `burst${i}@example.com`, name: `Ada Burst${i}`, customer: `cus_burst_${i}` });
      const delivery = signedDelivery(event, secret);
      if ((await post(delivery.payload, delivery.headers)) !== 200) refused += 1;
    }
  }
  await Promise.all(Array.from({ length: conc }, sender));
  const loaded = Date.now();
  console.error(`loaded ${n} checkouts in ${((loaded - started) / 1000).toFixed(1)} s (${refused} not 200)`);
  return { started, loaded, refused };
}

/** The fake's HubSpot and SendGrid side of a burst: calls, 429s, inputs per accepted upsert. */
export function downstreamSummary(fake) {
  const upsertCalls = fake.callsTo(UPSERT);
  const inputs = upsertCalls.filter((c) => c.status !== 429).map((c) => JSON.parse(c.body).inputs?.length ?? 0);
  return {
    hubspot_calls: upsertCalls.length,
    hubspot_429s: fake.hubspotRateLimit.rejected(),
    hubspot_inputs_per_call_mean: inputs.length ? inputs.reduce((a, b) => a + b, 0) / inputs.length : 0,
    hubspot_inputs_per_call_max: Math.max(0, ...inputs),
    contacts_synced: fake.hubspotContacts.contacts().length,
    sendgrid_calls: fake.callsTo(MAIL).length,
  };
}
