//! Fuzz the verification-scheme catalogue: every scheme (picked by the input) with arbitrary
//! headers, URL and body, half of them signed correctly for that scheme so the reads after
//! verification (dedupe key, event type, challenge answer) are reached. Checks: nothing
//! panics, a verdict names a configured secret, a challenge answer is JSON, and a registry
//! source of the scheme (`/webhooks/in/fz`) agrees with the catalogue: the same verdict, its
//! event scoped to the source, and its check before the body never refusing what verifies.
#![no_main]

#[path = "common.rs"]
mod common;

use arbitrary::Arbitrary;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::{Delivery, NOW};
use edgehooks_handlers::inbound::schemes::mac::{hmac, Algorithm};
use edgehooks_handlers::inbound::providers::IngestError;
use edgehooks_handlers::inbound::registry::{self, arrival::accept, arrival::Arrival};
use edgehooks_handlers::inbound::schemes::{self, SchemeConfig, SchemeName};
use edgehooks_handlers::standard_webhooks::SigningKey;
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

const SECRET: &str = "fuzz-secret";

#[derive(Debug, Arbitrary)]
struct Input {
    scheme: u8,
    delivery: Delivery,
}

fn fuzz_config_json(scheme: SchemeName) -> Option<serde_json::Value> {
    match scheme {
        SchemeName::Hmac => Some(serde_json::json!({"algorithm": "sha512", "header": "x-sig",
            "encoding": "base64", "signed": "timestamp.body", "timestamp_header": "x-ts"})),
        SchemeName::Token => Some(serde_json::json!({"header": "x-token", "prefix": "Bearer "})),
        _ => None,
    }
}

fn config(scheme: SchemeName) -> SchemeConfig {
    let json = fuzz_config_json(scheme);
    match SchemeConfig::parse(scheme.name(), json.as_ref()) {
        Ok(config) => config,
        Err(e) => panic!("the fuzz configs are valid: {e:?}"),
    }
}

fn secret(scheme: SchemeName) -> String {
    match scheme {
        SchemeName::StandardWebhooks => SigningKey::encode_secret(&[9u8; 32]),
        _ => SECRET.to_string(),
    }
}

/// The headers (and URL) a correct sender of `scheme` would send for `body` at `t`.
fn sign(
    scheme: SchemeName,
    secret: &str,
    t: &str,
    url: &mut String,
    body: &[u8],
) -> Vec<(String, String)> {
    let key = secret.as_bytes();
    let hex_mac = |alg, parts: &[&[u8]]| hex::encode(hmac(alg, key, parts));
    let b64_mac = |alg, parts: &[&[u8]]| STANDARD.encode(hmac(alg, key, parts));
    let pairs: Vec<(&str, String)> = match scheme {
        SchemeName::StandardWebhooks => match SigningKey::from_secret(secret) {
            Ok(k) => vec![
                ("webhook-id", "msg_fuzz".into()),
                ("webhook-timestamp", t.into()),
                (
                    "webhook-signature",
                    k.sign("msg_fuzz", t.parse().unwrap_or(NOW), body),
                ),
            ],
            Err(_) => vec![],
        },
        SchemeName::Github => vec![(
            "X-Hub-Signature-256",
            format!("sha256={}", hex_mac(Algorithm::Sha256, &[body])),
        )],
        SchemeName::Twilio => {
            url.push_str(&format!(
                "?bodySHA256={}",
                hex::encode(Sha256::digest(body))
            ));
            vec![(
                "X-Twilio-Signature",
                b64_mac(Algorithm::Sha1, &[url.as_bytes()]),
            )]
        }
        SchemeName::Slack => vec![
            ("X-Slack-Request-Timestamp", t.into()),
            (
                "X-Slack-Signature",
                format!(
                    "v0={}",
                    hex_mac(Algorithm::Sha256, &[b"v0:", t.as_bytes(), b":", body])
                ),
            ),
        ],
        SchemeName::Zoom => vec![
            ("x-zm-request-timestamp", t.into()),
            (
                "x-zm-signature",
                format!(
                    "v0={}",
                    hex_mac(Algorithm::Sha256, &[b"v0:", t.as_bytes(), b":", body])
                ),
            ),
        ],
        SchemeName::Linear => vec![("Linear-Signature", hex_mac(Algorithm::Sha256, &[body]))],
        SchemeName::Square => vec![(
            "x-square-hmacsha256-signature",
            b64_mac(Algorithm::Sha256, &[url.as_bytes(), body]),
        )],
        SchemeName::Typeform => vec![(
            "Typeform-Signature",
            format!("sha256={}", b64_mac(Algorithm::Sha256, &[body])),
        )],
        SchemeName::Calendly => vec![(
            "Calendly-Webhook-Signature",
            format!(
                "t={t},v1={}",
                hex_mac(Algorithm::Sha256, &[t.as_bytes(), b".", body])
            ),
        )],
        SchemeName::Paddle => vec![(
            "Paddle-Signature",
            format!(
                "ts={t};h1={}",
                hex_mac(Algorithm::Sha256, &[t.as_bytes(), b":", body])
            ),
        )],
        SchemeName::WorkOs => {
            let ms = format!("{t}000");
            let v1 = hex_mac(Algorithm::Sha256, &[ms.as_bytes(), b".", body]);
            vec![("WorkOS-Signature", format!("t={ms}, v1={v1}"))]
        }
        SchemeName::Intercom => vec![(
            "X-Hub-Signature",
            format!("sha1={}", hex_mac(Algorithm::Sha1, &[body])),
        )],
        SchemeName::Gitlab => vec![("X-Gitlab-Token", secret.into())],
        SchemeName::Hmac => vec![
            ("x-ts", t.into()),
            (
                "x-sig",
                b64_mac(Algorithm::Sha512, &[t.as_bytes(), b".", body]),
            ),
        ],
        SchemeName::Token => vec![("x-token", format!("Bearer {secret}"))],
        SchemeName::Basic => vec![(
            "Authorization",
            format!("Basic {}", STANDARD.encode(secret)),
        )],
    };
    pairs.into_iter().map(|(n, v)| (n.to_string(), v)).collect()
}

fuzz_target!(|input: Input| {
    let all = SchemeName::ALL;
    let scheme = all[usize::from(input.scheme) % all.len()];
    let delivery = &input.delivery;
    let secrets = vec!["other-secret".to_string(), secret(scheme)];
    let mut url = delivery.url();
    let mut headers = delivery.headers.clone();
    if delivery.sign {
        let t = (NOW + i64::from(delivery.timestamp_skew)).to_string();
        headers.extend(sign(scheme, &secrets[1], &t, &mut url, &delivery.body));
    }
    let request = delivery.request(&url, &headers);
    let verified = schemes::verify(&config(scheme), &secrets, &request, NOW);
    if let Ok(verdict) = &verified {
        assert!(verdict.key_index < secrets.len());
        if let Some(challenge) = &verdict.challenge {
            assert!(serde_json::from_str::<serde_json::Value>(&challenge.body).is_ok());
        }
        // The registry's check before the body never refuses a delivery that verifies.
        assert!(registry::has_signature_header(&config(scheme), &headers));
    }
    // A registry source of the scheme agrees with the catalogue and scopes its event.
    let spec = registry_source(scheme);
    match (accept(&spec, &secrets, &request, NOW), verified) {
        (Ok(Arrival::Event(accepted)), Ok(verdict)) => {
            assert!(verdict.challenge.is_none());
            assert!(accepted.events.iter().all(|e| e.dedupe_key.starts_with("src:fz:")));
        }
        (Ok(Arrival::Challenge(_)), Ok(verdict)) => assert!(verdict.challenge.is_some()),
        (Err(IngestError::Verify(a)), Err(b)) => assert_eq!(a, b),
        (Err(IngestError::Parse { .. }), Ok(_)) => {}
        (got, want) => panic!("registry {got:?} against the catalogue {want:?}"),
    }
});

/// A source `fz` of `scheme` (its fuzz configuration), deduping by a JSON Pointer.
fn registry_source(scheme: SchemeName) -> registry::SourceSpec {
    let mut json = serde_json::json!({"name": "fz", "scheme": scheme.name(), "dedupe": {"pointer": "/id"}});
    if let (Some(fields), Some(config)) = (json.as_object_mut(), fuzz_config_json(scheme)) {
        fields.insert("config".into(), config);
    }
    match registry::SourceSpec::from_json(&json, 1_000_000) {
        Ok(spec) => spec,
        Err(e) => panic!("the fuzz source is valid: {e:?}"),
    }
}
