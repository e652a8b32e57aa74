//! Secrets sealed at rest for http destinations: their signing secrets are sealed under
//! `SECRETS_KEY` when a destination is written (created or edited) and opened when it is read
//! (a delivery, the alert channel, the admin views). A destination written before the key was
//! set, or while it is unset, keeps its secrets as given (legacy plaintext) and is sealed the
//! next time it is written; nothing else rewrites rows. Opened values are kept in isolate
//! memory by their sealed text (bounded), so a stream of deliveries pays one AES-GCM per
//! secret per isolate, not per step. The format and the key are the core's `sealed`; the cipher
//! is `crate::webcrypto`.

use std::cell::RefCell;

use edgehooks_handlers::by_name::ByName;
use edgehooks_handlers::connections::HttpDestination;
use edgehooks_handlers::sealed::{self, Stored};
use serde_json::Value;
use worker::Env;

use crate::config::config;
use crate::db::connections::DestinationRow;
use crate::error::AppError;
use crate::ingest::routing::destination_of;
use crate::log;

/// Most opened values an isolate keeps (cleared whole when full).
const MAX_OPENED: usize = 256;

thread_local! {
    static OPENED: RefCell<ByName<String>> = RefCell::new(ByName::new());
}

/// A stored destination as the core's value, its sealed secrets opened; `Err` names what is
/// wrong (a field that no longer validates, or secrets that do not open).
pub async fn open_destination(env: &Env, row: &DestinationRow) -> Result<HttpDestination, String> {
    let opened = DestinationRow {
        name: row.name.clone(),
        config: open_config(env, row).await?.to_string(),
        paused: row.paused,
        created_at: row.created_at,
        updated_at: row.updated_at,
    };
    destination_of(&opened)
}

/// A stored destination's config JSON with its sealed secrets opened (what an edit merges
/// into); `Err` names what is wrong.
pub async fn open_config(env: &Env, row: &DestinationRow) -> Result<Value, String> {
    let mut config: Value = serde_json::from_str(&row.config).map_err(|_| "config".to_string())?;
    let key = config_key(env).map_err(|_| "SECRETS_KEY".to_string())?;
    let context = sealed::context("destination", &row.name);
    if let Some(secrets) = config.get_mut("secrets").and_then(Value::as_array_mut) {
        for secret in secrets.iter_mut() {
            if let Some(text) = secret.as_str().filter(|t| t.starts_with(sealed::PREFIX)) {
                *secret = Value::String(open_cached(key.as_ref(), &context, text).await?);
            }
        }
    }
    Ok(config)
}

/// The stored form of destination `name`'s validated config with its secrets sealed (as it
/// is, without `SECRETS_KEY`).
pub async fn seal_destination_config(
    env: &Env,
    name: &str,
    mut config: Value,
) -> Result<Value, AppError> {
    let Some(key) = config_key(env)? else {
        return Ok(config);
    };
    let context = sealed::context("destination", name);
    if let Some(secrets) = config.get_mut("secrets").and_then(Value::as_array_mut) {
        for secret in secrets.iter_mut() {
            let Some(text) = secret.as_str() else {
                continue;
            };
            if let Ok(Stored::Plain(plain)) = sealed::parse(text) {
                let sealed = crate::webcrypto::seal(&key, &context, plain.as_bytes())
                    .await
                    .map_err(|e| {
                        log::error("seal_failed", &e);
                        AppError::Unavailable
                    })?;
                *secret = Value::String(sealed);
            }
        }
    }
    Ok(config)
}

fn config_key(env: &Env) -> Result<Option<[u8; 32]>, AppError> {
    Ok(config(env).secrets_key()?)
}

async fn open_cached(key: Option<&[u8; 32]>, context: &[u8], text: &str) -> Result<String, String> {
    if let Some(plain) = OPENED.with(|opened| opened.borrow().get(text).cloned()) {
        return Ok(plain);
    }
    let bytes = crate::webcrypto::open(key, context, text).await?;
    let plain = String::from_utf8(bytes).map_err(|_| "secrets".to_string())?;
    OPENED.with(|opened| {
        let mut opened = opened.borrow_mut();
        if opened.len() >= MAX_OPENED {
            opened.clear();
        }
        opened.insert(text.to_string(), plain.clone());
    });
    Ok(plain)
}
