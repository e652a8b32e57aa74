//! The dashboard's admin API: `GET /admin/api/metrics?window=1h|24h` (events per minute per
//! provider and outcome, per registry source and outcome (`sources`), signature failures, step outcomes with p50/p95 latency per
//! destination, dead steps over time, the last backfill run when the backfill's table exists,
//! and the alerts) and `GET /admin/api/alerts` (open alerts first, then the recent ones, with
//! when each fired and cleared, a notice still pending, and each channel's delivery: what it
//! sent and when, its failures; plus the channels' state, `alert_channels`).

use edgehooks_handlers::metrics::dashboard::{build, window_minutes, EventRow, StepRow};
use edgehooks_handlers::metrics::{minute_of, HISTOGRAM_BUCKETS};
use serde_json::{json, Value};
use worker::{D1Database, Env};

use crate::db;
use crate::error::AppError;

/// Alerts listed.
const ALERTS_LISTED: i64 = 50;

fn window_of(pairs: &[(String, String)]) -> Result<(&str, i64), AppError> {
    let invalid = || AppError::BadRequest {
        code: "invalid_window",
        detail: "window must be 1h or 24h".into(),
    };
    let mut window = ("1h", 60);
    for (name, value) in pairs {
        match name.as_str() {
            "window" => {
                let minutes = window_minutes(value).ok_or_else(invalid)?;
                window = (if minutes == 60 { "1h" } else { "24h" }, minutes);
            }
            _ => return Err(invalid()),
        }
    }
    Ok(window)
}

fn histogram_of(text: &str) -> [u64; HISTOGRAM_BUCKETS] {
    let counts = edgehooks_handlers::json_lists::counts(text).unwrap_or_default();
    let mut histogram = [0; HISTOGRAM_BUCKETS];
    for (slot, count) in histogram.iter_mut().zip(counts) {
        *slot = count;
    }
    histogram
}

/// `GET metrics`.
pub async fn metrics(
    env: &Env,
    d1: &D1Database,
    pairs: &[(String, String)],
) -> Result<Value, AppError> {
    let (window, minutes) = window_of(pairs)?;
    let now = crate::clock::now_ms();
    let to = minute_of(now);
    let from = to - (minutes - 1) * 60;
    let event_rows = db::metrics::event_buckets(d1, from).await?;
    let step_rows = db::metrics::step_buckets(d1, from).await?;
    let events: Vec<EventRow> = event_rows
        .iter()
        .map(|r| EventRow {
            minute: r.minute,
            provider: &r.provider,
            source: &r.source,
            outcome: &r.outcome,
            reason: &r.reason,
            count: r.count.max(0) as u64,
        })
        .collect();
    let steps: Vec<StepRow> = step_rows
        .iter()
        .map(|r| StepRow {
            minute: r.minute,
            destination: &r.destination,
            outcome: &r.outcome,
            count: r.count.max(0) as u64,
            histogram: histogram_of(&r.histogram),
        })
        .collect();
    let dashboard = build(&events, &steps);
    let last_backfill = db::alerts::backfill_runs(d1, 0, 1)
        .await?
        .into_iter()
        .next();
    let alerts = db::alerts::list_alerts(d1, ALERTS_LISTED).await?;
    let alert_channels = crate::cron::alert_channels::channels_view(env, d1).await?;
    Ok(json!({
        "window": window,
        "from": from,
        "to": to,
        "events": dashboard.events,
        "sources": dashboard.sources,
        "signature_failures": dashboard.signature_failures,
        "steps": dashboard.steps,
        "dead": dashboard.dead,
        "last_backfill": last_backfill,
        "alerts": alerts,
        "alert_channels": alert_channels,
    }))
}

/// `GET alerts`.
pub async fn alerts(env: &Env, d1: &D1Database) -> Result<Value, AppError> {
    let alerts = db::alerts::list_alerts(d1, ALERTS_LISTED).await?;
    let open = alerts.iter().filter(|a| a.cleared_at.is_none()).count();
    let alert_channels = crate::cron::alert_channels::channels_view(env, d1).await?;
    Ok(json!({ "open": open, "alerts": alerts, "alert_channels": alert_channels }))
}
