//! Paddle Billing (developer.paddle.com, "Verify webhook signatures"): `Paddle-Signature:
//! ts=<unix seconds>;h1=<hex>`, the HMAC-SHA256 under the notification destination's secret
//! key of `{ts}:{body}`, compared in constant time. While a secret key is rotated Paddle sends
//! one `h1` per key; each is tried. Paddle's SDK (`@paddle/paddle-node-sdk`) refuses a `ts`
//! more than 5 seconds from its clock, which this applies both ways. Dedupe key: the body's
//! `event_id` (the same on Paddle's retries). Event type: the body's `event_type`
//! (`transaction.completed`).

use super::inputs::{fresh_timestamp, json_body, required, string_at};
use super::mac::{hmac, matching_secret, Algorithm};
use super::Verdict;
use crate::inbound::webhook::{InboundRequest, VerifyError};

pub const SIGNATURE_HEADER: &str = "Paddle-Signature";
pub const TOLERANCE_SECS: u64 = 5;

/// The `ts` value and the decoded `h1` signatures of the header.
fn parse(value: &str) -> Result<(&str, Vec<Vec<u8>>), VerifyError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for (key, text) in value.split(';').filter_map(|p| p.trim().split_once('=')) {
        match key {
            "ts" => timestamp = Some(text),
            "h1" => {
                signatures.push(hex::decode(text).map_err(|_| VerifyError::MalformedSignature)?)
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(VerifyError::MissingTimestamp)?;
    if signatures.is_empty() {
        return Err(VerifyError::MalformedSignature);
    }
    Ok((timestamp, signatures))
}

pub fn verify(
    secrets: &[String],
    request: &InboundRequest<'_>,
    now_unix: i64,
) -> Result<Verdict, VerifyError> {
    let value = required(request, SIGNATURE_HEADER, VerifyError::MissingSignature)?;
    let (timestamp, signatures) = parse(value)?;
    fresh_timestamp(timestamp, now_unix, TOLERANCE_SECS)?;
    let parts: [&[u8]; 3] = [timestamp.as_bytes(), b":", request.body];
    let key_index = matching_secret(secrets, &signatures, |key| {
        hmac(Algorithm::Sha256, key, &parts)
    })
    .ok_or(VerifyError::SignatureMismatch)?;
    let body = json_body(request);
    let body = body.as_ref();
    Ok(
        Verdict::keyed(key_index)
            .with(string_at(body, "/event_id"), string_at(body, "/event_type")),
    )
}
