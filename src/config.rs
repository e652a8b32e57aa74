//! Reads configuration from the Worker environment ([vars] and secrets) into typed settings,
//! using the pure parsers in `edgehooks_handlers::config`. A bad value becomes
//! `AppError::Misconfigured` naming the setting, for the affected path only.

use edgehooks_handlers::config::{flag, number, secret_list, ConfigError};
use edgehooks_handlers::ingest::ProviderKeys;
use edgehooks_handlers::retry::RetryPolicy;
use edgehooks_handlers::routes::{RouteTable, ROUTES_SETTING};
use edgehooks_handlers::webhook::Provider;
use edgehooks_handlers::{hubspot, sendgrid};
use worker::Env;

use crate::error::AppError;

/// A var or secret as text; `None` when unset. Vars and secrets are both strings to the runtime.
pub fn text(env: &Env, name: &str) -> Option<String> {
    env.var(name).ok().map(|v| v.to_string())
}

impl From<ConfigError> for AppError {
    fn from(error: ConfigError) -> Self {
        crate::log::error("misconfigured", &error.to_string());
        AppError::Misconfigured {
            detail: error.to_string(),
        }
    }
}

/// Settings every ingest request needs.
#[derive(Debug, Clone, Copy)]
pub struct IngestSettings {
    pub tolerance_secs: u64,
    pub max_body_bytes: u64,
    /// How long a KV dedupe hint lives (the providers' longest retry window).
    pub hint_ttl_secs: u64,
}

pub fn ingest_settings(env: &Env) -> Result<IngestSettings, AppError> {
    Ok(IngestSettings {
        tolerance_secs: number(
            "SIGNATURE_TOLERANCE_SECONDS",
            text(env, "SIGNATURE_TOLERANCE_SECONDS").as_deref(),
            300,
        )?,
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
pub fn provider_keys(env: &Env, provider: Provider) -> Result<ProviderKeys, AppError> {
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

/// Consumer settings: retry policy and downstream timeout.
#[derive(Debug, Clone, Copy)]
pub struct ConsumerSettings {
    pub policy: RetryPolicy,
    pub timeout_ms: u64,
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
        timeout_ms: number(
            "DOWNSTREAM_TIMEOUT_MS",
            text(env, "DOWNSTREAM_TIMEOUT_MS").as_deref(),
            10_000,
        )?,
    })
}

/// The routing table: defaults with `ROUTES_JSON` overrides, validated on every use so a bad
/// override is a clear 503 `misconfigured`, never a silent fallback.
pub fn routes(env: &Env) -> Result<RouteTable, AppError> {
    match text(env, ROUTES_SETTING) {
        Some(json) => Ok(RouteTable::with_overrides_json(&json)?),
        None => Ok(RouteTable::defaults()),
    }
}
