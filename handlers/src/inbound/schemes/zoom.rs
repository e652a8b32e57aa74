//! Zoom (developers.zoom.us, "Using webhooks": verify with Zoom's header): `x-zm-request-timestamp`
//! (Unix seconds) and `x-zm-signature: v0=<hex>`, the HMAC-SHA256 under the app's secret token
//! of `v0:{timestamp}:{body}`, compared in constant time. Zoom documents no window; like
//! Slack's identical construction, the timestamp must be within 5 minutes (checked first). One
//! secret token per app (configure old and new while regenerating it). The
//! `endpoint.url_validation` request is verified like any other, then answered with
//! `{"plainToken": …, "encryptedToken": hex HMAC-SHA256(secret, plainToken)}` under the secret
//! that verified it; nothing is stored. Zoom sends no delivery id, so there is no dedupe key
//! here. Event type: the body's `event` (`meeting.started`).

use serde_json::json;

use super::inputs::{json_body, string_at};
use super::mac::{hmac, Algorithm};
use super::{Challenge, Verdict};
use crate::inbound::webhook::{InboundRequest, VerifyError};

pub const TIMESTAMP_HEADER: &str = "x-zm-request-timestamp";
pub const SIGNATURE_HEADER: &str = "x-zm-signature";
/// The window `slack::verify_v0` applies (Slack's).
pub const TOLERANCE_SECS: u64 = super::slack::TOLERANCE_SECS;
pub const URL_VALIDATION_EVENT: &str = "endpoint.url_validation";

pub fn verify(
    secrets: &[String],
    request: &InboundRequest<'_>,
    now_unix: i64,
) -> Result<Verdict, VerifyError> {
    let headers = [TIMESTAMP_HEADER, SIGNATURE_HEADER];
    let key_index = super::slack::verify_v0(secrets, request, headers, now_unix)?;
    let body = json_body(request);
    let event = string_at(body.as_ref(), "/event");
    let mut verdict = Verdict::keyed(key_index).with(None, event.clone());
    if event.as_deref() == Some(URL_VALIDATION_EVENT) {
        let plain = string_at(body.as_ref(), "/payload/plainToken").unwrap_or_default();
        let secret = secrets
            .get(key_index)
            .map(String::as_bytes)
            .unwrap_or_default();
        let encrypted = hex::encode(hmac(Algorithm::Sha256, secret, &[plain.as_bytes()]));
        verdict.challenge = Some(Challenge::json(
            json!({ "plainToken": plain, "encryptedToken": encrypted }),
        ));
    }
    Ok(verdict)
}
