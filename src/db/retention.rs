//! Retention's SQL (the rules are `edgehooks_handlers::retention`): delete events past
//! `RETENTION_DAYS` with their steps and attempts in bounded batches, never those of an event
//! with a step not finished for good; drop old hourly rejection counts; drop data-request exports
//! past their expiry.

use edgehooks_handlers::retention::done_statuses_sql;
use worker::{D1Database, D1PreparedStatement, Result};

use super::rows::{batch, query, run};
use super::{num, statement};

/// Delete, in one transaction, up to `limit` events received before `before_ms` with their
/// steps and attempts, skipping every event that has a step not finished for good (see
/// `edgehooks_handlers::retention`): each statement re-checks that, so a step redriven between
/// the selection and the delete keeps its event. Returns the number of events deleted.
pub async fn delete_past_retention(db: &D1Database, before_ms: i64, limit: usize) -> Result<usize> {
    let done = done_statuses_sql();
    let keep = format!(
        "EXISTS (SELECT 1 FROM steps k WHERE k.event_id = {{event}} AND k.status NOT IN {done})"
    );
    let sql = format!(
        "SELECT e.id FROM events e WHERE e.received_at < ?1 AND NOT {} \
         ORDER BY e.received_at LIMIT ?2",
        keep.replace("{event}", "e.id")
    );
    let args = [num(before_ms), num(limit as i64)];
    let ids = query(&statement(db, &sql, &args)?).await?.texts("id")?;
    if ids.is_empty() {
        return Ok(0);
    }
    let json = serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into());
    let chosen = |column: &str| {
        format!(
            "{column} IN (SELECT value FROM json_each(?1)) AND NOT {}",
            keep.replace("{event}", column)
        )
    };
    let attempts = statement(
        db,
        &format!(
            "DELETE FROM attempts WHERE step_id IN (SELECT s.id FROM steps s WHERE {})",
            chosen("s.event_id")
        ),
        &[json.as_str().into()],
    )?;
    let steps = statement(
        db,
        &format!("DELETE FROM steps WHERE {}", chosen("steps.event_id")),
        &[json.as_str().into()],
    )?;
    let events = statement(
        db,
        &format!("DELETE FROM events WHERE {}", chosen("events.id")),
        &[json.as_str().into()],
    )?;
    let answers = batch(db, vec![attempts, steps, events]).await?;
    Ok(answers.last().map_or(0, |a| a.changes()))
}

/// Drop hourly rejection counts older than `before_hour` (Unix seconds).
pub fn delete_old_rejections(db: &D1Database, before_hour: i64) -> Result<D1PreparedStatement> {
    statement(
        db,
        "DELETE FROM rejections WHERE hour < ?1",
        &[num(before_hour)],
    )
}

/// Drop data-request exports whose expiry passed (the request's record stays).
pub fn expire_exports(db: &D1Database, now_ms: i64) -> Result<D1PreparedStatement> {
    statement(
        db,
        "UPDATE privacy_requests SET export = NULL \
         WHERE export IS NOT NULL AND export_expires_at IS NOT NULL AND export_expires_at <= ?1",
        &[num(now_ms)],
    )
}

/// Drop payloads of events received before `before_ms` (retention), keeping the row.
pub async fn purge_payloads(db: &D1Database, before_ms: i64, now_ms: i64) -> Result<usize> {
    let result = run(&statement(
        db,
        "UPDATE events SET payload = NULL, redacted_at = ?2 WHERE received_at < ?1 AND payload IS NOT NULL",
        &[num(before_ms), num(now_ms)],
    )?)
    .await?;
    Ok(result.changes())
}
