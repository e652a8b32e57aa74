//! The cron's alerting pass (after the metrics are flushed): read what the rules need (signature
//! failures in the last five minutes and when each provider and registry source last sent, from
//! the minute buckets; dead steps; open circuits; the backfill runs of the last hour that
//! recovered events; the database's size as D1 reports it, against `STORAGE_LIMIT_BYTES`), let
//! the core decide which alerts fire, update or clear, store that in one batch, then send the
//! notices that are due on each channel (`alert_channels`: Slack and the `http` destination). A
//! failed or impossible send stays pending with its error and a backoff, visible in the admin
//! page, and is tried again by a later cron: no notice is dropped.

use edgehooks_handlers::alerts::rules::conditions;
use edgehooks_handlers::alerts::state::{reconcile, Change};
use edgehooks_handlers::alerts::{
    last_seen, AlertKind, AlertSettings, BackfillRun, DeadGroup, FailureCount, Observations,
    OpenAlert, BACKFILL_WINDOW_MS, DEAD_WINDOW_MS, SIGNATURE_WINDOW_MS,
};
use edgehooks_handlers::metrics::minute_of;
use edgehooks_handlers::retention::storage::StorageUse;
use worker::{D1Database, Env};

use crate::config::config;
use crate::{db, log};

/// Evaluate the rules at `now` and send the notices due.
pub async fn run(env: &Env, d1: &D1Database, now: i64) {
    let settings = match config(env).alerts() {
        Ok(settings) => settings,
        Err(e) => return log::error("misconfigured", &e.to_string()),
    };
    if let Err(e) = evaluate(d1, &settings, now).await {
        log::error("alerts_evaluation_failed", &e.to_string());
    }
    crate::cron::alert_channels::send(env, d1, &settings, now).await;
}

/// Everything the rules read. Any failed read skips the pass (an alert must not clear because
/// its data could not be read).
async fn observe(
    d1: &D1Database,
    settings: &AlertSettings,
    now: i64,
) -> worker::Result<Observations> {
    let failures =
        db::metrics::signature_failures(d1, minute_of(now - SIGNATURE_WINDOW_MS + 60_000)).await?;
    let seen = db::metrics::last_seen(d1).await?;
    let dead = db::alerts::dead_groups(d1, now - DEAD_WINDOW_MS).await?;
    let circuits = db::alerts::open_circuits(d1, now).await?;
    let backfills = db::alerts::recovered_backfill_runs(d1, now - BACKFILL_WINDOW_MS).await?;
    let storage = db::retention::database_size(d1)
        .await?
        .map(|bytes_used| StorageUse {
            bytes_used,
            limit_bytes: settings.storage_limit_bytes,
        });
    Ok(Observations {
        now_ms: now,
        signature_failures: failures
            .into_iter()
            .map(|f| FailureCount {
                provider: f.provider,
                source: f.source,
                reason: f.reason,
                count: f.count.max(0) as u64,
            })
            .collect(),
        // A bucket is a whole minute: count its end as the last time seen.
        last_seen_ms: last_seen(
            seen.into_iter()
                .map(|s| (s.provider, s.source, (s.minute + 60) * 1000)),
        ),
        dead: dead
            .into_iter()
            .map(|d| DeadGroup {
                destination: d.destination,
                error: d.error,
                count: d.count.max(0) as u64,
            })
            .collect(),
        open_circuits: circuits
            .into_iter()
            .map(|c| (c.destination, c.open_until))
            .collect(),
        backfills: backfills
            .into_iter()
            .map(|b| BackfillRun {
                id: b.id,
                provider: b.provider.unwrap_or_else(|| "stripe".into()),
                ingested: b.ingested.unwrap_or(0).max(0) as u64,
                finished_at_ms: b.finished_at.unwrap_or(0),
            })
            .collect(),
        storage,
    })
}

async fn evaluate(d1: &D1Database, settings: &AlertSettings, now: i64) -> worker::Result<()> {
    let observations = observe(d1, settings, now).await?;
    let open: Vec<OpenAlert> = db::alerts::open_alerts(d1)
        .await?
        .into_iter()
        .filter_map(|row| {
            Some(OpenAlert {
                id: row.id,
                kind: AlertKind::from_name(&row.kind)?,
                key: row.key,
                detail: row.detail,
            })
        })
        .collect();
    let holding = conditions(&observations, settings, &open);
    let changes = reconcile(&open, &holding);
    if changes.is_empty() {
        return Ok(());
    }
    d1.batch(db::alerts::change_statements(d1, &changes, now)?)
        .await?;
    for change in &changes {
        match change {
            Change::Fire(c) => log::warn(
                "alert_fired",
                serde_json::json!({ "kind": c.kind.name(), "key": c.key, "detail": c.detail }),
            ),
            Change::Clear { id } => log::record("alert_cleared", serde_json::json!({ "id": id })),
            Change::Update { .. } => {}
        }
    }
    Ok(())
}
