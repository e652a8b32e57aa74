//! Stripe webhooks. Header `Stripe-Signature: t=<unix s>,v1=<hex>[,v1=<hex>…][,v0=…]`; the
//! signed message is `"<t>." + raw body`, HMAC-SHA256 keyed with the whole endpoint secret as
//! UTF-8 (`whsec_…` included), hex-encoded. Any `v1` may match (Stripe sends several while a
//! secret is being rolled); other schemes are ignored. The body is one event object whose `id`
//! is the dedupe key; `created` is when it happened and `account` names a Connect account.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::top_level_fields::{read_event, Field};
use crate::inbound::webhook::{
    Clock, InboundRequest, ParseError, ParsedEvent, Verified, VerifyError,
};
use crate::time::parse_decimal;

pub const SIGNATURE_HEADER: &str = "Stripe-Signature";

/// The parts of a `Stripe-Signature` header this module uses.
#[derive(Debug, PartialEq, Eq)]
struct SignatureHeader {
    timestamp: i64,
    timestamp_text: String,
    v1: Vec<[u8; 32]>,
}

fn parse_header(header: &str) -> Result<SignatureHeader, VerifyError> {
    let mut timestamp_text: Option<&str> = None;
    let mut v1 = Vec::new();
    let mut saw_v1 = false;
    for item in header.split(',') {
        let Some((key, value)) = item.trim().split_once('=') else {
            continue;
        };
        match key {
            "t" => {
                if timestamp_text.is_some() {
                    return Err(VerifyError::MalformedSignature);
                }
                timestamp_text = Some(value);
            }
            "v1" => {
                saw_v1 = true;
                let mut digest = [0u8; 32];
                // A v1 that is not 64 hex digits can never match; keep looking at the others.
                if hex::decode_to_slice(value, &mut digest).is_ok() {
                    v1.push(digest);
                }
            }
            _ => {}
        }
    }
    let timestamp_text = timestamp_text.ok_or(VerifyError::MalformedSignature)?;
    if !saw_v1 {
        return Err(VerifyError::MalformedSignature);
    }
    let timestamp = parse_decimal(timestamp_text).ok_or(VerifyError::MalformedTimestamp)?;
    Ok(SignatureHeader {
        timestamp,
        timestamp_text: timestamp_text.to_string(),
        v1,
    })
}

/// HMAC-SHA256 of `"<t>." + body` under `secret`.
pub fn sign(secret: &str, timestamp: &str, body: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// Verify a Stripe delivery against every configured secret. The signature is checked before
/// the timestamp, so `timestamp_out_of_tolerance` is only reported for genuinely signed requests.
pub fn verify(
    req: &InboundRequest,
    secrets: &[String],
    clock: Clock,
) -> Result<Verified, VerifyError> {
    if req.body.is_empty() {
        return Err(VerifyError::EmptyBody);
    }
    let header = req
        .header(SIGNATURE_HEADER)
        .ok_or(VerifyError::MissingSignature)?;
    if header.trim().is_empty() {
        return Err(VerifyError::MissingSignature);
    }
    let parsed = parse_header(header)?;
    let matched = secrets.iter().position(|secret| {
        let expected = sign(secret, &parsed.timestamp_text, req.body);
        parsed.v1.iter().fold(false, |found, candidate| {
            found | bool::from(candidate.ct_eq(&expected))
        })
    });
    let key_index = matched.ok_or(VerifyError::SignatureMismatch)?;
    if !clock.within_tolerance(parsed.timestamp) {
        return Err(VerifyError::TimestampOutOfTolerance);
    }
    Ok(Verified { key_index })
}

/// Parse a verified Stripe body into its single event.
pub fn parse(req: &InboundRequest) -> Result<Vec<ParsedEvent>, ParseError> {
    let text = std::str::from_utf8(req.body).map_err(|_| ParseError::InvalidJson)?;
    let event = read_event(text, EVENT_FIELDS, "a JSON object")?;
    let non_empty = |field: &'static str| {
        event
            .get(field)
            .and_then(Field::non_empty_str)
            .ok_or(ParseError::MissingField(field))
    };
    let dedupe_key = non_empty("id")?;
    let event_type = non_empty("type")?;
    Ok(vec![ParsedEvent {
        dedupe_key,
        event_type,
        account: event
            .get("account")
            .and_then(Field::as_str)
            .map(str::to_string),
        occurred_at_ms: event
            .get("created")
            .and_then(Field::as_i64)
            .and_then(|s| s.checked_mul(1000)),
        payload: text.to_string(),
        content_key: None,
        source: None,
        version_key: None,
    }])
}

/// The top-level fields `parse` reads.
const EVENT_FIELDS: &[&str] = &["id", "type", "account", "created"];

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret";
    const BODY: &[u8] = br#"{"id":"evt_1","type":"checkout.session.completed","created":1700000000,"data":{"object":{}}}"#;
    const NOW: i64 = 1_700_000_100;

    fn clock() -> Clock {
        Clock {
            now_unix: NOW,
            tolerance_secs: 300,
        }
    }

    fn header_for(secret: &str, t: i64, body: &[u8]) -> String {
        format!(
            "t={t},v1={}",
            hex::encode(sign(secret, &t.to_string(), body))
        )
    }

    fn check(
        header: Option<String>,
        body: &[u8],
        secrets: &[&str],
    ) -> Result<Verified, VerifyError> {
        let headers: Vec<(String, String)> = header
            .into_iter()
            .map(|h| ("stripe-signature".to_string(), h))
            .collect();
        let req = InboundRequest {
            method: "POST",
            url: "https://x/webhooks/stripe",
            headers: &headers,
            body,
        };
        let secrets: Vec<String> = secrets.iter().map(|s| s.to_string()).collect();
        verify(&req, &secrets, clock())
    }

    #[test]
    fn accepts_valid_and_reports_key_index() {
        let h = header_for(SECRET, NOW, BODY);
        assert_eq!(
            check(Some(h.clone()), BODY, &[SECRET]),
            Ok(Verified { key_index: 0 })
        );
        assert_eq!(
            check(Some(h), BODY, &["whsec_old", SECRET]),
            Ok(Verified { key_index: 1 })
        );
    }

    #[test]
    fn any_v1_may_match_and_v0_is_ignored() {
        let good = hex::encode(sign(SECRET, &NOW.to_string(), BODY));
        let h = format!("t={NOW},v1={},v1={good},v0={good}", "0".repeat(64));
        assert!(check(Some(h), BODY, &[SECRET]).is_ok());
        let only_v0 = format!("t={NOW},v0={good}");
        assert_eq!(
            check(Some(only_v0), BODY, &[SECRET]),
            Err(VerifyError::MalformedSignature)
        );
    }

    #[test]
    fn rejections_have_precise_reasons() {
        assert_eq!(
            check(None, BODY, &[SECRET]),
            Err(VerifyError::MissingSignature)
        );
        assert_eq!(
            check(Some(String::new()), BODY, &[SECRET]),
            Err(VerifyError::MissingSignature)
        );
        assert_eq!(
            check(Some("garbage".into()), BODY, &[SECRET]),
            Err(VerifyError::MalformedSignature)
        );
        assert_eq!(
            check(Some(header_for(SECRET, NOW, BODY)), b"", &[SECRET]),
            Err(VerifyError::EmptyBody)
        );
        assert_eq!(
            check(Some(header_for("whsec_other", NOW, BODY)), BODY, &[SECRET]),
            Err(VerifyError::SignatureMismatch)
        );
        assert_eq!(
            check(Some(header_for(SECRET, NOW - 301, BODY)), BODY, &[SECRET]),
            Err(VerifyError::TimestampOutOfTolerance)
        );
        assert_eq!(
            check(Some(header_for(SECRET, NOW + 301, BODY)), BODY, &[SECRET]),
            Err(VerifyError::TimestampOutOfTolerance)
        );
        let ms = NOW * 1000;
        assert_eq!(
            check(Some(header_for(SECRET, ms, BODY)), BODY, &[SECRET]),
            Err(VerifyError::TimestampOutOfTolerance)
        );
        let sig = hex::encode(sign(SECRET, "abc", BODY));
        assert_eq!(
            check(Some(format!("t=abc,v1={sig}")), BODY, &[SECRET]),
            Err(VerifyError::MalformedTimestamp)
        );
        let twice = format!("{},t={NOW}", header_for(SECRET, NOW, BODY));
        assert_eq!(
            check(Some(twice), BODY, &[SECRET]),
            Err(VerifyError::MalformedSignature)
        );
        assert_eq!(
            check(Some(header_for(SECRET, NOW, BODY)), BODY, &[]),
            Err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn parses_event_fields() {
        let headers = vec![];
        let req = InboundRequest {
            method: "POST",
            url: "",
            headers: &headers,
            body: BODY,
        };
        let events = parse(&req).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].dedupe_key, "evt_1");
        assert_eq!(events[0].event_type, "checkout.session.completed");
        assert_eq!(events[0].occurred_at_ms, Some(1_700_000_000_000));
        assert_eq!(events[0].account, None);
    }

    #[test]
    fn parse_rejects_bad_shapes() {
        let headers = vec![];
        for (body, code) in [
            (&b"not json"[..], "invalid_json"),
            (&b"[]"[..], "unexpected_shape"),
            (&br#"{"type":"x"}"#[..], "missing_field"),
            (&br#"{"id":"evt_1"}"#[..], "missing_field"),
            (&br#"{"id":5,"type":"x"}"#[..], "missing_field"),
        ] {
            let req = InboundRequest {
                method: "POST",
                url: "",
                headers: &headers,
                body,
            };
            assert_eq!(
                parse(&req).unwrap_err().code(),
                code,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
