//! HubSpot webhooks. v3: `X-HubSpot-Signature-v3 = base64(HMAC-SHA256(client secret, method +
//! uri + body + timestamp))` with `X-HubSpot-Request-Timestamp` in Unix **milliseconds**, where
//! `uri` is the full URL HubSpot called with only twelve reserved escapes decoded (see
//! [`signed_uri`]). Legacy v1 (`hex(sha256(secret + body))`) and v2
//! (`hex(sha256(secret + method + uri + body))`, uri not decoded) are accepted only when enabled
//! and no v3 header is present.
//! The body is a JSON array of events (HubSpot sends up to 100; a verified batch of any size
//! within `MAX_BODY_BYTES` is accepted) whose dedupe key is `portalId:subscriptionId:eventId`,
//! never a body hash, because a retry changes `attemptNumber`. A malformed element is rejected
//! on its own and never costs the others.

use std::borrow::Cow;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::top_level_fields::{read_event, Field, Fields};
use crate::by_name::ByName;
use crate::inbound::webhook::{
    rejected_element_key, split_json_array, Batch, Clock, InboundRequest, ParseError, ParsedEvent,
    RejectedElement, Verified, VerifyError,
};
use crate::time::parse_decimal;

pub const SIGNATURE_V3_HEADER: &str = "X-HubSpot-Signature-v3";
pub const TIMESTAMP_HEADER: &str = "X-HubSpot-Request-Timestamp";
pub const LEGACY_SIGNATURE_HEADER: &str = "X-HubSpot-Signature";
pub const LEGACY_VERSION_HEADER: &str = "X-HubSpot-Signature-Version";

/// HubSpot sends at most this many events per request (its own limit; edgehooks does not
/// enforce it: a larger verified batch is accepted whole).
pub const MAX_BATCH: usize = 100;

const BATCH_SHAPE: &str = "a JSON array of events";

/// What verification needs beyond the request itself.
#[derive(Clone, Default)]
pub struct Settings {
    /// Client secrets, in configuration order; the index of the one that verifies is returned.
    pub secrets: Vec<String>,
    /// Accept v1/v2 signatures when a delivery carries no v3 header.
    pub allow_legacy: bool,
    /// origin HubSpot signed when behind a proxy, e.g. "https://hooks.example.com" (no trailing
    /// slash required)
    pub public_base_url: Option<String>,
}

/// Secrets are never printed: `Debug` shows how many there are.
impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field(
                "secrets",
                &format_args!("[{} redacted]", self.secrets.len()),
            )
            .field("allow_legacy", &self.allow_legacy)
            .field("public_base_url", &self.public_base_url)
            .finish()
    }
}

/// The escapes HubSpot decodes before signing v3, as (hex value, character). Every other escape
/// (`%20`, `%25`, `%23`, `%26`, `%3D`, ...) stays exactly as received.
const DECODED_ESCAPES: [(u8, char); 12] = [
    (0x3A, ':'),
    (0x2F, '/'),
    (0x3F, '?'),
    (0x40, '@'),
    (0x21, '!'),
    (0x24, '$'),
    (0x27, '\''),
    (0x28, '('),
    (0x29, ')'),
    (0x2A, '*'),
    (0x2C, ','),
    (0x3B, ';'),
];

/// The URL with its scheme and authority replaced by `public_base_url` (trailing slashes
/// dropped) when one is configured; path and query are kept byte for byte.
fn public_url<'a>(request_url: &'a str, public_base_url: Option<&str>) -> Cow<'a, str> {
    let Some(base) = public_base_url.map(|b| b.trim().trim_end_matches('/')) else {
        return Cow::Borrowed(request_url);
    };
    if base.is_empty() {
        return Cow::Borrowed(request_url);
    }
    // Path and query start at the first `/`, `?` or `#` after `scheme://authority`; a URL with
    // no scheme is taken to be path and query only.
    let scheme_end = request_url.find("://").filter(|&at| {
        request_url
            .get(..at)
            .is_some_and(|scheme| !scheme.contains(['/', '?', '#']))
    });
    let path_and_query = match scheme_end {
        Some(at) => {
            let after_scheme = request_url.get(at + 3..).unwrap_or("");
            let end = after_scheme
                .find(['/', '?', '#'])
                .unwrap_or(after_scheme.len());
            after_scheme.get(end..).unwrap_or("")
        }
        None => request_url,
    };
    Cow::Owned(format!("{base}{path_and_query}"))
}

/// The character a `%XX` escape stands for, when it is one HubSpot decodes.
fn decoded_escape(hex_digits: &str) -> Option<char> {
    if hex_digits.len() != 2 || !hex_digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let value = u8::from_str_radix(hex_digits, 16).ok()?;
    DECODED_ESCAPES
        .iter()
        .find(|(v, _)| *v == value)
        .map(|(_, c)| *c)
}

/// Decode the twelve reserved escapes (hex in either case) in one left-to-right pass.
fn decode_reserved(uri: &str) -> String {
    let mut out = String::with_capacity(uri.len());
    let mut rest = uri;
    while let Some(at) = rest.find('%') {
        let (before, escape) = rest.split_at(at);
        out.push_str(before);
        match escape.get(1..3).and_then(decoded_escape) {
            Some(c) => {
                out.push(c);
                rest = escape.get(3..).unwrap_or("");
            }
            None => {
                out.push('%');
                rest = escape.get(1..).unwrap_or("");
            }
        }
    }
    out.push_str(rest);
    out
}

/// The uri string hashed for v3: the URL HubSpot called (its origin replaced by
/// `public_base_url` when set) with only `%3A %2F %3F %40 %21 %24 %27 %28 %29 %2A %2C %3B`
/// decoded. Exposed for tests and fuzzing.
pub fn signed_uri(request_url: &str, public_base_url: Option<&str>) -> String {
    decode_reserved(&public_url(request_url, public_base_url))
}

/// HMAC-SHA256 of `method + uri + body + timestamp` under `secret`, ready to verify.
fn v3_mac(secret: &str, method: &str, uri: &str, body: &[u8], timestamp: &str) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(method.as_bytes());
    mac.update(uri.as_bytes());
    mac.update(body);
    mac.update(timestamp.as_bytes());
    mac
}

/// The base64 v3 signature HubSpot would send for `uri` (already through [`signed_uri`]); for
/// tests and tools that send signed sample events.
pub fn sign_v3(secret: &str, method: &str, uri: &str, body: &[u8], timestamp: &str) -> String {
    STANDARD.encode(
        v3_mac(secret, method, uri, body, timestamp)
            .finalize()
            .into_bytes(),
    )
}

/// The legacy digest: `sha256(secret + body)` for v1, `sha256(secret + method + uri + body)`
/// for v2 (`uri` without the decoding step).
fn legacy_digest(secret: &str, method_and_uri: Option<(&str, &str)>, body: &[u8]) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(secret.as_bytes());
    if let Some((method, uri)) = method_and_uri {
        hash.update(method.as_bytes());
        hash.update(uri.as_bytes());
    }
    hash.update(body);
    hash.finalize().into()
}

/// A header's trimmed value, `None` when absent or blank.
fn non_blank<'a>(req: &InboundRequest<'a>, name: &str) -> Option<&'a str> {
    req.header(name).map(str::trim).filter(|v| !v.is_empty())
}

/// Verify a HubSpot delivery against every configured client secret. The signature is checked
/// before the timestamp, so `timestamp_out_of_tolerance` is only reported for genuinely signed
/// requests. A v3 header that is present, even blank or wrong, never falls back to legacy.
pub fn verify(
    req: &InboundRequest,
    settings: &Settings,
    clock: Clock,
) -> Result<Verified, VerifyError> {
    if req.body.is_empty() {
        return Err(VerifyError::EmptyBody);
    }
    match req.header(SIGNATURE_V3_HEADER) {
        Some(signature) => verify_v3(req, signature.trim(), settings, clock),
        None if settings.allow_legacy => verify_legacy(req, settings),
        None => Err(VerifyError::MissingSignature),
    }
}

fn verify_v3(
    req: &InboundRequest,
    signature: &str,
    settings: &Settings,
    clock: Clock,
) -> Result<Verified, VerifyError> {
    if signature.is_empty() {
        return Err(VerifyError::MissingSignature);
    }
    let timestamp_text = non_blank(req, TIMESTAMP_HEADER).ok_or(VerifyError::MissingTimestamp)?;
    let timestamp_ms = parse_decimal(timestamp_text).ok_or(VerifyError::MalformedTimestamp)?;
    let signature = STANDARD
        .decode(signature)
        .map_err(|_| VerifyError::MalformedSignature)?;
    if signature.len() != 32 {
        return Err(VerifyError::MalformedSignature);
    }
    let uri = signed_uri(req.url, settings.public_base_url.as_deref());
    let key_index = settings
        .secrets
        .iter()
        .position(|secret| {
            v3_mac(secret, req.method, &uri, req.body, timestamp_text)
                .verify_slice(&signature)
                .is_ok()
        })
        .ok_or(VerifyError::SignatureMismatch)?;
    let now_ms = clock.now_unix.saturating_mul(1000);
    if now_ms.abs_diff(timestamp_ms) > clock.tolerance_secs.saturating_mul(1000) {
        return Err(VerifyError::TimestampOutOfTolerance);
    }
    Ok(Verified { key_index })
}

fn verify_legacy(req: &InboundRequest, settings: &Settings) -> Result<Verified, VerifyError> {
    let signature = non_blank(req, LEGACY_SIGNATURE_HEADER).ok_or(VerifyError::MissingSignature)?;
    let uri = public_url(req.url, settings.public_base_url.as_deref());
    let method_and_uri = match non_blank(req, LEGACY_VERSION_HEADER) {
        Some("v1") => None,
        Some("v2") => Some((req.method, uri.as_ref())),
        _ => return Err(VerifyError::MalformedSignature),
    };
    let mut digest = [0u8; 32];
    hex::decode_to_slice(signature, &mut digest).map_err(|_| VerifyError::MalformedSignature)?;
    let key_index = settings
        .secrets
        .iter()
        .position(|secret| {
            bool::from(legacy_digest(secret, method_and_uri, req.body).ct_eq(&digest))
        })
        .ok_or(VerifyError::SignatureMismatch)?;
    Ok(Verified { key_index })
}

/// The top-level fields of one batch element that `parse` reads.
const EVENT_FIELDS: &[&str] = &[
    "portalId",
    "subscriptionId",
    "eventId",
    "subscriptionType",
    "occurredAt",
];

/// An id field as a decimal string: a non-negative JSON integer or a string of digits.
fn id_field(event: &Fields, field: &'static str) -> Result<String, ParseError> {
    let id = match event.get(field) {
        Some(Field::Str(s)) => parse_decimal(s).and_then(|v| u64::try_from(v).ok()),
        Some(number) => number.as_u64(),
        None => None,
    };
    id.map(|v| v.to_string())
        .ok_or(ParseError::MissingField(field))
}

fn parse_event(element: &str) -> Result<ParsedEvent, ParseError> {
    let event = read_event(element, EVENT_FIELDS, BATCH_SHAPE)?;
    let portal = id_field(&event, "portalId")?;
    let subscription = id_field(&event, "subscriptionId")?;
    let event_id = id_field(&event, "eventId")?;
    let event_type = event
        .get("subscriptionType")
        .and_then(Field::non_empty_str)
        .ok_or(ParseError::MissingField("subscriptionType"))?;
    Ok(ParsedEvent {
        dedupe_key: format!("{portal}:{subscription}:{event_id}"),
        event_type,
        account: Some(portal),
        occurred_at_ms: event.get("occurredAt").and_then(Field::as_i64),
        payload: element.to_string(),
        content_key: None,
        source: None,
        version_key: None,
    })
}

/// The bytes a rejected element's dedupe key digests: the element without `attemptNumber`
/// (re-serialised with sorted keys), because HubSpot's retry of the same delivery changes it;
/// the raw bytes when the element is not an object.
fn retry_stable_bytes(element: &str) -> Vec<u8> {
    match serde_json::from_str::<serde_json::Value>(element) {
        Ok(serde_json::Value::Object(mut object)) => {
            object.remove("attemptNumber");
            serde_json::to_vec(&object).unwrap_or_else(|_| element.as_bytes().to_vec())
        }
        _ => element.as_bytes().to_vec(),
    }
}

/// Parse a verified HubSpot body: each well-formed element becomes an event, in order (a
/// dedupe key repeated inside the batch keeps its first), each malformed one a rejected
/// element. Only a body that is not a non-empty JSON array fails as a whole.
pub fn parse_batch(req: &InboundRequest) -> Result<Batch, ParseError> {
    let elements = split_json_array(req.body, BATCH_SHAPE)?;
    let mut seen = ByName::new();
    let mut batch = Batch::default();
    for (index, element) in elements.into_iter().enumerate() {
        match parse_event(element) {
            Ok(event) => {
                if seen.insert(event.dedupe_key.clone(), ()).is_none() {
                    batch.events.push(event);
                }
            }
            Err(error) => batch.rejected.push(RejectedElement {
                index,
                error,
                dedupe_key: rejected_element_key(index, &retry_stable_bytes(element)),
                payload: element.to_string(),
            }),
        }
    }
    Ok(batch)
}

/// All-or-nothing parse: the events when every element is well formed, else the first
/// element's error (ingest uses [`parse_batch`]).
pub fn parse(req: &InboundRequest) -> Result<Vec<ParsedEvent>, ParseError> {
    parse_batch(req)?.strict()
}

#[cfg(test)]
mod tests {
    // Signatures made by HubSpot's own SDK are replayed in `tests/hubspot.rs`; these tests pin
    // the uri rules, the order of checks and the edges the fixture does not reach.
    use super::*;

    const SECRET: &str = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy";
    const URL: &str = "https://hooks.example.com/webhooks/hubspot?next=a%3Ab%20c";
    const BODY: &[u8] =
        br#"[{"eventId":1,"subscriptionId":2,"portalId":3,"subscriptionType":"t"}]"#;
    const NOW: i64 = 1_700_000_000;

    /// Verify `BODY` posted to `URL` at `NOW` (300 s tolerance) as a key index or error code.
    fn run(
        headers: &[(&str, &str)],
        secrets: &[&str],
        legacy: bool,
    ) -> Result<usize, &'static str> {
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let req = InboundRequest {
            method: "POST",
            url: URL,
            headers: &headers,
            body: BODY,
        };
        let settings = Settings {
            secrets: secrets.iter().map(|s| s.to_string()).collect(),
            allow_legacy: legacy,
            public_base_url: None,
        };
        let clock = Clock {
            now_unix: NOW,
            tolerance_secs: 300,
        };
        verify(&req, &settings, clock)
            .map(|v| v.key_index)
            .map_err(VerifyError::code)
    }

    fn v3(secret: &str, ts: &str) -> String {
        sign_v3(secret, "POST", &signed_uri(URL, None), BODY, ts)
    }

    #[test]
    fn signed_uri_decodes_only_the_twelve_escapes() {
        let all = "%3A%2F%3F%40%21%24%27%28%29%2A%2C%3B";
        assert_eq!(signed_uri(all, None), ":/?@!$'()*,;");
        assert_eq!(signed_uri(&all.to_ascii_lowercase(), None), ":/?@!$'()*,;");
        let kept = "%20%25%23%26%3D%2B%7E%41%3a%";
        assert_eq!(signed_uri(kept, None), "%20%25%23%26%3D%2B%7E%41:%");
        // One pass: `%253A` is `%25` then `3A`, and a decoded character never starts an escape.
        assert_eq!(signed_uri("%253A%%3A3A%3", None), "%253A%:3A%3");
        assert_eq!(signed_uri("é%3Aü%é%+1", None), "é:ü%é%+1");
    }

    #[test]
    fn signed_uri_swaps_the_origin_and_keeps_path_and_query() {
        let url = "http://10.0.0.7:8787/webhooks/hubspot?b=2&a=%3A";
        let public = "https://hooks.example.com/webhooks/hubspot?b=2&a=:";
        for (base, expected) in [
            (Some("https://hooks.example.com"), public),
            (Some("https://hooks.example.com/"), public),
            (Some(" "), "http://10.0.0.7:8787/webhooks/hubspot?b=2&a=:"),
            (None, "http://10.0.0.7:8787/webhooks/hubspot?b=2&a=:"),
        ] {
            assert_eq!(signed_uri(url, base), expected, "{base:?}");
        }
        let p = Some("https://p");
        assert_eq!(signed_uri("http://h?x=1", p), "https://p?x=1");
        assert_eq!(signed_uri("http://h", p), "https://p");
        assert_eq!(
            signed_uri("/h?next=http://x/y", p),
            "https://p/h?next=http://x/y"
        );
        assert_eq!(
            signed_uri("/webhooks/hubspot", p),
            "https://p/webhooks/hubspot"
        );
    }

    #[test]
    fn accepts_v3_and_legacy_with_the_matching_key_index() {
        let ts = (NOW * 1000 + 123).to_string();
        let sig = v3(SECRET, &ts);
        let v3_headers = [(SIGNATURE_V3_HEADER, &*sig), (TIMESTAMP_HEADER, &*ts)];
        assert_eq!(run(&v3_headers, &["old", SECRET], false), Ok(1));
        let v2 = hex::encode(legacy_digest(SECRET, Some(("POST", URL)), BODY));
        let v2_headers = [
            (LEGACY_SIGNATURE_HEADER, &*v2),
            (LEGACY_VERSION_HEADER, "v2"),
        ];
        assert_eq!(run(&v2_headers, &["old", SECRET], true), Ok(1));
        assert_eq!(
            run(&v2_headers, &["old", SECRET], false),
            Err("missing_signature")
        );
    }

    #[test]
    fn tolerance_is_milliseconds_both_ways_and_saturates() {
        let at = |ts: i64| {
            let ts = ts.to_string();
            let sig = v3(SECRET, &ts);
            run(
                &[(SIGNATURE_V3_HEADER, &sig), (TIMESTAMP_HEADER, &ts)],
                &[SECRET],
                false,
            )
        };
        let (now_ms, tol_ms) = (NOW * 1000, 300_000);
        assert_eq!([at(now_ms - tol_ms), at(now_ms + tol_ms)], [Ok(0), Ok(0)]);
        let late = Err("timestamp_out_of_tolerance");
        assert_eq!(
            [at(now_ms - tol_ms - 1), at(now_ms + tol_ms + 1), at(NOW)],
            [late; 3]
        );
        let headers = vec![
            (SIGNATURE_V3_HEADER.to_string(), v3(SECRET, "0")),
            (TIMESTAMP_HEADER.to_string(), "0".to_string()),
        ];
        let req = InboundRequest {
            method: "POST",
            url: URL,
            headers: &headers,
            body: BODY,
        };
        let settings = Settings {
            secrets: vec![SECRET.into()],
            ..Settings::default()
        };
        let extreme = Clock {
            now_unix: i64::MAX,
            tolerance_secs: u64::MAX,
        };
        assert_eq!(
            verify(&req, &settings, extreme),
            Ok(Verified { key_index: 0 })
        );
    }

    fn parse_body(body: &str) -> Result<Vec<ParsedEvent>, ParseError> {
        parse(&InboundRequest {
            method: "POST",
            url: URL,
            headers: &[],
            body: body.as_bytes(),
        })
    }

    #[test]
    fn parses_each_event_and_keeps_the_first_duplicate() {
        let body = r#"[
            {"portalId":62515,"subscriptionId":12345,"eventId":1,"attemptNumber":0,
             "subscriptionType":"contact.propertyChange","occurredAt":1564113600000},
            {"portalId":"62515","subscriptionId":"12345","eventId":"01","attemptNumber":1,
             "subscriptionType":"contact.deletion"},
            {"portalId":62515,"subscriptionId":12345,"eventId":2,"subscriptionType":"contact.deletion"}
        ]"#;
        let events = parse_body(body).unwrap();
        let keys: Vec<&str> = events.iter().map(|e| e.dedupe_key.as_str()).collect();
        assert_eq!(keys, ["62515:12345:1", "62515:12345:2"]);
        assert_eq!(events[0].event_type, "contact.propertyChange");
        assert_eq!(events[0].account.as_deref(), Some("62515"));
        assert_eq!(events[0].occurred_at_ms, Some(1_564_113_600_000));
        assert!(events[0].payload.contains(r#""attemptNumber":0"#));
        // The stored payload is the element exactly as sent, not a re-serialisation.
        assert!(events[0]
            .payload
            .starts_with(r#"{"portalId":62515,"subscriptionId":12345,"eventId":1,"#));
        assert_eq!(events[1].occurred_at_ms, None);
    }

    #[test]
    fn parse_rejects_bad_shapes() {
        let event = r#"{"portalId":1,"subscriptionId":2,"eventId":3,"subscriptionType":"t"}"#;
        let batch = |n: usize| format!("[{}]", vec![event; n].join(","));
        assert_eq!(parse_body(&batch(1_000)).map(|e| e.len()), Ok(1));
        let shape = ParseError::UnexpectedShape;
        let field = ParseError::MissingField;
        for (body, expected) in [
            ("not json".into(), ParseError::InvalidJson),
            ("[]".into(), ParseError::EmptyBatch),
            (event.into(), shape("a JSON array of events")),
            ("[1]".into(), shape("a JSON array of events")),
            (
                r#"[{"subscriptionId":2,"eventId":3,"subscriptionType":"t"}]"#.into(),
                field("portalId"),
            ),
            (
                r#"[{"portalId":1,"eventId":3,"subscriptionType":"t"}]"#.into(),
                field("subscriptionId"),
            ),
            (
                r#"[{"portalId":1,"subscriptionId":2,"subscriptionType":"t"}]"#.into(),
                field("eventId"),
            ),
            (event.replace(":1,", ":-1,"), field("portalId")),
            (event.replace(":1,", ":1.5,"), field("portalId")),
            (event.replace(":1,", r#":"1a","#), field("portalId")),
            (event.replace(r#""t""#, r#""""#), field("subscriptionType")),
        ] {
            let body = if body.starts_with('{') && body != event {
                format!("[{body}]")
            } else {
                body
            };
            assert_eq!(parse_body(&body), Err(expected), "{body}");
        }
        let req = InboundRequest {
            method: "POST",
            url: URL,
            headers: &[],
            body: &[0xff, b'['],
        };
        assert_eq!(parse(&req), Err(ParseError::InvalidJson));
    }

    fn batch_of(body: &str) -> Batch {
        parse_batch(&InboundRequest {
            method: "POST",
            url: URL,
            headers: &[],
            body: body.as_bytes(),
        })
        .unwrap()
    }

    #[test]
    fn a_malformed_element_is_rejected_alone() {
        let good = |id: u32| {
            format!(
                r#"{{"portalId":1,"subscriptionId":2,"eventId":{id},"attemptNumber":0,"subscriptionType":"contact.deletion"}}"#
            )
        };
        let no_event_id = r#"{"portalId":1,"subscriptionId":2,"attemptNumber":0,"subscriptionType":"contact.deletion"}"#;
        let body = format!("[{},{no_event_id},{},7]", good(1), good(2));
        let batch = batch_of(&body);
        let keys: Vec<&str> = batch.events.iter().map(|e| e.dedupe_key.as_str()).collect();
        assert_eq!(keys, ["1:2:1", "1:2:2"]);
        let rejected: Vec<(usize, ParseError, &str)> = batch
            .rejected
            .iter()
            .map(|r| (r.index, r.error.clone(), r.payload.as_str()))
            .collect();
        assert_eq!(
            rejected,
            [
                (1, ParseError::MissingField("eventId"), no_event_id),
                (3, ParseError::UnexpectedShape(BATCH_SHAPE), "7"),
            ]
        );
        assert!(batch.rejected[0].dedupe_key.starts_with("rejected:1:"));
        assert_eq!(parse_body(&body), Err(ParseError::MissingField("eventId")));

        // HubSpot's retry of the same delivery bumps attemptNumber: same rejected keys.
        let retried = body.replace(r#""attemptNumber":0"#, r#""attemptNumber":1"#);
        assert_ne!(retried, body);
        let again = batch_of(&retried);
        let key = |b: &Batch| {
            b.rejected
                .iter()
                .map(|r| r.dedupe_key.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(key(&again), key(&batch));
        // Another element at the same index is another row.
        let other = body.replace(
            r#""subscriptionId":2,"attemptNumber""#,
            r#""subscriptionId":3,"attemptNumber""#,
        );
        assert_ne!(key(&batch_of(&other))[0], key(&batch)[0]);
    }

    #[test]
    fn a_batch_of_any_size_is_parsed_whole() {
        let elements: Vec<String> = (0..1_000)
            .map(|id| {
                format!(
                    r#"{{"portalId":1,"subscriptionId":2,"eventId":{id},"subscriptionType":"t"}}"#
                )
            })
            .collect();
        let batch = batch_of(&format!("[{}]", elements.join(",")));
        assert_eq!(batch.events.len(), 1_000);
        assert!(batch.rejected.is_empty());
    }
}
