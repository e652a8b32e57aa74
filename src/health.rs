//! Binds the health answers (`edgehooks_handlers::health`) to the Worker: `/health` (the state
//! alone) and the admin API's `GET health` (every check by name, the storage figures). Their one
//! D1 call is the storage check's size probe (`SELECT 1`, whose answer carries D1's size of the
//! database), made only when the check is on; a failed read is logged and leaves the status to
//! the configuration, never a 5xx.

use edgehooks_handlers::settings::Config;
use serde_json::Value;
use worker::Env;

use crate::config::config;

/// What `/health` tells anyone: the overall state, no names, no figures.
pub async fn public(env: &Env) -> Value {
    let config = config(env);
    config.public_health(database_size(env, &config).await)
}

/// The admin API's health detail.
pub async fn detail(env: &Env) -> Value {
    let config = config(env);
    config.health_detail(database_size(env, &config).await)
}

/// The database's size for the storage check; `None` when the check is off, or (logged) when
/// D1 cannot be read or does not say.
async fn database_size<L: Fn(&str) -> Option<String>>(
    env: &Env,
    config: &Config<L>,
) -> Option<u64> {
    if !config.health_needs_size() {
        return None;
    }
    let read = match crate::js_binding::d1(env) {
        Ok(db) => crate::db::retention::database_size(&db).await,
        Err(e) => Err(e),
    };
    read.map_err(|e| crate::log::error("health_storage_unread", &e.to_string()))
        .ok()
        .flatten()
}
