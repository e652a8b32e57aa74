//! HubSpot verification against vectors signed with the official SDK
//! (`tests/fixtures/hubspot/vectors.json`, written by `node scripts/fixtures/hubspot.mjs`), plus
//! properties: a single changed byte in the signed body, timestamp or signature is rejected, and
//! arbitrary input never panics `verify`, `parse` or `signed_uri`.

use edgehooks_handlers::inbound::providers::hubspot::{self, signed_uri, Settings};
use edgehooks_handlers::inbound::webhook::{Clock, InboundRequest, Verified};
use proptest::prelude::*;
use serde::Deserialize;

mod support;
use support::sign::hubspot_v3_headers;
use support::{assert_no_failures, case_body, change_byte, Expected, Recipe};

const VECTORS: &str = include_str!("../../tests/fixtures/hubspot/vectors.json");

#[derive(Deserialize)]
struct File {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
    body_recipe: Option<Recipe>,
    secrets: Vec<String>,
    allow_legacy: bool,
    public_base_url: Option<String>,
    now: i64,
    tolerance: u64,
    expected: Expected,
}

impl Case {
    fn body(&self) -> String {
        case_body(&self.name, &self.body, &self.body_recipe)
    }
}

#[test]
fn hubspot_sdk_vectors() {
    let file: File = serde_json::from_str(VECTORS).unwrap();
    assert!(file.cases.len() >= 50, "only {} cases", file.cases.len());
    let mut failures = Vec::new();
    for case in &file.cases {
        let body = case.body();
        let req = InboundRequest {
            method: &case.method,
            url: &case.url,
            headers: &case.headers,
            body: body.as_bytes(),
        };
        let settings = Settings {
            secrets: case.secrets.clone(),
            allow_legacy: case.allow_legacy,
            public_base_url: case.public_base_url.clone(),
        };
        let clock = Clock {
            now_unix: case.now,
            tolerance_secs: case.tolerance,
        };
        let got = hubspot::verify(&req, &settings, clock);
        let pass = case.expected.matches(&got);
        if !pass {
            failures.push(format!(
                "{}: expected {:?}, got {got:?}",
                case.name, case.expected
            ));
        }
    }
    assert_no_failures(&failures);
}

#[test]
fn hubspot_accepted_sdk_vectors_parse() {
    let file: File = serde_json::from_str(VECTORS).unwrap();
    let body = file
        .cases
        .iter()
        .find(|c| c.name == "v3_valid")
        .unwrap()
        .body();
    let req = InboundRequest {
        method: "POST",
        url: "",
        headers: &[],
        body: body.as_bytes(),
    };
    let events = hubspot::parse(&req).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].dedupe_key, "62515:12345:100");
    assert_eq!(events[0].event_type, "contact.propertyChange");
    assert_eq!(events[0].account.as_deref(), Some("62515"));
    assert_eq!(events[0].occurred_at_ms, Some(1_700_000_000_000));
}

const SECRET: &str = "prop-secret";
const URL: &str = "https://hooks.example.com/webhooks/hubspot?a=%3A&b=%20";
const NOW: i64 = 1_700_000_000;

/// A correctly signed delivery: (headers, body) for `body` at `NOW` in ms.
fn signed(body: &[u8]) -> Vec<(String, String)> {
    hubspot_v3_headers(SECRET, URL, &(NOW * 1000).to_string(), body)
}

fn verify_with(headers: &[(String, String)], body: &[u8]) -> Result<Verified, String> {
    let req = InboundRequest {
        method: "POST",
        url: URL,
        headers,
        body,
    };
    let settings = Settings {
        secrets: vec![SECRET.into()],
        ..Settings::default()
    };
    hubspot::verify(
        &req,
        &settings,
        Clock {
            now_unix: NOW,
            tolerance_secs: 300,
        },
    )
    .map_err(|e| e.code().to_string())
}

/// URL-ish strings rich in escapes, reserved and not, valid and broken.
fn uri_like() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            "%[0-9a-fA-F]{2}",
            "%[0-9a-zA-Z%]{0,2}",
            "[:/?#@!$&'()*+,;=a-z0-9._~-]{1,4}",
            any::<char>().prop_map(String::from),
        ],
        0..24,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #[test]
    fn hubspot_signed_delivery_verifies(body in prop::collection::vec(any::<u8>(), 1..256)) {
        prop_assert_eq!(verify_with(&signed(&body), &body), Ok(Verified { key_index: 0 }));
    }

    #[test]
    fn hubspot_any_changed_body_byte_is_rejected(
        body in prop::collection::vec(any::<u8>(), 1..256),
        index in any::<usize>(),
        delta in 1u8..,
    ) {
        let headers = signed(&body);
        let mut changed = body.clone();
        let i = index % changed.len();
        changed[i] = changed[i].wrapping_add(delta);
        prop_assert!(verify_with(&headers, &changed).is_err());
    }

    #[test]
    fn hubspot_any_changed_timestamp_byte_is_rejected(index in any::<usize>(), delta in 1u8..) {
        let body = b"[{}]";
        let mut headers = signed(body);
        headers[1].1 = change_byte(&headers[1].1, index, delta);
        prop_assert!(verify_with(&headers, body).is_err());
    }

    #[test]
    fn hubspot_any_changed_signature_byte_is_rejected(index in any::<usize>(), delta in 1u8..) {
        let body = b"[{}]";
        let mut headers = signed(body);
        headers[0].1 = change_byte(&headers[0].1, index, delta);
        prop_assert!(verify_with(&headers, body).is_err());
    }

    #[test]
    fn hubspot_arbitrary_input_never_panics(
        method in "[A-Z]{0,7}",
        url in uri_like(),
        header_values in prop::collection::vec(".{0,60}", 4),
        present in prop::collection::vec(any::<bool>(), 4),
        body in prop::collection::vec(any::<u8>(), 0..512),
        secrets in prop::collection::vec(".{0,16}", 0..3),
        allow_legacy in any::<bool>(),
        public_base_url in prop::option::of(uri_like()),
        now_unix in any::<i64>(),
        tolerance_secs in any::<u64>(),
    ) {
        let names = [
            hubspot::SIGNATURE_V3_HEADER,
            hubspot::TIMESTAMP_HEADER,
            hubspot::LEGACY_SIGNATURE_HEADER,
            hubspot::LEGACY_VERSION_HEADER,
        ];
        let headers: Vec<(String, String)> = names
            .iter()
            .zip(header_values)
            .zip(present)
            .filter(|(_, keep)| *keep)
            .map(|((name, value), _)| (name.to_string(), value))
            .collect();
        let req = InboundRequest { method: &method, url: &url, headers: &headers, body: &body };
        let settings = Settings { secrets, allow_legacy, public_base_url };
        let _ = hubspot::verify(&req, &settings, Clock { now_unix, tolerance_secs });
        let _ = hubspot::parse(&req);
    }

    #[test]
    fn hubspot_arbitrary_json_batches_never_panic(
        ids in prop::collection::vec(
            prop_oneof![Just("1".to_string()), Just("\"2\"".to_string()), Just("-3".to_string()),
                        Just("1e3".to_string()), Just("null".to_string()), "[0-9]{1,22}"],
            0..6,
        ),
        count in 0usize..110,
    ) {
        let mut ids = ids.into_iter().cycle();
        let mut next = || ids.next().unwrap_or_else(|| "1".into());
        let events: Vec<String> = (0..count)
            .map(|_| format!(
                r#"{{"portalId":{},"subscriptionId":{},"eventId":{},"occurredAt":{},"subscriptionType":"t"}}"#,
                next(), next(), next(), next()
            ))
            .collect();
        let body = format!("[{}]", events.join(","));
        let req = InboundRequest { method: "POST", url: URL, headers: &[], body: body.as_bytes() };
        if let Ok(events) = hubspot::parse(&req) {
            prop_assert!(!events.is_empty() && events.len() <= 100);
        }
    }

    #[test]
    fn hubspot_signed_uri_never_panics(url in any::<String>(), base in prop::option::of(any::<String>())) {
        let _ = signed_uri(&url, base.as_deref());
    }

    #[test]
    fn hubspot_signed_uri_decodes_once_and_only_the_twelve(url in uri_like()) {
        let once = signed_uri(&url, None);
        prop_assert_eq!(&signed_uri(&once, None), &once);
        let upper = once.to_ascii_uppercase();
        for escape in ["%3A", "%2F", "%3F", "%40", "%21", "%24", "%27", "%28", "%29", "%2A", "%2C", "%3B"] {
            prop_assert!(!upper.contains(escape), "{} left in {:?}", escape, once);
        }
        // Every other escape survives: the count of `%` drops by exactly two per decoded escape.
        let decoded = url.chars().count() - once.chars().count();
        prop_assert_eq!(decoded % 2, 0);
        prop_assert_eq!(url.matches('%').count() - once.matches('%').count(), decoded / 2);
    }
}
