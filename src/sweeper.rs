//! The cron sweeper (every minute): the outbox half of ingest. Re-sends steps whose queue send
//! failed (`pending` for over a minute), whose message was lost (`enqueued` long past due) or
//! whose consumer died mid-attempt (`running` past its lease); writes the isolate's tally of
//! rejected requests to D1; and applies `RETENTION_DAYS` (see [`retention`]).

use edgehooks_handlers::rejections::hour_of;
use edgehooks_handlers::retention::{cutoff_ms, retention_days, DELETE_BATCH, RETENTION_SETTING};
use worker::{D1Database, Date, Env};

use crate::config::text;
use crate::queue::send_steps;
use crate::{db, log, rejections};

const PENDING_GRACE_MS: i64 = 60_000;
const SWEEP_LIMIT: i64 = 500;

pub async fn sweep(env: &Env) {
    rejections::flush(env).await;
    let now = Date::now().as_millis() as i64;
    let db = match env.d1("DB") {
        Ok(db) => db,
        Err(e) => return log::error("d1_unavailable", &e.to_string()),
    };
    let due = match db::sweepable_steps(
        &db,
        now - PENDING_GRACE_MS,
        now - db::RUNNING_LEASE_MS,
        SWEEP_LIMIT,
    )
    .await
    {
        Ok(ids) => ids,
        Err(e) => return log::error("d1_read_failed", &e.to_string()),
    };
    if !due.is_empty() {
        if let Err(e) = db::requeue(&db, &due, now).await {
            log::error("d1_write_failed", &e.to_string());
        }
        let sent = send_steps(env, &db, &due).await;
        log::record(
            "sweep",
            serde_json::json!({ "due": due.len(), "sent": sent }),
        );
    }
    retention(env, &db, now).await;
}

/// Past `RETENTION_DAYS`: delete one bounded batch of events with their steps and attempts
/// (never an event with a step not finished for good), drop payloads of the events kept, old
/// rejection counts and expired data-request exports.
async fn retention(env: &Env, db: &D1Database, now: i64) {
    let days = match retention_days(text(env, RETENTION_SETTING).as_deref()) {
        Ok(days) => days,
        Err(e) => return log::error("misconfigured", &e.to_string()),
    };
    let cutoff = cutoff_ms(now, days);
    let deleted = match db::delete_past_retention(db, cutoff, DELETE_BATCH).await {
        Ok(n) => n,
        Err(e) => return log::error("d1_write_failed", &e.to_string()),
    };
    let purged = match db::purge_payloads(db, cutoff, now).await {
        Ok(n) => n,
        Err(e) => return log::error("d1_write_failed", &e.to_string()),
    };
    let cleanup = db::delete_old_rejections(db, hour_of(cutoff))
        .and_then(|old| Ok(vec![old, db::expire_exports(db, now)?]));
    let cleaned = match cleanup {
        Ok(statements) => db.batch(statements).await,
        Err(e) => Err(e),
    };
    if let Err(e) = cleaned {
        log::error("d1_write_failed", &e.to_string());
    }
    if deleted > 0 || purged > 0 {
        log::record(
            "retention",
            serde_json::json!({ "deleted_events": deleted, "purged_payloads": purged }),
        );
    }
}
