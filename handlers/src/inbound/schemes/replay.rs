//! How each scheme keeps a captured delivery from being stored again as a new event: someone
//! who saw one signed delivery can re-post its body and signature with a fresh delivery id.
//! Where the signature covers a timestamp, the tolerance window bounds that; where it covers
//! the delivery id, the re-post carries the same id and is a duplicate, but only while the event
//! is stored: the tombstone retention leaves of a runtime source's event lives 7 days, less than
//! retention, so the scheme's id alone would let a re-post after retention through. So every
//! scheme whose signature covers no timestamp gives its deliveries a content key
//! ([`content_key`]): the SHA-256 of the source's name and exactly what was signed, deduped like
//! the id (unique per provider in `events`) and kept by retention's tombstones for the longest
//! window (90 days, `retention::tombstones::CONTENT_KEY_WINDOW_MS`), so the same signed content
//! under any id is a duplicate. The schemes that sign nothing (`gitlab`, `token`, `basic`) key
//! their body: a verbatim re-post is a duplicate, though whoever holds their token can send any
//! body.
//!
//! | scheme | replay bound |
//! |---|---|
//! | `standard-webhooks` | signed timestamp |
//! | `slack` | signed timestamp |
//! | `linear` | signed timestamp |
//! | `calendly` | signed timestamp |
//! | `zoom` | signed timestamp |
//! | `paddle` | signed timestamp |
//! | `workos` | signed timestamp |
//! | `typeform` | signed id and content key |
//! | `intercom` | signed id and content key |
//! | `square` | signed id and content key |
//! | `github` | content key |
//! | `twilio` | content key |
//! | `gitlab` | content key |
//! | `hmac` | signed timestamp with `"signed": "timestamp.body"`, else content key |
//! | `token` | content key |
//! | `basic` | content key |
//!
//! A delivery whose dedupe key comes from a header (an unsigned value: the source's configured
//! header, or a scheme's own id header such as Linear's `Linear-Delivery`,
//! [`scheme_key_source`]) gets the content key too whatever its scheme
//! ([`ReplayGuard::needs_content_key`]): for a timed scheme that closes a re-post inside the
//! tolerance under a fresh header value.

use std::borrow::Cow;

use sha2::{Digest, Sha256};

use super::generic_hmac::Signed;
use super::{twilio, SchemeConfig, SchemeName};
use crate::inbound::webhook::InboundRequest;

/// What stops a captured delivery, re-posted under a fresh delivery id, from being new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayGuard {
    /// A timestamp inside what is signed, refused outside the scheme's tolerance.
    SignedTimestamp,
    /// The scheme's delivery id is inside what is signed (the body): a re-post keeps it, but
    /// only while its event is stored, so the content key is kept too (its tombstone outlives
    /// retention).
    SignedId,
    /// Neither: the content key is deduped too.
    ContentKey,
}

/// Where a delivery's dedupe key came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// A header (the source's configured one, or the scheme's own id header): never signed.
    Header,
    /// The source's configured JSON Pointer into the body.
    Pointer,
    /// The scheme's own delivery id, inside what it signs.
    Scheme,
    /// No id: the body's digest.
    BodyDigest,
}

impl ReplayGuard {
    /// Whether a delivery whose dedupe key came from `key` needs a content key. A
    /// signed-timestamp scheme signs its body, so a pointer into it or the body's digest is
    /// signed as well and the tolerance bounds a re-post; only a header is not signed. Every
    /// other scheme needs it whatever its key: nothing else outlives retention.
    pub fn needs_content_key(self, key: KeySource) -> bool {
        match self {
            ReplayGuard::SignedTimestamp => key == KeySource::Header,
            ReplayGuard::SignedId | ReplayGuard::ContentKey => true,
        }
    }

    /// The words the table above uses.
    pub fn describe(self) -> &'static str {
        match self {
            ReplayGuard::SignedTimestamp => "signed timestamp",
            ReplayGuard::SignedId => "signed id and content key",
            ReplayGuard::ContentKey => "content key",
        }
    }
}

impl SchemeConfig {
    /// How this scheme bounds a replay (see the table above).
    pub fn replay_guard(&self) -> ReplayGuard {
        match self {
            SchemeConfig::Hmac(config) => match config.signed {
                Signed::TimestampBody => ReplayGuard::SignedTimestamp,
                // A timestamp header with the body alone signed is checked but not signed.
                Signed::Body | Signed::UrlBody => ReplayGuard::ContentKey,
            },
            SchemeConfig::Token(_) => ReplayGuard::ContentKey,
            SchemeConfig::Fixed(name) => fixed_guard(*name),
        }
    }
}

/// Where a scheme's own delivery id comes from: a header outside what it signs (GitHub's
/// `X-GitHub-Delivery`, Linear's `Linear-Delivery`, GitLab's and Twilio's), or what it signs
/// (Standard Webhooks signs its `webhook-id`; the others read theirs from the signed body;
/// `hmac`, `token` and `basic` have none).
pub fn scheme_key_source(config: &SchemeConfig) -> KeySource {
    match config.scheme() {
        SchemeName::Github | SchemeName::Linear | SchemeName::Gitlab | SchemeName::Twilio => {
            KeySource::Header
        }
        SchemeName::StandardWebhooks
        | SchemeName::Slack
        | SchemeName::Calendly
        | SchemeName::Zoom
        | SchemeName::Paddle
        | SchemeName::WorkOs
        | SchemeName::Typeform
        | SchemeName::Intercom
        | SchemeName::Square
        | SchemeName::Hmac
        | SchemeName::Token
        | SchemeName::Basic => KeySource::Scheme,
    }
}

fn fixed_guard(name: SchemeName) -> ReplayGuard {
    match name {
        SchemeName::StandardWebhooks
        | SchemeName::Slack
        | SchemeName::Linear
        | SchemeName::Calendly
        | SchemeName::Zoom
        | SchemeName::Paddle
        | SchemeName::WorkOs => ReplayGuard::SignedTimestamp,
        SchemeName::Typeform | SchemeName::Intercom | SchemeName::Square => ReplayGuard::SignedId,
        SchemeName::Github
        | SchemeName::Twilio
        | SchemeName::Gitlab
        | SchemeName::Hmac
        | SchemeName::Token
        | SchemeName::Basic => ReplayGuard::ContentKey,
    }
}

/// What `config`'s signature covers in `request`, in order: the body, or the URL then the
/// body (Square, `hmac` `url+body`), or Twilio's URL then sorted parameters. The schemes that
/// sign nothing give the body.
fn signed_content<'a>(config: &SchemeConfig, request: &InboundRequest<'a>) -> Vec<Cow<'a, [u8]>> {
    let url_then_body = || vec![request.url.as_bytes().into(), request.body.into()];
    match config {
        SchemeConfig::Hmac(hmac) if hmac.signed == Signed::UrlBody => url_then_body(),
        SchemeConfig::Fixed(SchemeName::Square) => url_then_body(),
        SchemeConfig::Fixed(SchemeName::Twilio) => {
            let (url, parameters) = twilio::signed_content(request);
            vec![url.as_bytes().into(), parameters.into_bytes().into()]
        }
        _ => vec![request.body.into()],
    }
}

/// The content key of a verified delivery to source `source`: the hex SHA-256 of the name, a
/// NUL, and what was signed. The same signed content re-posted with any unsigned id has the
/// same key; ingest scopes it to the source (`src:{name}:{key}`) like the dedupe key.
pub fn content_key(config: &SchemeConfig, source: &str, request: &InboundRequest<'_>) -> String {
    let mut digest = Sha256::new();
    digest.update(source.as_bytes());
    digest.update([0]);
    for part in signed_content(config, request) {
        digest.update(&part);
    }
    hex::encode(digest.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(scheme: &str, config: serde_json::Value) -> SchemeConfig {
        SchemeConfig::parse(scheme, Some(&config)).unwrap()
    }

    fn fixed(name: SchemeName) -> SchemeConfig {
        SchemeConfig::Fixed(name)
    }

    fn request<'a>(
        url: &'a str,
        headers: &'a [(String, String)],
        body: &'a [u8],
    ) -> InboundRequest<'a> {
        InboundRequest {
            method: "POST",
            url,
            headers,
            body,
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const URL: &str = "https://hooks.example.com/webhooks/in/s";

    #[test]
    fn only_schemes_signing_neither_a_time_nor_their_id_need_a_content_key() {
        use ReplayGuard::*;
        let expected = [
            (SchemeName::StandardWebhooks, SignedTimestamp),
            (SchemeName::Slack, SignedTimestamp),
            (SchemeName::Linear, SignedTimestamp),
            (SchemeName::Calendly, SignedTimestamp),
            (SchemeName::Zoom, SignedTimestamp),
            (SchemeName::Paddle, SignedTimestamp),
            (SchemeName::WorkOs, SignedTimestamp),
            (SchemeName::Typeform, SignedId),
            (SchemeName::Intercom, SignedId),
            (SchemeName::Square, SignedId),
            (SchemeName::Github, ContentKey),
            (SchemeName::Twilio, ContentKey),
            (SchemeName::Gitlab, ContentKey),
            (SchemeName::Basic, ContentKey),
        ];
        for (name, guard) in expected {
            assert_eq!(fixed(name).replay_guard(), guard, "{}", name.name());
        }
        let hmac = |extra: serde_json::Value| {
            let mut fields = json!({"algorithm": "sha256", "header": "X-Sig"});
            if let (Some(f), Some(more)) = (fields.as_object_mut(), extra.as_object()) {
                f.extend(more.clone());
            }
            config("hmac", fields).replay_guard()
        };
        assert_eq!(hmac(json!({})), ContentKey);
        assert_eq!(hmac(json!({"signed": "url+body"})), ContentKey);
        // A timestamp header that is checked but not signed bounds nothing.
        assert_eq!(hmac(json!({"timestamp_header": "X-Ts"})), ContentKey);
        assert_eq!(
            hmac(json!({"signed": "timestamp.body", "timestamp_header": "X-Ts"})),
            SignedTimestamp
        );
        assert_eq!(
            config("token", json!({"header": "X-Token"})).replay_guard(),
            ContentKey
        );
    }

    #[test]
    fn the_table_above_states_each_schemes_bound() {
        let doc = include_str!("replay.rs");
        for scheme in SchemeName::ALL {
            let configured = matches!(scheme, SchemeName::Hmac | SchemeName::Token);
            let row = match configured {
                true => format!("//! | `{}` |", scheme.name()),
                false => format!(
                    "//! | `{}` | {} |",
                    scheme.name(),
                    fixed_guard(scheme).describe()
                ),
            };
            assert!(doc.contains(&row), "{row}");
        }
    }

    #[test]
    fn a_timed_scheme_needs_the_content_key_only_for_a_header_key() {
        use KeySource::*;
        let all = [Header, Pointer, Scheme, BodyDigest];
        for key in all {
            assert_eq!(
                ReplayGuard::SignedTimestamp.needs_content_key(key),
                key == Header
            );
        }
    }

    #[test]
    fn every_scheme_without_a_signed_timestamp_gets_a_content_key_whatever_its_key() {
        use KeySource::*;
        for scheme in SchemeName::ALL {
            let guard = fixed_guard(scheme);
            for key in [Header, Pointer, Scheme, BodyDigest] {
                assert_eq!(
                    guard.needs_content_key(key),
                    guard != ReplayGuard::SignedTimestamp || key == Header,
                    "{} {key:?}",
                    scheme.name()
                );
            }
        }
    }

    #[test]
    fn a_scheme_id_read_from_a_header_is_unsigned() {
        for scheme in SchemeName::ALL {
            let from_header = matches!(
                scheme,
                SchemeName::Github | SchemeName::Linear | SchemeName::Gitlab | SchemeName::Twilio
            );
            let expected = match from_header {
                true => KeySource::Header,
                false => KeySource::Scheme,
            };
            assert_eq!(
                scheme_key_source(&fixed(scheme)),
                expected,
                "{}",
                scheme.name()
            );
        }
    }

    #[test]
    fn the_key_is_what_was_signed_whatever_the_unsigned_headers() {
        let github = fixed(SchemeName::Github);
        let body = br#"{"action":"opened"}"#;
        let first = headers(&[("X-GitHub-Delivery", "d-1"), ("X-Hub-Signature-256", "x")]);
        let replay = headers(&[("X-GitHub-Delivery", "d-2"), ("X-Hub-Signature-256", "x")]);
        let key = content_key(&github, "gh", &request(URL, &first, body));
        assert_eq!(
            key,
            content_key(&github, "gh", &request(URL, &replay, body))
        );
        let mut expected = Sha256::new();
        expected.update(b"gh\0");
        expected.update(body);
        assert_eq!(key, hex::encode(expected.finalize()));
        // Another body or another source: another key.
        let other = br#"{"action":"closed"}"#;
        assert_ne!(
            key,
            content_key(&github, "gh", &request(URL, &first, other))
        );
        assert_ne!(
            key,
            content_key(&github, "gh2", &request(URL, &first, body))
        );
        // The name is delimited: `a` + `b…` is not `ab` + `…`.
        assert_ne!(
            content_key(&github, "a", &request(URL, &[], b"bc")),
            content_key(&github, "ab", &request(URL, &[], b"c"))
        );
    }

    #[test]
    fn a_url_under_the_signature_is_in_the_key() {
        let square = fixed(SchemeName::Square);
        let url_body = config(
            "hmac",
            json!({"algorithm": "sha1", "header": "X-Sig", "signed": "url+body"}),
        );
        let body_only = config("hmac", json!({"algorithm": "sha1", "header": "X-Sig"}));
        for scheme in [&square, &url_body] {
            assert_ne!(
                content_key(scheme, "s", &request(URL, &[], b"{}")),
                content_key(scheme, "s", &request("https://other.example/x", &[], b"{}"))
            );
        }
        assert_eq!(
            content_key(&body_only, "s", &request(URL, &[], b"{}")),
            content_key(
                &body_only,
                "s",
                &request("https://other.example/x", &[], b"{}")
            )
        );
    }

    #[test]
    fn twilio_keys_its_sorted_parameters_not_their_order_in_the_body() {
        let twilio = fixed(SchemeName::Twilio);
        let form = headers(&[("Content-Type", "application/x-www-form-urlencoded")]);
        let key = |body: &[u8]| content_key(&twilio, "tw", &request(URL, &form, body));
        let sent = key(b"To=%2B1800&Body=hi+there");
        assert_eq!(sent, key(b"Body=hi%20there&To=%2B1800"));
        assert_ne!(sent, key(b"To=%2B1800&Body=bye"));
        let mut expected = Sha256::new();
        expected.update(b"tw\0");
        expected.update(URL.as_bytes());
        expected.update(b"Bodyhi thereTo+1800");
        assert_eq!(sent, hex::encode(expected.finalize()));
    }
}
