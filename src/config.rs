//! Reads configuration from the Worker environment ([vars] and secrets) into typed settings,
//! using the pure parsers in `edgehooks_handlers::config`. A bad value becomes
//! `AppError::Misconfigured` naming the setting (never its value), for the affected path only:
//! each provider's ingest reads only the settings that provider uses ([`provider_config`]), so a
//! broken Shopify secret list or a non-numeric tolerance never stops Shopify or Stripe
//! respectively. [`health`] reports the same checks by name for `/health`.

use edgehooks_handlers::config::{flag, number, secret_list, ConfigError};
use edgehooks_handlers::downstream::DownstreamSettings;
use edgehooks_handlers::providers::ProviderKeys;
use edgehooks_handlers::providers::{hubspot, sendgrid};
use edgehooks_handlers::recovery::record_retries_fit;
use edgehooks_handlers::retention::{retention_days, RETENTION_SETTING};
use edgehooks_handlers::retry::RetryPolicy;
use edgehooks_handlers::routes::{Destination, RouteTable, ROUTES_SETTING};
use edgehooks_handlers::webhook::Provider;
use serde_json::{json, Map, Value};
use worker::Env;

use crate::db::RUNNING_LEASE_MS;
use crate::error::AppError;

/// A var or secret as text; `None` when unset. Vars and secrets are both strings to the runtime.
pub fn text(env: &Env, name: &str) -> Option<String> {
    env.var(name).ok().map(|v| v.to_string())
}

/// The caller logs it: ingest in its one request line, other paths in the router.
impl From<ConfigError> for AppError {
    fn from(error: ConfigError) -> Self {
        AppError::Misconfigured {
            detail: error.to_string(),
        }
    }
}

/// The default of `SIGNATURE_TOLERANCE_SECONDS`.
pub const DEFAULT_TOLERANCE_SECS: u64 = 300;

/// True for providers whose signature covers a timestamp, so that
/// `SIGNATURE_TOLERANCE_SECONDS` matters to them. Shopify signs none: its ingest never reads
/// the setting, and a broken value cannot stop it.
pub fn signs_timestamp(provider: Provider) -> bool {
    !matches!(provider, Provider::Shopify)
}

/// Settings every ingest request needs.
#[derive(Debug, Clone, Copy)]
pub struct IngestSettings {
    pub tolerance_secs: u64,
    pub max_body_bytes: u64,
    /// How long a KV dedupe hint lives (the providers' longest retry window).
    pub hint_ttl_secs: u64,
}

/// The ingest settings `provider` uses (the tolerance only for timestamp-signing providers).
pub fn ingest_settings(env: &Env, provider: Provider) -> Result<IngestSettings, ConfigError> {
    let tolerance_secs = if signs_timestamp(provider) {
        number(
            "SIGNATURE_TOLERANCE_SECONDS",
            text(env, "SIGNATURE_TOLERANCE_SECONDS").as_deref(),
            DEFAULT_TOLERANCE_SECS,
        )?
    } else {
        DEFAULT_TOLERANCE_SECS
    };
    Ok(IngestSettings {
        tolerance_secs,
        max_body_bytes: number(
            "MAX_BODY_BYTES",
            text(env, "MAX_BODY_BYTES").as_deref(),
            1_048_576,
        )?,
        hint_ttl_secs: number(
            "DEDUPE_HINT_TTL_SECONDS",
            text(env, "DEDUPE_HINT_TTL_SECONDS").as_deref(),
            3 * 24 * 3600,
        )?
        .max(60),
    })
}

/// The verification keys configured for `provider` (possibly empty: disabled).
pub fn provider_keys(env: &Env, provider: Provider) -> Result<ProviderKeys, ConfigError> {
    let keys = match provider {
        Provider::Stripe => ProviderKeys::Stripe(secret_list(
            "STRIPE_WEBHOOK_SECRETS",
            text(env, "STRIPE_WEBHOOK_SECRETS").as_deref(),
        )?),
        Provider::SendGrid => ProviderKeys::SendGrid(sendgrid::parse_public_keys(
            "SENDGRID_WEBHOOK_PUBLIC_KEYS",
            text(env, "SENDGRID_WEBHOOK_PUBLIC_KEYS").as_deref(),
        )?),
        Provider::HubSpot => ProviderKeys::HubSpot(hubspot::Settings {
            secrets: secret_list(
                "HUBSPOT_CLIENT_SECRETS",
                text(env, "HUBSPOT_CLIENT_SECRETS").as_deref(),
            )?,
            allow_legacy: flag(
                "HUBSPOT_ALLOW_LEGACY_SIGNATURES",
                text(env, "HUBSPOT_ALLOW_LEGACY_SIGNATURES").as_deref(),
                false,
            )?,
            public_base_url: text(env, "PUBLIC_BASE_URL").filter(|u| !u.trim().is_empty()),
        }),
        Provider::Shopify => ProviderKeys::Shopify(secret_list(
            "SHOPIFY_WEBHOOK_SECRETS",
            text(env, "SHOPIFY_WEBHOOK_SECRETS").as_deref(),
        )?),
    };
    Ok(keys)
}

/// Consumer settings: retry policy, downstream timeout, and the circuit's cool-down when
/// `CIRCUIT_COOL_DOWN_SECONDS` overrides the per-destination default.
#[derive(Debug, Clone, Copy)]
pub struct ConsumerSettings {
    pub policy: RetryPolicy,
    pub timeout_ms: u64,
    pub cool_down_ms: Option<i64>,
}

pub fn consumer_settings(env: &Env) -> Result<ConsumerSettings, ConfigError> {
    let defaults = RetryPolicy::default();
    let max_attempts = number("MAX_ATTEMPTS", text(env, "MAX_ATTEMPTS").as_deref(), 10)?;
    Ok(ConsumerSettings {
        policy: RetryPolicy {
            base_secs: number(
                "RETRY_BASE_SECONDS",
                text(env, "RETRY_BASE_SECONDS").as_deref(),
                defaults.base_secs,
            )?,
            cap_secs: defaults.cap_secs,
            max_attempts: u32::try_from(max_attempts.max(1)).unwrap_or(u32::MAX),
        },
        timeout_ms: call_timeout_ms(env)?,
        cool_down_ms: match text(env, "CIRCUIT_COOL_DOWN_SECONDS").filter(|t| !t.trim().is_empty())
        {
            Some(raw) => Some(
                i64::try_from(number("CIRCUIT_COOL_DOWN_SECONDS", Some(&raw), 60)?)
                    .unwrap_or(i64::MAX / 1000)
                    .saturating_mul(1000),
            ),
            None => None,
        },
    })
}

/// `DOWNSTREAM_TIMEOUT_MS`, refused when a call that long plus the in-place retries of its
/// record would outlive the running lease (then another delivery could run the step again while
/// this one still holds it).
fn call_timeout_ms(env: &Env) -> Result<u64, ConfigError> {
    const SETTING: &str = "DOWNSTREAM_TIMEOUT_MS";
    let timeout_ms = number(SETTING, text(env, SETTING).as_deref(), 10_000)?;
    if !record_retries_fit(timeout_ms, RUNNING_LEASE_MS, RECORD_ROUND_TRIPS_MS) {
        return Err(ConfigError {
            setting: SETTING,
            detail: "must leave time to record the attempt within the 15-minute running lease"
                .into(),
        });
    }
    Ok(timeout_ms)
}

/// Time allowed for the D1 round trips of an attempt's record and its retries.
const RECORD_ROUND_TRIPS_MS: i64 = 60_000;

/// The routes `provider` plans with: defaults plus its own section of `ROUTES_JSON`, validated
/// on every use so a bad override is a clear 503 `misconfigured`, never a silent fallback.
///
/// Scope of a broken override: text that is not JSON, not an object, or names an unknown
/// provider fails every provider (the operator's intent cannot be attributed, and planning with
/// the wrong routes cannot be undone; the 503 makes providers retry until it is fixed). A valid
/// document whose `stripe` section is wrong (unknown step, step unfit for the event) fails only
/// Stripe.
pub fn provider_routes(env: &Env, provider: Provider) -> Result<RouteTable, ConfigError> {
    let Some(text) = text(env, ROUTES_SETTING).filter(|t| !t.trim().is_empty()) else {
        return Ok(RouteTable::defaults());
    };
    let Ok(Value::Object(sections)) = serde_json::from_str::<Value>(&text) else {
        // Not JSON or not an object: let the core produce its precise message.
        return RouteTable::with_overrides_json(&text);
    };
    if let Some(unknown) = sections.keys().find(|k| Provider::from_slug(k).is_none()) {
        return Err(ConfigError {
            setting: ROUTES_SETTING,
            detail: format!(
                "unknown provider `{unknown}` (expected one of stripe, sendgrid, hubspot, shopify)"
            ),
        });
    }
    match sections.get(provider.slug()) {
        None => Ok(RouteTable::defaults()),
        Some(own) => {
            let mut only = Map::new();
            only.insert(provider.slug().into(), own.clone());
            RouteTable::with_overrides_json(&Value::Object(only).to_string())
        }
    }
}

/// Everything one provider's ingest needs, read and checked together.
pub struct ProviderConfig {
    pub keys: ProviderKeys,
    pub settings: IngestSettings,
    pub routes: RouteTable,
}

/// The configuration of `provider`'s ingest path. Keys come first: a provider without a secret
/// is disabled (404) whatever else is set; one with keys fails on the first bad setting it uses.
pub fn provider_config(env: &Env, provider: Provider) -> Result<ProviderConfig, ConfigError> {
    let keys = provider_keys(env, provider)?;
    if keys.is_empty() {
        return Ok(ProviderConfig {
            keys,
            settings: IngestSettings {
                tolerance_secs: DEFAULT_TOLERANCE_SECS,
                max_body_bytes: 0,
                hint_ttl_secs: 60,
            },
            routes: RouteTable::defaults(),
        });
    }
    Ok(ProviderConfig {
        settings: ingest_settings(env, provider)?,
        routes: provider_routes(env, provider)?,
        keys,
    })
}

/// The whole routing table (every provider's section), for display. Ingest uses
/// [`provider_routes`] so that one provider's broken section does not stop the others.
#[allow(dead_code)] // kept for the admin API, which lists the routes in force
pub fn routes(env: &Env) -> Result<RouteTable, AppError> {
    match text(env, ROUTES_SETTING) {
        Some(json) => Ok(RouteTable::with_overrides_json(&json)?),
        None => Ok(RouteTable::defaults()),
    }
}

/// The API destinations `/health` reports (`local` work needs no configuration).
const API_DESTINATIONS: [Destination; 4] = [
    Destination::HubSpot,
    Destination::SendGrid,
    Destination::Stripe,
    Destination::Slack,
];

/// What `/health` says about the configuration: each provider and destination as `enabled`,
/// `disabled` (no secret or token) or `misconfigured`, and for each misconfiguration what it
/// affects and the setting's name. Never a value.
pub fn health(env: &Env) -> Value {
    let mut problems = Vec::new();
    let mut providers = Map::new();
    for provider in Provider::ALL {
        let state = match provider_config(env, provider) {
            Ok(config) if config.keys.is_empty() => "disabled",
            Ok(_) => "enabled",
            Err(e) => {
                problems.push(json!({ "affects": provider.slug(), "setting": e.setting }));
                "misconfigured"
            }
        };
        providers.insert(provider.slug().into(), state.into());
    }
    let consumer = consumer_settings(env);
    if let Err(e) = &consumer {
        problems.push(json!({ "affects": "steps", "setting": e.setting }));
    }
    if let Err(e) = retention_days(text(env, RETENTION_SETTING).as_deref()) {
        problems.push(json!({ "affects": "retention", "setting": e.setting }));
    }
    let downstream = DownstreamSettings::from_lookup(|name| text(env, name));
    let mut destinations = Map::new();
    for destination in API_DESTINATIONS {
        let state = match (&consumer, downstream.is_enabled(destination)) {
            (_, false) => "disabled",
            (Err(_), true) => "misconfigured",
            (Ok(_), true) => "enabled",
        };
        destinations.insert(destination.name().into(), state.into());
    }
    json!({
        "status": "ok",
        "providers": providers,
        "destinations": destinations,
        "misconfigured": problems,
    })
}
