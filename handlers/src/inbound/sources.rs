//! Several sources per provider: `/webhooks/{provider}/{source}`, each with its own keys. This
//! file owns the rules: a source name is lowercase `a-z 0-9 - _` (1 to 40 characters, never
//! `default`, which names the plain `/webhooks/{provider}` path); the sources are declared in
//! `WEBHOOK_SOURCES` (`stripe:eu,stripe:us,shopify:store-a`) and each one's keys live in the
//! provider's key setting suffixed by `__` and the source name upper-cased with `-` as `_`
//! (`STRIPE_WEBHOOK_SECRETS__EU`), so `/health` and the deploy check name them without values.
//! The dedupe scope is (provider, source): a non-default source's dedupe and content keys are
//! prefixed with `src:{source}:`, so the same Stripe event id from two accounts, or the same
//! Shopify event delivered to two apps, is two events (each source has its own connections;
//! an operator who subscribes two apps to one shop wants both to run). The default source's
//! keys are unchanged, so events stored before sources existed keep deduplicating.
//! [`SourceSelector`] is how connections and filters name a source (`stripe:eu`).

use crate::inbound::providers::Accepted;
use crate::inbound::webhook::{ParsedEvent, Provider};
use crate::settings::table;
use crate::settings::{Config, ConfigError};

/// The name `/webhooks/{provider}` answers to (stored as a NULL source).
pub const DEFAULT_SOURCE: &str = "default";
/// The label metrics give a request whose source name named no source; no source may be called
/// so, or its counts would mix with strangers' (`metrics::source_label`).
pub const UNKNOWN_SOURCE: &str = "unknown";
/// The longest source name.
pub const MAX_SOURCE_NAME: usize = 40;

/// Why a source name is refused (the message names the rule, the value is the caller's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceNameError {
    Empty,
    TooLong,
    BadCharacter,
    Reserved,
}

impl SourceNameError {
    pub fn detail(&self) -> &'static str {
        match self {
            SourceNameError::Empty => "a source name is not empty",
            SourceNameError::TooLong => "a source name has at most 40 characters",
            SourceNameError::BadCharacter => "a source name uses only a-z, 0-9, '-' and '_'",
            SourceNameError::Reserved => {
                "`default` names the provider's own path and `unknown` counts names of no source"
            }
        }
    }
}

/// Check a source name (from a URL, `WEBHOOK_SOURCES` or a filter).
pub fn validate_source_name(name: &str) -> Result<(), SourceNameError> {
    if name.is_empty() {
        return Err(SourceNameError::Empty);
    }
    if name.len() > MAX_SOURCE_NAME {
        return Err(SourceNameError::TooLong);
    }
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
    if !name.chars().all(allowed) {
        return Err(SourceNameError::BadCharacter);
    }
    if name == DEFAULT_SOURCE || name == UNKNOWN_SOURCE {
        return Err(SourceNameError::Reserved);
    }
    Ok(())
}

/// The setting holding `provider`'s verification keys for the default source. The registry
/// (`in`) has none: its sources' secrets live in D1, so it names no setting (`""`) and
/// `WEBHOOK_SOURCES` refuses it.
pub fn base_key_setting(provider: Provider) -> &'static str {
    match provider {
        Provider::Registry => "",
        Provider::Stripe => table::STRIPE_WEBHOOK_SECRETS,
        Provider::SendGrid => table::SENDGRID_WEBHOOK_PUBLIC_KEYS,
        Provider::HubSpot => table::HUBSPOT_CLIENT_SECRETS,
        Provider::Shopify => table::SHOPIFY_WEBHOOK_SECRETS,
    }
}

/// The setting holding `source`'s keys: `<BASE>__<SOURCE>` (`STRIPE_WEBHOOK_SECRETS__EU`,
/// `SHOPIFY_WEBHOOK_SECRETS__STORE_A`).
pub fn key_setting(provider: Provider, source: &str) -> String {
    let suffix: String = source
        .chars()
        .map(|c| match c {
            '-' => '_',
            c => c.to_ascii_uppercase(),
        })
        .collect();
    format!("{}__{suffix}", base_key_setting(provider))
}

/// One declared source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub provider: Provider,
    pub name: String,
    /// Where its keys are read (see [`key_setting`]).
    pub key_setting: String,
}

fn declared_error(detail: String) -> ConfigError {
    ConfigError {
        setting: table::WEBHOOK_SOURCES,
        detail,
    }
}

/// Parse `WEBHOOK_SOURCES` (`provider:source` entries, comma-separated; blank: none). Errors
/// name the entry's position, never its text: an unknown provider, a bad name, a repeat, or
/// two names whose key settings would be the same (`store-a` and `store_a`).
pub fn parse_declared(raw: Option<&str>) -> Result<Vec<Source>, ConfigError> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(Vec::new());
    };
    let mut sources: Vec<Source> = Vec::new();
    for (index, entry) in raw.split(',').enumerate() {
        let Some((slug, name)) = entry.trim().split_once(':') else {
            return Err(declared_error(format!(
                "entry {index} is not `provider:source`"
            )));
        };
        let provider = Provider::from_slug(slug.trim())
            .filter(|p| *p != Provider::Registry)
            .ok_or_else(|| {
            declared_error(format!(
                "entry {index} names an unknown provider (expected stripe, sendgrid, hubspot, shopify)"
            ))
        })?;
        let name = name.trim();
        validate_source_name(name)
            .map_err(|e| declared_error(format!("entry {index}: {}", e.detail())))?;
        let key_setting = key_setting(provider, name);
        if sources.iter().any(|s| s.key_setting == key_setting) {
            return Err(declared_error(format!(
                "entry {index} repeats a source (or one whose key setting is the same)"
            )));
        }
        sources.push(Source {
            provider,
            name: name.to_string(),
            key_setting,
        });
    }
    Ok(sources)
}

/// The dedupe scope of a non-default source: `src:{source}:{key}`.
pub fn scoped_key(source: Option<&str>, key: &str) -> String {
    match source {
        Some(source) => format!("src:{source}:{key}"),
        None => key.to_string(),
    }
}

/// Mark one event as `source`'s (`None`: the default source, left as parsed) and scope its
/// dedupe, content and version keys to it.
pub fn scope_event(source: Option<&str>, event: &mut ParsedEvent) {
    let Some(name) = source else {
        return;
    };
    event.source = Some(name.to_string());
    event.dedupe_key = scoped_key(source, &event.dedupe_key);
    event.content_key = event.content_key.as_deref().map(|k| scoped_key(source, k));
    event.version_key = event.version_key.as_deref().map(|k| scoped_key(source, k));
}

/// Mark the events and rejected elements of a delivery to `source` (`None`: the default
/// source, left as parsed) and scope their dedupe keys to it.
pub fn scope_delivery(source: Option<&str>, delivery: &mut Accepted) {
    if source.is_none() {
        return;
    }
    for event in &mut delivery.events {
        scope_event(source, event);
    }
    for element in &mut delivery.rejected {
        element.dedupe_key = scoped_key(source, &element.dedupe_key);
    }
}

/// A connection's or filter's choice of source: `stripe` (every source of the provider),
/// `stripe:eu` (one named source) or `stripe:default` (the plain `/webhooks/stripe` path).
/// Matched against a stored or parsed event's `(provider, source)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSelector {
    pub provider: Provider,
    /// `None`: any source; `Some("default")`: the default path only.
    pub source: Option<String>,
}

impl SourceSelector {
    /// Parse `provider` or `provider:source`; `None` when the provider is unknown or the
    /// source name is invalid.
    pub fn parse(text: &str) -> Option<SourceSelector> {
        let (slug, source) = match text.trim().split_once(':') {
            Some((slug, source)) => (slug, Some(source)),
            None => (text.trim(), None),
        };
        let provider = Provider::from_slug(slug)?;
        if let Some(name) = source {
            if name != DEFAULT_SOURCE && validate_source_name(name).is_err() {
                return None;
            }
        }
        Some(SourceSelector {
            provider,
            source: source.map(str::to_string),
        })
    }

    /// True for an event of `provider` that arrived on `source` (`None`: the default path).
    pub fn matches(&self, provider: Provider, source: Option<&str>) -> bool {
        self.provider == provider
            && match self.source.as_deref() {
                None => true,
                Some(DEFAULT_SOURCE) => source.is_none(),
                Some(wanted) => source == Some(wanted),
            }
    }
}

impl<L: Fn(&str) -> Option<String>> Config<L> {
    /// The sources declared in `WEBHOOK_SOURCES`.
    pub fn sources(&self) -> Result<Vec<Source>, ConfigError> {
        parse_declared(self.raw(table::WEBHOOK_SOURCES).as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::webhook::{ParsedEvent, RejectedElement};

    #[test]
    fn source_names_follow_the_rule() {
        for good in ["eu", "store-a", "app_2", "a", &"x".repeat(40)] {
            assert_eq!(validate_source_name(good), Ok(()), "{good}");
        }
        assert_eq!(validate_source_name(""), Err(SourceNameError::Empty));
        assert_eq!(
            validate_source_name(&"x".repeat(41)),
            Err(SourceNameError::TooLong)
        );
        for bad in ["EU", "store a", "a/b", "é", "a.b", "a:b", "%2e"] {
            assert_eq!(
                validate_source_name(bad),
                Err(SourceNameError::BadCharacter),
                "{bad}"
            );
        }
        for reserved in ["default", "unknown"] {
            assert_eq!(
                validate_source_name(reserved),
                Err(SourceNameError::Reserved),
                "{reserved}"
            );
        }
    }

    #[test]
    fn key_settings_derive_from_the_provider_setting() {
        assert_eq!(
            key_setting(Provider::Stripe, "eu"),
            "STRIPE_WEBHOOK_SECRETS__EU"
        );
        assert_eq!(
            key_setting(Provider::Shopify, "store-a"),
            "SHOPIFY_WEBHOOK_SECRETS__STORE_A"
        );
        assert_eq!(
            key_setting(Provider::HubSpot, "app_2"),
            "HUBSPOT_CLIENT_SECRETS__APP_2"
        );
        assert_eq!(
            key_setting(Provider::SendGrid, "mkt"),
            "SENDGRID_WEBHOOK_PUBLIC_KEYS__MKT"
        );
    }

    #[test]
    fn declared_sources_parse_and_refuse_mistakes() {
        let parsed = parse_declared(Some(" stripe:eu, stripe:us ,shopify:store-a")).unwrap();
        let names: Vec<_> = parsed
            .iter()
            .map(|s| (s.provider, s.name.as_str(), s.key_setting.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                (Provider::Stripe, "eu", "STRIPE_WEBHOOK_SECRETS__EU"),
                (Provider::Stripe, "us", "STRIPE_WEBHOOK_SECRETS__US"),
                (
                    Provider::Shopify,
                    "store-a",
                    "SHOPIFY_WEBHOOK_SECRETS__STORE_A"
                ),
            ]
        );
        assert_eq!(parse_declared(None).unwrap(), []);
        assert_eq!(parse_declared(Some("  ")).unwrap(), []);
        for bad in [
            "stripe",
            "paypal:eu",
            "stripe:EU",
            "stripe:default",
            "stripe:eu,stripe:eu",
            "shopify:store-a,shopify:store_a",
            "stripe:eu,,stripe:us",
        ] {
            let error = parse_declared(Some(bad)).unwrap_err();
            assert_eq!(error.setting, "WEBHOOK_SOURCES", "{bad}");
        }
        // The same name under two providers is two sources.
        assert_eq!(parse_declared(Some("stripe:a,shopify:a")).unwrap().len(), 2);
    }

    fn event(key: &str, content: Option<&str>) -> ParsedEvent {
        ParsedEvent {
            dedupe_key: key.into(),
            event_type: "t".into(),
            account: None,
            occurred_at_ms: None,
            payload: "{}".into(),
            content_key: content.map(Into::into),
            source: None,
            version_key: None,
        }
    }

    #[test]
    fn a_source_scopes_its_events_and_the_default_leaves_them() {
        let mut delivery = Accepted {
            key_index: 0,
            events: vec![event("evt_1", None), event("w1", Some("c1"))],
            rejected: vec![RejectedElement {
                index: 2,
                error: crate::inbound::webhook::ParseError::MissingField("eventId"),
                dedupe_key: "rejected:2:ab".into(),
                payload: "{}".into(),
            }],
        };
        scope_delivery(None, &mut delivery);
        assert_eq!(delivery.events[0], event("evt_1", None));
        scope_delivery(Some("eu"), &mut delivery);
        assert_eq!(delivery.rejected[0].dedupe_key, "src:eu:rejected:2:ab");
        let events = &delivery.events;
        assert_eq!(events[0].dedupe_key, "src:eu:evt_1");
        assert_eq!(events[0].source.as_deref(), Some("eu"));
        assert_eq!(events[1].content_key.as_deref(), Some("src:eu:c1"));
        // Two sources never share a key, and neither shares one with the default.
        assert_ne!(
            scoped_key(Some("eu"), "evt_1"),
            scoped_key(Some("us"), "evt_1")
        );
        assert_ne!(scoped_key(Some("eu"), "evt_1"), "evt_1");
    }

    #[test]
    fn a_selector_picks_a_provider_a_source_or_the_default_path() {
        let any = SourceSelector::parse("stripe").unwrap();
        let eu = SourceSelector::parse("stripe:eu").unwrap();
        let plain = SourceSelector::parse("stripe:default").unwrap();
        assert!(any.matches(Provider::Stripe, None) && any.matches(Provider::Stripe, Some("eu")));
        assert!(!any.matches(Provider::Shopify, None));
        assert!(eu.matches(Provider::Stripe, Some("eu")));
        assert!(!eu.matches(Provider::Stripe, Some("us")) && !eu.matches(Provider::Stripe, None));
        assert!(
            plain.matches(Provider::Stripe, None) && !plain.matches(Provider::Stripe, Some("eu"))
        );
        for bad in ["paypal", "stripe:EU", "stripe:", "paypal:eu"] {
            assert_eq!(SourceSelector::parse(bad), None, "{bad}");
        }
    }
}
