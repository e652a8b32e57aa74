//! Secrets sealed at rest for http destinations: their signing secrets are sealed under
//! `SECRETS_KEY` when a destination is written (created or edited) and opened when it is read
//! (a delivery, the alert channel, the admin views). A destination written before the key was
//! set, or while it is unset, keeps its secrets as given (legacy plaintext) until the next
//! write or, once the key is set, the cron sweeper's [`reseal`] (a page a tick, each row
//! sealed, opened again and written only if it opens to what was read, by the core's
//! `sealed::reseal`; registry sources' secrets lists too, should a row hold one unsealed). The
//! same pass re-keys the fingerprints of registry sources written before keyed fingerprints
//! (`sealed::fingerprint`). Opened values are kept in isolate memory by their sealed text
//! (bounded), so a stream of deliveries pays one AES-GCM per secret per isolate, not per step.
//! The format and the key are the core's `sealed`; the cipher is `crate::webcrypto`.

use std::cell::RefCell;

use edgehooks_handlers::by_name::ByName;
use edgehooks_handlers::connections::HttpDestination;
use edgehooks_handlers::sealed::fingerprint::{self as prints, REKEY_PAGE};
use edgehooks_handlers::sealed::reseal::{faithful, RESEAL_PAGE};
use edgehooks_handlers::sealed::{self, Stored};
use serde_json::{json, Value};
use worker::{D1Database, Env};

use crate::config::config;
use crate::db::connections::DestinationRow;
use crate::db::sources::{UnkeyedSource, UnsealedSource};
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

/// The sweeper's pass (only with a valid `SECRETS_KEY`): seal the plaintext secrets of up to
/// [`RESEAL_PAGE`] destinations and as many registry sources. A row is written only when its
/// sealed form opens to exactly what was read, and only while the row still holds that, so no
/// secret is lost or changed and an admin edit in the meantime wins; a sealed row is not read
/// again. Then re-key the fingerprints of sources written before keyed fingerprints.
pub async fn reseal(env: &Env, db: &D1Database) {
    let Ok(Some(key)) = config_key(env) else {
        return;
    };
    let destinations = match crate::db::connections::unsealed_destinations(db, RESEAL_PAGE).await {
        Ok(rows) => rows,
        Err(e) => return log::error("d1_read_failed", &e.to_string()),
    };
    let mut tally = Tally::default();
    for row in &destinations {
        tally.count(&row.name, reseal_destination(env, db, row).await);
    }
    let sources = match crate::db::sources::unsealed(db, RESEAL_PAGE).await {
        Ok(rows) => rows,
        Err(e) => return log::error("d1_read_failed", &e.to_string()),
    };
    for row in &sources {
        tally.count(&row.name, reseal_source(&key, db, row).await);
    }
    if tally.found > 0 {
        log::record(
            "secrets_sealed",
            json!({ "found": tally.found, "sealed": tally.sealed }),
        );
    }
    rekey_fingerprints(&key, db).await;
}

thread_local! {
    /// Where the isolate's next re-key page starts (`prints::next_rekey_start`); a new isolate
    /// starts from the first name.
    static REKEY_START: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Re-key the fingerprints of up to [`REKEY_PAGE`] registry sources written before keyed
/// fingerprints (their views show none until then), the page after the previous one: each
/// row's secrets opened, their keyed fingerprints written only while the row still holds what
/// was read.
async fn rekey_fingerprints(key: &[u8; 32], db: &D1Database) {
    let start = REKEY_START.with_borrow(String::clone);
    let rows = match crate::db::sources::unkeyed(db, REKEY_PAGE, &start).await {
        Ok(rows) => rows,
        Err(e) => return log::error("d1_read_failed", &e.to_string()),
    };
    let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    let next = prints::next_rekey_start(&names, REKEY_PAGE);
    REKEY_START.with_borrow_mut(|start| *start = next);
    let mut tally = Tally::default();
    for row in &rows {
        tally.count(&row.name, rekey_source(key, db, row).await);
    }
    if tally.found > 0 {
        log::record(
            "fingerprints_rekeyed",
            json!({ "found": tally.found, "rekeyed": tally.sealed }),
        );
    }
}

/// Key one source's fingerprints; `Ok(false)` when the row changed since it was read.
async fn rekey_source(
    key: &[u8; 32],
    db: &D1Database,
    row: &UnkeyedSource,
) -> Result<bool, String> {
    let context = sealed::context("source", &row.name);
    let opened = crate::webcrypto::open(Some(key), &context, &row.secrets).await?;
    let secrets = std::str::from_utf8(&opened)
        .ok()
        .and_then(edgehooks_handlers::json_lists::strings)
        .ok_or("the secrets are not a list")?;
    let keyed = prints::to_stored(&prints::fingerprints(Some(key), &secrets));
    crate::db::sources::rekey(db, row, &keyed)
        .await
        .map_err(|e| e.to_string())
}

/// Rows a pass found and sealed (or re-keyed).
#[derive(Default)]
struct Tally {
    found: usize,
    sealed: usize,
}

impl Tally {
    fn count(&mut self, name: &str, outcome: Result<bool, String>) {
        self.found += 1;
        match outcome {
            Ok(true) => self.sealed += 1,
            Ok(false) => {}
            Err(e) => log::error("reseal_failed", &format!("{name}: {e}")),
        }
    }
}

/// Seal one destination's secrets; `Ok(false)` when the row changed since it was read.
async fn reseal_destination(
    env: &Env,
    db: &D1Database,
    row: &DestinationRow,
) -> Result<bool, String> {
    let read: Value = serde_json::from_str(&row.config).map_err(|_| "config".to_string())?;
    let sealed = seal_destination_config(env, &row.name, read.clone())
        .await
        .map_err(|_| "sealing failed".to_string())?;
    let sealed_text = sealed.to_string();
    let check = DestinationRow {
        name: row.name.clone(),
        config: sealed_text.clone(),
        paused: row.paused,
        created_at: row.created_at,
        updated_at: row.updated_at,
    };
    let opened = open_config(env, &check).await?;
    if !faithful(&read, &sealed, &opened) {
        return Err("the sealed secrets do not open to the stored ones".into());
    }
    crate::db::connections::reseal_destination(db, &row.name, &sealed_text, &row.config)
        .await
        .map_err(|e| e.to_string())
}

/// Seal one registry source's secrets list (the stored text as it is, bound to its name);
/// `Ok(false)` when the row changed since it was read.
async fn reseal_source(
    key: &[u8; 32],
    db: &D1Database,
    row: &UnsealedSource,
) -> Result<bool, String> {
    let context = sealed::context("source", &row.name);
    let sealed = crate::webcrypto::seal(key, &context, row.secrets.as_bytes()).await?;
    let opened = crate::webcrypto::open(Some(key), &context, &sealed).await?;
    if opened != row.secrets.as_bytes() || !sealed.starts_with(sealed::PREFIX) {
        return Err("the sealed secrets do not open to the stored ones".into());
    }
    crate::db::sources::reseal_secrets(db, &row.name, &sealed, &row.secrets)
        .await
        .map_err(|e| e.to_string())
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
