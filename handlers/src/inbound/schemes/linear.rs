//! Linear (linear.app/developers/webhooks, "Securing webhooks"): `Linear-Signature`, the hex
//! HMAC-SHA256 of the raw body under the webhook's signing secret, compared in constant time;
//! then the body's `webhookTimestamp` (Unix milliseconds, inside what was signed) must be
//! within one minute of now, both ways (the `Linear-Timestamp` header is not signed and not
//! used). One secret per webhook (configure old and new while rotating). Dedupe key:
//! `Linear-Delivery` (a UUID per delivery). Event type: the body's `type` and `action`
//! (`Issue.create`).

use super::inputs::{dotted, json_body, optional, required, string_at};
use super::mac::{verify_signature, Algorithm, Encoding};
use super::Verdict;
use crate::inbound::webhook::{InboundRequest, VerifyError};

pub const SIGNATURE_HEADER: &str = "Linear-Signature";
pub const DELIVERY_HEADER: &str = "Linear-Delivery";
pub const TOLERANCE_MS: u64 = 60_000;

pub fn verify(
    secrets: &[String],
    request: &InboundRequest<'_>,
    now_unix: i64,
) -> Result<Verdict, VerifyError> {
    let value = required(request, SIGNATURE_HEADER, VerifyError::MissingSignature)?;
    let key_index = verify_signature(
        secrets,
        value,
        "",
        Encoding::Hex,
        Algorithm::Sha256,
        &[request.body],
    )?;
    let body = json_body(request);
    let sent_ms = body
        .as_ref()
        .and_then(|b| b.get("webhookTimestamp"))
        .ok_or(VerifyError::MissingTimestamp)?
        .as_i64()
        .ok_or(VerifyError::MalformedTimestamp)?;
    if now_unix.saturating_mul(1000).abs_diff(sent_ms) > TOLERANCE_MS {
        return Err(VerifyError::TimestampOutOfTolerance);
    }
    let event_type = dotted(
        string_at(body.as_ref(), "/type"),
        string_at(body.as_ref(), "/action"),
    );
    Ok(Verdict::keyed(key_index).with(optional(request, &[DELIVERY_HEADER]), event_type))
}
