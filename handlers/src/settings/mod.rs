//! Configuration has one owner: this module. [`table`] lists every setting (name, secret or var,
//! default, rule); [`Config`] reads typed settings through ONE lookup closure (`|name| ->
//! Option<String>`, a var or secret by name) that the shell builds from the Worker `Env`. Errors
//! name the setting, never its value, and are scoped to what they affect: each provider reads only
//! what its ingest uses ([`Config::provider`]), the consumer its own settings
//! ([`Config::consumer`]), the sweeper [`Config::retention_days`], the admin API
//! [`Config::admin_tokens`]; [`Config::health`] reports the same checks by name for the admin
//! API, [`Config::public_health`] only whether they pass for `/health`.

mod alerts;
mod backfill;
mod consumer;
mod downstream;
mod health;
mod ingest;
mod parse;
mod shopify_backfill;
pub mod table;

pub use backfill::BackfillSettings;
pub use consumer::ConsumerSettings;
pub use ingest::{IngestSettings, ProviderConfig, MAX_BODY_BYTES_LIMIT};
pub use parse::{flag, number, secret_list, ConfigError};
pub use shopify_backfill::{valid_shop_domain, ShopifyBackfillSettings};

use crate::downstream::DownstreamSettings;
use crate::retention::retention_days;

/// Typed settings read through one lookup. Blank values count as unset everywhere.
pub struct Config<L: Fn(&str) -> Option<String>> {
    lookup: L,
    /// The running lease of a claimed step (ms): a downstream call must fit inside it.
    running_lease_ms: i64,
}

impl<L: Fn(&str) -> Option<String>> Config<L> {
    pub fn new(lookup: L, running_lease_ms: i64) -> Self {
        Config {
            lookup,
            running_lease_ms,
        }
    }

    /// The raw value of `name` (as set; `None` when unset).
    fn raw(&self, name: &str) -> Option<String> {
        debug_assert!(table::find(name).is_some(), "{name} is not in the table");
        (self.lookup)(name)
    }

    /// The value of `name` trimmed, `None` when unset or blank.
    fn text(&self, name: &str) -> Option<String> {
        self.raw(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    /// A numeric setting with its default from the table.
    fn number(&self, name: &'static str) -> Result<u64, ConfigError> {
        let default = table::default_of(name).parse().unwrap_or(0);
        number(name, self.raw(name).as_deref(), default)
    }

    /// `LOG_LEVEL`: the threshold of console lines (see [`crate::log_level`]); a value that is
    /// not a level logs everything (`/health` names the setting).
    pub fn log_level(&self) -> crate::log_level::LogLevel {
        crate::log_level::LogLevel::threshold(self.raw(table::LOG_LEVEL).as_deref())
    }

    /// `LOG_LEVEL` checked: an error when it is set to something that is not a level.
    pub fn log_level_checked(&self) -> Result<crate::log_level::LogLevel, ConfigError> {
        match self.text(table::LOG_LEVEL) {
            None => Ok(crate::log_level::DEFAULT),
            Some(v) => crate::log_level::LogLevel::parse(&v).ok_or(ConfigError {
                setting: table::LOG_LEVEL,
                detail: "must be info, warn or error".into(),
            }),
        }
    }

    /// `RETENTION_DAYS` (at least one day), for the sweeper.
    pub fn retention_days(&self) -> Result<u64, ConfigError> {
        retention_days(self.raw(table::RETENTION_DAYS).as_deref())
    }

    /// The admin bearer tokens (`ADMIN_TOKEN`, comma-separated so a token rotates); empty when
    /// unset (then nothing is authorized). An empty entry, or one shorter than
    /// [`crate::auth::MIN_TOKEN_CHARS`], is an error naming its position: the admin API is
    /// refused (`503 misconfigured`) until it is fixed.
    pub fn admin_tokens(&self) -> Result<Vec<String>, ConfigError> {
        let tokens = secret_list(table::ADMIN_TOKEN, self.raw(table::ADMIN_TOKEN).as_deref())?;
        let min = crate::auth::MIN_TOKEN_CHARS;
        match tokens.iter().position(|t| t.chars().count() < min) {
            Some(index) => Err(ConfigError {
                setting: table::ADMIN_TOKEN,
                detail: format!("entry {index} is shorter than {min} characters"),
            }),
            None => Ok(tokens),
        }
    }

    /// Every configured secret value, whole and each comma-separated entry, for scrubbing.
    pub fn secret_values(&self) -> Vec<String> {
        let source_settings: Vec<String> = self
            .sources()
            .unwrap_or_default()
            .into_iter()
            .map(|s| s.key_setting)
            .collect();
        table::secret_names()
            .filter_map(|name| self.raw(name))
            .chain(self.shopify_source_tokens())
            .chain(
                source_settings
                    .iter()
                    .filter_map(|name| (self.lookup)(name)),
            )
            .flat_map(|value| {
                let mut parts: Vec<String> =
                    value.split(',').map(|s| s.trim().to_string()).collect();
                parts.push(value);
                parts
            })
            .collect()
    }

    /// Destinations, tokens, sender and templates for the consumer's plans.
    pub fn downstream(&self) -> DownstreamSettings {
        DownstreamSettings::from_lookup(|name| self.raw(name))
    }
}

#[cfg(test)]
mod tests;
