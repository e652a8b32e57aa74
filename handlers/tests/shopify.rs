//! Shopify verification and parsing against vectors signed with node:crypto and checked with the
//! official SDK (`tests/fixtures/shopify/vectors.json`, written by
//! `node scripts/fixtures/shopify.mjs`), plus properties: a single changed byte in the signed
//! body or the HMAC header is rejected, and arbitrary input never panics `verify`, `parse` or
//! `privacy_subject`.

use edgehooks_handlers::inbound::providers::shopify::{
    self, PrivacySubject, HMAC_HEADER, SHOP_DOMAIN_HEADER, TOPIC_HEADER, TRIGGERED_AT_HEADER,
    WEBHOOK_ID_HEADER,
};
use edgehooks_handlers::inbound::webhook::{
    Clock, InboundRequest, ParseError, Verified, VerifyError,
};
use proptest::prelude::*;
use serde::Deserialize;
use serde_json::Value;

mod support;
use support::sign::{shopify_headers as delivery, shopify_hmac};
use support::{case_body, check_all, Expected, Recipe};

const VECTORS: &str = include_str!("../../tests/fixtures/shopify/vectors.json");

#[derive(Deserialize)]
struct File {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
    body_recipe: Option<Recipe>,
    secrets: Vec<String>,
    now: i64,
    expected: Expected,
    expected_parse: Option<ExpectedParse>,
    sdk: Option<Sdk>,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "lowercase")]
enum ExpectedParse {
    Ok(ExpectedEvent),
    Err(ExpectedParseError),
}

#[derive(Deserialize, Debug)]
struct ExpectedEvent {
    dedupe_key: String,
    event_type: String,
    account: String,
    occurred_at_ms: Option<i64>,
    privacy_subject: Option<ExpectedSubject>,
}

#[derive(Deserialize, Debug)]
struct ExpectedSubject {
    shop_domain: Option<String>,
    customer_id: Option<String>,
    customer_email: Option<String>,
}

#[derive(Deserialize, Debug)]
struct ExpectedParseError {
    code: String,
    header: Option<String>,
}

/// What the SDK's `webhooks.validate` said (first secret whose HMAC it accepted).
#[derive(Deserialize, Debug)]
struct Sdk {
    key_index: Option<usize>,
    reason: Option<String>,
}

impl Case {
    fn body(&self) -> String {
        case_body(&self.name, &self.body, &self.body_recipe)
    }
}

fn cases() -> Vec<Case> {
    let file: File = serde_json::from_str(VECTORS).unwrap();
    file.cases
}

/// Compare one case's verify (and, when it verifies, parse) outcome with the fixture.
fn check_case(case: &Case) -> Result<(), String> {
    let body = case.body();
    let req = InboundRequest {
        method: "POST",
        url: "https://hooks.example.com/webhooks/shopify",
        headers: &case.headers,
        body: body.as_bytes(),
    };
    let clock = Clock {
        now_unix: case.now,
        tolerance_secs: 300,
    };
    let got = shopify::verify(&req, &case.secrets, clock);
    let pass = case.expected.matches(&got);
    if !pass {
        return Err(format!("verify: expected {:?}, got {got:?}", case.expected));
    }
    let Some(expected) = &case.expected_parse else {
        return match got {
            Ok(_) => Err("verified but the fixture has no expected_parse".into()),
            Err(_) => Ok(()),
        };
    };
    match (expected, shopify::parse(&req)) {
        (ExpectedParse::Ok(want), Ok(events)) => {
            let [event] = events.as_slice() else {
                return Err(format!("parse: {} events", events.len()));
            };
            let payload: Value = serde_json::from_str(&event.payload).map_err(|e| e.to_string())?;
            let subject = shopify::privacy_subject(&payload);
            let want_subject = want.privacy_subject.as_ref().map(|s| PrivacySubject {
                shop_domain: s.shop_domain.clone(),
                customer_id: s.customer_id.clone(),
                customer_email: s.customer_email.clone(),
            });
            let is_privacy = shopify::is_privacy_topic(&event.event_type);
            let same = event.dedupe_key == want.dedupe_key
                && event.event_type == want.event_type
                && event.account.as_deref() == Some(want.account.as_str())
                && event.occurred_at_ms == want.occurred_at_ms
                && event.payload == body
                && (!is_privacy || subject == want_subject)
                && is_privacy == want_subject.is_some();
            if same {
                Ok(())
            } else {
                Err(format!(
                    "parse: expected {want:?}, got {:?} {:?} {:?} {:?} ({} payload bytes) / {subject:?}",
                    event.dedupe_key,
                    event.event_type,
                    event.account,
                    event.occurred_at_ms,
                    event.payload.len()
                ))
            }
        }
        (ExpectedParse::Err(want), Err(e)) => {
            let header = match &e {
                ParseError::MissingHeader(h) => Some(h.to_string()),
                _ => None,
            };
            if want.code == e.code() && want.header == header {
                Ok(())
            } else {
                Err(format!("parse: expected {want:?}, got {e:?}"))
            }
        }
        (want, got) => Err(format!("parse: expected {want:?}, got {got:?}")),
    }
}

#[test]
fn shopify_sdk_vectors() {
    let cases = cases();
    assert!(cases.len() >= 50, "only {} cases", cases.len());
    check_all(&cases, |case| &case.name, check_case);
}

/// The SDK's signature verdict, recorded in the fixture, agrees with ours on every case.
#[test]
fn shopify_sdk_agrees_on_every_signature() {
    for case in cases() {
        let Some(sdk) = &case.sdk else {
            assert!(case.secrets.is_empty(), "{}: no SDK verdict", case.name);
            continue;
        };
        match &case.expected {
            Expected::Ok(index) => assert_eq!(sdk.key_index, Some(*index), "{}", case.name),
            Expected::Err(code) => {
                assert_eq!(sdk.key_index, None, "{}", case.name);
                let sdk_code = match sdk.reason.as_deref() {
                    Some("missing_body") => "empty_body",
                    Some("missing_hmac") => "missing_signature",
                    Some("invalid_hmac") => "signature_mismatch",
                    other => panic!("{}: unexpected SDK reason {other:?}", case.name),
                };
                assert_eq!(sdk_code, code, "{}", case.name);
            }
        }
    }
}

#[test]
fn shopify_vectors_cover_the_required_cases() {
    let names: Vec<String> = cases().into_iter().map(|c| c.name).collect();
    for required in [
        "valid",
        "rotated_secrets_new_one_matches",
        "wrong_secret",
        "one_tampered_byte",
        "trailing_newline_added",
        "reserialised_json",
        "crlf_body",
        "unicode_body",
        "about_1mb_body",
        "hmac_missing",
        "hmac_empty",
        "hmac_garbage",
        "hmac_truncated_one_char",
        "hmac_31_bytes",
        "hmac_33_bytes",
        "hmac_hex_instead_of_base64",
        "privacy_customers_data_request",
        "privacy_customers_redact",
        "privacy_shop_redact",
        "webhook_id_missing",
        "topic_missing",
        "shop_domain_missing",
    ] {
        assert!(
            names.iter().any(|n| n == required),
            "no `{required}` vector"
        );
    }
}

const SECRET: &str = "shpss_prop_secret";

fn verify_with(headers: &[(String, String)], body: &[u8]) -> Result<Verified, VerifyError> {
    let req = InboundRequest {
        method: "POST",
        url: "",
        headers,
        body,
    };
    let clock = Clock {
        now_unix: 1_700_000_000,
        tolerance_secs: 300,
    };
    shopify::verify(&req, &[SECRET.to_string()], clock)
}

/// JSON values shaped like Shopify payloads, with ids and timestamps of every type.
fn json_like() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
        "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,12})?(Z|[+-][0-9]{2}:[0-9]{2})?"
            .prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        let key = prop_oneof![
            Just("id".to_string()),
            Just("email".to_string()),
            Just("customer".to_string()),
            Just("shop_domain".to_string()),
            Just("updated_at".to_string()),
            Just("created_at".to_string()),
            "[a-z_]{1,8}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key, inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn shopify_signed_delivery_verifies(body in prop::collection::vec(any::<u8>(), 1..512)) {
        let headers = delivery(&shopify_hmac(SECRET, &body));
        prop_assert_eq!(verify_with(&headers, &body), Ok(Verified { key_index: 0 }));
    }

    #[test]
    fn shopify_any_changed_body_byte_is_rejected(
        body in prop::collection::vec(any::<u8>(), 1..512),
        index in any::<usize>(),
        delta in 1u8..,
    ) {
        let headers = delivery(&shopify_hmac(SECRET, &body));
        let mut changed = body.clone();
        let i = index % changed.len();
        changed[i] = changed[i].wrapping_add(delta);
        prop_assert_eq!(verify_with(&headers, &changed), Err(VerifyError::SignatureMismatch));
    }

    #[test]
    fn shopify_any_changed_hmac_byte_is_rejected(
        body in prop::collection::vec(any::<u8>(), 1..64),
        index in any::<usize>(),
        delta in 1u8..,
    ) {
        let mut hmac = shopify_hmac(SECRET, &body).into_bytes();
        let i = index % hmac.len();
        hmac[i] = hmac[i].wrapping_add(delta);
        let hmac = String::from_utf8_lossy(&hmac).into_owned();
        prop_assert!(verify_with(&delivery(&hmac), &body).is_err(), "{} accepted", hmac);
    }

    #[test]
    fn shopify_arbitrary_input_never_panics(
        header_values in prop::collection::vec(".{0,60}", 5),
        present in prop::collection::vec(any::<bool>(), 5),
        body in prop::collection::vec(any::<u8>(), 0..512),
        secrets in prop::collection::vec(".{0,16}", 0..3),
        now_unix in any::<i64>(),
        tolerance_secs in any::<u64>(),
    ) {
        let names = [HMAC_HEADER, WEBHOOK_ID_HEADER, TOPIC_HEADER, SHOP_DOMAIN_HEADER, TRIGGERED_AT_HEADER];
        let headers: Vec<(String, String)> = names
            .iter()
            .zip(header_values)
            .zip(present)
            .filter(|(_, keep)| *keep)
            .map(|((name, value), _)| (name.to_string(), value))
            .collect();
        let req = InboundRequest { method: "POST", url: "", headers: &headers, body: &body };
        let _ = shopify::verify(&req, &secrets, Clock { now_unix, tolerance_secs });
        let _ = shopify::parse(&req);
    }

    #[test]
    fn shopify_arbitrary_json_never_panics(payload in json_like(), triggered_at in ".{0,40}") {
        let body = payload.to_string();
        let headers = vec![
            (WEBHOOK_ID_HEADER.to_string(), "id".to_string()),
            (TOPIC_HEADER.to_string(), "customers/redact".to_string()),
            (SHOP_DOMAIN_HEADER.to_string(), "shop.myshopify.com".to_string()),
            (TRIGGERED_AT_HEADER.to_string(), triggered_at),
        ];
        let req = InboundRequest { method: "POST", url: "", headers: &headers, body: body.as_bytes() };
        // An object parses exactly when it fits the privacy topic and names the header's shop.
        let fits = shopify::check_topic_payload("customers/redact", "shop.myshopify.com", &body);
        match shopify::parse(&req) {
            Ok(events) => {
                prop_assert!(payload.is_object());
                prop_assert_eq!(fits, Ok(()));
                prop_assert_eq!(events.len(), 1);
                prop_assert_eq!(&events[0].payload, &body);
            }
            Err(e) => prop_assert!(!payload.is_object() || fits == Err(e.clone()), "{:?}", e),
        }
        if let Some(subject) = shopify::privacy_subject(&payload) {
            prop_assert!(subject != PrivacySubject::default());
        }
    }
}
