//! Binds the core's configuration (`edgehooks_handlers::settings`) to the Worker environment: one
//! lookup over [vars] and secrets, and the mapping of a [`ConfigError`] to
//! `AppError::Misconfigured`. Every path (ingest, consumer, sweeper, admin, `/health`) gets its
//! settings through [`config`]; names, defaults, parsing and error scoping live in the core. A
//! Worker's vars and secrets are fixed for the life of its isolate (changing one deploys a new
//! version, which runs in new isolates), so each value is read from the `Env` once per isolate
//! and kept: a lookup is otherwise several JS calls and a string copy across the boundary.

use std::cell::RefCell;

use edgehooks_handlers::by_name::ByName;
use edgehooks_handlers::settings::{Config, ConfigError};
use worker::Env;

use crate::error::AppError;
use edgehooks_handlers::steps::timing::RUNNING_LEASE_MS;

thread_local! {
    /// Every setting this isolate has read, by name (`None`: unset).
    static READ: RefCell<ByName<Option<String>>> = RefCell::new(ByName::new());
}

/// The value of the var or secret `name`, read from `env` the first time this isolate asks.
fn setting(env: &Env, name: &str) -> Option<String> {
    if let Some(known) = READ.with(|read| read.borrow().get(name).cloned()) {
        return known;
    }
    let value = env.var(name).ok().map(|v| v.to_string());
    READ.with(|read| read.borrow_mut().insert(name.to_string(), value.clone()));
    value
}

/// The typed settings of `env`, read through one lookup (vars and secrets are both strings to
/// the runtime; `None` when unset).
pub fn config(env: &Env) -> Config<impl Fn(&str) -> Option<String> + '_> {
    Config::new(move |name: &str| setting(env, name), RUNNING_LEASE_MS)
}

/// The caller logs it: ingest in its one request line, other paths in the router.
impl From<ConfigError> for AppError {
    fn from(error: ConfigError) -> Self {
        AppError::Misconfigured {
            detail: error.to_string(),
        }
    }
}
