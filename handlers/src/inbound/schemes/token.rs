//! The `token` scheme, for senders that sign nothing but send a shared secret in a header: the
//! configured header (after an optional configured prefix such as `Bearer `) must equal one of
//! the source's secrets, compared in constant time through digests. No timestamp, no dedupe
//! key or event type of its own. Config: `{"header": "X-Webhook-Token", "prefix": "Bearer "}`
//! (`prefix` optional).

use serde_json::{Map, Value};

use super::generic_hmac::{header_name, optional_text};
use super::inputs::required;
use super::mac::matching_token;
use super::{ConfigError, Verdict};
use crate::inbound::webhook::{InboundRequest, VerifyError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenConfig {
    pub header: String,
    pub prefix: String,
}

impl TokenConfig {
    pub fn parse(fields: &Map<String, Value>) -> Result<TokenConfig, ConfigError> {
        if let Some(unknown) = fields
            .keys()
            .find(|k| !["header", "prefix"].contains(&k.as_str()))
        {
            return Err(ConfigError::field(unknown));
        }
        Ok(TokenConfig {
            header: header_name(fields, "header")?,
            prefix: optional_text(fields, "prefix")?.unwrap_or_default(),
        })
    }
}

pub fn verify(
    config: &TokenConfig,
    secrets: &[String],
    request: &InboundRequest<'_>,
) -> Result<Verdict, VerifyError> {
    let value = required(request, &config.header, VerifyError::MissingSignature)?;
    let token = value
        .strip_prefix(config.prefix.as_str())
        .ok_or(VerifyError::MalformedSignature)?;
    let key_index =
        matching_token(secrets, token.as_bytes()).ok_or(VerifyError::SignatureMismatch)?;
    Ok(Verdict::keyed(key_index))
}
