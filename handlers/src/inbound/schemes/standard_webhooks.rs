//! Standard Webhooks (<https://www.standardwebhooks.com>, the spec Svix-powered senders such
//! as Clerk and Resend follow): `webhook-id`, `webhook-timestamp` (Unix seconds) and
//! `webhook-signature`, a space-separated list of `v1,<base64 HMAC-SHA256>` entries over
//! `{id}.{timestamp}.{body}` (several while the sender rotates; other versions ignored). A
//! secret is `whsec_` + base64 of the key bytes. The timestamp must be within 5 minutes both
//! ways. Svix sends the same values under `svix-id`, `svix-timestamp`, `svix-signature`. The
//! checks themselves are [`crate::standard_webhooks::verify`] (which signs our own deliveries),
//! run once per configured secret to learn which verified; comparisons are constant time
//! there. Dedupe key: the message id. Event type: the body's `type` (the spec's payload shape).

use super::inputs::{json_body, string_at};
use super::Verdict;
use crate::inbound::webhook::{InboundRequest, VerifyError};
use crate::standard_webhooks::{self as spec, SigningKey};

/// The spec's recommended tolerance.
pub const TOLERANCE_SECS: u64 = 300;
pub const SVIX_ID_HEADER: &str = "svix-id";
pub const SVIX_TIMESTAMP_HEADER: &str = "svix-timestamp";
pub const SVIX_SIGNATURE_HEADER: &str = "svix-signature";

/// The header under its Standard Webhooks name, else its Svix name.
fn header<'a>(request: &InboundRequest<'a>, standard: &str, svix: &str) -> Option<&'a str> {
    request.header(standard).or_else(|| request.header(svix))
}

pub fn verify(
    secrets: &[String],
    request: &InboundRequest<'_>,
    now_unix: i64,
) -> Result<Verdict, VerifyError> {
    let signature = header(request, spec::SIGNATURE_HEADER, SVIX_SIGNATURE_HEADER)
        .ok_or(VerifyError::MissingSignature)?;
    let timestamp = header(request, spec::TIMESTAMP_HEADER, SVIX_TIMESTAMP_HEADER)
        .ok_or(VerifyError::MissingTimestamp)?;
    // The id is signed: without it there is nothing the signature could be checked against.
    let id =
        header(request, spec::ID_HEADER, SVIX_ID_HEADER).ok_or(VerifyError::MissingSignature)?;
    let mut outcome = Err(VerifyError::SignatureMismatch);
    for (index, secret) in secrets.iter().enumerate() {
        // A secret that is not `whsec_` base64 can verify nothing (refused when configured).
        let Ok(key) = SigningKey::from_secret(secret) else {
            continue;
        };
        let checked = spec::verify(
            &[key],
            id,
            timestamp,
            signature,
            request.body,
            now_unix,
            TOLERANCE_SECS,
        );
        match checked {
            Ok(()) if outcome.is_err() => outcome = Ok(index),
            Ok(()) => {}
            Err(spec::VerifyError::MalformedTimestamp) => {
                return Err(VerifyError::MalformedTimestamp)
            }
            Err(spec::VerifyError::TimestampOutOfTolerance) => {
                return Err(VerifyError::TimestampOutOfTolerance)
            }
            Err(spec::VerifyError::NoMatchingSignature) => {}
        }
    }
    let key_index = outcome?;
    let event_type = string_at(json_body(request).as_ref(), "/type");
    Ok(Verdict::keyed(key_index).with(Some(id.to_string()), event_type))
}
