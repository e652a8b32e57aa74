//! Typeform (typeform.com/developers, "Secure your webhooks"): `Typeform-Signature:
//! sha256=<base64>`, the HMAC-SHA256 of the raw body under the webhook's secret, base64 (not
//! hex), compared in constant time; no timestamp is signed, one secret per webhook (configure
//! old and new while rotating). Dedupe key: the body's `event_id` (the same on a retry). Event
//! type: the body's `event_type` (`form_response`).

use super::inputs::{json_body, required, string_at};
use super::mac::{verify_signature, Algorithm, Encoding};
use super::Verdict;
use crate::inbound::webhook::{InboundRequest, VerifyError};

pub const SIGNATURE_HEADER: &str = "Typeform-Signature";

pub fn verify(secrets: &[String], request: &InboundRequest<'_>) -> Result<Verdict, VerifyError> {
    let value = required(request, SIGNATURE_HEADER, VerifyError::MissingSignature)?;
    let key_index = verify_signature(
        secrets,
        value,
        "sha256=",
        Encoding::Base64,
        Algorithm::Sha256,
        &[request.body],
    )?;
    let body = json_body(request);
    Ok(Verdict::keyed(key_index).with(
        string_at(body.as_ref(), "/event_id"),
        string_at(body.as_ref(), "/event_type"),
    ))
}
