//! The admin API's dead letters: `GET dead` (dead steps grouped by destination and error, plus
//! the steps a query filter matches) and `POST redrive` (re-enqueue dead steps by
//! destination, error, time or ids from a JSON body; a dry run lists them; no filter: a dry run
//! unless `dry_run` is false).

use edgehooks_handlers::admin::{RedriveFilter, UNFILTERED_DRY_RUN};
use serde_json::{json, Map, Value};
use worker::{D1Database, Env};

use super::http::to_json;
use crate::clock::now_ms;
use crate::db::admin as store;
use crate::error::AppError;
use crate::steps::dispatch::send_dispatched;

/// Query-string pairs as the JSON object [`RedriveFilter::from_json`] reads.
fn filter_from_pairs(pairs: &[(String, String)]) -> Result<RedriveFilter, AppError> {
    let mut object = Map::new();
    for (name, value) in pairs {
        let value = match (name.as_str(), value.parse::<i64>()) {
            ("limit" | "from" | "to", Ok(n)) => json!(n),
            ("destination" | "error" | "from" | "to" | "limit", _) => json!(value),
            _ => {
                return Err(AppError::BadRequest {
                    code: "invalid_filter",
                    detail: format!("unknown parameter {name:?}"),
                })
            }
        };
        object.insert(name.clone(), value);
    }
    Ok(RedriveFilter::from_json(
        Value::Object(object).to_string().as_bytes(),
        Some(true),
    )?)
}

/// `GET dead`.
pub async fn list(db: &D1Database, pairs: &[(String, String)]) -> Result<Value, AppError> {
    let filter = filter_from_pairs(pairs)?;
    let groups = store::dead_groups(db).await?;
    let mut steps = store::dead_steps(db, &filter).await?;
    let more = steps.len() > usize::try_from(filter.limit).unwrap_or(0);
    steps.truncate(usize::try_from(filter.limit).unwrap_or(0));
    Ok(json!({ "groups": to_json(&groups), "steps": to_json(&steps), "more": more }))
}

/// `POST redrive`: re-enqueue the dead steps `filter` selects (a dry run lists them).
pub async fn redrive(
    env: &Env,
    db: &D1Database,
    filter: &RedriveFilter,
) -> Result<Value, AppError> {
    let mut steps = store::dead_steps(db, filter).await?;
    let limit = usize::try_from(filter.limit).unwrap_or(0);
    let more = steps.len() > limit;
    steps.truncate(limit);
    let ids: Vec<String> = steps.iter().map(|s| s.id.clone()).collect();
    let mut result = json!({
        "dry_run": filter.dry_run,
        "matched": ids.len(),
        "more": more,
        "steps": to_json(&steps),
    });
    if filter.dry_run {
        if filter.unfiltered {
            result["note"] = json!(UNFILTERED_DRY_RUN);
        }
        return Ok(result);
    }
    let redriven = store::requeue_for_admin(db, &ids, true, now_ms()).await?;
    let to_send: Vec<(String, i64)> = redriven.into_iter().map(|s| (s.id, s.dispatch)).collect();
    let sent = send_dispatched(env, db, &to_send).await;
    let redriven: Vec<&String> = to_send.iter().map(|(id, _)| id).collect();
    if let Some(map) = result.as_object_mut() {
        map.insert("redriven".into(), json!(redriven));
        map.insert("sent".into(), json!(sent));
    }
    Ok(result)
}
