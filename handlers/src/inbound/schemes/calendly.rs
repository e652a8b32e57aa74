//! Calendly (developer.calendly.com, "Webhook signatures"): `Calendly-Webhook-Signature:
//! t=<unix seconds>,v1=<hex>`, the HMAC-SHA256 under the subscription's signing key of
//! `{t}.{body}`, compared in constant time; the docs' examples refuse a `t` more than 3
//! minutes old, which this applies both ways. Several `v1` entries are each tried. One signing
//! key per subscription (configure old and new while replacing it). Calendly sends no delivery
//! id, so there is no dedupe key here. Event type: the body's `event` (`invitee.created`).

use super::inputs::{fresh_timestamp, json_body, required, string_at, timestamp_and_signatures};
use super::mac::{hmac, matching_secret, Algorithm};
use super::Verdict;
use crate::inbound::webhook::{InboundRequest, VerifyError};

pub const SIGNATURE_HEADER: &str = "Calendly-Webhook-Signature";
pub const TOLERANCE_SECS: u64 = 180;

pub fn verify(
    secrets: &[String],
    request: &InboundRequest<'_>,
    now_unix: i64,
) -> Result<Verdict, VerifyError> {
    let value = required(request, SIGNATURE_HEADER, VerifyError::MissingSignature)?;
    let (timestamp, signatures) = timestamp_and_signatures(value, ',', "t", "v1")?;
    fresh_timestamp(timestamp, now_unix, TOLERANCE_SECS)?;
    let parts: [&[u8]; 3] = [timestamp.as_bytes(), b".", request.body];
    let key_index = matching_secret(secrets, &signatures, |key| {
        hmac(Algorithm::Sha256, key, &parts)
    })
    .ok_or(VerifyError::SignatureMismatch)?;
    let event_type = string_at(json_body(request).as_ref(), "/event");
    Ok(Verdict::keyed(key_index).with(None, event_type))
}
