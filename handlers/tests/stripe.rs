//! Stripe verification and parsing against vectors signed and checked with the official SDK
//! (`tests/fixtures/stripe/vectors.json`, written by `node scripts/fixtures/stripe.mjs`: signed
//! with `webhooks.generateTestHeaderString`, judged by `webhooks.constructEvent` at each case's
//! fixed clock), plus properties: a single changed byte of the signed body or character of the
//! header's v1 is rejected, only a genuine v1 is ever accepted, and arbitrary input never panics
//! `verify` or `parse`.

use edgehooks_handlers::inbound::providers::stripe::{self, sign, SIGNATURE_HEADER};
use edgehooks_handlers::inbound::webhook::{
    Clock, InboundRequest, ParseError, Verified, VerifyError,
};
use proptest::prelude::*;
use serde::Deserialize;
use serde_json::Value;

mod support;
use support::sign::stripe_header;
use support::{assert_no_failures, case_body, check_all, Expected, Recipe};

const VECTORS: &str = include_str!("../../tests/fixtures/stripe/vectors.json");

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
    tolerance: u64,
    expected: Expected,
    expected_parse: Option<ExpectedParse>,
    sdk: Option<Sdk>,
    sdk_differs: Option<String>,
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
    occurred_at_ms: Option<i64>,
    account: Option<String>,
}

#[derive(Deserialize, Debug)]
struct ExpectedParseError {
    code: String,
    field: Option<String>,
}

/// What `constructEvent` said (see the generator's header for the reasons).
#[derive(Deserialize, Debug)]
struct Sdk {
    key_index: Option<usize>,
    reason: Option<String>,
    message: Option<String>,
    event: Option<SdkEvent>,
}

/// The fields of the event the SDK returned, as JSON values (a body that is not an event may
/// carry anything there).
#[derive(Deserialize, Debug)]
struct SdkEvent {
    id: Value,
    #[serde(rename = "type")]
    event_type: Value,
    created: Value,
    account: Value,
}

impl Case {
    fn body(&self) -> String {
        case_body(&self.name, &self.body, &self.body_recipe)
    }

    fn clock(&self) -> Clock {
        Clock {
            now_unix: self.now,
            tolerance_secs: self.tolerance,
        }
    }
}

impl Sdk {
    /// The SDK's verdict in our terms: a key index, or the VerifyError code its reason maps to
    /// (`None` when it threw something that has no equivalent).
    fn outcome(&self) -> Option<Expected> {
        if let Some(index) = self.key_index {
            return Some(Expected::Ok(index));
        }
        let code = match self.reason.as_deref() {
            Some("no_payload") => "empty_body",
            Some("no_header") => "missing_signature",
            Some("no_timestamp" | "no_v1_signatures") => "malformed_signature",
            Some("no_matching_signature") => "signature_mismatch",
            Some("timestamp_too_old") => "timestamp_out_of_tolerance",
            Some("threw") => return None,
            other => panic!("unexpected SDK reason {other:?}"),
        };
        Some(Expected::Err(code.to_string()))
    }
}

fn cases() -> Vec<Case> {
    let file: File = serde_json::from_str(VECTORS).unwrap();
    file.cases
}

fn request<'a>(headers: &'a [(String, String)], body: &'a [u8]) -> InboundRequest<'a> {
    InboundRequest {
        method: "POST",
        url: "https://hooks.example.com/webhooks/stripe",
        headers,
        body,
    }
}

/// Compare one case's verify (and, when it verifies, parse) outcome with the fixture.
fn check_case(case: &Case) -> Result<(), String> {
    let body = case.body();
    let req = request(&case.headers, body.as_bytes());
    let got = stripe::verify(&req, &case.secrets, case.clock());
    if !case.expected.matches(&got) {
        return Err(format!("verify: expected {:?}, got {got:?}", case.expected));
    }
    let Some(expected) = &case.expected_parse else {
        return match got {
            Ok(_) => Err("verified but the fixture has no expected_parse".into()),
            Err(_) => Ok(()),
        };
    };
    match (expected, stripe::parse(&req)) {
        (ExpectedParse::Ok(want), Ok(events)) => {
            let [event] = events.as_slice() else {
                return Err(format!("parse: {} events", events.len()));
            };
            let same = event.dedupe_key == want.dedupe_key
                && event.event_type == want.event_type
                && event.occurred_at_ms == want.occurred_at_ms
                && event.account == want.account
                && event.payload == body;
            if same {
                Ok(())
            } else {
                Err(format!(
                    "parse: expected {want:?}, got {:?} {:?} {:?} {:?} ({} payload bytes)",
                    event.dedupe_key,
                    event.event_type,
                    event.occurred_at_ms,
                    event.account,
                    event.payload.len()
                ))
            }
        }
        (ExpectedParse::Err(want), Err(e)) => {
            let field = match &e {
                ParseError::MissingField(f) => Some(f.to_string()),
                _ => None,
            };
            if want.code == e.code() && want.field == field {
                Ok(())
            } else {
                Err(format!("parse: expected {want:?}, got {e:?}"))
            }
        }
        (want, got) => Err(format!("parse: expected {want:?}, got {got:?}")),
    }
}

#[test]
fn stripe_sdk_vectors() {
    let cases = cases();
    assert!(cases.len() >= 80, "only {} cases", cases.len());
    check_all(&cases, |case| &case.name, check_case);
}

/// The SDK's verdict, recorded in the fixture, is exactly ours unless the fixture says why not;
/// and a recorded reason is never stale.
#[test]
fn stripe_sdk_agrees_on_every_signature() {
    let mut failures = Vec::new();
    for case in cases() {
        let Some(sdk) = &case.sdk else {
            assert!(case.secrets.is_empty(), "{}: no SDK verdict", case.name);
            continue;
        };
        let sdk_outcome = sdk.outcome();
        let agree = sdk_outcome.as_ref() == Some(&case.expected);
        match (&case.sdk_differs, agree) {
            (None, false) => failures.push(format!(
                "{}: SDK says {sdk_outcome:?} ({:?} {:?}), we expect {:?}",
                case.name, sdk.reason, sdk.message, case.expected
            )),
            (Some(note), true) => failures.push(format!(
                "{}: the SDK agrees, yet the fixture says it differs: {note}",
                case.name
            )),
            _ => {}
        }
    }
    assert_no_failures(&failures);
}

/// Where the SDK and we disagree on accept/reject (not only on the reason), these are the cases:
/// a list to update consciously. We accept what the SDK rejects only for equivalent spellings of
/// a genuine v1 (upper-case hex, spaces after commas, an empty v1 next to the matching one); the
/// SDK accepts what we reject for future or unreadable timestamps and a repeated `t`.
#[test]
fn stripe_sdk_verdict_differences_are_the_known_ones() {
    let mut we_accept_sdk_rejects = Vec::new();
    let mut sdk_accepts_we_reject = Vec::new();
    for case in cases() {
        let Some(sdk) = &case.sdk else { continue };
        match (&case.expected, sdk.key_index) {
            (Expected::Ok(ours), Some(theirs)) => assert_eq!(*ours, theirs, "{}", case.name),
            (Expected::Ok(_), None) => we_accept_sdk_rejects.push(case.name),
            (Expected::Err(_), Some(_)) => sdk_accepts_we_reject.push(case.name),
            (Expected::Err(_), None) => {}
        }
    }
    assert_eq!(
        we_accept_sdk_rejects,
        [
            "header_spaces_after_commas",
            "v1_uppercase_hex",
            "v1_empty_then_matching"
        ]
    );
    assert_eq!(
        sdk_accepts_we_reject,
        [
            "duplicated_t_same_value",
            "timestamp_too_far_ahead",
            "timestamp_in_milliseconds",
            "timestamp_nan_signed_as_nan",
            "timestamp_with_trailing_junk_signed_as_integer"
        ]
    );
}

/// Where the SDK returned an event and we parse one, they describe the same event.
#[test]
fn stripe_sdk_event_matches_our_parse() {
    let mut compared = 0;
    for case in cases() {
        let Some(sdk_event) = case.sdk.as_ref().and_then(|s| s.event.as_ref()) else {
            continue;
        };
        let body = case.body();
        let req = request(&case.headers, body.as_bytes());
        let Ok(events) = stripe::parse(&req) else {
            // Not an event to us (no id or type): the SDK returns any JSON value unchecked.
            assert!(
                sdk_event.id.as_str().is_none_or(str::is_empty)
                    || sdk_event.event_type.as_str().is_none_or(str::is_empty),
                "{}: the SDK returned a full event we could not parse",
                case.name
            );
            continue;
        };
        let event = &events[0];
        assert_eq!(sdk_event.id, event.dedupe_key.as_str(), "{}", case.name);
        assert_eq!(
            sdk_event.event_type,
            event.event_type.as_str(),
            "{}",
            case.name
        );
        assert_eq!(
            sdk_event.account.as_str(),
            event.account.as_deref(),
            "{}",
            case.name
        );
        let created_ms = sdk_event.created.as_i64().and_then(|s| s.checked_mul(1000));
        assert_eq!(created_ms, event.occurred_at_ms, "{}", case.name);
        compared += 1;
    }
    assert!(compared >= 30, "only {compared} events compared");
}

#[test]
fn stripe_vectors_cover_the_required_cases() {
    let names: Vec<String> = cases().into_iter().map(|c| c.name).collect();
    for required in [
        "valid",
        "rotated_secrets_new_one_matches",
        "several_v1_one_matching",
        "v0_only",
        "wrong_secret",
        "one_tampered_byte",
        "trailing_newline_added",
        "reserialised_json",
        "crlf_body",
        "unicode_body",
        "about_1mb_body",
        "header_missing",
        "header_empty",
        "header_garbage",
        "header_truncated_one_char",
        "v1_wrong_length_62_hex",
        "v1_wrong_length_66_hex",
        "duplicated_t_same_value",
        "timestamp_too_old",
        "timestamp_too_far_ahead",
        "timestamp_non_numeric",
        "timestamp_in_milliseconds",
        "empty_body",
        "connect_event_with_account",
        "signed_body_not_an_event",
    ] {
        assert!(
            names.iter().any(|n| n == required),
            "no `{required}` vector"
        );
    }
}

// --- properties ------------------------------------------------------------------------------

const SECRET: &str = "whsec_prop_secret";
const NOW: i64 = 1_710_000_300;
const TOLERANCE: u64 = 300;

fn clock() -> Clock {
    Clock {
        now_unix: NOW,
        tolerance_secs: TOLERANCE,
    }
}

fn header_value(t: i64, body: &[u8]) -> String {
    stripe_header(SECRET, t, body)
}

fn verify_with(header: &str, body: &[u8]) -> Result<Verified, VerifyError> {
    let headers = vec![(SIGNATURE_HEADER.to_string(), header.to_string())];
    stripe::verify(&request(&headers, body), &[SECRET.to_string()], clock())
}

/// Header items shaped like the real ones and like near misses.
fn header_item() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{0,12}".prop_map(|t| format!("t={t}")),
        Just(format!("t={NOW}")),
        ".{0,12}".prop_map(|t| format!("t={t}")),
        "[0-9a-fA-F]{0,70}".prop_map(|h| format!("v1={h}")),
        "[0-9a-f]{64}".prop_map(|h| format!("v1={h}")),
        "[0-9a-f]{64}".prop_map(|h| format!("v0={h}")),
        "[ a-z0-9=]{0,12}",
        ".{0,20}",
    ]
}

fn structured_header() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(header_item(), 0..6),
        prop_oneof![Just(","), Just(", "), Just(" ,")],
    )
        .prop_map(|(items, sep)| items.join(sep))
}

/// JSON values shaped like Stripe events, with the fields `parse` reads of every type.
fn json_like() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
        "(evt|acct)_[A-Za-z0-9]{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        let key = prop_oneof![
            Just("id".to_string()),
            Just("type".to_string()),
            Just("created".to_string()),
            Just("account".to_string()),
            Just("data".to_string()),
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
    fn stripe_signed_delivery_verifies(
        body in prop::collection::vec(any::<u8>(), 1..512),
        offset in -(TOLERANCE as i64)..=(TOLERANCE as i64),
    ) {
        let header = header_value(NOW + offset, &body);
        prop_assert_eq!(verify_with(&header, &body), Ok(Verified { key_index: 0 }));
    }

    #[test]
    fn stripe_any_changed_body_byte_is_rejected(
        body in prop::collection::vec(any::<u8>(), 1..512),
        index in any::<usize>(),
        delta in 1u8..,
    ) {
        let header = header_value(NOW, &body);
        let mut changed = body.clone();
        let i = index % changed.len();
        changed[i] = changed[i].wrapping_add(delta);
        prop_assert_eq!(verify_with(&header, &changed), Err(VerifyError::SignatureMismatch));
    }

    /// Any other character in place of one of v1's 64 hex digits is a mismatch, except the same
    /// digit in the other case, which decodes to the same bytes (see `v1_uppercase_hex`).
    #[test]
    fn stripe_any_changed_v1_character_is_rejected(
        body in prop::collection::vec(any::<u8>(), 1..64),
        index in 0usize..64,
        replacement in any::<char>(),
        with_v0 in any::<bool>(),
    ) {
        let header = header_value(NOW, &body);
        let start = header.find("v1=").unwrap() + 3;
        let original = header.as_bytes()[start + index] as char;
        prop_assume!(!replacement.eq_ignore_ascii_case(&original));
        let mut changed = header.clone();
        changed.replace_range(start + index..start + index + 1, replacement.encode_utf8(&mut [0; 4]));
        if with_v0 {
            changed.push_str(&format!(",v0={}", &header[start..]));
        }
        prop_assert_eq!(verify_with(&changed, &body), Err(VerifyError::SignatureMismatch), "{}", changed);
    }

    /// Changing any character of the whole header (t, separators, scheme names, digits) is
    /// rejected, again apart from the case of v1's hex letters.
    #[test]
    fn stripe_any_changed_header_character_is_rejected(
        body in prop::collection::vec(any::<u8>(), 1..64),
        index in any::<usize>(),
        replacement in any::<char>(),
    ) {
        let header = header_value(NOW, &body);
        let i = index % header.len();
        let original = header.as_bytes()[i] as char;
        let in_v1 = i >= header.find("v1=").unwrap() + 3;
        prop_assume!(replacement != original);
        prop_assume!(!(in_v1 && replacement.eq_ignore_ascii_case(&original)));
        let mut changed = header.clone();
        changed.replace_range(i..i + 1, replacement.encode_utf8(&mut [0; 4]));
        prop_assert!(verify_with(&changed, &body).is_err(), "{} accepted", changed);
    }

    /// Whatever the header, an accepted delivery carried one `t` within tolerance and a v1 that
    /// decodes to the HMAC of that `t` and the body.
    #[test]
    fn stripe_accepts_only_a_genuine_v1(
        header in structured_header(),
        body in prop::collection::vec(any::<u8>(), 1..64),
        genuine in any::<bool>(),
    ) {
        let header = if genuine {
            format!("{header},v1={}", hex::encode(sign(SECRET, &NOW.to_string(), &body)))
        } else {
            header
        };
        if verify_with(&header, &body).is_ok() {
            let items: Vec<(&str, &str)> = header
                .split(',')
                .filter_map(|item| item.trim().split_once('='))
                .collect();
            let ts: Vec<&str> = items.iter().filter(|(k, _)| *k == "t").map(|(_, v)| *v).collect();
            prop_assert_eq!(ts.len(), 1, "{}", header);
            let t: i64 = ts[0].parse().unwrap();
            prop_assert!(NOW.abs_diff(t) <= TOLERANCE, "{}", header);
            let want = sign(SECRET, ts[0], &body);
            prop_assert!(
                items.iter().any(|(k, v)| *k == "v1" && hex::decode(v).ok().as_deref() == Some(&want[..])),
                "{}", header
            );
        }
    }

    #[test]
    fn stripe_arbitrary_input_never_panics(
        header in prop_oneof![".{0,120}", structured_header()],
        present in any::<bool>(),
        name in prop_oneof![Just(SIGNATURE_HEADER.to_string()), Just("stripe-signature".to_string()), ".{0,20}"],
        body in prop::collection::vec(any::<u8>(), 0..512),
        secrets in prop::collection::vec(".{0,16}", 0..3),
        now_unix in any::<i64>(),
        tolerance_secs in any::<u64>(),
    ) {
        let headers: Vec<(String, String)> = if present { vec![(name, header)] } else { vec![] };
        let req = request(&headers, &body);
        let _ = stripe::verify(&req, &secrets, Clock { now_unix, tolerance_secs });
        let _ = stripe::parse(&req);
    }

    #[test]
    fn stripe_arbitrary_json_never_panics(payload in json_like()) {
        let body = payload.to_string();
        let req = request(&[], body.as_bytes());
        let non_empty = |field: &str| payload.get(field).and_then(Value::as_str).is_some_and(|s| !s.is_empty());
        match stripe::parse(&req) {
            Ok(events) => {
                prop_assert!(non_empty("id") && non_empty("type"));
                prop_assert_eq!(events.len(), 1);
                prop_assert_eq!(&events[0].payload, &body);
                prop_assert_eq!(events[0].dedupe_key.as_str(), payload["id"].as_str().unwrap());
            }
            Err(e) => prop_assert!(!(payload.is_object() && non_empty("id") && non_empty("type")), "{:?}", e),
        }
    }
}
