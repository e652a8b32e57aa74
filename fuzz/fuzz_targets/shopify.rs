//! Fuzz Shopify verify + parse: arbitrary headers and bodies, half of them validly signed
//! with the identity headers present.
#![no_main]

#[path = "common.rs"]
mod common;

use common::Delivery;
use edgehooks_handlers::inbound::providers::shopify;
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "shpss_fuzz";

fuzz_target!(|delivery: Delivery| {
    let mut headers = delivery.headers.clone();
    if delivery.sign {
        headers.push((shopify::HMAC_HEADER.into(), shopify::sign_header(SECRET, &delivery.body)));
        headers.push((shopify::TOPIC_HEADER.into(), "customers/redact".into()));
        headers.push((shopify::SHOP_DOMAIN_HEADER.into(), "fuzz.myshopify.com".into()));
        headers.push((shopify::WEBHOOK_ID_HEADER.into(), "wh-1".into()));
    }
    let url = delivery.url();
    let req = delivery.request(&url, &headers);
    let secrets = vec![SECRET.to_string()];
    if shopify::verify(&req, &secrets, delivery.clock()).is_ok() {
        if let Ok(events) = shopify::parse(&req) {
            for event in events {
                if let Ok(value) = serde_json_value(&event.payload) {
                    let _ = shopify::privacy_subject(&value);
                }
            }
        }
    }
});

fn serde_json_value(text: &str) -> Result<serde_json::Value, serde_json::Error> {
    serde_json::from_str(text)
}
