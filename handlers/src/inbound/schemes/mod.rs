//! The catalogue of verification schemes: how a delivery from a sender other than the four
//! built-in providers proves it is genuine. Each scheme is a small module stating its
//! provider's documented rules; all share one shape: [`verify`] takes the scheme's
//! [`SchemeConfig`], the source's secrets (several while one is rotated; the [`Verdict`]
//! names the index that verified), the request (method, full URL, headers, body) and the time,
//! and answers a [`Verdict`] (key index, dedupe key and event type when the scheme has them,
//! and the challenge answer the shell must send back when the scheme defines one) or a
//! [`VerifyError`] with today's stable codes. Every comparison is constant time; nothing
//! panics on outside input.
//!
//! | scheme | header(s) | what is signed | dedupe key | event type | vectors from |
//! |---|---|---|---|---|---|
//! | `standard-webhooks` | `webhook-id`, `webhook-timestamp`, `webhook-signature` (or `svix-*`): `v1,<base64>` entries | HMAC-SHA256 of `{id}.{timestamp}.{body}`, key = base64 after `whsec_`; 5 min | `webhook-id` | body `type` | `standardwebhooks`, `svix` |
//! | `github` | `X-Hub-Signature-256: sha256=<hex>` | HMAC-SHA256 of the body | `X-GitHub-Delivery` | `X-GitHub-Event` + `.` + body `action` | `@octokit/webhooks-methods` |
//! | `twilio` | `X-Twilio-Signature: <base64>` | HMAC-SHA1 (SHA-256 when `X-Twilio-Webhooks-Signature-Settings` says so) of the full URL + sorted form parameters (name then value); JSON bodies: URL carries `bodySHA256` = hex SHA-256 of the body | `I-Twilio-Idempotency-Token` | none | `twilio` (`validateRequest`, `validateRequestWithBody`) |
//! | `slack` | `X-Slack-Request-Timestamp`, `X-Slack-Signature: v0=<hex>` | HMAC-SHA256 of `v0:{timestamp}:{body}`; 5 min | body `event_id` | body `event.type`, else `type` | `@slack/bolt` (`isValidSlackRequest`); `url_verification` answered |
//! | `linear` | `Linear-Signature: <hex>` | HMAC-SHA256 of the body; body `webhookTimestamp` (ms) within 1 min | `Linear-Delivery` | body `type` + `.` + `action` | `@linear/sdk` (`LinearWebhookClient`) |
//! | `square` | `x-square-hmacsha256-signature: <base64>` | HMAC-SHA256 of notification URL + body | body `event_id` | body `type` | `square` (`WebhooksHelper.verifySignature`) |
//! | `typeform` | `Typeform-Signature: sha256=<base64>` | HMAC-SHA256 of the body | body `event_id` | body `event_type` | Typeform docs (no SDK verifier) |
//! | `calendly` | `Calendly-Webhook-Signature: t=<unix>,v1=<hex>` | HMAC-SHA256 of `{t}.{body}`; 3 min | none | body `event` | Calendly docs (no SDK verifier) |
//! | `zoom` | `x-zm-request-timestamp`, `x-zm-signature: v0=<hex>` | HMAC-SHA256 of `v0:{timestamp}:{body}`; 5 min | none | body `event` | `@zoom/rivet` (`AwsLambdaReceiver`, signature and validation answer), Zoom docs for the timestamp; `endpoint.url_validation` answered |
//! | `paddle` | `Paddle-Signature: ts=<unix>;h1=<hex>` (one `h1` per key while rotating) | HMAC-SHA256 of `{ts}:{body}`; 5 s | body `event_id` | body `event_type` | `@paddle/paddle-node-sdk` (`Webhooks.unmarshal`) |
//! | `workos` | `WorkOS-Signature: t=<unix ms>, v1=<hex>` | HMAC-SHA256 of `{t}.{body}`; 3 min | body `id` | body `event` | `@workos-inc/node` (`webhooks.verifyHeader`) |
//! | `intercom` | `X-Hub-Signature: sha1=<hex>` | HMAC-SHA1 of the body (app client secret) | body `id` | body `topic` | Intercom docs (no SDK verifier) |
//! | `gitlab` | `X-Gitlab-Token` | nothing: the header equals the secret | `Idempotency-Key`, else `X-Gitlab-Event-UUID` | `X-Gitlab-Event` | GitLab docs |
//! | `hmac` | configured | configured: SHA-1/256/512, hex/base64, optional prefix, over `body`, `timestamp.body` or `url+body`; optional timestamp header and tolerance | none | none | node:crypto |
//! | `token` | configured | nothing: the header (after an optional prefix) equals the secret | none | none | node:crypto |
//! | `basic` | `Authorization: Basic …` | nothing: `user:password` equals the secret | none | none | node:crypto |
//!
//! "none" for the dedupe key means the source falls back to its configured dedupe, else a
//! digest of what was signed (decided where the source is, not here). Which schemes also
//! dedupe a content key (a re-post under a fresh unsigned id) is [`replay`]'s table.

pub mod basic;
pub mod calendly;
pub mod generic_hmac;
pub mod github;
pub mod gitlab;
pub mod inputs;
pub mod intercom;
pub mod linear;
pub mod mac;
pub mod paddle;
pub mod replay;
pub mod slack;
pub mod square;
pub mod standard_webhooks;
pub mod token;
pub mod twilio;
pub mod typeform;
pub mod workos;
pub mod zoom;

use serde_json::Value;

use crate::inbound::webhook::{InboundRequest, VerifyError};

/// Every scheme, by its stable name (the `scheme` of a source).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SchemeName {
    StandardWebhooks,
    Github,
    Twilio,
    Slack,
    Linear,
    Square,
    Typeform,
    Calendly,
    Zoom,
    Paddle,
    WorkOs,
    Intercom,
    Gitlab,
    Hmac,
    Token,
    Basic,
}

impl SchemeName {
    pub const ALL: [SchemeName; 16] = [
        SchemeName::StandardWebhooks,
        SchemeName::Github,
        SchemeName::Twilio,
        SchemeName::Slack,
        SchemeName::Linear,
        SchemeName::Square,
        SchemeName::Typeform,
        SchemeName::Calendly,
        SchemeName::Zoom,
        SchemeName::Paddle,
        SchemeName::WorkOs,
        SchemeName::Intercom,
        SchemeName::Gitlab,
        SchemeName::Hmac,
        SchemeName::Token,
        SchemeName::Basic,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SchemeName::StandardWebhooks => "standard-webhooks",
            SchemeName::Github => "github",
            SchemeName::Twilio => "twilio",
            SchemeName::Slack => "slack",
            SchemeName::Linear => "linear",
            SchemeName::Square => "square",
            SchemeName::Typeform => "typeform",
            SchemeName::Calendly => "calendly",
            SchemeName::Zoom => "zoom",
            SchemeName::Paddle => "paddle",
            SchemeName::WorkOs => "workos",
            SchemeName::Intercom => "intercom",
            SchemeName::Gitlab => "gitlab",
            SchemeName::Hmac => "hmac",
            SchemeName::Token => "token",
            SchemeName::Basic => "basic",
        }
    }

    pub fn from_name(name: &str) -> Option<SchemeName> {
        SchemeName::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// A scheme with its configuration: only `hmac` and `token` take any; the named providers'
/// rules are fixed by their documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemeConfig {
    Fixed(SchemeName),
    Hmac(generic_hmac::HmacConfig),
    Token(token::TokenConfig),
}

/// A scheme configuration that cannot be used: `{"error":"invalid_scheme_config","field":…}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The offending field (`scheme` for an unknown scheme name, `config` for a config that
    /// is not an object).
    pub field: String,
}

impl ConfigError {
    pub const CODE: &'static str = "invalid_scheme_config";

    pub fn field(field: &str) -> ConfigError {
        ConfigError {
            field: field.to_string(),
        }
    }

    /// The error body the admin API answers.
    pub fn to_json(&self) -> Value {
        serde_json::json!({"error": Self::CODE, "field": self.field})
    }
}

impl SchemeConfig {
    /// The configuration of scheme `name` from the source's JSON `config` (absent or `{}` for
    /// the fixed schemes, which accept no field).
    pub fn parse(name: &str, config: Option<&Value>) -> Result<SchemeConfig, ConfigError> {
        let scheme = SchemeName::from_name(name).ok_or_else(|| ConfigError::field("scheme"))?;
        let empty = serde_json::Map::new();
        let fields = match config {
            None | Some(Value::Null) => &empty,
            Some(Value::Object(fields)) => fields,
            Some(_) => return Err(ConfigError::field("config")),
        };
        match scheme {
            SchemeName::Hmac => generic_hmac::HmacConfig::parse(fields).map(SchemeConfig::Hmac),
            SchemeName::Token => token::TokenConfig::parse(fields).map(SchemeConfig::Token),
            fixed => match fields.keys().next() {
                Some(unknown) => Err(ConfigError::field(unknown)),
                None => Ok(SchemeConfig::Fixed(fixed)),
            },
        }
    }

    pub fn scheme(&self) -> SchemeName {
        match self {
            SchemeConfig::Fixed(name) => *name,
            SchemeConfig::Hmac(_) => SchemeName::Hmac,
            SchemeConfig::Token(_) => SchemeName::Token,
        }
    }
}

/// What the shell must answer instead of storing an event (Slack's `url_verification`, Zoom's
/// `endpoint.url_validation`): a 200 with this body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub content_type: &'static str,
    pub body: String,
}

impl Challenge {
    fn json(value: Value) -> Challenge {
        Challenge {
            content_type: "application/json",
            body: value.to_string(),
        }
    }
}

/// A verified delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Index, in the source's secrets, of the one that verified.
    pub key_index: usize,
    /// The scheme's delivery id, stable across the sender's retries, when it has one.
    pub dedupe_key: Option<String>,
    /// The scheme's event type, when it has one.
    pub event_type: Option<String>,
    /// The answer to a verification handshake, when this delivery is one.
    pub challenge: Option<Challenge>,
}

impl Verdict {
    pub fn keyed(key_index: usize) -> Verdict {
        Verdict {
            key_index,
            dedupe_key: None,
            event_type: None,
            challenge: None,
        }
    }

    fn with(mut self, dedupe_key: Option<String>, event_type: Option<String>) -> Verdict {
        self.dedupe_key = dedupe_key;
        self.event_type = event_type;
        self
    }
}

/// Verify `request` under `config` with any of `secrets` at `now_unix` (Unix seconds). Each
/// scheme applies its own documented tolerance (the `hmac` scheme its configured one).
pub fn verify(
    config: &SchemeConfig,
    secrets: &[String],
    request: &InboundRequest<'_>,
    now_unix: i64,
) -> Result<Verdict, VerifyError> {
    match config {
        SchemeConfig::Hmac(hmac) => generic_hmac::verify(hmac, secrets, request, now_unix),
        SchemeConfig::Token(token) => token::verify(token, secrets, request),
        SchemeConfig::Fixed(name) => verify_fixed(*name, secrets, request, now_unix),
    }
}

fn verify_fixed(
    name: SchemeName,
    secrets: &[String],
    request: &InboundRequest<'_>,
    now_unix: i64,
) -> Result<Verdict, VerifyError> {
    match name {
        SchemeName::StandardWebhooks => standard_webhooks::verify(secrets, request, now_unix),
        SchemeName::Github => github::verify(secrets, request),
        SchemeName::Twilio => twilio::verify(secrets, request),
        SchemeName::Slack => slack::verify(secrets, request, now_unix),
        SchemeName::Linear => linear::verify(secrets, request, now_unix),
        SchemeName::Square => square::verify(secrets, request),
        SchemeName::Typeform => typeform::verify(secrets, request),
        SchemeName::Calendly => calendly::verify(secrets, request, now_unix),
        SchemeName::Zoom => zoom::verify(secrets, request, now_unix),
        SchemeName::Paddle => paddle::verify(secrets, request, now_unix),
        SchemeName::WorkOs => workos::verify(secrets, request, now_unix),
        SchemeName::Intercom => intercom::verify(secrets, request),
        SchemeName::Gitlab => gitlab::verify(secrets, request),
        SchemeName::Basic => basic::verify(secrets, request),
        // Configured schemes never reach here: `SchemeConfig::parse` builds them with their
        // configuration. Without one, nothing can verify.
        SchemeName::Hmac | SchemeName::Token => Err(VerifyError::SignatureMismatch),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_names_round_trip() {
        for scheme in SchemeName::ALL {
            assert_eq!(SchemeName::from_name(scheme.name()), Some(scheme));
        }
        assert_eq!(SchemeName::from_name("GitHub"), None);
    }

    #[test]
    fn fixed_schemes_take_no_config_and_unknown_names_are_refused() {
        let github = SchemeConfig::parse("github", None).unwrap();
        assert_eq!(github, SchemeConfig::Fixed(SchemeName::Github));
        assert_eq!(
            SchemeConfig::parse("github", Some(&serde_json::json!({}))).unwrap(),
            github
        );
        let err = SchemeConfig::parse("github", Some(&serde_json::json!({"header": "x"})));
        assert_eq!(err, Err(ConfigError::field("header")));
        assert_eq!(
            SchemeConfig::parse("nope", None),
            Err(ConfigError::field("scheme"))
        );
        assert_eq!(
            SchemeConfig::parse("slack", Some(&serde_json::json!([1]))),
            Err(ConfigError::field("config"))
        );
        assert_eq!(
            ConfigError::field("algorithm").to_json(),
            serde_json::json!({"error": "invalid_scheme_config", "field": "algorithm"})
        );
    }

    #[test]
    fn the_table_above_lists_every_scheme() {
        let doc = include_str!("mod.rs");
        for scheme in SchemeName::ALL {
            let row = format!("//! | `{}` |", scheme.name());
            assert!(
                doc.contains(&row),
                "{} missing from the table",
                scheme.name()
            );
        }
    }

    #[test]
    fn configured_schemes_need_their_config() {
        assert_eq!(
            SchemeConfig::parse("hmac", None),
            Err(ConfigError::field("algorithm"))
        );
        assert_eq!(
            SchemeConfig::parse("token", None),
            Err(ConfigError::field("header"))
        );
    }
}
