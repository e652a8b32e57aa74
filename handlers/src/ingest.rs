//! What one provider's ingest reads: its verification keys, the ingest settings it uses and its
//! routes. A provider without keys is disabled whatever else is set; one with keys fails on the
//! first bad setting it uses, and only it: a broken Shopify secret list or a `ROUTES_JSON`
//! section broken for Stripe never stops the other providers. It sits above [`crate::inbound`]
//! and [`crate::steps`] because it joins them: the keys are what arrives, the routes the steps
//! an accepted event plans. [`rejected`] is the row a verified but unparsable delivery is kept as;
//! [`parsed_paths`] which paths' parsed configuration an isolate keeps.

pub mod parsed_paths;
pub mod rejected;

use crate::inbound::providers::ProviderKeys;
use crate::inbound::providers::{hubspot, sendgrid};
use crate::inbound::sources;
use crate::inbound::webhook::Provider;
use crate::settings::table::*;
use crate::settings::{flag, secret_list, Config, ConfigError};
use crate::steps::routes::RouteTable;

/// Settings every ingest request needs.
#[derive(Debug, Clone, Copy)]
pub struct IngestSettings {
    pub tolerance_secs: u64,
    pub max_body_bytes: u64,
    /// How long a KV dedupe hint lives (the providers' longest retry window).
    pub hint_ttl_secs: u64,
}

/// Everything one provider's ingest needs, read and checked together.
pub struct ProviderConfig {
    pub keys: ProviderKeys,
    pub settings: IngestSettings,
    pub routes: RouteTable,
}

/// Largest `MAX_BODY_BYTES`: D1 limits a string, BLOB or table row to 2,000,000 bytes (D1
/// platform limits), and a single-event delivery's body is stored whole as one event row's
/// payload (a verified body that cannot be parsed as one rejected row), beside its id, keys and
/// type. 100,000 bytes are left for those, so every body the limit admits fits in its row: a
/// larger limit would admit deliveries D1 refuses, answered 503 on every retry, forever.
pub const MAX_BODY_BYTES_LIMIT: u64 = 1_900_000;
/// D1's limit on a string, BLOB or row, in bytes.
const D1_ROW_BYTES: u64 = 2_000_000;
const _: () = assert!(MAX_BODY_BYTES_LIMIT + 100_000 <= D1_ROW_BYTES);

/// True for providers whose signature covers a timestamp, so that
/// `SIGNATURE_TOLERANCE_SECONDS` matters to them. Shopify signs none: its ingest never reads
/// the setting, and a broken value cannot stop it.
fn signs_timestamp(provider: Provider) -> bool {
    !matches!(provider, Provider::Shopify)
}

/// The default of `SIGNATURE_TOLERANCE_SECONDS`.
fn default_tolerance_secs() -> u64 {
    default_of(SIGNATURE_TOLERANCE_SECONDS)
        .parse()
        .unwrap_or(300)
}

impl<L: Fn(&str) -> Option<String>> Config<L> {
    /// The configuration of `provider`'s ingest path (keys first: none means disabled).
    pub fn provider(&self, provider: Provider) -> Result<ProviderConfig, ConfigError> {
        let keys = self.provider_keys(provider)?;
        if keys.is_empty() {
            return Ok(self.disabled(keys));
        }
        Ok(ProviderConfig {
            settings: self.ingest_settings(provider)?,
            routes: self.provider_routes(provider)?,
            keys,
        })
    }

    /// The ingest settings of the registry's sources (`/webhooks/in/{name}`): the body limit
    /// (a source may set a lower one) and the hints' lifetime; each scheme applies its own
    /// documented tolerance, so `SIGNATURE_TOLERANCE_SECONDS` is not read.
    pub fn registry_settings(&self) -> Result<IngestSettings, ConfigError> {
        Ok(IngestSettings {
            tolerance_secs: default_tolerance_secs(),
            max_body_bytes: self.max_body_bytes()?,
            hint_ttl_secs: self.number(DEDUPE_HINT_TTL_SECONDS)?.max(60),
        })
    }

    /// The ingest settings `provider` uses (the tolerance only for timestamp-signing providers).
    fn ingest_settings(&self, provider: Provider) -> Result<IngestSettings, ConfigError> {
        let tolerance_secs = if signs_timestamp(provider) {
            self.number(SIGNATURE_TOLERANCE_SECONDS)?
        } else {
            default_tolerance_secs()
        };
        Ok(IngestSettings {
            tolerance_secs,
            max_body_bytes: self.max_body_bytes()?,
            hint_ttl_secs: self.number(DEDUPE_HINT_TTL_SECONDS)?.max(60),
        })
    }

    /// `MAX_BODY_BYTES`, at most [`MAX_BODY_BYTES_LIMIT`].
    fn max_body_bytes(&self) -> Result<u64, ConfigError> {
        match self.number(MAX_BODY_BYTES)? {
            bytes if bytes > MAX_BODY_BYTES_LIMIT => Err(ConfigError {
                setting: MAX_BODY_BYTES,
                detail: format!(
                    "must be at most {MAX_BODY_BYTES_LIMIT} (a stored body must fit in one D1 row)"
                ),
            }),
            bytes => Ok(bytes),
        }
    }

    /// The verification keys configured for `provider` (possibly empty: disabled).
    fn provider_keys(&self, provider: Provider) -> Result<ProviderKeys, ConfigError> {
        let setting = sources::base_key_setting(provider);
        self.keys_from(provider, setting, self.raw(setting))
    }

    /// `provider`'s keys parsed from `raw` (the value of `setting`, or of a source's own key
    /// setting, reported as `setting` by the caller's error).
    fn keys_from(
        &self,
        provider: Provider,
        setting: &'static str,
        raw: Option<String>,
    ) -> Result<ProviderKeys, ConfigError> {
        let raw = raw.as_deref();
        Ok(match provider {
            Provider::Stripe => ProviderKeys::Stripe(secret_list(setting, raw)?),
            Provider::SendGrid => {
                ProviderKeys::SendGrid(sendgrid::parse_public_keys(setting, raw)?)
            }
            Provider::HubSpot => ProviderKeys::HubSpot(hubspot::Settings {
                secrets: secret_list(setting, raw)?,
                allow_legacy: flag(
                    HUBSPOT_ALLOW_LEGACY_SIGNATURES,
                    self.raw(HUBSPOT_ALLOW_LEGACY_SIGNATURES).as_deref(),
                    false,
                )?,
                public_base_url: self.raw(PUBLIC_BASE_URL).filter(|u| !u.trim().is_empty()),
            }),
            Provider::Shopify => ProviderKeys::Shopify(secret_list(setting, raw)?),
            // The registry's sources are read from D1 (`crate::inbound::registry`), never from
            // settings: no keys here, so this path is disabled.
            Provider::Registry => ProviderKeys::Stripe(Vec::new()),
        })
    }

    /// The configuration of one source's ingest path: `None` is the default source
    /// (`/webhooks/{provider}`); a named source must be declared for `provider` in
    /// `WEBHOOK_SOURCES` (`Ok(None)`: not found) and reads its keys from its own setting, the
    /// rest as the provider does. A broken key list is reported as the source's setting.
    pub fn source(
        &self,
        provider: Provider,
        source: Option<&str>,
    ) -> Result<Option<ProviderConfig>, ConfigError> {
        let Some(name) = source else {
            return self.provider(provider).map(Some);
        };
        let declared = self.sources()?;
        let Some(found) = declared
            .iter()
            .find(|s| s.provider == provider && s.name == name)
        else {
            return Ok(None);
        };
        let base = sources::base_key_setting(provider);
        let keys = self
            .keys_from(provider, base, (self.lookup)(&found.key_setting))
            .map_err(|e| ConfigError {
                setting: e.setting,
                detail: match e.setting == base {
                    true => format!("{} (source `{name}`): {}", found.key_setting, e.detail),
                    false => e.detail,
                },
            })?;
        if keys.is_empty() {
            return Ok(Some(self.disabled(keys)));
        }
        Ok(Some(ProviderConfig {
            settings: self.ingest_settings(provider)?,
            routes: self.provider_routes(provider)?,
            keys,
        }))
    }

    /// What a provider or source without keys answers with (disabled: nothing else is read).
    fn disabled(&self, keys: ProviderKeys) -> ProviderConfig {
        ProviderConfig {
            keys,
            settings: IngestSettings {
                tolerance_secs: default_tolerance_secs(),
                max_body_bytes: 0,
                hint_ttl_secs: 60,
            },
            routes: RouteTable::defaults(),
        }
    }
}
