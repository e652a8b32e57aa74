//! The list of every setting edgehooks reads: its name, whether it is a secret, its default and the
//! rule its value follows. Every reader (each feature's `impl Config`) takes names from here;
//! `/health`, the admin API's secret scrubbing and `scripts/check-config.mjs` (through the
//! generated `handlers/settings.json`, kept equal to this table by a test) use the same list, and
//! tests check it against `wrangler.toml`, `.dev.vars.example` and docs/configuration.md.

use serde_json::{json, Value};

/// Where a setting's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `wrangler secret put` (or `.dev.vars`); never in `[vars]`.
    Secret,
    /// A public key: a secret by habit, but harmless in `[vars]`.
    PublicKey,
    /// A plain `[vars]` entry.
    Var,
}

/// The shape a value must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Comma-separated secrets (rotation), see [`super::secret_list`].
    SecretList,
    /// Comma-separated base64 SPKI public keys.
    PublicKeys,
    /// Comma-separated bearer tokens (rotation), each at least
    /// [`crate::auth::MIN_TOKEN_CHARS`] characters.
    TokenList,
    /// A non-negative whole number.
    Number,
    /// true/false/1/0/yes/no.
    Flag,
    /// An http(s) URL.
    Url,
    /// A JSON object.
    Json,
    /// Free text (tokens, ids, names).
    Text,
    /// A console log level: `info`, `warn` or `error` (see [`crate::log_level`]).
    Level,
    /// `provider:source` entries, comma-separated (see [`crate::inbound::sources`]); each declared
    /// source reads its keys from `<KEY SETTING>__<SOURCE>`, named by the source, not listed here.
    SourceList,
}

/// One setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    pub name: &'static str,
    pub kind: Kind,
    pub rule: Rule,
    /// The value used when unset or blank; `""` when there is none.
    pub default: &'static str,
}

const fn setting(name: &'static str, kind: Kind, rule: Rule, default: &'static str) -> Setting {
    Setting {
        name,
        kind,
        rule,
        default,
    }
}

pub const STRIPE_WEBHOOK_SECRETS: &str = "STRIPE_WEBHOOK_SECRETS";
pub const SENDGRID_WEBHOOK_PUBLIC_KEYS: &str = "SENDGRID_WEBHOOK_PUBLIC_KEYS";
pub const HUBSPOT_CLIENT_SECRETS: &str = "HUBSPOT_CLIENT_SECRETS";
pub const SHOPIFY_WEBHOOK_SECRETS: &str = "SHOPIFY_WEBHOOK_SECRETS";
pub const ADMIN_TOKEN: &str = "ADMIN_TOKEN";
pub const HUBSPOT_ACCESS_TOKEN: &str = "HUBSPOT_ACCESS_TOKEN";
pub const SENDGRID_API_KEY: &str = "SENDGRID_API_KEY";
pub const STRIPE_API_KEY: &str = "STRIPE_API_KEY";
pub const SLACK_WEBHOOK_URL: &str = "SLACK_WEBHOOK_URL";
pub const SIGNATURE_TOLERANCE_SECONDS: &str = "SIGNATURE_TOLERANCE_SECONDS";
pub const MAX_BODY_BYTES: &str = "MAX_BODY_BYTES";
pub const DEDUPE_HINT_TTL_SECONDS: &str = "DEDUPE_HINT_TTL_SECONDS";
pub const HUBSPOT_ALLOW_LEGACY_SIGNATURES: &str = "HUBSPOT_ALLOW_LEGACY_SIGNATURES";
pub const PUBLIC_BASE_URL: &str = "PUBLIC_BASE_URL";
pub const MAX_ATTEMPTS: &str = "MAX_ATTEMPTS";
pub const RETRY_BASE_SECONDS: &str = "RETRY_BASE_SECONDS";
pub const DOWNSTREAM_TIMEOUT_MS: &str = "DOWNSTREAM_TIMEOUT_MS";
pub const CIRCUIT_COOL_DOWN_SECONDS: &str = "CIRCUIT_COOL_DOWN_SECONDS";
pub const RATE_LIMITS_JSON: &str = "RATE_LIMITS_JSON";
pub const DRAIN_PAGE_SIZE: &str = "DRAIN_PAGE_SIZE";
pub const RETENTION_DAYS: &str = "RETENTION_DAYS";
pub const PRIVACY_PAGE_EVENTS: &str = "PRIVACY_PAGE_EVENTS";
pub const LOG_LEVEL: &str = "LOG_LEVEL";
pub const ROUTES_JSON: &str = "ROUTES_JSON";
pub const HUBSPOT_API_BASE: &str = "HUBSPOT_API_BASE";
pub const SENDGRID_API_BASE: &str = "SENDGRID_API_BASE";
pub const STRIPE_API_BASE: &str = "STRIPE_API_BASE";
pub const SENDGRID_FROM_EMAIL: &str = "SENDGRID_FROM_EMAIL";
pub const SENDGRID_FROM_NAME: &str = "SENDGRID_FROM_NAME";
pub const SENDGRID_TEMPLATE_ORDER_CONFIRMATION: &str = "SENDGRID_TEMPLATE_ORDER_CONFIRMATION";
pub const SENDGRID_TEMPLATE_CANCELLATION: &str = "SENDGRID_TEMPLATE_CANCELLATION";
pub const SENDGRID_TEMPLATE_DUNNING: &str = "SENDGRID_TEMPLATE_DUNNING";
pub const HUBSPOT_APP_ID: &str = "HUBSPOT_APP_ID";
pub const ALERT_SLACK_WEBHOOK_URL: &str = "ALERT_SLACK_WEBHOOK_URL";
pub const ALERT_DESTINATION: &str = "ALERT_DESTINATION";
pub const ALERT_SIGNATURE_FAILURES: &str = "ALERT_SIGNATURE_FAILURES";
pub const ALERT_QUIET_MINUTES: &str = "ALERT_QUIET_MINUTES";
pub const ALERT_RENOTIFY_MINUTES: &str = "ALERT_RENOTIFY_MINUTES";
pub const ALERT_MAX_PER_HOUR: &str = "ALERT_MAX_PER_HOUR";
pub const METRICS_RETENTION_DAYS: &str = "METRICS_RETENTION_DAYS";
pub const STORAGE_LIMIT_BYTES: &str = "STORAGE_LIMIT_BYTES";
pub const BACKFILL_INTERVAL_MINUTES: &str = "BACKFILL_INTERVAL_MINUTES";
pub const BACKFILL_MAX_PAGES: &str = "BACKFILL_MAX_PAGES";
pub const STRIPE_BACKFILL_SOURCE: &str = "STRIPE_BACKFILL_SOURCE";
pub const WEBHOOK_SOURCES: &str = "WEBHOOK_SOURCES";
pub const SHOPIFY_ADMIN_TOKEN: &str = "SHOPIFY_ADMIN_TOKEN";
pub const SHOPIFY_SHOP_DOMAIN: &str = "SHOPIFY_SHOP_DOMAIN";
pub const SHOPIFY_ADMIN_API_BASE: &str = "SHOPIFY_ADMIN_API_BASE";
pub const ACCESS_TEAM_DOMAIN: &str = "ACCESS_TEAM_DOMAIN";
pub const ACCESS_AUD: &str = "ACCESS_AUD";
pub const ACCESS_ROLES_JSON: &str = "ACCESS_ROLES_JSON";
pub const ACCESS_CERTS_URL: &str = "ACCESS_CERTS_URL";
pub const AUDIT_RETENTION_DAYS: &str = "AUDIT_RETENTION_DAYS";
pub const SEARCH_SCAN_ROWS: &str = "SEARCH_SCAN_ROWS";
pub const SECRETS_KEY: &str = "SECRETS_KEY";

use Kind::{PublicKey, Secret, Var};
use Rule::{Flag, Json, Level, Number, PublicKeys, SecretList, SourceList, Text, TokenList, Url};

/// Every setting, secrets first.
pub const SETTINGS: [Setting; 55] = [
    setting(STRIPE_WEBHOOK_SECRETS, Secret, SecretList, ""),
    setting(SENDGRID_WEBHOOK_PUBLIC_KEYS, PublicKey, PublicKeys, ""),
    setting(HUBSPOT_CLIENT_SECRETS, Secret, SecretList, ""),
    setting(SHOPIFY_WEBHOOK_SECRETS, Secret, SecretList, ""),
    setting(ADMIN_TOKEN, Secret, TokenList, ""),
    setting(HUBSPOT_ACCESS_TOKEN, Secret, Text, ""),
    setting(SENDGRID_API_KEY, Secret, Text, ""),
    setting(STRIPE_API_KEY, Secret, Text, ""),
    setting(SLACK_WEBHOOK_URL, Secret, Url, ""),
    setting(ALERT_SLACK_WEBHOOK_URL, Secret, Url, ""),
    setting(SHOPIFY_ADMIN_TOKEN, Secret, Text, ""),
    setting(SECRETS_KEY, Secret, Text, ""),
    setting(SIGNATURE_TOLERANCE_SECONDS, Var, Number, "300"),
    setting(MAX_BODY_BYTES, Var, Number, "1048576"),
    setting(DEDUPE_HINT_TTL_SECONDS, Var, Number, "259200"),
    setting(HUBSPOT_ALLOW_LEGACY_SIGNATURES, Var, Flag, "false"),
    setting(PUBLIC_BASE_URL, Var, Url, ""),
    setting(MAX_ATTEMPTS, Var, Number, "10"),
    setting(RETRY_BASE_SECONDS, Var, Number, "5"),
    setting(DOWNSTREAM_TIMEOUT_MS, Var, Number, "10000"),
    setting(CIRCUIT_COOL_DOWN_SECONDS, Var, Number, ""),
    setting(RATE_LIMITS_JSON, Var, Json, ""),
    setting(DRAIN_PAGE_SIZE, Var, Number, "100"),
    setting(RETENTION_DAYS, Var, Number, "30"),
    setting(PRIVACY_PAGE_EVENTS, Var, Number, "500"),
    setting(LOG_LEVEL, Var, Level, "warn"),
    setting(ROUTES_JSON, Var, Json, ""),
    setting(HUBSPOT_API_BASE, Var, Url, "https://api.hubapi.com"),
    setting(SENDGRID_API_BASE, Var, Url, "https://api.sendgrid.com"),
    setting(STRIPE_API_BASE, Var, Url, "https://api.stripe.com"),
    setting(SENDGRID_FROM_EMAIL, Var, Text, ""),
    setting(SENDGRID_FROM_NAME, Var, Text, ""),
    setting(SENDGRID_TEMPLATE_ORDER_CONFIRMATION, Var, Text, ""),
    setting(SENDGRID_TEMPLATE_CANCELLATION, Var, Text, ""),
    setting(SENDGRID_TEMPLATE_DUNNING, Var, Text, ""),
    setting(HUBSPOT_APP_ID, Var, Text, ""),
    setting(ALERT_DESTINATION, Var, Text, ""),
    setting(ALERT_SIGNATURE_FAILURES, Var, Number, "5"),
    setting(ALERT_QUIET_MINUTES, Var, Json, ""),
    setting(ALERT_RENOTIFY_MINUTES, Var, Number, "30"),
    setting(ALERT_MAX_PER_HOUR, Var, Number, "20"),
    setting(METRICS_RETENTION_DAYS, Var, Number, "7"),
    setting(STORAGE_LIMIT_BYTES, Var, Number, "10000000000"),
    setting(BACKFILL_INTERVAL_MINUTES, Var, Number, "15"),
    setting(BACKFILL_MAX_PAGES, Var, Number, "5"),
    setting(STRIPE_BACKFILL_SOURCE, Var, Text, ""),
    setting(WEBHOOK_SOURCES, Var, SourceList, ""),
    setting(SHOPIFY_SHOP_DOMAIN, Var, Text, ""),
    setting(SHOPIFY_ADMIN_API_BASE, Var, Text, ""),
    setting(ACCESS_TEAM_DOMAIN, Var, Text, ""),
    setting(ACCESS_AUD, Var, Text, ""),
    setting(ACCESS_ROLES_JSON, Var, Json, ""),
    setting(ACCESS_CERTS_URL, Var, Url, ""),
    setting(AUDIT_RETENTION_DAYS, Var, Number, "365"),
    setting(SEARCH_SCAN_ROWS, Var, Number, "5000"),
];

/// The setting called `name`, if edgehooks reads one.
pub fn find(name: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.name == name)
}

/// The default of a setting in the table (`""` when it has none or is not listed).
pub fn default_of(name: &str) -> &'static str {
    find(name).map_or("", |s| s.default)
}

/// Names whose values must never be shown (secrets and the public keys alike).
pub fn secret_names() -> impl Iterator<Item = &'static str> {
    SETTINGS.iter().filter(|s| s.kind != Var).map(|s| s.name)
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Secret => "secret",
        PublicKey => "public_key",
        Var => "var",
    }
}

fn rule_name(rule: Rule) -> &'static str {
    match rule {
        SecretList => "secret_list",
        PublicKeys => "public_keys",
        TokenList => "token_list",
        Number => "number",
        Flag => "flag",
        Url => "url",
        Json => "json",
        Text => "text",
        Level => "level",
        SourceList => "source_list",
    }
}

/// The table as the JSON written to `handlers/settings.json` for the JS tooling.
pub fn table_json() -> String {
    let rows: Vec<Value> = SETTINGS
        .iter()
        .map(|s| {
            json!({
                "name": s.name,
                "kind": kind_name(s.kind),
                "rule": rule_name(s.rule),
                "default": s.default,
            })
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&Value::Array(rows)).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_defaults_follow_their_rule() {
        let mut names: Vec<_> = SETTINGS.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), SETTINGS.len());
        for s in SETTINGS.iter().filter(|s| !s.default.is_empty()) {
            match s.rule {
                Number => assert!(s.default.parse::<u64>().is_ok(), "{}", s.name),
                Flag => assert!(super::super::flag(s.name, Some(s.default), true).is_ok()),
                Url => assert!(s.default.starts_with("https://"), "{}", s.name),
                // The level rule is `crate::log_level`'s: its tests check this default.
                Level => {}
                _ => panic!("{} has a default its rule does not describe", s.name),
            }
            assert_ne!(s.kind, Secret, "a secret has no default: {}", s.name);
        }
    }

    /// `handlers/settings.json` is generated from this table: `UPDATE_SETTINGS_JSON=1 cargo
    /// test -p edgehooks-handlers` rewrites it; otherwise it must match.
    #[test]
    fn settings_json_is_the_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/settings.json");
        let expected = table_json();
        if std::env::var_os("UPDATE_SETTINGS_JSON").is_some() {
            std::fs::write(path, &expected).unwrap();
        }
        let written = std::fs::read_to_string(path).unwrap_or_default();
        assert_eq!(
            written, expected,
            "handlers/settings.json is stale: run UPDATE_SETTINGS_JSON=1 cargo test -p edgehooks-handlers"
        );
    }

    /// Every name has a row in docs/configuration.md (the book) and is given a value (or an
    /// example) in `wrangler.toml` or `.dev.vars.example`; every name those files set is in the
    /// table.
    #[test]
    fn documented_and_configured() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        let read = |file: &str| std::fs::read_to_string(format!("{root}/{file}")).unwrap();
        let (book, wrangler, dev) = (
            read("docs/configuration.md"),
            read("wrangler.toml"),
            read(".dev.vars.example"),
        );
        let assigned = |text: &str| -> Vec<String> {
            text.lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .filter_map(|l| l.split_once('='))
                .map(|(name, _)| name.trim().to_string())
                .filter(|n| n.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
                .filter(|n| !n.is_empty())
                .collect()
        };
        let vars_section = wrangler.split("[vars]").nth(1).unwrap_or_default();
        let mut set = assigned(vars_section);
        set.extend(assigned(&dev));
        for s in SETTINGS {
            assert!(
                book.contains(&format!("| `{}` |", s.name)),
                "docs/configuration.md has no row for {}",
                s.name
            );
            assert!(
                set.iter().any(|n| n == s.name),
                "{} is in neither wrangler.toml [vars] nor .dev.vars.example",
                s.name
            );
        }
        for name in &set {
            assert!(
                find(name).is_some(),
                "{name} is set but edgehooks never reads it"
            );
        }
    }
}
