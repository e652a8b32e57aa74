//! The `basic` scheme, for senders that sign nothing but support HTTP Basic authentication
//! (RFC 7617): `Authorization: Basic <base64 of user:password>`, whose decoded credentials must
//! equal one of the source's secrets, each written `user:password`, compared in constant time
//! through digests. The scheme name is matched case-insensitively, as the RFC requires. No
//! timestamp, dedupe key or event type.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::inputs::required;
use super::mac::matching_token;
use super::Verdict;
use crate::inbound::webhook::{InboundRequest, VerifyError};

pub const HEADER: &str = "Authorization";

pub fn verify(secrets: &[String], request: &InboundRequest<'_>) -> Result<Verdict, VerifyError> {
    let value = required(request, HEADER, VerifyError::MissingSignature)?.trim();
    let (scheme, encoded) = value
        .split_once(' ')
        .ok_or(VerifyError::MalformedSignature)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(VerifyError::MalformedSignature);
    }
    let credentials = STANDARD
        .decode(encoded.trim())
        .map_err(|_| VerifyError::MalformedSignature)?;
    let key_index = matching_token(secrets, &credentials).ok_or(VerifyError::SignatureMismatch)?;
    Ok(Verdict::keyed(key_index))
}
