//! Fuzz SendGrid verify + parse: arbitrary headers and bodies, half of them validly signed
//! (ECDSA P-256, DER) with a fixed test key.
#![no_main]

#[path = "common.rs"]
mod common;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::{Delivery, NOW};
use edgehooks_handlers::inbound::providers::sendgrid;
use libfuzzer_sys::fuzz_target;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};

fuzz_target!(|delivery: Delivery| {
    let Ok(signing_key) = SigningKey::from_slice(&[7u8; 32]) else { return };
    let public_key = sendgrid::PublicKey::from(*signing_key.verifying_key());
    let mut headers = delivery.headers.clone();
    if delivery.sign {
        let t = (NOW + i64::from(delivery.timestamp_skew)).to_string();
        let mut message = t.clone().into_bytes();
        message.extend_from_slice(&delivery.body);
        let signature: Signature = signing_key.sign(&message);
        headers.push((sendgrid::SIGNATURE_HEADER.into(), STANDARD.encode(signature.to_der())));
        headers.push((sendgrid::TIMESTAMP_HEADER.into(), t));
    }
    let url = delivery.url();
    let req = delivery.request(&url, &headers);
    if sendgrid::verify(&req, &[public_key], delivery.clock()).is_ok() {
        let _ = sendgrid::parse(&req);
    }
});
