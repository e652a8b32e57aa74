//! Paddle Billing (developer.paddle.com, "Verify webhook signatures"): `Paddle-Signature:
//! ts=<unix seconds>;h1=<hex>`, the HMAC-SHA256 under the notification destination's secret
//! key of `{ts}:{body}`, compared in constant time. While a secret key is rotated Paddle sends
//! one `h1` per key; each is tried. Paddle's SDK (`@paddle/paddle-node-sdk`) refuses a `ts`
//! more than 5 seconds from its clock, which this applies both ways. Dedupe key: the body's
//! `event_id` (the same on Paddle's retries). Event type: the body's `event_type`
//! (`transaction.completed`).

use super::inputs::{fresh_timestamp, json_body, required, string_at, timestamp_and_signatures};
use super::mac::{hmac, matching_secret, Algorithm};
use super::Verdict;
use crate::inbound::webhook::{InboundRequest, VerifyError};

pub const SIGNATURE_HEADER: &str = "Paddle-Signature";
pub const TOLERANCE_SECS: u64 = 5;

pub fn verify(
    secrets: &[String],
    request: &InboundRequest<'_>,
    now_unix: i64,
) -> Result<Verdict, VerifyError> {
    let value = required(request, SIGNATURE_HEADER, VerifyError::MissingSignature)?;
    let (timestamp, signatures) = timestamp_and_signatures(value, ';', "ts", "h1")?;
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
