//! The sweeper's retention pass (the rules are `edgehooks_handlers::retention`): each cleanup
//! on its own (`cleanup::run_each`), so one failing never skips the others. Events past
//! `RETENTION_DAYS` are deleted in bounded batches while the tick's budget lasts (`budget`),
//! each batch one transaction that also leaves the deleted events' tombstones; then the purge
//! of a backlog's payloads, tombstone expiry, old rejection counts and expired exports. A broken
//! `RETENTION_DAYS` stops only the cleanups that need the cutoff. One `retention` log line says
//! what changed; each failure is an error line.

use std::cell::Cell;

use edgehooks_handlers::retention::budget::{Budget, Deleted};
use edgehooks_handlers::retention::cleanup::{run_each, Cleanup};
use edgehooks_handlers::retention::cutoff_ms;
use edgehooks_handlers::settings::ConfigError;
use serde_json::json;
use worker::{D1Database, Env};

use crate::config::config;
use crate::{db, log};

/// Apply retention at `now` (Unix ms).
pub async fn run(env: &Env, d1: &D1Database, now: i64) {
    let cutoff = config(env)
        .retention_days()
        .map(|days| cutoff_ms(now, days));
    if let Err(e) = &cutoff {
        log::error("misconfigured", &e.to_string());
    }
    let deleted = Cell::new(Deleted::default());
    let report = run_each(|cleanup| run_one(d1, cleanup, &cutoff, now, &deleted)).await;
    for (cleanup, error) in report.failures() {
        log::error("retention_failed", &format!("{}: {error}", cleanup.name()));
    }
    let failed = report.failures().next().is_some();
    if report.changed_anything() || failed {
        let mut fields = report.fields();
        let deleted = deleted.get();
        if let Some(fields) = fields.as_object_mut() {
            fields.insert("deleted_steps".into(), json!(deleted.steps));
            fields.insert("deleted_attempts".into(), json!(deleted.attempts));
            fields.insert("tombstones_written".into(), json!(deleted.tombstones));
        }
        log::record("retention", fields);
    }
}

/// One cleanup: the rows it changed, or why it failed.
async fn run_one(
    d1: &D1Database,
    cleanup: Cleanup,
    cutoff: &Result<i64, ConfigError>,
    now: i64,
    deleted: &Cell<Deleted>,
) -> Result<u64, String> {
    let cutoff = match cutoff {
        Ok(cutoff) => *cutoff,
        Err(e) if cleanup.needs_cutoff() => return Err(format!("misconfigured: {}", e.setting)),
        // A cleanup that does not need the cutoff never reads it.
        Err(_) => now,
    };
    let done = match db::retention::cleanup_statement(d1, cleanup, cutoff, now) {
        None => delete_events(d1, cutoff, now, deleted).await,
        Some(Ok(statement)) => db::retention::changed_rows(&statement).await,
        Some(Err(e)) => Err(e),
    };
    done.map_err(|e| e.to_string())
}

/// Deletion batches while the tick's budget lasts; the events deleted. What the batches did
/// (steps, attempts, tombstones) is kept in `deleted`, also when a later batch fails.
async fn delete_events(
    d1: &D1Database,
    cutoff: i64,
    now: i64,
    deleted: &Cell<Deleted>,
) -> worker::Result<u64> {
    let mut budget = Budget::default();
    while let Some(limit) = budget.next_batch() {
        let batch = db::retention::delete_batch(d1, cutoff, limit, now).await?;
        budget.record(limit, batch);
        deleted.set(budget.spent());
    }
    Ok(budget.spent().events)
}
