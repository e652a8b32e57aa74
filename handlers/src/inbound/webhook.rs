//! Types shared by every provider: a borrowed view of the inbound HTTP request, the outcome of
//! signature verification (which key matched, or a precise reason it failed), the event a
//! provider payload parses into, and the stable machine-readable error codes that reach clients.

use std::fmt;

use sha2::{Digest, Sha256};

/// The webhook providers edgehooks receives from. The slug is the path segment of
/// `/webhooks/{slug}` and the value stored in `events.provider`. [`Provider::Registry`] (`in`)
/// is every source added at runtime (`/webhooks/in/{name}`, see `crate::inbound::registry`):
/// its events are told apart by `events.source`, their verification by the source's scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    Stripe,
    SendGrid,
    HubSpot,
    Shopify,
    Registry,
}

impl Provider {
    /// The four built-in providers, each with its own key setting and parser (not
    /// [`Provider::Registry`], whose sources live in D1).
    pub const ALL: [Provider; 4] = [
        Provider::Stripe,
        Provider::SendGrid,
        Provider::HubSpot,
        Provider::Shopify,
    ];

    /// Every provider a stored event can name: the built-in four and the registry.
    pub const STORED: [Provider; 5] = [
        Provider::Stripe,
        Provider::SendGrid,
        Provider::HubSpot,
        Provider::Shopify,
        Provider::Registry,
    ];

    pub fn from_slug(slug: &str) -> Option<Provider> {
        Provider::STORED.into_iter().find(|p| p.slug() == slug)
    }

    pub fn slug(self) -> &'static str {
        match self {
            Provider::Stripe => "stripe",
            Provider::SendGrid => "sendgrid",
            Provider::HubSpot => "hubspot",
            Provider::Shopify => "shopify",
            Provider::Registry => "in",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.slug())
    }
}

/// A borrowed view of an inbound webhook delivery: exactly the bytes the provider signed.
#[derive(Debug, Clone, Copy)]
pub struct InboundRequest<'a> {
    pub method: &'a str,
    /// The full URL as received (scheme, host, path, query).
    pub url: &'a str,
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

impl<'a> InboundRequest<'a> {
    /// First value of a header, matched case-insensitively as HTTP requires.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Clock and tolerance used by providers that sign a timestamp.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// Current time in Unix seconds.
    pub now_unix: i64,
    /// Accepted distance between `now_unix` and the signed timestamp, in either direction.
    pub tolerance_secs: u64,
}

impl Clock {
    /// True when `timestamp_secs` lies within the tolerance of now, both ways.
    pub fn within_tolerance(&self, timestamp_secs: i64) -> bool {
        self.now_unix.abs_diff(timestamp_secs) <= self.tolerance_secs
    }
}

/// A successful verification: the index (in the configured list) of the key that verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    pub key_index: usize,
}

/// Why a delivery failed verification. Each variant has a stable code for responses, logs and
/// rejection counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VerifyError {
    EmptyBody,
    MissingSignature,
    MalformedSignature,
    SignatureMismatch,
    MissingTimestamp,
    MalformedTimestamp,
    TimestampOutOfTolerance,
}

impl VerifyError {
    pub fn code(self) -> &'static str {
        match self {
            VerifyError::EmptyBody => "empty_body",
            VerifyError::MissingSignature => "missing_signature",
            VerifyError::MalformedSignature => "malformed_signature",
            VerifyError::SignatureMismatch => "signature_mismatch",
            VerifyError::MissingTimestamp => "missing_timestamp",
            VerifyError::MalformedTimestamp => "malformed_timestamp",
            VerifyError::TimestampOutOfTolerance => "timestamp_out_of_tolerance",
        }
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// One event extracted from a verified delivery (batches yield several).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedEvent {
    /// Unique per provider; stable across the provider's retries.
    pub dedupe_key: String,
    pub event_type: String,
    /// Stripe account, Shopify shop domain, HubSpot portal id; `None` when the event has none.
    pub account: Option<String>,
    /// When the event happened at the provider, Unix milliseconds.
    pub occurred_at_ms: Option<i64>,
    /// This event's own JSON (for batches, the element, not the whole array).
    pub payload: String,
    /// A second dedupe key derived from what the signature covers, for providers whose ids
    /// travel in unsigned headers (Shopify): a signed body re-posted with fresh ids collides on
    /// it. `None` when the provider's dedupe key is itself signed.
    pub content_key: Option<String>,
    /// The source it arrived on (`/webhooks/{provider}/{source}`); `None` for the default
    /// path. Set by [`crate::inbound::sources::scope_delivery`], which also scopes the dedupe keys.
    pub source: Option<String>,
    /// A Shopify order event's version (`order:<shop>:<order id>:<updated_at ms>:<topic>`, see
    /// `backfill::shopify::version`): unique per provider, so a webhook and the Shopify
    /// reconciliation storing the same `orders/updated` version give one event, whichever
    /// comes first (and the reconciliation skips a version older than one stored). `None` for
    /// every other event.
    pub version_key: Option<String>,
}

/// A malformed element of a verified batch: kept as its own rejected row, never costing the
/// well-formed elements beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedElement {
    /// Position in the batch array, from 0.
    pub index: usize,
    pub error: ParseError,
    /// Stable across the provider's retries of the same delivery, so a retry stores no second
    /// row (see [`rejected_element_key`]).
    pub dedupe_key: String,
    /// The element's exact bytes.
    pub payload: String,
}

/// What a verified batch body yields: its well-formed events (first of a repeated dedupe key
/// only) and its malformed elements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    pub events: Vec<ParsedEvent>,
    pub rejected: Vec<RejectedElement>,
}

impl Batch {
    /// All-or-nothing view: the events when every element is well formed, else the first
    /// element's error.
    pub fn strict(self) -> Result<Vec<ParsedEvent>, ParseError> {
        match self.rejected.into_iter().next() {
            Some(rejected) => Err(rejected.error),
            None => Ok(self.events),
        }
    }
}

/// Dedupe key of a rejected batch element: its index and a SHA-256 of its bytes as
/// `digest_input` gives them (HubSpot drops `attemptNumber`, which changes between retries).
pub fn rejected_element_key(index: usize, digest_input: &[u8]) -> String {
    format!(
        "rejected:{index}:{}",
        hex::encode(Sha256::digest(digest_input))
    )
}

/// Why a verified body could not be turned into events. These are 400s: the delivery is kept
/// as `rejected` for admins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    InvalidJson,
    UnexpectedShape(&'static str),
    MissingField(&'static str),
    MissingHeader(&'static str),
    EmptyBatch,
    /// The body names another shop than the (unsigned) shop header it came with.
    ShopMismatch,
}

impl ParseError {
    pub fn code(&self) -> &'static str {
        match self {
            ParseError::InvalidJson => "invalid_json",
            ParseError::UnexpectedShape(_) => "unexpected_shape",
            ParseError::MissingField(_) => "missing_field",
            ParseError::MissingHeader(_) => "missing_header",
            ParseError::EmptyBatch => "empty_batch",
            ParseError::ShopMismatch => "shop_mismatch",
        }
    }

    /// A short human detail naming the field or header; never echoes request content.
    pub fn detail(&self) -> String {
        match self {
            ParseError::InvalidJson => "body is not valid JSON".into(),
            ParseError::UnexpectedShape(what) => format!("expected {what}"),
            ParseError::MissingField(field) => format!("missing or invalid field `{field}`"),
            ParseError::MissingHeader(header) => format!("missing header `{header}`"),
            ParseError::EmptyBatch => "batch holds no events".into(),
            ParseError::ShopMismatch => "the body names another shop than the shop header".into(),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail())
    }
}

/// Split a JSON array body into its elements' exact bytes, without parsing or re-serialising
/// them, so each stored payload is byte for byte what the provider sent. `shape` names the
/// expected array for the error when the body is valid JSON of another shape.
pub fn split_json_array<'a>(
    body: &'a [u8],
    shape: &'static str,
) -> Result<Vec<&'a str>, ParseError> {
    let text = std::str::from_utf8(body).map_err(|_| ParseError::InvalidJson)?;
    let raws: Vec<&serde_json::value::RawValue> = match serde_json::from_str(text) {
        Ok(raws) => raws,
        Err(_) if serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() => {
            return Err(ParseError::UnexpectedShape(shape))
        }
        Err(_) => return Err(ParseError::InvalidJson),
    };
    if raws.is_empty() {
        return Err(ParseError::EmptyBatch);
    }
    Ok(raws.into_iter().map(|raw| raw.get()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_slugs_round_trip() {
        for p in Provider::STORED {
            assert_eq!(Provider::from_slug(p.slug()), Some(p));
        }
        assert_eq!(Provider::from_slug("paypal"), None);
    }

    #[test]
    fn header_lookup_ignores_case() {
        let headers = vec![("Stripe-Signature".to_string(), "x".to_string())];
        let req = InboundRequest {
            method: "POST",
            url: "",
            headers: &headers,
            body: b"",
        };
        assert_eq!(req.header("stripe-signature"), Some("x"));
        assert_eq!(req.header("x-other"), None);
    }

    #[test]
    fn tolerance_applies_both_ways() {
        let clock = Clock {
            now_unix: 1_000,
            tolerance_secs: 300,
        };
        assert!(clock.within_tolerance(700));
        assert!(clock.within_tolerance(1_300));
        assert!(!clock.within_tolerance(699));
        assert!(!clock.within_tolerance(1_301));
    }

    #[test]
    fn batches_keep_exact_element_bytes() {
        let body = br#"[ {"b":1, "a":2},{"x":"\u00e9"} ]"#;
        let elements = split_json_array(body, "a batch").unwrap();
        assert_eq!(elements, vec![r#"{"b":1, "a":2}"#, r#"{"x":"\u00e9"}"#]);
        assert_eq!(
            split_json_array(b"[]", "a batch").err(),
            Some(ParseError::EmptyBatch)
        );
        assert_eq!(
            split_json_array(b"{}", "a batch").err(),
            Some(ParseError::UnexpectedShape("a batch"))
        );
        assert_eq!(
            split_json_array(b"[1,", "a batch").err(),
            Some(ParseError::InvalidJson)
        );
        assert_eq!(
            split_json_array(b"\xff", "a batch").err(),
            Some(ParseError::InvalidJson)
        );
    }
}
