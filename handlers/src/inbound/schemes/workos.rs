//! WorkOS (workos.com/docs, "Webhooks": validating events are from WorkOS): `WorkOS-Signature:
//! t=<unix milliseconds>, v1=<hex>`, the HMAC-SHA256 under the endpoint's webhook secret of
//! `{t}.{body}`, compared in constant time; several `v1` entries are each tried. WorkOS's SDKs
//! refuse a `t` more than 3 minutes old (their default tolerance), which this applies both
//! ways. One secret per endpoint (configure old and new while replacing it). Dedupe key: the
//! body's `id` (the event's id, the same on WorkOS's retries). Event type: the body's `event`
//! (`dsync.user.created`).

use super::inputs::{json_body, required, string_at, timestamp_and_signatures};
use super::mac::{hmac, matching_secret, Algorithm};
use super::Verdict;
use crate::inbound::webhook::{InboundRequest, VerifyError};
use crate::time::parse_decimal;

pub const SIGNATURE_HEADER: &str = "WorkOS-Signature";
pub const TOLERANCE_MS: u64 = 180_000;

/// A decimal Unix timestamp in milliseconds within the tolerance of `now_unix`, both ways.
fn fresh_millis(text: &str, now_unix: i64) -> Result<(), VerifyError> {
    let sent_ms = parse_decimal(text.trim()).ok_or(VerifyError::MalformedTimestamp)?;
    if now_unix.saturating_mul(1000).abs_diff(sent_ms) > TOLERANCE_MS {
        return Err(VerifyError::TimestampOutOfTolerance);
    }
    Ok(())
}

pub fn verify(
    secrets: &[String],
    request: &InboundRequest<'_>,
    now_unix: i64,
) -> Result<Verdict, VerifyError> {
    let value = required(request, SIGNATURE_HEADER, VerifyError::MissingSignature)?;
    let (timestamp, signatures) = timestamp_and_signatures(value, ',', "t", "v1")?;
    fresh_millis(timestamp, now_unix)?;
    let parts: [&[u8]; 3] = [timestamp.as_bytes(), b".", request.body];
    let key_index = matching_secret(secrets, &signatures, |key| {
        hmac(Algorithm::Sha256, key, &parts)
    })
    .ok_or(VerifyError::SignatureMismatch)?;
    let body = json_body(request);
    let body = body.as_ref();
    Ok(Verdict::keyed(key_index).with(string_at(body, "/id"), string_at(body, "/event")))
}
