use serde_json::json;
use sha2::{Digest, Sha256};

use super::arrival::{accept, Arrival, DEFAULT_EVENT_TYPE};
use super::*;
use crate::inbound::providers::IngestError;
use crate::inbound::schemes::SchemeName;
use crate::inbound::webhook::{InboundRequest, VerifyError};
use crate::sealed::fingerprint::{read_stored, to_stored};

const LIMIT: u64 = 1_000_000;

fn spec(value: serde_json::Value) -> SourceSpec {
    SourceSpec::from_json(&value, LIMIT).unwrap()
}

fn refused(value: serde_json::Value) -> SourceError {
    SourceSpec::from_json(&value, LIMIT).unwrap_err()
}

#[test]
fn a_source_parses_with_defaults_and_shows_its_path() {
    let github = spec(json!({"name": "github-main", "scheme": "github", "secrets": ["s"]}));
    assert_eq!(github.scheme.scheme(), SchemeName::Github);
    assert!(github.enabled && github.dedupe.is_none() && github.max_body_bytes.is_none());
    assert_eq!(github.path(), "/webhooks/in/github-main");
    let print = fingerprint(&KEY, b"s");
    let shown = read_stored(&to_stored(std::slice::from_ref(&print)));
    let view = public_view(&github, &shown);
    assert_eq!(view["path"], "/webhooks/in/github-main");
    assert_eq!(view["secrets"], 1);
    assert_eq!(
        view["secret_fingerprints"],
        json!([print]),
        "shown without its mark"
    );
    assert!(!view.to_string().contains("\"s\""));
    // The stored form reads back as the same spec.
    assert_eq!(
        SourceSpec::from_json(&github.to_json(), LIMIT).unwrap(),
        github
    );
}

#[test]
fn every_refusal_names_its_field() {
    let cases = [
        (json!({"scheme": "github"}), "invalid_field", "name"),
        (
            json!({"name": "Bad Name", "scheme": "github"}),
            "invalid_field",
            "name",
        ),
        (
            json!({"name": "default", "scheme": "github"}),
            "invalid_field",
            "name",
        ),
        (json!({"name": "a"}), "invalid_field", "scheme"),
        (
            json!({"name": "a", "scheme": "paypal"}),
            "invalid_scheme_config",
            "scheme",
        ),
        (
            json!({"name": "a", "scheme": "github", "config": {"x": 1}}),
            "invalid_scheme_config",
            "config.x",
        ),
        (
            json!({"name": "a", "scheme": "hmac", "config": {}}),
            "invalid_scheme_config",
            "config.algorithm",
        ),
        (
            json!({"name": "a", "scheme": "token", "config": 5}),
            "invalid_scheme_config",
            "config",
        ),
        (
            json!({"name": "a", "scheme": "github", "dedupe": {"pointer": "id"}}),
            "invalid_field",
            "dedupe",
        ),
        (
            json!({"name": "a", "scheme": "github", "event_type": {"header": "a b"}}),
            "invalid_field",
            "event_type",
        ),
        (
            json!({"name": "a", "scheme": "github", "max_body_bytes": 0}),
            "invalid_field",
            "max_body_bytes",
        ),
        (
            json!({"name": "a", "scheme": "github", "max_body_bytes": LIMIT + 1}),
            "invalid_field",
            "max_body_bytes",
        ),
        (
            json!({"name": "a", "scheme": "github", "enabled": "yes"}),
            "invalid_field",
            "enabled",
        ),
        (
            json!({"name": "a", "scheme": "github", "colour": 1}),
            "invalid_field",
            "colour",
        ),
    ];
    for (body, code, field) in cases {
        let error = refused(body.clone());
        assert_eq!((error.code, error.field.as_str()), (code, field), "{body}");
    }
}

#[test]
fn secrets_are_one_to_five_distinct_strings() {
    assert_eq!(parse_secrets(Some(&json!(["a", "b"]))).unwrap(), ["a", "b"]);
    for bad in [
        json!([]),
        json!(["a", "a"]),
        json!([""]),
        json!("a"),
        json!([1]),
        json!(["1", "2", "3", "4", "5", "6"]),
    ] {
        assert_eq!(
            parse_secrets(Some(&bad)).unwrap_err().field,
            "secrets",
            "{bad}"
        );
    }
    assert_eq!(parse_secrets(None).unwrap_err().field, "secrets");
}

/// A `SECRETS_KEY`.
const KEY: [u8; 32] = [42; 32];

#[test]
fn a_rotation_adds_then_removes_by_fingerprint() {
    let current = vec!["old".to_string()];
    let both = rotate(&current, &json!({"add": ["new"]}), &KEY).unwrap();
    assert_eq!(both, ["old", "new"]);
    let done = rotate(&both, &json!({"remove": [fingerprint(&KEY, b"old")]}), &KEY).unwrap();
    assert_eq!(done, ["new"]);
    // The unkeyed form is never shown, and not taken: it would let a caller confirm a guess.
    let unkeyed = hex::encode(&Sha256::digest(b"old")[..6]);
    assert_eq!(
        rotate(&both, &json!({"remove": [unkeyed]}), &KEY)
            .unwrap_err()
            .field,
        "remove"
    );
    assert_eq!(
        rotate(&done, &json!({"remove": [fingerprint(&KEY, b"new")]}), &KEY)
            .unwrap_err()
            .field,
        "secrets"
    );
    assert_eq!(
        rotate(&done, &json!({"remove": ["nope"]}), &KEY)
            .unwrap_err()
            .field,
        "remove"
    );
    assert_eq!(
        rotate(&done, &json!({"add": ["new"]}), &KEY)
            .unwrap_err()
            .field,
        "secrets"
    );
    assert_eq!(
        rotate(&done, &json!({"keep": []}), &KEY).unwrap_err().field,
        "keep"
    );
}

#[test]
fn an_edit_merges_fields_and_keeps_the_name() {
    let stored = spec(json!({"name": "a", "scheme": "token", "config": {"header": "X-Token"}}));
    let (edited, secrets) = apply_edit(&stored, &json!({"enabled": false}), LIMIT).unwrap();
    assert!(!edited.enabled && edited.scheme == stored.scheme && secrets.is_none());
    let (github, _) = apply_edit(&stored, &json!({"scheme": "github"}), LIMIT).unwrap();
    assert_eq!(github.scheme.scheme(), SchemeName::Github);
    let (_, secrets) = apply_edit(&stored, &json!({"secrets": ["x"]}), LIMIT).unwrap();
    assert_eq!(secrets.unwrap(), ["x"]);
    assert_eq!(
        apply_edit(&stored, &json!({"name": "b"}), LIMIT)
            .unwrap_err()
            .field,
        "name"
    );
    let bad = apply_edit(&stored, &json!({"config": {"prefix": 5}}), LIMIT).unwrap_err();
    assert_eq!(bad.code, "invalid_scheme_config");
}

fn request<'a>(headers: &'a [(String, String)], body: &'a [u8]) -> InboundRequest<'a> {
    InboundRequest {
        method: "POST",
        url: "https://hooks.example.com/webhooks/in/t",
        headers,
        body,
    }
}

fn token_source(extra: serde_json::Value) -> SourceSpec {
    let mut body = json!({"name": "t", "scheme": "token", "config": {"header": "X-Token"}});
    if let (Some(fields), Some(more)) = (body.as_object_mut(), extra.as_object()) {
        fields.extend(more.clone());
    }
    spec(body)
}

fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn event(arrival: Arrival) -> crate::inbound::webhook::ParsedEvent {
    match arrival {
        Arrival::Event(mut accepted) => accepted.events.remove(0),
        Arrival::Challenge(_) => panic!("a challenge"),
    }
}

#[test]
fn the_dedupe_key_and_type_come_from_the_source_then_the_scheme_then_the_body() {
    let secrets = vec!["tok".to_string()];
    let hs = headers(&[("X-Token", "tok"), ("X-Id", "d1"), ("X-Kind", "k")]);
    let body = br#"{"id":"b1","type":"created"}"#;
    let plain = event(accept(&token_source(json!({})), &secrets, &request(&hs, body), 0).unwrap());
    assert_eq!(
        plain.dedupe_key,
        format!("src:t:sha256:{}", hex::encode(Sha256::digest(body)))
    );
    assert_eq!(plain.event_type, DEFAULT_EVENT_TYPE);
    assert_eq!(plain.source.as_deref(), Some("t"));
    assert_eq!(plain.payload.as_bytes(), body);
    let by_header =
        token_source(json!({"dedupe": {"header": "x-id"}, "event_type": {"header": "X-Kind"}}));
    let e = event(accept(&by_header, &secrets, &request(&hs, body), 0).unwrap());
    assert_eq!(
        (e.dedupe_key.as_str(), e.event_type.as_str()),
        ("src:t:d1", "k")
    );
    let by_pointer =
        token_source(json!({"dedupe": {"pointer": "/id"}, "event_type": {"pointer": "/type"}}));
    let e = event(accept(&by_pointer, &secrets, &request(&hs, body), 0).unwrap());
    assert_eq!(
        (e.dedupe_key.as_str(), e.event_type.as_str()),
        ("src:t:b1", "created")
    );
    // A configured place the delivery lacks falls back to the body's digest.
    let missing = token_source(json!({"dedupe": {"pointer": "/nope"}}));
    let e = event(accept(&missing, &secrets, &request(&hs, body), 0).unwrap());
    assert!(e.dedupe_key.starts_with("src:t:sha256:"));
}

#[test]
fn a_scheme_key_is_used_and_failures_keep_their_codes() {
    let github = spec(json!({"name": "gh", "scheme": "github"}));
    let secret = "s".to_string();
    let body = br#"{"action":"opened"}"#;
    let signature = {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"s").unwrap();
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    };
    let hs = headers(&[
        ("X-Hub-Signature-256", &signature),
        ("X-GitHub-Delivery", "72d3162e"),
        ("X-GitHub-Event", "issues"),
    ]);
    let e = event(
        accept(
            &github,
            std::slice::from_ref(&secret),
            &request(&hs, body),
            0,
        )
        .unwrap(),
    );
    assert_eq!(
        (e.dedupe_key.as_str(), e.event_type.as_str()),
        ("src:gh:72d3162e", "issues.opened")
    );
    let tampered = br#"{"action":"closed"}"#;
    assert_eq!(
        accept(
            &github,
            std::slice::from_ref(&secret),
            &request(&hs, tampered),
            0
        ),
        Err(IngestError::Verify(VerifyError::SignatureMismatch))
    );
    assert_eq!(
        accept(&github, &[secret], &request(&[], body), 0),
        Err(IngestError::Verify(VerifyError::MissingSignature))
    );
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// The content key of one accepted delivery (`None`: it has none).
fn content_key_of(
    source: &SourceSpec,
    secret: &str,
    hs: &[(String, String)],
    body: &[u8],
    now: i64,
) -> Option<String> {
    event(accept(source, &[secret.to_string()], &request(hs, body), now).unwrap()).content_key
}

#[test]
fn a_signed_body_under_a_fresh_unsigned_id_keeps_its_content_key() {
    let github = spec(json!({"name": "gh", "scheme": "github"}));
    let body = br#"{"action":"opened"}"#;
    let signature = format!("sha256={}", hex::encode(hmac_sha256(b"s", &[body])));
    let delivered = |id: &str| {
        headers(&[
            ("X-Hub-Signature-256", &signature),
            ("X-GitHub-Delivery", id),
        ])
    };
    let first =
        event(accept(&github, &["s".into()], &request(&delivered("d-1"), body), 0).unwrap());
    let replayed =
        event(accept(&github, &["s".into()], &request(&delivered("d-2"), body), 0).unwrap());
    assert_ne!(first.dedupe_key, replayed.dedupe_key);
    let expected =
        crate::inbound::schemes::replay::content_key(&github.scheme, "gh", &request(&[], body));
    assert_eq!(first.content_key, Some(format!("src:gh:{expected}")));
    assert_eq!(replayed.content_key, first.content_key);
}

#[test]
fn a_signed_timestamp_needs_no_content_key_unless_the_key_is_a_header() {
    let body = br#"{"event_id":"e-1","event_type":"form_response"}"#;
    // Slack signs its timestamp: no content key.
    let slack = spec(json!({"name": "sl", "scheme": "slack"}));
    let slack_sig = format!(
        "v0={}",
        hex::encode(hmac_sha256(b"s", &[b"v0:1000:", body]))
    );
    let hs = headers(&[
        ("X-Slack-Request-Timestamp", "1000"),
        ("X-Slack-Signature", &slack_sig),
    ]);
    assert_eq!(content_key_of(&slack, "s", &hs, body, 1000), None);
    // Keyed on an unsigned header, a re-post inside the tolerance needs the content key.
    let slack_by_header =
        spec(json!({"name": "sl", "scheme": "slack", "dedupe": {"header": "X-Id"}}));
    let hs_with_id = headers(&[
        ("X-Slack-Request-Timestamp", "1000"),
        ("X-Slack-Signature", &slack_sig),
        ("X-Id", "h-1"),
    ]);
    assert!(
        content_key_of(&slack_by_header, "s", &hs_with_id, body, 1000)
            .is_some_and(|k| k.starts_with("src:sl:"))
    );
    // A scheme that signs nothing keys its body whatever its dedupe key.
    let hs = headers(&[("X-Token", "tok"), ("X-Id", "d1")]);
    let token = token_source(json!({"dedupe": {"header": "x-id"}}));
    assert!(content_key_of(&token, "tok", &hs, body, 0).is_some());
}

#[test]
fn a_signed_id_without_a_signed_timestamp_still_gets_the_content_key() {
    // Typeform's id is in its signed body, but no signed time: once retention deletes the event
    // only the content key's tombstone remembers it, whatever the dedupe key.
    let body = br#"{"event_id":"e-1","event_type":"form_response"}"#;
    let typeform_sig = {
        use base64::Engine;
        format!(
            "sha256={}",
            base64::engine::general_purpose::STANDARD.encode(hmac_sha256(b"s", &[body]))
        )
    };
    let hs = headers(&[("Typeform-Signature", &typeform_sig), ("X-Id", "h-1")]);
    let expected = crate::inbound::schemes::replay::content_key(
        &spec(json!({"name": "tf", "scheme": "typeform"})).scheme,
        "tf",
        &request(&[], body),
    );
    for dedupe in [
        json!(null),
        json!({"pointer": "/event_id"}),
        json!({"header": "X-Id"}),
    ] {
        let typeform = spec(json!({"name": "tf", "scheme": "typeform", "dedupe": dedupe}));
        assert_eq!(
            content_key_of(&typeform, "s", &hs, body, 0),
            Some(format!("src:tf:{expected}")),
            "{dedupe}"
        );
    }
}

#[test]
fn a_linear_repost_inside_the_tolerance_under_a_fresh_delivery_header_is_keyed_by_its_content() {
    let linear = spec(json!({"name": "ln", "scheme": "linear"}));
    let body = br#"{"type":"Issue","action":"create","webhookTimestamp":1000000}"#;
    let signature = hex::encode(hmac_sha256(b"s", &[body]));
    let delivered =
        |id: &str| headers(&[("Linear-Signature", &signature), ("Linear-Delivery", id)]);
    let first = event(
        accept(
            &linear,
            &["s".into()],
            &request(&delivered("d-1"), body),
            1000,
        )
        .unwrap(),
    );
    let reposted = event(
        accept(
            &linear,
            &["s".into()],
            &request(&delivered("d-2"), body),
            1010,
        )
        .unwrap(),
    );
    assert_eq!(first.dedupe_key, "src:ln:d-1");
    assert_ne!(first.dedupe_key, reposted.dedupe_key);
    assert!(first.content_key.is_some());
    assert_eq!(reposted.content_key, first.content_key);
}

#[test]
fn a_body_that_is_not_utf8_verifies_but_is_unusable() {
    let hs = headers(&[("X-Token", "tok")]);
    let result = accept(
        &token_source(json!({})),
        &["tok".into()],
        &request(&hs, b"\xff"),
        0,
    );
    assert!(matches!(
        result,
        Err(IngestError::Parse { key_index: 0, .. })
    ));
}

#[test]
fn secrets_that_can_never_verify_are_refused_for_their_scheme() {
    let standard = spec(json!({"name": "sw", "scheme": "standard-webhooks"}));
    let key = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_string();
    assert_eq!(
        check_secrets(&standard, std::slice::from_ref(&key), &[]),
        Ok(())
    );
    let refused = check_secrets(&standard, &[key, "not-a-key".into()], &[]).unwrap_err();
    assert_eq!(refused.field, "secrets");
    let basic = spec(json!({"name": "b", "scheme": "basic"}));
    assert_eq!(
        check_secrets(&basic, &["user:a-long-password".into()], &[]),
        Ok(())
    );
    assert_eq!(
        check_secrets(&basic, &["nocolon".into()], &[])
            .unwrap_err()
            .field,
        "secrets"
    );
    let github = spec(json!({"name": "g", "scheme": "github"}));
    assert_eq!(check_secrets(&github, &["anything".into()], &[]), Ok(()));
}

#[test]
fn a_credential_as_secret_is_at_least_16_bytes_unless_stored_before_the_rule() {
    let token = spec(json!({"name": "t", "scheme": "token", "config": {"header": "X-Token"}}));
    let basic = spec(json!({"name": "b", "scheme": "basic"}));
    let gitlab = spec(json!({"name": "gl", "scheme": "gitlab"}));
    for (source, short, long) in [
        (&token, "tok-15-bytes-xx", "tok-16-bytes-xxx"),
        (&basic, "user:15-bytes-x", "user:16-bytes-xx"),
        (&gitlab, "gl-15-bytes-xxx", "gl-16-bytes-xxxx"),
    ] {
        assert_eq!((short.len(), long.len()), (15, 16));
        let refused = check_secrets(source, &[short.into()], &[]).unwrap_err();
        assert_eq!(
            (refused.code, refused.field.as_str()),
            ("weak_secret", "secrets"),
            "{}",
            source.name
        );
        assert_eq!(check_secrets(source, &[long.into()], &[]), Ok(()));
        // A short secret stored before the rule can stay (an edit, a disable), not be added.
        let stored = [short.to_string()];
        assert_eq!(check_secrets(source, &stored, &stored), Ok(()));
        let added = [short.to_string(), format!("{long}-2")];
        assert_eq!(
            check_secrets(source, &added, &[]).unwrap_err().code,
            "weak_secret"
        );
    }
    // A signing key is not a credential the sender presents: any length.
    let github = spec(json!({"name": "g", "scheme": "github"}));
    assert_eq!(check_secrets(&github, &["s".into()], &[]), Ok(()));
}

proptest::proptest! {
    /// Whatever arrives, every fixed scheme answers (an event, a challenge or a stable error):
    /// nothing panics, and an event is always scoped to its source.
    #[test]
    fn any_delivery_to_any_fixed_scheme_is_answered(
        body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
        value in "[ -~]{0,60}",
    ) {
        for scheme in SchemeName::ALL {
            let Ok(source) = SourceSpec::from_json(&json!({"name": "p", "scheme": scheme.name()}), LIMIT) else {
                continue;
            };
            let names = ["webhook-id", "webhook-timestamp", "webhook-signature", "X-Hub-Signature-256",
                "X-Slack-Request-Timestamp", "X-Slack-Signature", "Linear-Signature", "x-zm-signature",
                "x-zm-request-timestamp", "Calendly-Webhook-Signature", "X-Twilio-Signature",
                "Authorization", "X-Gitlab-Token", "X-Hub-Signature", "Typeform-Signature",
                "x-square-hmacsha256-signature", "Paddle-Signature", "WorkOS-Signature"];
            let hs: Vec<(String, String)> = names.iter().map(|n| (n.to_string(), value.clone())).collect();
            if let Ok(Arrival::Event(accepted)) = accept(&source, std::slice::from_ref(&value), &request(&hs, &body), 0) {
                proptest::prop_assert!(accepted.events[0].dedupe_key.starts_with("src:p:"));
            }
        }
    }
}

/// Against every committed vector: a delivery the scheme refuses as `missing_signature` has
/// none of the scheme's signature headers, and every delivery it accepts has one, so the
/// shell's check before the body never refuses what the scheme would take.
#[test]
fn the_signature_headers_match_every_vector() {
    let file: serde_json::Value = serde_json::from_str(include_str!(
        "../../../../tests/fixtures/schemes/vectors.json"
    ))
    .unwrap();
    let cases = file["cases"].as_array().unwrap();
    assert!(cases.len() > 100);
    for case in cases {
        let config =
            SchemeConfig::parse(case["scheme"].as_str().unwrap(), Some(&case["config"])).unwrap();
        let headers: Vec<(String, String)> = case["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|pair| {
                (
                    pair[0].as_str().unwrap().into(),
                    pair[1].as_str().unwrap().into(),
                )
            })
            .collect();
        let present = has_signature_header(&config, &headers);
        let name = case["name"].as_str().unwrap();
        if case["expected"]["err"] == "missing_signature" {
            assert!(!present, "{name}");
        } else if case["expected"]["ok"].is_object() {
            assert!(present, "{name}");
        }
    }
}

#[test]
fn a_stored_spec_of_any_shape_is_read_or_refused_without_a_panic() {
    let good = SourceSpec::from_stored(r#"{"scheme": "github"}"#, "gh", 1_000).unwrap();
    assert_eq!(good.name, "gh");
    for (text, detail) in [
        ("[]", "not a JSON object"),
        ("\"x\"", "not a JSON object"),
        ("7", "not a JSON object"),
        ("null", "not a JSON object"),
        ("{", "not JSON"),
    ] {
        let refused = SourceSpec::from_stored(text, "gh", 1_000).unwrap_err();
        assert_eq!(refused.field, "spec", "{text}");
        assert!(
            refused.detail.ends_with(detail),
            "{text}: {}",
            refused.detail
        );
    }
    // The row's name wins over one inside the stored text.
    let renamed = SourceSpec::from_stored(r#"{"name": "x", "scheme": "github"}"#, "gh", 1_000);
    assert_eq!(renamed.unwrap().name, "gh");
}
