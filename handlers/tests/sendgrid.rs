//! SendGrid verification against vectors cross-checked with the official SDK
//! (`tests/fixtures/sendgrid/vectors.json`, written by `node scripts/fixtures/sendgrid.mjs`), key
//! list parsing against the same file, plus properties: a single changed byte in the signed
//! body, timestamp or signature is rejected, high-S and low-S forms both verify, and arbitrary
//! input never panics `verify`, `parse` or `parse_public_keys`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use edgehooks_handlers::inbound::providers::sendgrid::{
    self, PublicKey, SIGNATURE_HEADER, TIMESTAMP_HEADER,
};
use edgehooks_handlers::inbound::webhook::{Clock, InboundRequest, Verified};
use proptest::prelude::*;
use serde::Deserialize;

mod support;
use support::sign::{
    sendgrid_headers as headers, sendgrid_high_s as high_s, sendgrid_public_key as public_key,
    sendgrid_sign_der as sign_der,
};
use support::{assert_no_failures, case_body, change_byte, Expected, Recipe};

const VECTORS: &str = include_str!("../../tests/fixtures/sendgrid/vectors.json");
const SETTING: &str = "SENDGRID_WEBHOOK_PUBLIC_KEYS";

#[derive(Deserialize)]
struct File {
    cases: Vec<Case>,
    key_cases: Vec<KeyCase>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
    body_recipe: Option<Recipe>,
    public_keys: Vec<String>,
    now: i64,
    tolerance: u64,
    expected: Expected,
    /// The first key the official SDK accepts the signature with, if any.
    sdk_key_index: Option<usize>,
}

#[derive(Deserialize)]
struct KeyCase {
    name: String,
    setting: Option<String>,
    /// `{"ok": number of keys}` or `{"err": "entry N"}` (the text the error must name).
    expected: Expected,
}

impl Case {
    fn body(&self) -> String {
        case_body(&self.name, &self.body, &self.body_recipe)
    }

    fn keys(&self) -> Vec<PublicKey> {
        let joined = self.public_keys.join(",");
        sendgrid::parse_public_keys(SETTING, Some(&joined)).unwrap()
    }
}

fn vectors() -> File {
    serde_json::from_str(VECTORS).unwrap()
}

fn case<'a>(file: &'a File, name: &str) -> &'a Case {
    file.cases.iter().find(|c| c.name == name).unwrap()
}

#[test]
fn sendgrid_sdk_vectors() {
    let file = vectors();
    assert!(file.cases.len() >= 50, "only {} cases", file.cases.len());
    let mut failures = Vec::new();
    for case in &file.cases {
        // We never accept what the official verifier rejects, nor pick a different key.
        match (&case.expected, case.sdk_key_index) {
            (Expected::Ok(index), sdk) => assert_eq!(sdk, Some(*index), "{}", case.name),
            (Expected::Err(_), _) => {}
        }
        let body = case.body();
        let req = InboundRequest {
            method: "POST",
            url: "https://hooks.example.com/webhooks/sendgrid",
            headers: &case.headers,
            body: body.as_bytes(),
        };
        let clock = Clock {
            now_unix: case.now,
            tolerance_secs: case.tolerance,
        };
        let got = sendgrid::verify(&req, &case.keys(), clock);
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
fn sendgrid_key_settings() {
    let file = vectors();
    assert!(file.key_cases.len() >= 8);
    for case in &file.key_cases {
        let got = sendgrid::parse_public_keys(SETTING, case.setting.as_deref());
        match (&case.expected, got) {
            (Expected::Ok(count), Ok(keys)) => assert_eq!(keys.len(), *count, "{}", case.name),
            (Expected::Err(entry), Err(err)) => {
                assert_eq!(err.setting, SETTING);
                assert!(err.detail.contains(entry.as_str()), "{}: {err}", case.name);
                let text = err.to_string();
                for value in case.setting.iter().flat_map(|s| s.split(',')) {
                    let value = value.trim();
                    assert!(
                        value.len() < 8 || !text.contains(value),
                        "{}: error repeats a key",
                        case.name
                    );
                }
            }
            (expected, got) => panic!("{}: expected {expected:?}, got {got:?}", case.name),
        }
    }
}

#[test]
fn sendgrid_accepted_vectors_parse() {
    let file = vectors();
    let parse = |name: &str| {
        let body = case(&file, name).body();
        let req = InboundRequest {
            method: "POST",
            url: "",
            headers: &[],
            body: body.as_bytes(),
        };
        sendgrid::parse(&req).unwrap()
    };

    let events = parse("valid");
    let summary: Vec<_> = events
        .iter()
        .map(|e| (e.dedupe_key.as_str(), e.event_type.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            ("cHJvY2Vzc2VkLTE5OTQyMTEyLWFkYS0w", "processed"),
            ("Ym91bmNlLTAtMTk5NDIxMTItYWRhLTA", "bounce"),
        ]
    );
    assert_eq!(events[0].occurred_at_ms, Some(1_699_999_980_000));
    assert!(events.iter().all(|e| e.account.is_none()));
    for event in &events {
        let value: serde_json::Value = serde_json::from_str(&event.payload).unwrap();
        assert_eq!(value["sg_event_id"], event.dedupe_key.as_str());
        assert!(!event.payload.contains('\n'), "payload is compact");
    }

    let sdk = parse("sdk_vector_multiple_events_high_s");
    assert_eq!(sdk.len(), 2);
    assert_eq!(sdk[1].event_type, "bounce");
    assert_eq!(sdk[1].occurred_at_ms, Some(1_619_651_147_000));

    let unicode = parse("unicode_body");
    assert!(unicode[0].payload.contains("zoë.ünal@exämple.com"));
    assert!(unicode[1].payload.contains("日本語 🚀"));

    let big = parse("about_1mb_body");
    assert_eq!(big.len(), 1);
    assert!(big[0].payload.len() > 1_000_000);
}

// --- properties ------------------------------------------------------------------------------

const NOW: i64 = 1_700_000_000;

fn verify_with(headers: &[(String, String)], body: &[u8]) -> Result<Verified, String> {
    let req = InboundRequest {
        method: "POST",
        url: "",
        headers,
        body,
    };
    let clock = Clock {
        now_unix: NOW,
        tolerance_secs: 300,
    };
    sendgrid::verify(&req, &[public_key()], clock).map_err(|e| e.code().to_string())
}

/// Signature header values: junk, base64 of junk, and base64 of DER-looking junk.
fn signature_like() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,120}",
        "[A-Za-z0-9+/=_-]{0,120}",
        prop::collection::vec(any::<u8>(), 0..100).prop_map(|b| STANDARD.encode(b)),
        (prop::collection::vec(any::<u8>(), 0..80), 0u8..0x50)
            .prop_map(|(tail, len)| { STANDARD.encode([&[0x30, len, 0x02][..], &tail].concat()) }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn sendgrid_signed_delivery_verifies_in_both_s_forms(
        body in prop::collection::vec(any::<u8>(), 1..256),
        age in -300i64..=300,
    ) {
        let t = (NOW + age).to_string();
        let der = sign_der(&t, &body);
        for form in [der.clone(), high_s(&der)] {
            let h = headers(&STANDARD.encode(form), &t);
            prop_assert_eq!(verify_with(&h, &body), Ok(Verified { key_index: 0 }));
        }
    }

    #[test]
    fn sendgrid_any_changed_body_byte_is_rejected(
        body in prop::collection::vec(any::<u8>(), 1..256),
        index in any::<usize>(),
        delta in 1u8..,
    ) {
        let t = NOW.to_string();
        let h = headers(&STANDARD.encode(sign_der(&t, &body)), &t);
        let mut changed = body.clone();
        let i = index % changed.len();
        changed[i] = changed[i].wrapping_add(delta);
        prop_assert_eq!(verify_with(&h, &changed), Err("signature_mismatch".to_string()));
    }

    #[test]
    fn sendgrid_any_changed_timestamp_byte_is_rejected(index in any::<usize>(), delta in 1u8..) {
        let body = b"[{\"sg_event_id\":\"a\",\"event\":\"open\"}]";
        let t = NOW.to_string();
        let sig = STANDARD.encode(sign_der(&t, body));
        let h = headers(&sig, &change_byte(&t, index, delta));
        prop_assert!(verify_with(&h, body).is_err());
    }

    #[test]
    fn sendgrid_any_changed_signature_byte_is_rejected(
        high in any::<bool>(),
        index in any::<usize>(),
        delta in 1u8..,
    ) {
        let body = b"[{\"sg_event_id\":\"a\",\"event\":\"open\"}]";
        let t = NOW.to_string();
        let der = sign_der(&t, body);
        let der = if high { high_s(&der) } else { der };
        // A changed byte of the DER signature itself...
        let mut changed = der.clone();
        let i = index % changed.len();
        changed[i] = changed[i].wrapping_add(delta);
        prop_assert!(verify_with(&headers(&STANDARD.encode(&changed), &t), body).is_err());
        // ...and of its base64 text.
        let text = change_byte(&STANDARD.encode(&der), index, delta);
        prop_assert!(verify_with(&headers(&text, &t), body).is_err());
    }

    #[test]
    fn sendgrid_arbitrary_input_never_panics(
        signature in prop::option::of(signature_like()),
        timestamp in prop::option::of(prop_oneof!["[0-9]{0,20}", ".{0,24}"]),
        extra in prop::collection::vec((".{0,40}", ".{0,40}"), 0..3),
        body in prop::collection::vec(any::<u8>(), 0..512),
        key_count in 0usize..3,
        now_unix in any::<i64>(),
        tolerance_secs in any::<u64>(),
    ) {
        let mut headers = extra;
        if let Some(signature) = signature {
            headers.push((SIGNATURE_HEADER.to_ascii_lowercase(), signature));
        }
        if let Some(timestamp) = timestamp {
            headers.push((TIMESTAMP_HEADER.into(), timestamp));
        }
        let req = InboundRequest { method: "POST", url: "", headers: &headers, body: &body };
        let keys = vec![public_key(); key_count];
        let _ = sendgrid::verify(&req, &keys, Clock { now_unix, tolerance_secs });
        let _ = sendgrid::parse(&req);
    }

    #[test]
    fn sendgrid_arbitrary_json_batches_never_panic(
        values in prop::collection::vec(
            prop_oneof![
                Just("\"a\"".to_string()), Just("\"b\"".to_string()), Just("\"\"".to_string()),
                Just("7".to_string()), Just("null".to_string()), Just("1e400".to_string()),
                Just("-9223372036854775808".to_string()), Just("18446744073709551616".to_string()),
                "\"[^\"\\\\]{0,8}\"", "[0-9]{1,20}",
            ],
            1..8,
        ),
        count in 0usize..20,
        raw in any::<Vec<u8>>(),
    ) {
        let mut values = values.into_iter().cycle();
        let mut next = || values.next().unwrap_or_default();
        let events: Vec<String> = (0..count)
            .map(|_| format!(r#"{{"sg_event_id":{},"event":{},"timestamp":{}}}"#, next(), next(), next()))
            .collect();
        let body = format!("[{}]", events.join(",\r\n"));
        for body in [body.as_bytes(), &raw[..]] {
            let req = InboundRequest { method: "POST", url: "", headers: &[], body };
            if let Ok(events) = sendgrid::parse(&req) {
                prop_assert!(!events.is_empty());
                let mut keys: Vec<_> = events.iter().map(|e| e.dedupe_key.as_str()).collect();
                keys.sort_unstable();
                keys.dedup();
                prop_assert_eq!(keys.len(), events.len(), "dedupe keys are unique");
            }
        }
    }

    #[test]
    fn sendgrid_public_key_parsing_never_panics(
        text in ".{0,200}",
        bytes in prop::collection::vec(any::<u8>(), 0..120),
    ) {
        let _ = sendgrid::parse_public_keys(SETTING, Some(&text));
        let encoded = STANDARD.encode(&bytes);
        if let Err(err) = sendgrid::parse_public_keys(SETTING, Some(&encoded)) {
            prop_assert!(encoded.len() < 8 || !err.to_string().contains(&encoded));
        }
    }
}
