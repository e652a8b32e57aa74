//! The `hmac` scheme, configured by data for senders that sign with an HMAC but have no module
//! of their own: the signature is read from a configured header (after an optional prefix
//! such as `sha256=`), hex or base64, and must equal the HMAC (SHA-1, SHA-256 or SHA-512) under
//! one of the source's secrets of what the config says is signed: the `body`,
//! `timestamp.body` (the timestamp header's value, a dot, the body) or `url+body` (the full
//! URL then the body). With a timestamp header, its Unix-seconds value must lie within the
//! tolerance (default 5 minutes) both ways; it is checked first. Comparisons are constant
//! time. Config, parsed from the source's JSON with errors naming the field:
//! `{"algorithm": "sha256", "header": "X-Signature", "prefix": "sha256=", "encoding": "hex",
//! "signed": "timestamp.body", "timestamp_header": "X-Timestamp", "tolerance_secs": 300}`
//! (`algorithm` and `header` required; `encoding` defaults to hex, `signed` to body).

use serde_json::{Map, Value};

use super::inputs::{fresh_timestamp, required};
use super::mac::{verify_signature, Algorithm, Encoding};
use super::{ConfigError, Verdict};
use crate::inbound::webhook::{InboundRequest, VerifyError};

/// What the HMAC covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signed {
    Body,
    TimestampBody,
    UrlBody,
}

impl Signed {
    pub fn name(self) -> &'static str {
        match self {
            Signed::Body => "body",
            Signed::TimestampBody => "timestamp.body",
            Signed::UrlBody => "url+body",
        }
    }

    fn from_name(name: &str) -> Option<Signed> {
        [Signed::Body, Signed::TimestampBody, Signed::UrlBody]
            .into_iter()
            .find(|s| s.name() == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HmacConfig {
    pub algorithm: Algorithm,
    pub header: String,
    pub prefix: String,
    pub encoding: Encoding,
    pub signed: Signed,
    pub timestamp_header: Option<String>,
    pub tolerance_secs: u64,
}

const FIELDS: [&str; 7] = [
    "algorithm",
    "header",
    "prefix",
    "encoding",
    "signed",
    "timestamp_header",
    "tolerance_secs",
];
/// Default and largest accepted tolerance.
const DEFAULT_TOLERANCE_SECS: u64 = 300;
const MAX_TOLERANCE_SECS: u64 = 86_400;
const MAX_HEADER_NAME: usize = 100;
const MAX_PREFIX: usize = 64;
/// Longest text any field takes (header names; prefixes are shorter still).
const MAX_TEXT: usize = 100;

/// `field` as a string when present; a non-string (or overlong) value is an error naming it.
pub fn optional_text(
    fields: &Map<String, Value>,
    field: &str,
) -> Result<Option<String>, ConfigError> {
    match fields.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() <= MAX_TEXT => Ok(Some(s.clone())),
        Some(_) => Err(ConfigError::field(field)),
    }
}

/// `field` as a required HTTP header name (RFC 9110 token characters).
pub fn header_name(fields: &Map<String, Value>, field: &str) -> Result<String, ConfigError> {
    let name = optional_text(fields, field)?.ok_or_else(|| ConfigError::field(field))?;
    let is_token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || name.len() > MAX_HEADER_NAME || !name.bytes().all(is_token) {
        return Err(ConfigError::field(field));
    }
    Ok(name)
}

/// A named choice: `parse` of the field's string, `default` when absent.
fn choice<T>(
    fields: &Map<String, Value>,
    field: &str,
    parse: impl Fn(&str) -> Option<T>,
    default: Option<T>,
) -> Result<T, ConfigError> {
    match optional_text(fields, field)? {
        Some(name) => parse(&name).ok_or_else(|| ConfigError::field(field)),
        None => default.ok_or_else(|| ConfigError::field(field)),
    }
}

fn tolerance(fields: &Map<String, Value>) -> Result<u64, ConfigError> {
    match fields.get("tolerance_secs") {
        None | Some(Value::Null) => Ok(DEFAULT_TOLERANCE_SECS),
        Some(value) => value
            .as_u64()
            .filter(|secs| (1..=MAX_TOLERANCE_SECS).contains(secs))
            .ok_or_else(|| ConfigError::field("tolerance_secs")),
    }
}

impl HmacConfig {
    pub fn parse(fields: &Map<String, Value>) -> Result<HmacConfig, ConfigError> {
        if let Some(unknown) = fields.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(ConfigError::field(unknown));
        }
        let config = HmacConfig {
            algorithm: choice(fields, "algorithm", Algorithm::from_name, None)?,
            header: header_name(fields, "header")?,
            prefix: optional_text(fields, "prefix")?.unwrap_or_default(),
            encoding: choice(fields, "encoding", Encoding::from_name, Some(Encoding::Hex))?,
            signed: choice(fields, "signed", Signed::from_name, Some(Signed::Body))?,
            timestamp_header: match fields.get("timestamp_header") {
                None | Some(Value::Null) => None,
                Some(_) => Some(header_name(fields, "timestamp_header")?),
            },
            tolerance_secs: tolerance(fields)?,
        };
        if config.prefix.len() > MAX_PREFIX {
            return Err(ConfigError::field("prefix"));
        }
        if config.signed == Signed::TimestampBody && config.timestamp_header.is_none() {
            return Err(ConfigError::field("timestamp_header"));
        }
        Ok(config)
    }
}

pub fn verify(
    config: &HmacConfig,
    secrets: &[String],
    request: &InboundRequest<'_>,
    now_unix: i64,
) -> Result<Verdict, VerifyError> {
    let timestamp = match &config.timestamp_header {
        Some(name) => {
            let text = required(request, name, VerifyError::MissingTimestamp)?;
            fresh_timestamp(text, now_unix, config.tolerance_secs)?;
            text
        }
        None => "",
    };
    let value = required(request, &config.header, VerifyError::MissingSignature)?;
    let parts: Vec<&[u8]> = match config.signed {
        Signed::Body => vec![request.body],
        Signed::TimestampBody => vec![timestamp.as_bytes(), b".", request.body],
        Signed::UrlBody => vec![request.url.as_bytes(), request.body],
    };
    let key_index = verify_signature(
        secrets,
        value,
        &config.prefix,
        config.encoding,
        config.algorithm,
        &parts,
    )?;
    Ok(Verdict::keyed(key_index))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: Value) -> Result<HmacConfig, ConfigError> {
        match value {
            Value::Object(fields) => HmacConfig::parse(&fields),
            _ => unreachable!("tests pass objects"),
        }
    }

    #[test]
    fn a_full_config_parses_and_defaults_fill_the_rest() {
        let full = parse(json!({
            "algorithm": "sha512", "header": "X-Sig", "prefix": "v1=", "encoding": "base64",
            "signed": "timestamp.body", "timestamp_header": "X-Ts", "tolerance_secs": 60
        }))
        .unwrap();
        assert_eq!(full.algorithm, Algorithm::Sha512);
        assert_eq!(full.signed, Signed::TimestampBody);
        assert_eq!(full.timestamp_header.as_deref(), Some("X-Ts"));
        assert_eq!(full.tolerance_secs, 60);
        let minimal = parse(json!({"algorithm": "sha1", "header": "X-Sig"})).unwrap();
        assert_eq!(minimal.encoding, Encoding::Hex);
        assert_eq!(minimal.signed, Signed::Body);
        assert_eq!(minimal.prefix, "");
        assert_eq!(minimal.timestamp_header, None);
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases = [
            (json!({"header": "X"}), "algorithm"),
            (json!({"algorithm": "md5", "header": "X"}), "algorithm"),
            (json!({"algorithm": "sha256"}), "header"),
            (json!({"algorithm": "sha256", "header": "X Sig"}), "header"),
            (json!({"algorithm": "sha256", "header": ""}), "header"),
            (json!({"algorithm": "sha256", "header": 5}), "header"),
            (
                json!({"algorithm": "sha256", "header": "X", "encoding": "b32"}),
                "encoding",
            ),
            (
                json!({"algorithm": "sha256", "header": "X", "signed": "all"}),
                "signed",
            ),
            (
                json!({"algorithm": "sha256", "header": "X", "signed": "timestamp.body"}),
                "timestamp_header",
            ),
            (
                json!({"algorithm": "sha256", "header": "X", "timestamp_header": "a:b"}),
                "timestamp_header",
            ),
            (
                json!({"algorithm": "sha256", "header": "X", "tolerance_secs": 0}),
                "tolerance_secs",
            ),
            (
                json!({"algorithm": "sha256", "header": "X", "tolerance_secs": "5"}),
                "tolerance_secs",
            ),
            (
                json!({"algorithm": "sha256", "header": "X", "secret": "s"}),
                "secret",
            ),
            (
                json!({"algorithm": "sha256", "header": "X", "prefix": "p".repeat(65)}),
                "prefix",
            ),
        ];
        for (config, field) in cases {
            assert_eq!(
                parse(config.clone()),
                Err(ConfigError::field(field)),
                "{config}"
            );
        }
    }
}
