// Stripe test events and deliveries; signed by scripts/sign.mjs (the official `stripe` SDK, an
// independent signer: the worker's verifier is Rust, the signature comes from Stripe's own code).
import { stripeSignature } from "../../scripts/sign.mjs";

let counter = 0;

/** A realistic checkout.session.completed event with a unique id. */
export function checkoutCompleted({ id, email, name = "Ada Lovelace", customer = "cus_test_1" } = {}) {
  counter += 1;
  email ??= `customer${counter}.${process.pid}@example.com`;
  return {
    id: id ?? `evt_test_${Date.now()}_${counter}`,
    object: "event",
    api_version: "2024-06-20",
    created: Math.floor(Date.now() / 1000),
    livemode: false,
    type: "checkout.session.completed",
    data: {
      object: {
        id: `cs_test_${counter}`,
        object: "checkout.session",
        amount_total: 4200,
        currency: "usd",
        customer,
        customer_details: { email, name },
        mode: "payment",
        payment_status: "paid",
        status: "complete",
      },
    },
  };
}

/** The `Stripe-Signature` header for `payload` (string), from the SDK. */
export function signature(payload, secret, timestamp = Math.floor(Date.now() / 1000)) {
  return stripeSignature(payload, secret, timestamp);
}

/** Headers for a signed delivery of `event` (object) or raw `payload` (string). */
export function signedDelivery(eventOrPayload, secret, timestamp) {
  const payload = typeof eventOrPayload === "string" ? eventOrPayload : JSON.stringify(eventOrPayload);
  return {
    payload,
    headers: { "content-type": "application/json", "stripe-signature": signature(payload, secret, timestamp) },
  };
}
