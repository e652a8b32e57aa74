//! Square (developer.squareup.com, "Verify and validate an event notification"):
//! `x-square-hmacsha256-signature`, the base64 HMAC-SHA256 under the subscription's signature
//! key of the notification URL (exactly as configured at Square, which must be the URL the
//! request arrives on) followed by the raw body; compared in constant time. No timestamp is
//! signed; one key per subscription (configure old and new while rotating). Dedupe key: the
//! body's `event_id`. Event type: the body's `type` (`payment.updated`).

use super::inputs::{json_body, required, string_at};
use super::mac::{verify_signature, Algorithm, Encoding};
use super::Verdict;
use crate::inbound::webhook::{InboundRequest, VerifyError};

pub const SIGNATURE_HEADER: &str = "x-square-hmacsha256-signature";

pub fn verify(secrets: &[String], request: &InboundRequest<'_>) -> Result<Verdict, VerifyError> {
    let value = required(request, SIGNATURE_HEADER, VerifyError::MissingSignature)?;
    let key_index = verify_signature(
        secrets,
        value,
        "",
        Encoding::Base64,
        Algorithm::Sha256,
        &[request.url.as_bytes(), request.body],
    )?;
    let body = json_body(request);
    Ok(Verdict::keyed(key_index).with(
        string_at(body.as_ref(), "/event_id"),
        string_at(body.as_ref(), "/type"),
    ))
}
