//! The cron sweeper (every minute): the outbox half of ingest. Re-sends steps whose queue send
//! failed (`pending` for over a minute), whose message was lost (`enqueued` long past due) or
//! whose consumer died mid-attempt (`running` past its lease), and drops payloads older than
//! `RETENTION_DAYS`.

use edgehooks_handlers::config::number;
use worker::{Date, Env};

use crate::config::text;
use crate::queue::send_steps;
use crate::{db, log};

const PENDING_GRACE_MS: i64 = 60_000;
const SWEEP_LIMIT: i64 = 500;

pub async fn sweep(env: &Env) {
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
    let retention_days = match number("RETENTION_DAYS", text(env, "RETENTION_DAYS").as_deref(), 30)
    {
        Ok(days) => days,
        Err(e) => return log::error("misconfigured", &e.to_string()),
    };
    let cutoff = now - (retention_days as i64).saturating_mul(86_400_000);
    match db::purge_payloads(&db, cutoff, now).await {
        Ok(0) => {}
        Ok(purged) => log::record(
            "retention",
            serde_json::json!({ "purged_payloads": purged }),
        ),
        Err(e) => log::error("d1_write_failed", &e.to_string()),
    }
}
