//! Shopify webhooks. `X-Shopify-Hmac-Sha256` is `base64(HMAC-SHA256(app secret, raw body))`,
//! keyed with the secret's UTF-8 bytes (not decoded). A header that is not base64 of exactly 32
//! bytes can never match and is reported as a mismatch. No timestamp is signed (the
//! `X-Shopify-Triggered-At` header is informational only), so dedupe is the replay guard, on two
//! keys: `X-Shopify-Event-Id` (the same for every subscription that delivers the event and
//! across retries; `X-Shopify-Webhook-Id` only when it is absent), and, because every header is
//! unsigned, the SHA-256 of the signed body ([`content_key`]): a captured body re-posted with
//! fresh ids or another topic collides on it, and the first delivery wins. One event per
//! request: the topic header is the event type and the shop domain header is the account. This
//! module also owns the privacy-compliance and lifecycle topics: their payload must fit the
//! topic and name the shop the header names ([`check_topic_payload`]), and the subject their
//! payloads name.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::top_level_fields::{read_event, Field};
use crate::inbound::webhook::{
    Clock, InboundRequest, ParseError, ParsedEvent, Verified, VerifyError,
};
use crate::time::rfc3339_to_unix_ms;

pub const HMAC_HEADER: &str = "X-Shopify-Hmac-Sha256";
pub const WEBHOOK_ID_HEADER: &str = "X-Shopify-Webhook-Id";
pub const EVENT_ID_HEADER: &str = "X-Shopify-Event-Id";
pub const TOPIC_HEADER: &str = "X-Shopify-Topic";
pub const SHOP_DOMAIN_HEADER: &str = "X-Shopify-Shop-Domain";
pub const TRIGGERED_AT_HEADER: &str = "X-Shopify-Triggered-At";

/// The mandatory privacy-compliance topics.
pub const PRIVACY_TOPICS: [&str; 3] = ["customers/data_request", "customers/redact", "shop/redact"];

/// The lifecycle topic whose body is the Shop object.
pub const APP_UNINSTALLED: &str = "app/uninstalled";

/// True for the three mandatory privacy-compliance topics (exact, as Shopify sends them).
pub fn is_privacy_topic(topic: &str) -> bool {
    PRIVACY_TOPICS.contains(&topic)
}

/// HMAC-SHA256 of the raw body under `secret`.
pub fn sign(secret: &str, body: &[u8]) -> [u8; 32] {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// The `X-Shopify-Hmac-Sha256` value Shopify would send for `body` (for tests and the sender
/// script).
pub fn sign_header(secret: &str, body: &[u8]) -> String {
    STANDARD.encode(sign(secret, body))
}

/// The 32-byte digest a header claims, or `None` when it is not canonical padded base64 of
/// exactly 32 bytes (such a header can never match).
fn claimed_digest(header: &str) -> Option<[u8; 32]> {
    // 32 bytes encode to 44 characters; anything longer is not worth decoding.
    if header.len() > 44 {
        return None;
    }
    let bytes = STANDARD.decode(header).ok()?;
    <[u8; 32]>::try_from(bytes.as_slice()).ok()
}

/// Verify a Shopify delivery against every configured secret (during a rotation Shopify may
/// sign with the old secret for an hour, so both are configured). Nothing in the request is
/// timestamped by the signature, so `_clock` never causes a rejection.
pub fn verify(
    req: &InboundRequest,
    secrets: &[String],
    _clock: Clock,
) -> Result<Verified, VerifyError> {
    if req.body.is_empty() {
        return Err(VerifyError::EmptyBody);
    }
    let header = req.header(HMAC_HEADER).map(str::trim).unwrap_or_default();
    if header.is_empty() {
        return Err(VerifyError::MissingSignature);
    }
    let claimed = claimed_digest(header).ok_or(VerifyError::SignatureMismatch)?;
    let key_index = secrets
        .iter()
        .position(|secret| bool::from(sign(secret, req.body).ct_eq(&claimed)))
        .ok_or(VerifyError::SignatureMismatch)?;
    Ok(Verified { key_index })
}

/// A header's trimmed value, `None` when missing or blank.
fn non_blank<'a>(req: &InboundRequest<'a>, name: &str) -> Option<&'a str> {
    req.header(name).map(str::trim).filter(|v| !v.is_empty())
}

/// A required header's trimmed value; missing or blank is a parse error naming it.
fn required_header<'a>(
    req: &InboundRequest<'a>,
    name: &'static str,
) -> Result<&'a str, ParseError> {
    non_blank(req, name).ok_or(ParseError::MissingHeader(name))
}

/// The delivery's dedupe key: `X-Shopify-Event-Id`, Shopify's documented duplicate key (one
/// event delivered to two subscriptions carries two webhook ids and one event id), else
/// `X-Shopify-Webhook-Id`. Neither present: the webhook id is reported missing.
pub fn dedupe_key<'a>(req: &InboundRequest<'a>) -> Result<&'a str, ParseError> {
    match non_blank(req, EVENT_ID_HEADER) {
        Some(event_id) => Ok(event_id),
        None => required_header(req, WEBHOOK_ID_HEADER),
    }
}

/// The second dedupe key: hex SHA-256 of the verified body, the only thing Shopify's HMAC
/// covers, so no change to the unsigned headers makes a re-posted body new.
pub fn content_key(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// Parse a verified Shopify delivery into its single event. The dedupe key, type and account
/// come from headers, the content key from the body; the body must be a JSON object (for the
/// privacy and lifecycle topics, one that fits the topic and names the header's shop) and is
/// kept verbatim as the payload. The event's time is the body's `updated_at`, else
/// `created_at`, else the unsigned `X-Shopify-Triggered-At` header (stored, never used to
/// reject).
pub fn parse(req: &InboundRequest) -> Result<Vec<ParsedEvent>, ParseError> {
    let dedupe_key = dedupe_key(req)?.to_string();
    let event_type = required_header(req, TOPIC_HEADER)?.to_string();
    let account = required_header(req, SHOP_DOMAIN_HEADER)?.to_string();
    let text = std::str::from_utf8(req.body).map_err(|_| ParseError::InvalidJson)?;
    let object = read_event(text, READ_FIELDS, "a JSON object")?;
    check_topic_payload(&event_type, &account, text)?;
    let occurred_at_ms = TIME_FIELDS
        .iter()
        .find_map(|field| {
            object
                .get(field)
                .and_then(Field::as_str)
                .and_then(rfc3339_to_unix_ms)
        })
        .or_else(|| req.header(TRIGGERED_AT_HEADER).and_then(rfc3339_to_unix_ms));
    let version_key = order_version_key(&event_type, &account, &object);
    Ok(vec![ParsedEvent {
        dedupe_key,
        event_type,
        account: Some(account),
        occurred_at_ms,
        payload: text.to_string(),
        content_key: Some(content_key(req.body)),
        source: None,
        version_key,
    }])
}

/// Check a privacy-compliance or `app/uninstalled` payload before anything acts on it: its
/// shape must fit the topic (Shopify's documented payloads: `shop/redact` has `shop_id` and
/// `shop_domain`; `customers/redact` also a `customer` object with an `id` and an
/// `orders_to_redact` array; `customers/data_request` instead `orders_requested` and a
/// `data_request` object with an `id`; `app/uninstalled` is the Shop object, with
/// `myshopify_domain` and `domain`) and the shop it names must be `shop_header` (compared
/// without case, as domains are). The header is unsigned, the body is not: a signed body of one
/// shop re-posted under another shop's header is refused. Other topics pass unchecked.
pub fn check_topic_payload(topic: &str, shop_header: &str, text: &str) -> Result<(), ParseError> {
    if !is_privacy_topic(topic) && topic != APP_UNINSTALLED {
        return Ok(());
    }
    let payload: Value = serde_json::from_str(text).map_err(|_| ParseError::InvalidJson)?;
    let object = payload
        .as_object()
        .ok_or(ParseError::UnexpectedShape("a JSON object"))?;
    let same_shop = |field: &str| {
        non_empty_string(object.get(field)).is_some_and(|d| d.eq_ignore_ascii_case(shop_header))
    };
    if topic == APP_UNINSTALLED {
        if non_empty_string(object.get("myshopify_domain")).is_none()
            && non_empty_string(object.get("domain")).is_none()
        {
            return Err(ParseError::MissingField("myshopify_domain"));
        }
        return match same_shop("myshopify_domain") || same_shop("domain") {
            true => Ok(()),
            false => Err(ParseError::ShopMismatch),
        };
    }
    require(id_text(object.get("shop_id")).is_some(), "shop_id")?;
    require(
        non_empty_string(object.get("shop_domain")).is_some(),
        "shop_domain",
    )?;
    if !same_shop("shop_domain") {
        return Err(ParseError::ShopMismatch);
    }
    let customer_id = object
        .get("customer")
        .and_then(Value::as_object)
        .and_then(|c| id_text(c.get("id")));
    let is_array = |field: &str| object.get(field).is_some_and(Value::is_array);
    match topic {
        "customers/redact" => {
            require(customer_id.is_some(), "customer.id")?;
            require(is_array("orders_to_redact"), "orders_to_redact")
        }
        "customers/data_request" => {
            require(customer_id.is_some(), "customer.id")?;
            require(is_array("orders_requested"), "orders_requested")?;
            let request_id = object
                .get("data_request")
                .and_then(Value::as_object)
                .and_then(|r| id_text(r.get("id")));
            require(request_id.is_some(), "data_request.id")
        }
        _ => Ok(()),
    }
}

/// `Ok` when `present`, else the missing-field error naming `field`.
fn require(present: bool, field: &'static str) -> Result<(), ParseError> {
    present.then_some(()).ok_or(ParseError::MissingField(field))
}

/// The body fields that date an event, in order of preference.
const TIME_FIELDS: &[&str] = &["updated_at", "created_at"];
/// The top-level fields parsing reads: the times, and an order's `id`.
const READ_FIELDS: &[&str] = &["updated_at", "created_at", "id"];

/// An `orders/*` event's version key (its shop, order `id` and `updated_at`), `None` for other
/// topics or a body without both.
fn order_version_key(
    topic: &str,
    shop: &str,
    object: &super::top_level_fields::Fields,
) -> Option<String> {
    if !topic.starts_with("orders/") {
        return None;
    }
    let id = object.get("id").and_then(|f| {
        f.as_u64()
            .map(|n| n.to_string())
            .or_else(|| f.non_empty_str())
    })?;
    let updated_at_ms = object
        .get("updated_at")
        .and_then(Field::as_str)
        .and_then(rfc3339_to_unix_ms)?;
    crate::inbound::providers::shopify_version::version_key(shop, &id, updated_at_ms, topic)
}

/// Who a privacy-compliance payload is about: the shop (`shop/redact`) or one of its customers
/// (`customers/redact`, `customers/data_request`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrivacySubject {
    pub shop_domain: Option<String>,
    /// Shopify sends a JSON number (rendered here as its decimal text); a string is kept as is.
    pub customer_id: Option<String>,
    pub customer_email: Option<String>,
}

fn non_empty_string(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        _ => None,
    }
}

fn id_text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::Number(n) => Some(n.to_string()),
        other => non_empty_string(Some(other)),
    }
}

/// The shop domain, customer id and customer email a privacy payload names, when present.
/// `None` when the payload is not an object or names none of them.
pub fn privacy_subject(payload: &Value) -> Option<PrivacySubject> {
    let object = payload.as_object()?;
    let customer = object.get("customer").and_then(Value::as_object);
    let subject = PrivacySubject {
        shop_domain: non_empty_string(object.get("shop_domain")),
        customer_id: customer.and_then(|c| id_text(c.get("id"))),
        customer_email: customer.and_then(|c| non_empty_string(c.get("email"))),
    };
    (subject != PrivacySubject::default()).then_some(subject)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "shpss_test_secret";
    const BODY: &[u8] = br#"{"id":820982911946154508,"email":"jon@example.com","created_at":"2021-12-31T19:00:00-05:00","updated_at":"2022-01-01T10:00:00Z"}"#;

    fn clock() -> Clock {
        Clock {
            now_unix: 1_700_000_000,
            tolerance_secs: 300,
        }
    }

    const HEADERS: [(&str, &str); 4] = [
        (WEBHOOK_ID_HEADER, "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"),
        (TOPIC_HEADER, "orders/create"),
        (SHOP_DOMAIN_HEADER, "example.myshopify.com"),
        (TRIGGERED_AT_HEADER, "2023-03-29T18:00:27.877041743Z"),
    ];

    /// Shopify's headers, plus the HMAC (under a lowercase name) when given.
    fn headers(hmac: Option<&str>) -> Vec<(String, String)> {
        let hmac = hmac.map(|h| ("x-shopify-hmac-sha256", h));
        HEADERS
            .into_iter()
            .chain(hmac)
            .map(|(k, v)| (k.into(), v.into()))
            .collect()
    }

    fn check(hmac: Option<&str>, body: &[u8], secrets: &[&str]) -> Result<Verified, VerifyError> {
        let headers = headers(hmac);
        let req = InboundRequest {
            method: "POST",
            url: "",
            headers: &headers,
            body,
        };
        let secrets: Vec<String> = secrets.iter().map(|s| s.to_string()).collect();
        verify(&req, &secrets, clock())
    }

    fn parse_with(headers: &[(String, String)], body: &[u8]) -> Result<ParsedEvent, ParseError> {
        let req = InboundRequest {
            method: "POST",
            url: "",
            headers,
            body,
        };
        let mut events = parse(&req)?;
        assert_eq!(events.len(), 1);
        Ok(events.remove(0))
    }

    #[test]
    fn matches_a_known_vector() {
        // The widely published HMAC-SHA256 example (hex f7bc83f4…2d1a3cd8), base64-encoded.
        assert_eq!(
            sign_header("key", b"The quick brown fox jumps over the lazy dog"),
            "97yD9DBThCSxMpjmqm+xQ+9NWaFJRhdZl0edvC0aPNg="
        );
    }

    #[test]
    fn accepts_valid_and_reports_key_index() {
        let good = sign_header(SECRET, BODY);
        let padded = format!("  {good}\t");
        for (hmac, secrets, index) in [
            (&good, &[SECRET][..], 0),
            (&good, &["old", SECRET][..], 1),
            (&good, &[SECRET, SECRET][..], 0),
            (&padded, &[SECRET][..], 0),
        ] {
            assert_eq!(
                check(Some(hmac), BODY, secrets),
                Ok(Verified { key_index: index })
            );
        }
    }

    #[test]
    fn clock_and_triggered_at_never_reject() {
        let good = sign_header(SECRET, BODY);
        let mut headers = headers(Some(&good));
        headers.retain(|(k, _)| k != TRIGGERED_AT_HEADER);
        headers.push((TRIGGERED_AT_HEADER.into(), "1999-01-01T00:00:00Z".into()));
        let req = InboundRequest {
            method: "POST",
            url: "",
            headers: &headers,
            body: BODY,
        };
        for now_unix in [i64::MIN, 0, 1_700_000_000, i64::MAX] {
            let clock = Clock {
                now_unix,
                tolerance_secs: 0,
            };
            assert_eq!(
                verify(&req, &[SECRET.into()], clock),
                Ok(Verified { key_index: 0 })
            );
        }
    }

    #[test]
    fn rejections_have_precise_reasons() {
        use VerifyError::*;
        let good = sign_header(SECRET, BODY);
        let digest = sign(SECRET, BODY);
        let mut tampered = BODY.to_vec();
        tampered[10] ^= 1;
        for (hmac, body, secrets, want) in [
            (Some(good.as_str()), &b""[..], &[SECRET][..], EmptyBody),
            (None, b"", &[SECRET], EmptyBody),
            (None, BODY, &[SECRET], MissingSignature),
            (Some(""), BODY, &[SECRET], MissingSignature),
            (Some("  "), BODY, &[SECRET], MissingSignature),
            (Some(&good), BODY, &[], SignatureMismatch),
            (Some(&good), BODY, &["other"], SignatureMismatch),
            (Some(&good), &tampered, &[SECRET], SignatureMismatch),
        ] {
            assert_eq!(check(hmac, body, secrets), Err(want), "{hmac:?}");
        }
        // Anything but canonical padded base64 of 32 bytes is a mismatch, never a panic.
        for bad in [
            "not base64!".to_string(),
            good[..good.len() - 1].to_string(),
            good.trim_end_matches('=').to_string(),
            good[..40].to_string(),
            STANDARD.encode(&digest[..31]),
            STANDARD.encode([&digest[..], &[0]].concat()),
            hex::encode(digest),
            good.replace('+', "-").replace('/', "_"),
            format!("{good}{good}"),
            "A".repeat(10_000),
            "é".repeat(22),
        ] {
            assert_eq!(
                check(Some(&bad), BODY, &[SECRET]),
                Err(SignatureMismatch),
                "{bad}"
            );
        }
    }

    #[test]
    fn parses_headers_and_prefers_updated_at() {
        let event = parse_with(&headers(None), BODY).unwrap();
        assert_eq!(event.dedupe_key, "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043");
        assert_eq!(event.event_type, "orders/create");
        assert_eq!(event.account.as_deref(), Some("example.myshopify.com"));
        assert_eq!(event.occurred_at_ms, Some(1_641_031_200_000));
        assert_eq!(event.payload.as_bytes(), BODY);
    }

    #[test]
    fn occurred_at_falls_back_in_order() {
        let h = headers(None);
        let created = br#"{"created_at":"2021-12-31T19:00:00-05:00","updated_at":null}"#;
        assert_eq!(
            parse_with(&h, created).unwrap().occurred_at_ms,
            Some(1_640_995_200_000)
        );
        let bad_updated = br#"{"updated_at":"yesterday","created_at":"2021-12-31T19:00:00-05:00"}"#;
        assert_eq!(
            parse_with(&h, bad_updated).unwrap().occurred_at_ms,
            Some(1_640_995_200_000)
        );
        assert_eq!(
            parse_with(&h, b"{}").unwrap().occurred_at_ms,
            Some(1_680_112_827_877)
        );
        let without_trigger: Vec<_> = h
            .iter()
            .filter(|(k, _)| k != TRIGGERED_AT_HEADER)
            .cloned()
            .collect();
        assert_eq!(
            parse_with(&without_trigger, b"{}").unwrap().occurred_at_ms,
            None
        );
        let mut garbage = without_trigger.clone();
        garbage.push((TRIGGERED_AT_HEADER.to_string(), "soon".to_string()));
        assert_eq!(parse_with(&garbage, b"{}").unwrap().occurred_at_ms, None);
    }

    #[test]
    fn parse_requires_each_header() {
        for name in [WEBHOOK_ID_HEADER, TOPIC_HEADER, SHOP_DOMAIN_HEADER] {
            for replacement in [None, Some(""), Some(" ")] {
                let mut h: Vec<_> = headers(None)
                    .into_iter()
                    .filter(|(k, _)| k != name)
                    .collect();
                h.extend(replacement.map(|v| (name.to_string(), v.to_string())));
                assert_eq!(parse_with(&h, BODY), Err(ParseError::MissingHeader(name)));
            }
        }
    }

    #[test]
    fn parse_rejects_bad_shapes() {
        let h = headers(None);
        for (body, code) in [
            (&b"not json"[..], "invalid_json"),
            (&b"\xff{}"[..], "invalid_json"),
            (&b"[]"[..], "unexpected_shape"),
            (&b"\"orders\""[..], "unexpected_shape"),
            (&b"null"[..], "unexpected_shape"),
        ] {
            assert_eq!(
                parse_with(&h, body).unwrap_err().code(),
                code,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn privacy_topics() {
        for topic in PRIVACY_TOPICS {
            assert!(is_privacy_topic(topic));
        }
        for other in [
            "orders/create",
            "app/uninstalled",
            "customers/update",
            "",
            "CUSTOMERS_REDACT",
        ] {
            assert!(!is_privacy_topic(other), "{other}");
        }
    }

    #[test]
    fn privacy_subjects() {
        let subject = |shop: Option<&str>, id: Option<&str>, email: Option<&str>| {
            Some(PrivacySubject {
                shop_domain: shop.map(Into::into),
                customer_id: id.map(Into::into),
                customer_email: email.map(Into::into),
            })
        };
        let shop = Some("example.myshopify.com");
        for (payload, want) in [
            (
                r#"{"shop_id":954889,"shop_domain":"example.myshopify.com","customer":{"id":191167,"email":"john@example.com","phone":"555-625-1199"},"orders_to_redact":[299938]}"#,
                subject(shop, Some("191167"), Some("john@example.com")),
            ),
            (
                r#"{"shop_id":954889,"shop_domain":"example.myshopify.com"}"#,
                subject(shop, None, None),
            ),
            (
                r#"{"customer":{"id":"gid-7","email":""}}"#,
                subject(None, Some("gid-7"), None),
            ),
            (
                r#"{"customer":{"id":18446744073709551615}}"#,
                subject(None, Some("18446744073709551615"), None),
            ),
            ("[]", None),
            ("{}", None),
            (r#"{"customer":null,"shop_domain":5}"#, None),
            (r#"{"customer":{"id":null,"email":["a"]}}"#, None),
            (r#"{"customer":[{"id":1}]}"#, None),
        ] {
            let value: Value = serde_json::from_str(payload).unwrap();
            assert_eq!(privacy_subject(&value), want, "{payload}");
        }
    }

    fn with_header(name: &str, value: &str) -> Vec<(String, String)> {
        let mut h = headers(None);
        h.push((name.to_string(), value.to_string()));
        h
    }

    #[test]
    fn the_event_id_is_the_dedupe_key_and_the_webhook_id_its_fallback() {
        let event_id = "9c1a7e4f-2b3d-4c5e-8f60-718293a4b5c6";
        let both = with_header(EVENT_ID_HEADER, event_id);
        assert_eq!(parse_with(&both, BODY).unwrap().dedupe_key, event_id);
        // Two subscriptions deliver one event: two webhook ids, one event id, one key.
        let mut other_subscription = both.clone();
        other_subscription.retain(|(k, _)| k != WEBHOOK_ID_HEADER);
        other_subscription.push((WEBHOOK_ID_HEADER.into(), "another-webhook-id".into()));
        assert_eq!(
            parse_with(&other_subscription, BODY).unwrap().dedupe_key,
            event_id
        );
        for blank in ["", "  "] {
            let h = with_header(EVENT_ID_HEADER, blank);
            assert_eq!(
                parse_with(&h, BODY).unwrap().dedupe_key,
                "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"
            );
        }
    }

    #[test]
    fn the_content_key_is_the_signed_body_digest_whatever_the_headers() {
        let first = parse_with(&headers(None), BODY).unwrap();
        assert_eq!(first.content_key, Some(hex::encode(Sha256::digest(BODY))));
        let mut fresh: Vec<(String, String)> = vec![
            (WEBHOOK_ID_HEADER.into(), "fresh-webhook".into()),
            (EVENT_ID_HEADER.into(), "fresh-event".into()),
            (TOPIC_HEADER.into(), "orders/updated".into()),
            (SHOP_DOMAIN_HEADER.into(), "example.myshopify.com".into()),
        ];
        let replayed = parse_with(&fresh, BODY).unwrap();
        assert_ne!(replayed.dedupe_key, first.dedupe_key);
        assert_eq!(replayed.content_key, first.content_key);
        fresh.truncate(3);
        fresh.push((SHOP_DOMAIN_HEADER.into(), "other.myshopify.com".into()));
        assert_eq!(
            parse_with(&fresh, BODY).unwrap().content_key,
            first.content_key
        );
        let other = parse_with(&headers(None), b"{\"id\":2}").unwrap();
        assert_ne!(other.content_key, first.content_key);
    }

    const SHOP: &str = "keyworks-demo.myshopify.com";
    const CUSTOMERS_REDACT: &str =
        include_str!("../../../../tests/fixtures/events/shopify/customers/redact.json");
    const DATA_REQUEST: &str =
        include_str!("../../../../tests/fixtures/events/shopify/customers/data_request.json");
    const SHOP_REDACT: &str =
        include_str!("../../../../tests/fixtures/events/shopify/shop/redact.json");
    const UNINSTALLED: &str =
        include_str!("../../../../tests/fixtures/events/shopify/app/uninstalled.json");

    /// `fixture` with the top-level `field` replaced (or removed when `value` is `None`).
    fn edited(fixture: &str, field: &str, value: Option<Value>) -> String {
        let mut object: serde_json::Map<String, Value> = serde_json::from_str(fixture).unwrap();
        match value {
            Some(value) => object.insert(field.into(), value),
            None => object.remove(field),
        };
        serde_json::to_string(&object).unwrap()
    }

    #[test]
    fn privacy_and_lifecycle_payloads_must_fit_their_topic_and_shop() {
        use serde_json::json;
        let check = |topic, shop, body: &str| check_topic_payload(topic, shop, body);
        for (topic, body) in [
            ("customers/redact", CUSTOMERS_REDACT),
            ("customers/data_request", DATA_REQUEST),
            ("shop/redact", SHOP_REDACT),
            ("app/uninstalled", UNINSTALLED),
        ] {
            assert_eq!(check(topic, SHOP, body), Ok(()), "{topic}");
            assert_eq!(check(topic, "KeyWorks-Demo.myshopify.com", body), Ok(()));
            assert_eq!(
                check(topic, "attacker.myshopify.com", body),
                Err(ParseError::ShopMismatch),
                "{topic}"
            );
        }
        // Any other topic is not inspected here.
        assert_eq!(check("orders/create", "x.myshopify.com", "{}"), Ok(()));
        let missing = ParseError::MissingField;
        for (topic, body, want) in [
            (
                "shop/redact",
                edited(SHOP_REDACT, "shop_id", None),
                missing("shop_id"),
            ),
            (
                "shop/redact",
                edited(SHOP_REDACT, "shop_domain", None),
                missing("shop_domain"),
            ),
            (
                "shop/redact",
                edited(SHOP_REDACT, "shop_domain", Some(json!(""))),
                missing("shop_domain"),
            ),
            (
                "customers/redact",
                edited(CUSTOMERS_REDACT, "customer", None),
                missing("customer.id"),
            ),
            (
                "customers/redact",
                edited(
                    CUSTOMERS_REDACT,
                    "customer",
                    Some(json!({"email": "a@b.c"})),
                ),
                missing("customer.id"),
            ),
            (
                "customers/redact",
                edited(CUSTOMERS_REDACT, "orders_to_redact", None),
                missing("orders_to_redact"),
            ),
            (
                "customers/redact",
                edited(CUSTOMERS_REDACT, "orders_to_redact", Some(json!(1))),
                missing("orders_to_redact"),
            ),
            (
                "customers/data_request",
                edited(DATA_REQUEST, "orders_requested", None),
                missing("orders_requested"),
            ),
            (
                "customers/data_request",
                edited(DATA_REQUEST, "data_request", None),
                missing("data_request.id"),
            ),
            (
                "customers/data_request",
                edited(DATA_REQUEST, "data_request", Some(json!({}))),
                missing("data_request.id"),
            ),
            (
                "customers/data_request",
                edited(DATA_REQUEST, "customer", Some(json!([]))),
                missing("customer.id"),
            ),
            (
                "app/uninstalled",
                edited(
                    &edited(UNINSTALLED, "domain", None),
                    "myshopify_domain",
                    None,
                ),
                missing("myshopify_domain"),
            ),
            // A redact of shop A's body under shop B's header, with the domain elsewhere.
            (
                "customers/redact",
                edited(
                    CUSTOMERS_REDACT,
                    "shop_domain",
                    Some(json!("other.myshopify.com")),
                ),
                ParseError::ShopMismatch,
            ),
        ] {
            assert_eq!(check(topic, SHOP, &body), Err(want), "{topic}: {body}");
        }
        // app/uninstalled: the shop's own domain matches too (either field names the shop).
        let custom = edited(UNINSTALLED, "myshopify_domain", None);
        assert_eq!(
            check("app/uninstalled", "keyworks.example", &custom),
            Ok(())
        );
        assert_eq!(
            check("app/uninstalled", SHOP, &custom),
            Err(ParseError::ShopMismatch)
        );
    }

    #[test]
    fn parse_refuses_a_privacy_body_of_another_shop() {
        let h: Vec<(String, String)> = vec![
            (WEBHOOK_ID_HEADER.into(), "wh".into()),
            (TOPIC_HEADER.into(), "customers/redact".into()),
            (SHOP_DOMAIN_HEADER.into(), "attacker.myshopify.com".into()),
        ];
        assert_eq!(
            parse_with(&h, CUSTOMERS_REDACT.as_bytes()),
            Err(ParseError::ShopMismatch)
        );
        assert_eq!(ParseError::ShopMismatch.code(), "shop_mismatch");
    }
}
