//! Reading what a scheme needs from a delivery without trusting it: a required header (absent
//! is a stable error), a signed Unix timestamp checked against the scheme's tolerance, an
//! optional header kept only when non-empty, and string fields of a JSON body (a body that is
//! not JSON simply has none). Nothing here panics on any input.

use serde_json::Value;

use crate::inbound::webhook::{InboundRequest, VerifyError};
use crate::time::parse_decimal;

/// The header's value, or `missing` when the request has none.
pub fn required<'a>(
    request: &InboundRequest<'a>,
    name: &str,
    missing: VerifyError,
) -> Result<&'a str, VerifyError> {
    request.header(name).ok_or(missing)
}

/// The first present, non-empty header among `names`.
pub fn optional(request: &InboundRequest<'_>, names: &[&str]) -> Option<String> {
    names
        .iter()
        .filter_map(|name| request.header(name))
        .map(str::trim)
        .find(|value| !value.is_empty())
        .map(str::to_string)
}

/// A decimal Unix timestamp in seconds (no sign, no fraction), checked to lie within
/// `tolerance_secs` of `now_unix` in either direction.
pub fn fresh_timestamp(text: &str, now_unix: i64, tolerance_secs: u64) -> Result<i64, VerifyError> {
    let timestamp = parse_decimal(text.trim()).ok_or(VerifyError::MalformedTimestamp)?;
    if now_unix.abs_diff(timestamp) > tolerance_secs {
        return Err(VerifyError::TimestampOutOfTolerance);
    }
    Ok(timestamp)
}

/// The body as JSON, when it is JSON.
pub fn json_body(request: &InboundRequest<'_>) -> Option<Value> {
    serde_json::from_str(std::str::from_utf8(request.body).ok()?).ok()
}

/// The string at JSON Pointer `pointer` of `value`, when there is one and it is non-empty.
pub fn string_at(value: Option<&Value>, pointer: &str) -> Option<String> {
    value?
        .pointer(pointer)?
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// `first.second` when both are present, else whichever is.
pub fn dotted(first: Option<String>, second: Option<String>) -> Option<String> {
    match (first, second) {
        (Some(first), Some(second)) => Some(format!("{first}.{second}")),
        (first, second) => first.or(second),
    }
}

/// The parts of a `key=value` list header (`t=…,v1=…` split on `separator`): the timestamp under
/// `timestamp_key` and every hex signature under `signature_key` (several while a secret
/// rotates). No timestamp is `missing_timestamp`; no signature, or one that is not hex,
/// `malformed_signature`.
pub fn timestamp_and_signatures<'a>(
    value: &'a str,
    separator: char,
    timestamp_key: &str,
    signature_key: &str,
) -> Result<(&'a str, Vec<Vec<u8>>), VerifyError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for (key, text) in value
        .split(separator)
        .filter_map(|p| p.trim().split_once('='))
    {
        if key == timestamp_key {
            timestamp = Some(text);
        } else if key == signature_key {
            signatures.push(hex::decode(text).map_err(|_| VerifyError::MalformedSignature)?);
        }
    }
    let timestamp = timestamp.ok_or(VerifyError::MissingTimestamp)?;
    if signatures.is_empty() {
        return Err(VerifyError::MalformedSignature);
    }
    Ok((timestamp, signatures))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_decimal_seconds_within_tolerance_both_ways() {
        assert_eq!(fresh_timestamp("1000", 1300, 300), Ok(1000));
        assert_eq!(fresh_timestamp("1600", 1300, 300), Ok(1600));
        assert_eq!(
            fresh_timestamp("999", 1300, 300),
            Err(VerifyError::TimestampOutOfTolerance)
        );
        for bad in ["", "-5", "1e3", "12.5", "99999999999999999999", "t=1"] {
            assert_eq!(
                fresh_timestamp(bad, 1300, 300),
                Err(VerifyError::MalformedTimestamp)
            );
        }
    }

    #[test]
    fn json_strings_are_read_only_when_present_and_non_empty() {
        let value: Value = serde_json::json!({"a": {"b": "x"}, "n": 5, "e": ""});
        assert_eq!(string_at(Some(&value), "/a/b"), Some("x".into()));
        assert_eq!(string_at(Some(&value), "/n"), None);
        assert_eq!(string_at(Some(&value), "/e"), None);
        assert_eq!(string_at(None, "/a/b"), None);
        assert_eq!(dotted(Some("push".into()), None), Some("push".into()));
        assert_eq!(
            dotted(Some("issues".into()), Some("opened".into())),
            Some("issues.opened".into())
        );
    }
}
