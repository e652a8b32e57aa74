//! The one signer of test deliveries for the Rust tests: builds a delivery signed the way each
//! provider signs it, for the properties in the provider test files (sign a valid delivery, then
//! change one byte). Stripe `t=…,v1=<hex HMAC>`, HubSpot v3 over method + URI + body +
//! timestamp, Shopify's base64 HMAC with its identity headers, SendGrid ECDSA P-256 (DER, low or
//! high S) with a fixed test key. The HMACs use the core's own `sign` functions; what pins them to
//! the providers is the SDK-generated vectors (`tests/fixtures/<provider>/vectors.json`), which
//! each provider's test file replays against the core and `tests/e2e/signing.test.mjs` replays
//! against the JS signers (`scripts/sign.mjs`, used by `scripts/send` and the JS tests).
#![allow(dead_code)] // each test binary uses only its own provider's signer

use edgehooks_handlers::inbound::providers::hubspot::{self, SIGNATURE_V3_HEADER};
use edgehooks_handlers::inbound::providers::sendgrid::{self, PublicKey};
use edgehooks_handlers::inbound::providers::{shopify, stripe};
use p256::ecdsa::signature::hazmat::PrehashSigner;
use p256::ecdsa::{Signature, SigningKey};
use sha2::{Digest, Sha256};

pub type Headers = Vec<(String, String)>;

/// Stripe's `Stripe-Signature` value for `body` signed with `secret` at Unix second `t`.
pub fn stripe_header(secret: &str, t: i64, body: &[u8]) -> String {
    let mac = stripe::sign(secret, &t.to_string(), body);
    format!("t={t},v1={}", hex::encode(mac))
}

/// HubSpot v3 headers for a POST of `body` to `url` at `timestamp_ms`.
pub fn hubspot_v3_headers(secret: &str, url: &str, timestamp_ms: &str, body: &[u8]) -> Headers {
    let uri = hubspot::signed_uri(url, None);
    let signature = hubspot::sign_v3(secret, "POST", &uri, body, timestamp_ms);
    vec![
        (SIGNATURE_V3_HEADER.into(), signature),
        (hubspot::TIMESTAMP_HEADER.into(), timestamp_ms.into()),
    ]
}

/// Shopify's `X-Shopify-Hmac-Sha256` value for `body`.
pub fn shopify_hmac(secret: &str, body: &[u8]) -> String {
    shopify::sign_header(secret, body)
}

/// A Shopify delivery's headers around an HMAC value (which need not be genuine).
pub fn shopify_headers(hmac: &str) -> Headers {
    vec![
        (shopify::HMAC_HEADER.into(), hmac.into()),
        (shopify::WEBHOOK_ID_HEADER.into(), "id-1".into()),
        (shopify::TOPIC_HEADER.into(), "orders/create".into()),
        (
            shopify::SHOP_DOMAIN_HEADER.into(),
            "shop.myshopify.com".into(),
        ),
    ]
}

/// The fixed SendGrid test key (not the local-dev key: any valid key does for properties).
pub fn sendgrid_signing_key() -> SigningKey {
    SigningKey::from_slice(&[7; 32]).expect("a fixed valid P-256 scalar")
}

pub fn sendgrid_public_key() -> PublicKey {
    PublicKey::from(*sendgrid_signing_key().verifying_key())
}

/// The low-S ECDSA signature of `timestamp + body`, DER-encoded.
pub fn sendgrid_sign_der(timestamp: &str, body: &[u8]) -> Vec<u8> {
    let digest = Sha256::new()
        .chain_update(timestamp)
        .chain_update(body)
        .finalize();
    let sig: Signature = sendgrid_signing_key()
        .sign_prehash(&digest)
        .expect("signing a digest with a valid key");
    let low = sig.normalize_s().unwrap_or(sig);
    low.to_der().as_bytes().to_vec()
}

/// The same signature with S replaced by n − S (high S), DER-encoded.
pub fn sendgrid_high_s(der: &[u8]) -> Vec<u8> {
    let sig = Signature::from_der(der).expect("a DER signature from sendgrid_sign_der");
    let (r, s) = sig.split_scalars();
    let high = Signature::from_scalars(r.to_bytes(), (-*s).to_bytes()).expect("n − s is valid");
    high.to_der().as_bytes().to_vec()
}

/// SendGrid's two headers around a base64 signature value (which need not be genuine).
pub fn sendgrid_headers(signature: &str, timestamp: &str) -> Headers {
    vec![
        (sendgrid::SIGNATURE_HEADER.into(), signature.into()),
        (sendgrid::TIMESTAMP_HEADER.into(), timestamp.into()),
    ]
}
