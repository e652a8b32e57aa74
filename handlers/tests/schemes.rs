//! The verification-scheme catalogue against vectors signed and checked with each provider's
//! SDK, or its documented rule where none exists (`tests/fixtures/schemes/vectors.json`,
//! written by `node tests/fixtures/schemes/generate.mjs`): every case gives the expected
//! verdict (secret index, dedupe key, event type, challenge answer) or error code; every byte
//! of a signed body, flipped, is a `signature_mismatch`; and arbitrary requests never panic
//! any scheme.

use edgehooks_handlers::inbound::schemes::{self, SchemeConfig, SchemeName, Verdict};
use edgehooks_handlers::inbound::webhook::{InboundRequest, VerifyError};
use proptest::prelude::*;
use serde::Deserialize;
use serde_json::Value;

const VECTORS: &str = include_str!("../../tests/fixtures/schemes/vectors.json");

#[derive(Deserialize)]
struct File {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    scheme: String,
    config: Option<Value>,
    secrets: Vec<String>,
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: String,
    now: i64,
    expected: Expected,
    body_signed: bool,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "lowercase")]
enum Expected {
    Ok(ExpectedVerdict),
    Err(String),
}

#[derive(Deserialize, Debug, PartialEq)]
struct ExpectedVerdict {
    key_index: usize,
    dedupe_key: Option<String>,
    event_type: Option<String>,
    challenge: Option<ExpectedChallenge>,
}

#[derive(Deserialize, Debug, PartialEq)]
struct ExpectedChallenge {
    content_type: String,
    body: Value,
}

fn cases() -> Vec<Case> {
    let file: File = serde_json::from_str(VECTORS).expect("vectors.json parses");
    file.cases
}

impl Case {
    fn config(&self) -> SchemeConfig {
        SchemeConfig::parse(&self.scheme, self.config.as_ref())
            .unwrap_or_else(|e| panic!("{}: config refused: {e:?}", self.name))
    }

    fn verify_body(&self, body: &[u8]) -> Result<Verdict, VerifyError> {
        let request = InboundRequest {
            method: &self.method,
            url: &self.url,
            headers: &self.headers,
            body,
        };
        schemes::verify(&self.config(), &self.secrets, &request, self.now)
    }
}

fn as_expected(verdict: &Verdict) -> ExpectedVerdict {
    ExpectedVerdict {
        key_index: verdict.key_index,
        dedupe_key: verdict.dedupe_key.clone(),
        event_type: verdict.event_type.clone(),
        challenge: verdict.challenge.as_ref().map(|c| ExpectedChallenge {
            content_type: c.content_type.to_string(),
            body: serde_json::from_str(&c.body).expect("a challenge answer is JSON"),
        }),
    }
}

/// Why `got` is not what the case expects, if it is not.
fn mismatch(case: &Case, got: &Result<Verdict, VerifyError>) -> Option<String> {
    match (&case.expected, got) {
        (Expected::Ok(want), Ok(verdict)) if *want == as_expected(verdict) => None,
        (Expected::Err(code), Err(e)) if code == e.code() => None,
        (want, got) => Some(format!("{}: expected {want:?}, got {got:?}", case.name)),
    }
}

#[test]
fn schemes_every_vector_gives_its_expected_verdict() {
    let cases = cases();
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| mismatch(case, &case.verify_body(case.body.as_bytes())))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The catalogue is covered: every scheme has a vector that verifies and one that does not.
    for scheme in SchemeName::ALL {
        let of_scheme = || cases.iter().filter(|c| c.scheme == scheme.name());
        assert!(
            of_scheme().any(|c| matches!(c.expected, Expected::Ok(_))),
            "{}",
            scheme.name()
        );
        assert!(
            of_scheme().any(|c| matches!(c.expected, Expected::Err(_))),
            "{}",
            scheme.name()
        );
    }
}

#[test]
fn schemes_each_flipped_byte_of_a_signed_body_is_a_signature_mismatch() {
    let mut checked = 0;
    for case in cases() {
        if !case.body_signed || !matches!(case.expected, Expected::Ok(_)) {
            continue;
        }
        let mut body = case.body.clone().into_bytes();
        for index in 0..body.len() {
            body[index] ^= 0x01;
            let got = case.verify_body(&body);
            assert_eq!(
                got.as_ref().err(),
                Some(&VerifyError::SignatureMismatch),
                "{}: byte {index} flipped gave {got:?}",
                case.name
            );
            body[index] ^= 0x01;
            checked += 1;
        }
    }
    assert!(checked > 5_000, "only {checked} flipped bytes checked");
}

#[test]
fn schemes_unsigned_bodies_are_not_covered_and_say_so() {
    // Token-style schemes sign nothing: their vectors must not claim the body is signed, and a
    // changed body still verifies (the deliberate limit of these schemes).
    for case in cases() {
        let unsigned = ["gitlab", "token", "basic"].contains(&case.scheme.as_str());
        assert_eq!(case.body_signed, !unsigned, "{}", case.name);
        if unsigned && matches!(case.expected, Expected::Ok(_)) {
            assert!(case.verify_body(b"{}").is_ok(), "{}", case.name);
        }
    }
}

fn any_scheme() -> impl Strategy<Value = SchemeConfig> {
    let fixed = proptest::sample::select(SchemeName::ALL.to_vec())
        .prop_filter_map("configured", |s| SchemeConfig::parse(s.name(), None).ok());
    let hmac = Just(
        SchemeConfig::parse(
            "hmac",
            Some(
                &serde_json::json!({"algorithm": "sha512", "header": "x-sig",
                "encoding": "base64", "signed": "timestamp.body", "timestamp_header": "x-ts"}),
            ),
        )
        .expect("valid config"),
    );
    let token = Just(
        SchemeConfig::parse("token", Some(&serde_json::json!({"header": "x-token"})))
            .expect("valid config"),
    );
    prop_oneof![fixed, hmac, token]
}

/// Header names every scheme reads, so arbitrary values reach the parsers.
const NAMES: [&str; 18] = [
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "X-Hub-Signature-256",
    "X-Twilio-Signature",
    "X-Twilio-Webhooks-Signature-Settings",
    "Content-Type",
    "X-Slack-Request-Timestamp",
    "X-Slack-Signature",
    "Linear-Signature",
    "Calendly-Webhook-Signature",
    "x-zm-signature",
    "x-zm-request-timestamp",
    "Paddle-Signature",
    "WorkOS-Signature",
    "X-Gitlab-Token",
    "Authorization",
    "x-ts",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn schemes_never_panic_on_arbitrary_requests(
        config in any_scheme(),
        headers in proptest::collection::vec(
            (proptest::sample::select(NAMES.to_vec()), ".{0,80}"), 0..8),
        url in "https?://[a-z.:\\[\\]0-9]{0,20}(/[a-zA-Z0-9%?=&]{0,30})?",
        body in proptest::collection::vec(any::<u8>(), 0..300),
        now in any::<i64>(),
        secrets in proptest::collection::vec(".{0,40}", 0..3),
    ) {
        let headers: Vec<(String, String)> =
            headers.into_iter().map(|(n, v)| (n.to_string(), v)).collect();
        let request = InboundRequest { method: "POST", url: &url, headers: &headers, body: &body };
        let _ = schemes::verify(&config, &secrets, &request, now);
    }
}
