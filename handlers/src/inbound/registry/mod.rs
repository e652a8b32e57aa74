//! Sources added at runtime (`/webhooks/in/{name}`): what one is (its name, its verification
//! scheme and that scheme's configuration, where its dedupe key and event type come from, its
//! body limit, on or off) as the admin API takes it, validated field by field, and as D1 keeps
//! it (the spec as JSON beside the sealed secrets, see [`crate::sealed`]). The secrets are
//! never part of the spec: the admin API shows their count and keyed fingerprints only
//! ([`crate::sealed::fingerprint`]). [`arrival`] turns a delivery into an event (or a challenge
//! answer) with the scheme catalogue ([`crate::inbound::schemes`]); everything after that is
//! the built-in providers' path, with provider `in`
//! ([`crate::inbound::webhook::Provider::Registry`]) and the dedupe key scoped to the source
//! (`src:{name}:{key}`, as named sources are).

pub mod arrival;

use serde_json::{json, Map, Value};

use crate::inbound::schemes::{ConfigError, SchemeConfig, SchemeName};
use crate::inbound::sources::validate_source_name;
use crate::sealed::fingerprint::{fingerprint, Shown};
use crate::standard_webhooks::SigningKey;

/// The path prefix of every registry source: a sender is given `/webhooks/in/{name}`.
pub const PATH_PREFIX: &str = "/webhooks/in/";
/// Most secrets a source verifies with at once (during a rotation, all of them verify).
pub const MAX_SECRETS: usize = 5;
/// Longest accepted secret, in characters.
pub const MAX_SECRET_CHARS: usize = 512;
/// Longest header name or JSON Pointer a locator takes.
const MAX_LOCATOR_CHARS: usize = 200;

/// Why an admin request about a source is refused: a stable code and the field it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceError {
    /// `invalid_field` or `invalid_scheme_config`.
    pub code: &'static str,
    pub field: String,
    pub detail: String,
}

fn invalid(field: &str, detail: &str) -> SourceError {
    SourceError {
        code: "invalid_field",
        field: field.to_string(),
        detail: detail.to_string(),
    }
}

impl From<ConfigError> for SourceError {
    fn from(e: ConfigError) -> Self {
        let field = match e.field.as_str() {
            "scheme" => "scheme".to_string(),
            "config" => "config".to_string(),
            other => format!("config.{other}"),
        };
        SourceError {
            code: ConfigError::CODE,
            detail: format!("the scheme's configuration is not usable at `{field}`"),
            field,
        }
    }
}

/// Where a value is read from a delivery: a header, or a JSON Pointer into the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Locator {
    Header(String),
    Pointer(String),
}

impl Locator {
    fn parse(field: &str, value: Option<&Value>) -> Result<Option<Locator>, SourceError> {
        let object = match value {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Object(object)) if object.len() == 1 => object,
            Some(_) => {
                return Err(invalid(
                    field,
                    "must be {\"header\": name} or {\"pointer\": \"/json/pointer\"}",
                ))
            }
        };
        let text = |key: &str| object.get(key).and_then(Value::as_str);
        match (text("header"), text("pointer")) {
            (Some(name), _) if valid_header_name(name) => Ok(Some(Locator::Header(name.into()))),
            (_, Some(pointer)) if valid_pointer(pointer) => {
                Ok(Some(Locator::Pointer(pointer.into())))
            }
            _ => Err(invalid(
                field,
                "a header name (letters, digits, '-', '_') or a JSON Pointer starting with '/'",
            )),
        }
    }

    fn to_json(&self) -> Value {
        match self {
            Locator::Header(name) => json!({ "header": name }),
            Locator::Pointer(pointer) => json!({ "pointer": pointer }),
        }
    }
}

fn valid_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_LOCATOR_CHARS
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn valid_pointer(pointer: &str) -> bool {
    pointer.starts_with('/') && pointer.len() <= MAX_LOCATOR_CHARS
}

/// One source as configured (its secrets apart).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSpec {
    pub name: String,
    pub scheme: SchemeConfig,
    /// The scheme's configuration as given (shown back, stored).
    pub config: Value,
    pub dedupe: Option<Locator>,
    pub event_type: Option<Locator>,
    /// The body limit, at most the deployment's `MAX_BODY_BYTES`; `None`: that setting.
    pub max_body_bytes: Option<u64>,
    pub enabled: bool,
}

/// The fields a source's JSON may carry (`secrets` is read apart by [`parse_secrets`]).
const FIELDS: [&str; 8] = [
    "name",
    "scheme",
    "config",
    "secrets",
    "dedupe",
    "event_type",
    "max_body_bytes",
    "enabled",
];

impl SourceSpec {
    /// A stored row's spec (`sources.spec`, the JSON without its name) with the row's `name`,
    /// validated again. Any stored text fails cleanly (`spec`: not JSON or not an object).
    pub fn from_stored(spec: &str, name: &str, body_limit: u64) -> Result<SourceSpec, SourceError> {
        let mut stored: Value = serde_json::from_str(spec)
            .map_err(|_| invalid("spec", "the stored spec is not JSON"))?;
        let object = stored
            .as_object_mut()
            .ok_or_else(|| invalid("spec", "the stored spec is not a JSON object"))?;
        object.insert("name".to_string(), Value::String(name.to_string()));
        SourceSpec::from_json(&stored, body_limit)
    }

    /// Validate a source's JSON (the admin API's body, or a stored spec with its name), naming
    /// the first field that is wrong. `body_limit` is the most `max_body_bytes` may be.
    pub fn from_json(value: &Value, body_limit: u64) -> Result<SourceSpec, SourceError> {
        let object = value
            .as_object()
            .ok_or_else(|| invalid("body", "must be a JSON object"))?;
        if let Some(unknown) = object.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(invalid(unknown, "is not a field of a source"));
        }
        let name = match object.get("name").and_then(Value::as_str) {
            Some(name) => validate_source_name(name)
                .map(|()| name.to_string())
                .map_err(|e| invalid("name", e.detail()))?,
            None => return Err(invalid("name", "is required")),
        };
        let scheme_name = object
            .get("scheme")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("scheme", "is required (a scheme's name)"))?;
        let config = object.get("config").cloned().unwrap_or(Value::Null);
        let scheme = SchemeConfig::parse(scheme_name, Some(&config))?;
        Ok(SourceSpec {
            name,
            scheme,
            config: match config {
                Value::Null => json!({}),
                config => config,
            },
            dedupe: Locator::parse("dedupe", object.get("dedupe"))?,
            event_type: Locator::parse("event_type", object.get("event_type"))?,
            max_body_bytes: body_limit_of(object, body_limit)?,
            enabled: match object.get("enabled") {
                None | Some(Value::Null) => true,
                Some(Value::Bool(on)) => *on,
                Some(_) => return Err(invalid("enabled", "must be true or false")),
            },
        })
    }

    /// The spec as stored and shown (no secret in it).
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "scheme": self.scheme.scheme().name(),
            "config": self.config,
            "dedupe": self.dedupe.as_ref().map(Locator::to_json),
            "event_type": self.event_type.as_ref().map(Locator::to_json),
            "max_body_bytes": self.max_body_bytes,
            "enabled": self.enabled,
        })
    }

    /// The path the sender is given.
    pub fn path(&self) -> String {
        format!("{PATH_PREFIX}{}", self.name)
    }
}

fn body_limit_of(object: &Map<String, Value>, body_limit: u64) -> Result<Option<u64>, SourceError> {
    match object.get("max_body_bytes") {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_u64()
            .filter(|n| (1..=body_limit).contains(n))
            .map(Some)
            .ok_or_else(|| {
                invalid(
                    "max_body_bytes",
                    &format!("must be a whole number from 1 to {body_limit} (MAX_BODY_BYTES)"),
                )
            }),
    }
}

/// The source's `secrets`: 1 to [`MAX_SECRETS`] distinct, non-empty strings.
pub fn parse_secrets(value: Option<&Value>) -> Result<Vec<String>, SourceError> {
    let list = value
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("secrets", "must be a list of 1 to 5 secrets"))?;
    let secrets: Vec<String> = list
        .iter()
        .map(|s| match s.as_str() {
            Some(secret) if !secret.is_empty() && secret.chars().count() <= MAX_SECRET_CHARS => {
                Ok(secret.to_string())
            }
            _ => Err(invalid(
                "secrets",
                "each secret is a non-empty string of at most 512 characters",
            )),
        })
        .collect::<Result<_, _>>()?;
    check_secret_count(&secrets)?;
    Ok(secrets)
}

fn check_secret_count(secrets: &[String]) -> Result<(), SourceError> {
    if secrets.is_empty() || secrets.len() > MAX_SECRETS {
        return Err(invalid("secrets", "a source has 1 to 5 secrets"));
    }
    let distinct = secrets
        .iter()
        .enumerate()
        .all(|(i, s)| !secrets[..i].contains(s));
    if !distinct {
        return Err(invalid("secrets", "repeats a secret"));
    }
    Ok(())
}

/// Whether `secrets` can ever verify under `spec`'s scheme: a `standard-webhooks` secret is
/// `whsec_` + base64 (a key), a `basic` one is `user:password`; any other scheme takes any
/// string. Where the secret is the credential the sender presents (`token`, `basic`,
/// `gitlab`), it is at least [`MIN_CREDENTIAL_BYTES`] long, except one of `kept` (the source's
/// secrets as stored under the same scheme, accepted before the rule: an edit or a disable must
/// not need a rotation first). Checked on every write, so a scheme changed by an edit is
/// checked too.
pub fn check_secrets(
    spec: &SourceSpec,
    secrets: &[String],
    kept: &[String],
) -> Result<(), SourceError> {
    let scheme = spec.scheme.scheme();
    let usable = |secret: &String| match scheme {
        SchemeName::StandardWebhooks => SigningKey::from_secret(secret).is_ok(),
        SchemeName::Basic => secret.contains(':'),
        _ => true,
    };
    if !secrets.iter().all(usable) {
        return Err(invalid(
            "secrets",
            match scheme {
                SchemeName::Basic => "a basic secret is `user:password`",
                _ => "a standard-webhooks secret is `whsec_` followed by base64",
            },
        ));
    }
    let short = |secret: &String| secret.len() < MIN_CREDENTIAL_BYTES && !kept.contains(secret);
    if is_credential(scheme) && secrets.iter().any(short) {
        return Err(SourceError {
            code: "weak_secret",
            field: "secrets".to_string(),
            detail: format!(
                "a {} secret is the credential itself: at least {MIN_CREDENTIAL_BYTES} bytes",
                scheme.name()
            ),
        });
    }
    Ok(())
}

/// Shortest secret a scheme whose secret is the sender's credential takes, in bytes.
pub const MIN_CREDENTIAL_BYTES: usize = 16;

/// Schemes whose secret is the credential the sender presents (not a signing key).
fn is_credential(scheme: SchemeName) -> bool {
    matches!(
        scheme,
        SchemeName::Token | SchemeName::Basic | SchemeName::Gitlab
    )
}

/// The headers that can carry `scheme`'s signature (or token): a delivery with none of them
/// can never verify, so the shell refuses it (`missing_signature`) before reading its body, as
/// it does for the built-in providers.
pub fn signature_headers(scheme: &SchemeConfig) -> Vec<&str> {
    use crate::inbound::schemes::*;
    match scheme {
        SchemeConfig::Hmac(config) => vec![config.header.as_str()],
        SchemeConfig::Token(config) => vec![config.header.as_str()],
        SchemeConfig::Fixed(name) => match name {
            SchemeName::StandardWebhooks => vec![
                crate::standard_webhooks::SIGNATURE_HEADER,
                standard_webhooks::SVIX_SIGNATURE_HEADER,
            ],
            SchemeName::Github => vec![github::SIGNATURE_HEADER],
            SchemeName::Twilio => vec![twilio::SIGNATURE_HEADER],
            SchemeName::Slack => vec![slack::SIGNATURE_HEADER],
            SchemeName::Linear => vec![linear::SIGNATURE_HEADER],
            SchemeName::Square => vec![square::SIGNATURE_HEADER],
            SchemeName::Typeform => vec![typeform::SIGNATURE_HEADER],
            SchemeName::Calendly => vec![calendly::SIGNATURE_HEADER],
            SchemeName::Zoom => vec![zoom::SIGNATURE_HEADER],
            SchemeName::Paddle => vec![paddle::SIGNATURE_HEADER],
            SchemeName::WorkOs => vec![workos::SIGNATURE_HEADER],
            SchemeName::Intercom => vec![intercom::SIGNATURE_HEADER],
            SchemeName::Gitlab => vec![gitlab::TOKEN_HEADER],
            SchemeName::Basic => vec![basic::HEADER],
            // Built only with their configuration (above).
            SchemeName::Hmac | SchemeName::Token => Vec::new(),
        },
    }
}

/// True when one of `scheme`'s signature headers holds a value.
pub fn has_signature_header(scheme: &SchemeConfig, headers: &[(String, String)]) -> bool {
    signature_headers(scheme).iter().any(|name| {
        headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case(name) && !v.trim().is_empty())
    })
}

/// A rotation: `{"add": [secrets], "remove": [fingerprints]}`, applied in that order to the
/// current list; what remains must still be 1 to [`MAX_SECRETS`] distinct secrets. While a
/// rotation is under way every listed secret verifies. A fingerprint is the keyed one under
/// `secrets_key` ([`fingerprint`]), the only form a view shows.
pub fn rotate(
    current: &[String],
    change: &Value,
    secrets_key: &[u8; 32],
) -> Result<Vec<String>, SourceError> {
    let object = change
        .as_object()
        .ok_or_else(|| invalid("body", "must be {\"add\": [...], \"remove\": [...]}"))?;
    if let Some(unknown) = object.keys().find(|k| *k != "add" && *k != "remove") {
        return Err(invalid(unknown, "a rotation takes `add` and `remove`"));
    }
    let mut secrets = current.to_vec();
    if let Some(add) = object.get("add") {
        secrets.extend(parse_secrets(Some(add))?);
    }
    if let Some(remove) = object.get("remove") {
        let prints = remove
            .as_array()
            .ok_or_else(|| invalid("remove", "must be a list of secret fingerprints"))?;
        for print in prints {
            let print = print.as_str().unwrap_or_default();
            let before = secrets.len();
            secrets.retain(|s| fingerprint(secrets_key, s.as_bytes()) != print);
            if secrets.len() == before {
                return Err(invalid(
                    "remove",
                    "names a fingerprint the source does not have",
                ));
            }
        }
    }
    check_secret_count(&secrets)?;
    Ok(secrets)
}

/// An edit (`PUT`/`PATCH`): the stored spec with the change's fields replaced (`name` may only
/// repeat the source's own), validated again. `secrets` in the change replace the list.
pub fn apply_edit(
    stored: &SourceSpec,
    change: &Value,
    body_limit: u64,
) -> Result<(SourceSpec, Option<Vec<String>>), SourceError> {
    let object = change
        .as_object()
        .ok_or_else(|| invalid("body", "must be a JSON object"))?;
    if object
        .get("name")
        .is_some_and(|n| n.as_str() != Some(&stored.name))
    {
        return Err(invalid("name", "a source's name cannot change"));
    }
    let mut merged = stored.to_json();
    if let Some(fields) = merged.as_object_mut() {
        // A new scheme starts from an empty configuration unless the change gives one.
        if object.contains_key("scheme") {
            fields.insert("config".into(), Value::Null);
        }
        for (key, value) in object {
            if key != "secrets" {
                fields.insert(key.clone(), value.clone());
            }
        }
    }
    let spec = SourceSpec::from_json(&merged, body_limit)?;
    let secrets = match object.get("secrets") {
        Some(list) => Some(parse_secrets(Some(list))?),
        None => None,
    };
    Ok((spec, secrets))
}

/// The admin view: the spec, the path to give the sender, the secrets' count and keyed
/// fingerprints as the row shows them ([`Shown`]; never a secret).
pub fn public_view(spec: &SourceSpec, shown: &Shown) -> Value {
    let mut view = spec.to_json();
    if let Some(fields) = view.as_object_mut() {
        fields.insert("path".into(), json!(spec.path()));
        fields.insert("secrets".into(), json!(shown.count));
        fields.insert("secret_fingerprints".into(), json!(shown.prints));
    }
    view
}

#[cfg(test)]
mod tests;
