//! Binds the core's configuration (`edgehooks_handlers::config`) to the Worker environment: one
//! lookup over [vars] and secrets, and the mapping of a [`ConfigError`] to
//! `AppError::Misconfigured`. Every path (ingest, consumer, sweeper, admin, `/health`) gets its
//! settings through [`config`]; names, defaults, parsing and error scoping live in the core.

use edgehooks_handlers::config::{Config, ConfigError};
use serde_json::Value;
use worker::Env;

use crate::db::RUNNING_LEASE_MS;
use crate::error::AppError;

/// The typed settings of `env`, read through one lookup (vars and secrets are both strings to
/// the runtime; `None` when unset).
pub fn config(env: &Env) -> Config<impl Fn(&str) -> Option<String> + '_> {
    Config::new(
        move |name: &str| env.var(name).ok().map(|v| v.to_string()),
        RUNNING_LEASE_MS,
    )
}

/// The caller logs it: ingest in its one request line, other paths in the router.
impl From<ConfigError> for AppError {
    fn from(error: ConfigError) -> Self {
        AppError::Misconfigured {
            detail: error.to_string(),
        }
    }
}

/// What `/health` says about the configuration (names, never values).
pub fn health(env: &Env) -> Value {
    config(env).health()
}
