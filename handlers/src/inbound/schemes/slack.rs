//! Slack (api.slack.com, "Verifying requests from Slack"): `X-Slack-Request-Timestamp` (Unix
//! seconds, refused when more than 5 minutes from now, checked first) and `X-Slack-Signature:
//! v0=<hex>`, the HMAC-SHA256 under the app's signing secret of `v0:{timestamp}:{body}`,
//! compared in constant time. One signing secret per app (configure old and new while
//! regenerating it). The Events API's `url_verification` request is signed like any other;
//! once verified, its `challenge` is answered (`{"challenge": …}` as JSON, which Slack
//! accepts) and nothing is stored. Dedupe key: the body's `event_id` (Events API; the same on
//! Slack's retries). Event type: the inner `event.type`, else the body's `type`.

use serde_json::json;

use super::inputs::{fresh_timestamp, json_body, required, string_at};
use super::mac::{verify_signature, Algorithm, Encoding};
use super::{Challenge, Verdict};
use crate::inbound::webhook::{InboundRequest, VerifyError};

pub const TIMESTAMP_HEADER: &str = "X-Slack-Request-Timestamp";
pub const SIGNATURE_HEADER: &str = "X-Slack-Signature";
pub const TOLERANCE_SECS: u64 = 300;

/// The `v0` construction Slack defines and Zoom copies: the timestamp header within 5 minutes
/// (checked first), then `v0=<hex>` in the signature header, the HMAC-SHA256 of
/// `v0:{timestamp}:{body}`. Returns the index of the secret that verified.
pub(super) fn verify_v0(
    secrets: &[String],
    request: &InboundRequest<'_>,
    [timestamp_header, signature_header]: [&str; 2],
    now_unix: i64,
) -> Result<usize, VerifyError> {
    let timestamp = required(request, timestamp_header, VerifyError::MissingTimestamp)?;
    fresh_timestamp(timestamp, now_unix, TOLERANCE_SECS)?;
    let value = required(request, signature_header, VerifyError::MissingSignature)?;
    let parts: [&[u8]; 4] = [b"v0:", timestamp.as_bytes(), b":", request.body];
    verify_signature(
        secrets,
        value,
        "v0=",
        Encoding::Hex,
        Algorithm::Sha256,
        &parts,
    )
}

pub fn verify(
    secrets: &[String],
    request: &InboundRequest<'_>,
    now_unix: i64,
) -> Result<Verdict, VerifyError> {
    let headers = [TIMESTAMP_HEADER, SIGNATURE_HEADER];
    let key_index = verify_v0(secrets, request, headers, now_unix)?;
    let body = json_body(request);
    let body = body.as_ref();
    let mut verdict = Verdict::keyed(key_index).with(
        string_at(body, "/event_id"),
        string_at(body, "/event/type").or_else(|| string_at(body, "/type")),
    );
    if string_at(body, "/type").as_deref() == Some("url_verification") {
        let challenge = string_at(body, "/challenge").unwrap_or_default();
        verdict.challenge = Some(Challenge::json(json!({ "challenge": challenge })));
    }
    Ok(verdict)
}
