//! Fuzz Stripe verify + parse: arbitrary headers and bodies, half of them validly signed.
#![no_main]

#[path = "common.rs"]
mod common;

use common::{Delivery, NOW};
use edgehooks_handlers::inbound::providers::stripe;
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "whsec_fuzz";

fuzz_target!(|delivery: Delivery| {
    let mut headers = delivery.headers.clone();
    if delivery.sign {
        let t = (NOW + i64::from(delivery.timestamp_skew)).to_string();
        let sig = hex::encode(stripe::sign(SECRET, &t, &delivery.body));
        headers.push(("Stripe-Signature".into(), format!("t={t},v1={sig}")));
    }
    let url = delivery.url();
    let req = delivery.request(&url, &headers);
    let secrets = vec![SECRET.to_string()];
    if stripe::verify(&req, &secrets, delivery.clock()).is_ok() {
        let _ = stripe::parse(&req);
    }
});
