// The traffic mix: which provider the next delivery is for, and how often one is forged or
// expired (those must be answered 401 and never stored). Each provider's own shapes and repeat
// behaviour are in its module.
import { hubspotDeliveryOf } from "./hubspot.mjs";
import { sendgridDeliveryOf } from "./sendgrid.mjs";
import { shopifyDeliveryOf } from "./shopify.mjs";
import { stripeDelivery } from "./stripe.mjs";

export { stripeLostEvent } from "./stripe.mjs";

/** The next delivery of the mix. */
export function nextDelivery(rng, cast) {
  const provider = rng.weighted({ stripe: 4, shopify: 3, hubspot: 2, sendgrid: 2 });
  const bad = rng.chance(0.04) ? rng.pick(["forged", "expired"]) : null;
  const forged = bad === "forged";
  const expired = bad === "expired";
  switch (provider) {
    case "stripe":
      return stripeDelivery(rng, cast, { forged, expired });
    case "shopify":
      return shopifyDeliveryOf(rng, cast, { forged: forged || expired });
    case "hubspot":
      return hubspotDeliveryOf(rng, cast, { forged, expired });
    default:
      return sendgridDeliveryOf(rng, cast, { forged: forged || expired });
  }
}
