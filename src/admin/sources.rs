//! The admin API's registry sources (`/admin/api/sources…`): list, create, read, edit, rotate
//! the secrets, enable and disable, delete. A source's secrets are sealed under `SECRETS_KEY`
//! before they reach D1 (creating one without the key is `409 secrets_key_unset`) and never
//! answered: the view has their count and keyed fingerprints, and the path to give the sender.
//! A bad scheme configuration is `400 invalid_scheme_config` naming the field. Every change
//! makes this isolate forget its cached sources; others pick it up within `SOURCE_TTL_MS`.

use edgehooks_handlers::inbound::registry::{
    apply_edit, check_secrets, parse_secrets, public_view, rotate, SourceSpec,
};
use edgehooks_handlers::sealed;
use edgehooks_handlers::sealed::fingerprint as prints;
use serde_json::{json, Value};
use worker::{D1Database, Env};

use super::http::{answer, name_taken, ok, Answer};
use crate::clock::now_ms;
use crate::config::config;
use crate::db::sources::{self as store, SourceColumns, SourceRow};
use crate::error::AppError;
use crate::ingest::registry::{invalidate, load, LoadedSource};
use crate::log;

/// The view of a row: its stored keyed fingerprints (none while the row holds the unkeyed
/// form, until the sweeper re-keys it: `crate::sealing::reseal`).
fn view(row: &SourceRow, spec: &SourceSpec) -> Value {
    let mut view = public_view(spec, &prints::read_stored(&row.fingerprints));
    if let Some(map) = view.as_object_mut() {
        map.insert("created_at".into(), json!(row.created_at));
        map.insert("updated_at".into(), json!(row.updated_at));
    }
    view
}

/// The most a source's `max_body_bytes` may be: the deployment's `MAX_BODY_BYTES`.
fn body_limit(env: &Env) -> Result<u64, AppError> {
    Ok(config(env).registry_settings()?.max_body_bytes)
}

/// A stored source opened; 404 when missing.
async fn read_one(
    env: &Env,
    db: &D1Database,
    name: &str,
) -> Result<(SourceRow, LoadedSource), AppError> {
    let row = store::get(db, name).await?.ok_or(AppError::NotFound)?;
    let loaded = load(env, &row).await?;
    Ok((row, loaded))
}

/// `GET sources`: every source (one whose stored spec no longer validates is left out and
/// logged, as connections are).
pub async fn list(db: &D1Database) -> Result<Answer, AppError> {
    let rows = store::list(db).await?;
    let views: Vec<Value> = rows
        .iter()
        .filter_map(|row| match spec_of(row) {
            Some(spec) => Some(view(row, &spec)),
            None => {
                log::error("stored_source_invalid", &row.name);
                None
            }
        })
        .collect();
    Ok(ok(json!({ "sources": views })))
}

/// The stored spec alone (no secret opened): what views need.
fn spec_of(row: &SourceRow) -> Option<SourceSpec> {
    let limit = edgehooks_handlers::ingest::MAX_BODY_BYTES_LIMIT;
    SourceSpec::from_stored(&row.spec, &row.name, limit).ok()
}

/// `GET sources/{name}`.
pub async fn read(db: &D1Database, name: &str) -> Result<Answer, AppError> {
    let row = store::get(db, name).await?.ok_or(AppError::NotFound)?;
    let spec = spec_of(&row).ok_or_else(|| AppError::Misconfigured {
        detail: format!("stored source {name} no longer validates"),
    })?;
    Ok(ok(view(&row, &spec)))
}

/// `POST sources`: 201 with the view (and `path`).
pub async fn create(env: &Env, db: &D1Database, request: &Value) -> Result<Answer, AppError> {
    let spec = SourceSpec::from_json(request, body_limit(env)?)?;
    let secrets = parse_secrets(request.get("secrets"))?;
    check_secrets(&spec, &secrets, &[])?;
    let row = sealed_row(env, &spec, &secrets).await?;
    if !store::save(db, &spec.name, &columns(&spec, &row), true, now_ms()).await? {
        return Err(name_taken("source", &spec.name));
    }
    invalidate();
    let row = store::get(db, &spec.name)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(answer(201, view(&row, &spec)))
}

/// `PUT`/`PATCH sources/{name}` (and `enable`, `disable`): the change merged into the stored
/// spec and validated again; `secrets` in it replace the list.
pub async fn edit(
    env: &Env,
    db: &D1Database,
    name: &str,
    change: &Value,
) -> Result<Answer, AppError> {
    let (_, current) = read_one(env, db, name).await?;
    let (spec, replaced) = apply_edit(&current.spec, change, body_limit(env)?)?;
    let kept = kept_secrets(&current, &spec);
    let secrets = replaced.unwrap_or_else(|| current.secrets.clone());
    save_existing(env, db, &spec, &secrets, kept).await
}

/// `POST sources/{name}/secrets` `{"add": [...], "remove": [fingerprints]}`: every secret
/// listed verifies until it is removed.
pub async fn rotate_secrets(
    env: &Env,
    db: &D1Database,
    name: &str,
    change: &Value,
) -> Result<Answer, AppError> {
    let (_, current) = read_one(env, db, name).await?;
    let secrets = rotate(&current.secrets, change, &secrets_key(env)?)?;
    save_existing(env, db, &current.spec, &secrets, &current.secrets).await
}

/// `DELETE sources/{name}`: its events stay stored.
pub async fn delete(db: &D1Database, name: &str) -> Result<Answer, AppError> {
    if !store::delete(db, name).await? {
        return Err(AppError::NotFound);
    }
    invalidate();
    Ok(ok(json!({ "deleted": name })))
}

/// The stored secrets an edit may keep though a rule came after them: only under the same
/// scheme (a scheme changed by the edit checks every secret).
fn kept_secrets<'a>(current: &'a LoadedSource, spec: &SourceSpec) -> &'a [String] {
    match current.spec.scheme.scheme() == spec.scheme.scheme() {
        true => &current.secrets,
        false => &[],
    }
}

async fn save_existing(
    env: &Env,
    db: &D1Database,
    spec: &SourceSpec,
    secrets: &[String],
    kept: &[String],
) -> Result<Answer, AppError> {
    check_secrets(spec, secrets, kept)?;
    let row = sealed_row(env, spec, secrets).await?;
    store::save(db, &spec.name, &columns(spec, &row), false, now_ms()).await?;
    invalidate();
    let row = store::get(db, &spec.name)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(ok(view(&row, spec)))
}

/// What a write stores besides the spec: the sealed secrets and their fingerprints.
struct SealedSecrets {
    spec: String,
    secrets: String,
    fingerprints: String,
}

fn columns<'a>(spec: &'a SourceSpec, row: &'a SealedSecrets) -> SourceColumns<'a> {
    SourceColumns {
        scheme: spec.scheme.scheme().name(),
        spec: &row.spec,
        secrets: &row.secrets,
        fingerprints: &row.fingerprints,
        enabled: spec.enabled,
    }
}

/// Seal `secrets` under `SECRETS_KEY`, bound to the source's name; refused without the key.
/// `SECRETS_KEY`: sources' secrets are sealed under it and their fingerprints keyed by it, so a
/// source cannot be written without it (409 `secrets_key_unset`).
fn secrets_key(env: &Env) -> Result<[u8; 32], AppError> {
    config(env)
        .secrets_key()?
        .ok_or_else(|| AppError::Conflict {
            code: "secrets_key_unset",
            detail: "set SECRETS_KEY (base64 of 32 random bytes) so source secrets can be sealed"
                .into(),
        })
}

async fn sealed_row(
    env: &Env,
    spec: &SourceSpec,
    secrets: &[String],
) -> Result<SealedSecrets, AppError> {
    let key = secrets_key(env)?;
    let plain = serde_json::to_vec(secrets).unwrap_or_default();
    let context = sealed::context("source", &spec.name);
    let sealed_secrets = crate::webcrypto::seal(&key, &context, &plain)
        .await
        .map_err(|e| {
            log::error("seal_failed", &e);
            AppError::Unavailable
        })?;
    Ok(SealedSecrets {
        spec: spec.to_json().to_string(),
        secrets: sealed_secrets,
        fingerprints: prints::to_stored(&prints::fingerprints(Some(&key), secrets)),
    })
}
