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

pub fn verify(
    secrets: &[String],
    request: &InboundRequest<'_>,
    now_unix: i64,
) -> Result<Verdict, VerifyError> {
    let timestamp = required(request, TIMESTAMP_HEADER, VerifyError::MissingTimestamp)?;
    fresh_timestamp(timestamp, now_unix, TOLERANCE_SECS)?;
    let value = required(request, SIGNATURE_HEADER, VerifyError::MissingSignature)?;
    let parts: [&[u8]; 4] = [b"v0:", timestamp.as_bytes(), b":", request.body];
    let key_index = verify_signature(
        secrets,
        value,
        "v0=",
        Encoding::Hex,
        Algorithm::Sha256,
        &parts,
    )?;
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
