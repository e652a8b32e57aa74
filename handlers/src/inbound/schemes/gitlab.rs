//! GitLab (docs.gitlab.com, "Webhooks": secret token and delivery headers): GitLab signs
//! nothing; it sends the webhook's secret token as `X-Gitlab-Token`, which must equal a
//! configured secret, compared in constant time (through digests, so neither content nor length
//! leaks); no timestamp. Configure old and new while changing the token. Dedupe key:
//! `Idempotency-Key` (the same across retries, GitLab 17.4+), else `X-Gitlab-Event-UUID`.
//! Event type: `X-Gitlab-Event` (`Push Hook`, `Merge Request Hook`).

use super::inputs::{optional, required};
use super::mac::matching_token;
use super::Verdict;
use crate::inbound::webhook::{InboundRequest, VerifyError};

pub const TOKEN_HEADER: &str = "X-Gitlab-Token";
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
pub const EVENT_UUID_HEADER: &str = "X-Gitlab-Event-UUID";
pub const EVENT_HEADER: &str = "X-Gitlab-Event";

pub fn verify(secrets: &[String], request: &InboundRequest<'_>) -> Result<Verdict, VerifyError> {
    let token = required(request, TOKEN_HEADER, VerifyError::MissingSignature)?;
    let key_index =
        matching_token(secrets, token.as_bytes()).ok_or(VerifyError::SignatureMismatch)?;
    Ok(Verdict::keyed(key_index).with(
        optional(request, &[IDEMPOTENCY_HEADER, EVENT_UUID_HEADER]),
        optional(request, &[EVENT_HEADER]),
    ))
}
