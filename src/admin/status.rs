//! The admin API's overview: `GET health` (the configuration and storage checks by name: what
//! `/health` keeps to itself, from `config` and `crate::health`, with the secrets-at-rest
//! warning), `GET stats` (counts per event and step status,
//! rejections in the last 24 h, dead groups, the isolate), `GET rejections` (verification
//! failures per provider and reason, `?hours=24`) and `GET storage` (the database's size
//! against `STORAGE_LIMIT_BYTES`, events stored, bytes per event).

use edgehooks_handlers::admin::STEP_STATUSES;
use edgehooks_handlers::health::secrets::with_warnings;
use edgehooks_handlers::retention::storage::StorageReport;
use serde_json::{json, Map, Value};
use worker::{D1Database, Env};

use super::http::to_json;
use crate::clock::now_ms;
use crate::config::config;
use crate::db::admin as store;
use crate::error::AppError;

fn counts(rows: Vec<store::StatusCount>, all: &[&str]) -> Map<String, Value> {
    let mut map: Map<String, Value> = all.iter().map(|s| (s.to_string(), json!(0))).collect();
    for row in rows {
        map.insert(row.status, json!(row.count));
    }
    map
}

/// `GET stats`.
pub async fn stats(db: &D1Database) -> Result<Value, AppError> {
    let (events, steps) = store::status_counts(db).await?;
    let since_hour = now_ms() / 1000 / 3600 * 3600 - 23 * 3600;
    let rejections = store::rejection_counts(db, since_hour).await?;
    let groups = store::dead_groups(db).await?;
    Ok(json!({
        "events": counts(events, &["accepted", "rejected"]),
        "steps": counts(steps, &STEP_STATUSES),
        "rejections_24h": rejections.iter().map(|r| r.count).sum::<i64>(),
        "dead_groups": groups.len(),
        "isolate": crate::isolate::stats(),
    }))
}

/// `GET storage`: how close the database is to D1's size limit (the core's
/// `StorageReport`). Counting events reads every event's index entry: an admin's request, not
/// the cron's.
pub async fn storage(env: &Env, db: &D1Database) -> Result<Value, AppError> {
    let limit_bytes = config(env).storage_limit_bytes()?;
    let counts = crate::db::retention::stored_counts(db).await?;
    Ok(StorageReport {
        bytes_used: counts.size_bytes,
        limit_bytes,
        events: counts.events,
        tombstones: counts.tombstones,
    }
    .to_json())
}

/// `GET health`: the configuration's checks and `warnings`: `SECRETS_KEY` unset or rows still
/// holding a plaintext secret (a failed count is reported as unknown: the checks still answer).
pub async fn health(env: &Env, db: &D1Database) -> Result<Value, AppError> {
    let plaintext = match crate::db::connections::count_plaintext_secrets(db).await {
        Ok(rows) => Some(rows),
        Err(e) => {
            crate::log::error("d1_read_failed", &e.to_string());
            None
        }
    };
    let config = config(env);
    let warning = config.secrets_at_rest_warning(plaintext);
    Ok(with_warnings(crate::health::detail(env).await, warning))
}

/// `GET rejections`.
pub async fn rejections(db: &D1Database, pairs: &[(String, String)]) -> Result<Value, AppError> {
    let mut hours = 24_i64;
    for (name, value) in pairs {
        match (name.as_str(), value.trim().parse::<i64>()) {
            ("hours", Ok(h)) if (1..=24 * 90).contains(&h) => hours = h,
            _ => {
                return Err(AppError::BadRequest {
                    code: "invalid_filter",
                    detail: "only hours=1..2160 is accepted".into(),
                })
            }
        }
    }
    let since_hour = now_ms() / 1000 / 3600 * 3600 - (hours - 1) * 3600;
    let rows = store::rejection_counts(db, since_hour).await?;
    let total: i64 = rows.iter().map(|r| r.count).sum();
    Ok(
        json!({ "hours": hours, "since_hour": since_hour, "total": total, "rejections": to_json(&rows) }),
    )
}
