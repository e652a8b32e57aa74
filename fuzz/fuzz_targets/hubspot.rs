//! Fuzz HubSpot verify + parse: arbitrary headers, URLs and bodies, half of them validly
//! v3-signed over the URL as HubSpot would hash it.
#![no_main]

#[path = "common.rs"]
mod common;

use common::{Delivery, NOW};
use edgehooks_handlers::inbound::providers::hubspot;
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "hubspot-fuzz-secret";

fuzz_target!(|delivery: Delivery| {
    let url = delivery.url();
    let mut headers = delivery.headers.clone();
    let _ = hubspot::signed_uri(&delivery.url_suffix, Some("https://proxy.example.com"));
    if delivery.sign {
        let t = ((NOW + i64::from(delivery.timestamp_skew)) * 1000).to_string();
        let uri = hubspot::signed_uri(&url, None);
        let sig = hubspot::sign_v3(SECRET, "POST", &uri, &delivery.body, &t);
        headers.push((hubspot::SIGNATURE_V3_HEADER.into(), sig));
        headers.push((hubspot::TIMESTAMP_HEADER.into(), t));
    }
    let req = delivery.request(&url, &headers);
    let settings = hubspot::Settings {
        secrets: vec![SECRET.to_string()],
        allow_legacy: delivery.timestamp_skew % 2 == 0,
        public_base_url: None,
    };
    if hubspot::verify(&req, &settings, delivery.clock()).is_ok() {
        let _ = hubspot::parse(&req);
    }
});
