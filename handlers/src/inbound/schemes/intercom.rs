//! Intercom (developers.intercom.com, "Webhooks: signed notifications"): `X-Hub-Signature:
//! sha1=<hex>`, the HMAC-SHA1 of the raw body under the app's client secret, compared in
//! constant time; no timestamp is signed, and one secret per app (configure old and new while
//! rotating it). Dedupe key: the notification's `id` in the body (`notif_…`, the same on a
//! retry). Event type: the body's `topic` (`conversation.user.created`).

use super::inputs::{json_body, required, string_at};
use super::mac::{verify_signature, Algorithm, Encoding};
use super::Verdict;
use crate::inbound::webhook::{InboundRequest, VerifyError};

pub const SIGNATURE_HEADER: &str = "X-Hub-Signature";

pub fn verify(secrets: &[String], request: &InboundRequest<'_>) -> Result<Verdict, VerifyError> {
    let value = required(request, SIGNATURE_HEADER, VerifyError::MissingSignature)?;
    let key_index = verify_signature(
        secrets,
        value,
        "sha1=",
        Encoding::Hex,
        Algorithm::Sha1,
        &[request.body],
    )?;
    let body = json_body(request);
    Ok(Verdict::keyed(key_index).with(
        string_at(body.as_ref(), "/id"),
        string_at(body.as_ref(), "/topic"),
    ))
}
