//! GitHub (docs.github.com, "Validating webhook deliveries"): `X-Hub-Signature-256:
//! sha256=<hex>`, the HMAC-SHA256 of the raw body under the webhook's secret, compared in
//! constant time. GitHub signs no timestamp and a webhook has one secret; rotating it means
//! configuring old and new here until GitHub sends with the new one. (The legacy SHA-1
//! `X-Hub-Signature` is not accepted.) Dedupe key: `X-GitHub-Delivery` (a GUID, the same on a
//! redelivery). Event type: `X-GitHub-Event`, then `.` and the body's `action` when it has one
//! (`issues.opened`, `push`).

use super::inputs::{dotted, json_body, optional, required, string_at};
use super::mac::{verify_signature, Algorithm, Encoding};
use super::Verdict;
use crate::inbound::webhook::{InboundRequest, VerifyError};

pub const SIGNATURE_HEADER: &str = "X-Hub-Signature-256";
pub const DELIVERY_HEADER: &str = "X-GitHub-Delivery";
pub const EVENT_HEADER: &str = "X-GitHub-Event";

pub fn verify(secrets: &[String], request: &InboundRequest<'_>) -> Result<Verdict, VerifyError> {
    let value = required(request, SIGNATURE_HEADER, VerifyError::MissingSignature)?;
    let key_index = verify_signature(
        secrets,
        value,
        "sha256=",
        Encoding::Hex,
        Algorithm::Sha256,
        &[request.body],
    )?;
    let action = string_at(json_body(request).as_ref(), "/action");
    let event_type = dotted(optional(request, &[EVENT_HEADER]), action);
    Ok(Verdict::keyed(key_index).with(optional(request, &[DELIVERY_HEADER]), event_type))
}
