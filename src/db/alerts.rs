//! The alerts' SQL (the statements' text lives beside their rules in
//! `edgehooks_handlers::alerts::sql`): what the cron reads to evaluate the rules (dead steps,
//! open circuits, backfill runs when the `backfill_runs` table exists), the open alerts and
//! their changes, the notices due on each channel and their outcome, and the list the admin page
//! shows (each alert with its per-channel deliveries).
//!
//! Writes: `alerts`, `alert_deliveries`, `alert_notices`.

use edgehooks_handlers::admin::ERROR_CODE_SQL;
use edgehooks_handlers::alerts::sql;
use edgehooks_handlers::alerts::state::Change;
use edgehooks_handlers::steps::lifecycle::{sql_lit, StepStatus};

use serde::Serialize;
use worker::{D1Database, D1PreparedStatement, Result};

use super::connections::DestinationRow;
use super::rows::{query, FromRow, Row};
use super::{num, statement};

/// A stored alert that has not cleared.
#[derive(Debug)]
pub struct OpenRow {
    pub id: i64,
    pub kind: String,
    pub key: String,
    pub detail: String,
}

impl FromRow for OpenRow {
    fn from_row(row: &Row) -> Self {
        OpenRow {
            id: row.int("id"),
            kind: row.text("kind"),
            key: row.text("key"),
            detail: row.text("detail"),
        }
    }
}

pub async fn open_alerts(db: &D1Database) -> Result<Vec<OpenRow>> {
    query(&statement(db, sql::OPEN, &[])?).await?.read()
}

/// The statements that store `changes` at `now`.
pub fn change_statements(
    db: &D1Database,
    changes: &[Change],
    now: i64,
) -> Result<Vec<D1PreparedStatement>> {
    changes
        .iter()
        .map(|change| match change {
            Change::Fire(c) => statement(
                db,
                sql::FIRE,
                &[
                    c.kind.name().into(),
                    c.key.as_str().into(),
                    c.detail.as_str().into(),
                    num(now),
                    c.facts.to_json().into(),
                ],
            ),
            Change::Clear { id } => statement(db, sql::CLEAR, &[num(*id), num(now)]),
            Change::Update { id, detail, facts } => statement(
                db,
                sql::UPDATE_DETAIL,
                &[num(*id), detail.as_str().into(), facts.to_json().into()],
            ),
        })
        .collect()
}

/// A notice due on one channel, as stored.
#[derive(Debug)]
pub struct NoticeRow {
    pub id: i64,
    pub kind: String,
    pub key: String,
    pub detail: String,
    pub facts: Option<String>,
    pub notice: String,
    pub fired_at: i64,
    pub cleared_at: Option<i64>,
    pub notice_attempts: i64,
    pub notice_next_at: Option<i64>,
    pub last_notified_at: Option<i64>,
}

impl FromRow for NoticeRow {
    fn from_row(row: &Row) -> Self {
        NoticeRow {
            id: row.int("id"),
            kind: row.text("kind"),
            key: row.text("key"),
            detail: row.text("detail"),
            facts: row.opt_text("facts"),
            notice: row.text("notice"),
            fired_at: row.int("fired_at"),
            cleared_at: row.opt_int("cleared_at"),
            notice_attempts: row.int("notice_attempts"),
            notice_next_at: row.opt_int("notice_next_at"),
            last_notified_at: row.opt_int("last_notified_at"),
        }
    }
}

/// The notices due on `channel` (`slack` | `http`) at `now`, with `spacing_ms` between two
/// notices of one kind and key.
pub async fn pending_notices(
    db: &D1Database,
    channel: &str,
    now: i64,
    spacing_ms: i64,
) -> Result<Vec<NoticeRow>> {
    let args = [channel.into(), num(now), num(spacing_ms)];
    query(&statement(db, sql::PENDING_NOTICES, &args)?)
        .await?
        .read()
}

struct Count {
    n: i64,
}

impl FromRow for Count {
    fn from_row(row: &Row) -> Self {
        Count { n: row.int("n") }
    }
}

/// Notices `channel` sent since `since`.
pub async fn notices_sent_since(db: &D1Database, since: i64, channel: &str) -> Result<u64> {
    let args = [num(since), channel.into()];
    let row = query(&statement(db, sql::SENT_SINCE, &args)?)
        .await?
        .read_first::<Count>()?;
    Ok(row.map_or(0, |r| r.n.max(0) as u64))
}

/// `channel` delivered notice `state` of alert `id`: record it and log it, in one batch.
pub async fn notice_sent(
    db: &D1Database,
    id: i64,
    channel: &str,
    state: &str,
    now: i64,
) -> Result<()> {
    let args = [num(id), channel.into(), state.into(), num(now)];
    db.batch(vec![
        statement(db, sql::NOTICE_SENT, &args)?,
        statement(db, sql::LOG_NOTICE, &args)?,
    ])
    .await?;
    Ok(())
}

/// A send on `channel` failed: count it and wait until `next_at`.
pub async fn notice_failed(
    db: &D1Database,
    id: i64,
    channel: &str,
    next_at: i64,
    error: &str,
) -> Result<()> {
    let args = [num(id), channel.into(), num(next_at), error.into()];
    statement(db, sql::NOTICE_FAILED, &args)?.run().await?;
    Ok(())
}

/// `channel` cannot send now (`code` says why): mark every notice due on it, no attempt.
pub async fn hold_pending(db: &D1Database, channel: &str, code: &str) -> Result<()> {
    let args = [channel.into(), code.into()];
    statement(db, sql::HOLD_PENDING, &args)?.run().await?;
    Ok(())
}

/// Settle the notices every configured channel delivered.
pub async fn settle_notices(db: &D1Database, slack: bool, http: bool) -> Result<()> {
    let flag = |on: bool| num(i64::from(on));
    statement(db, sql::SETTLE_NOTICES, &[flag(slack), flag(http)])?
        .run()
        .await?;
    Ok(())
}

/// Dead steps per destination and error code that died since `since`.
#[derive(Debug)]
pub struct DeadRow {
    pub destination: String,
    pub error: String,
    pub count: i64,
}

impl FromRow for DeadRow {
    fn from_row(row: &Row) -> Self {
        DeadRow {
            destination: row.text("destination"),
            error: row.text("error"),
            count: row.int("count"),
        }
    }
}

pub async fn dead_groups(db: &D1Database, since: i64) -> Result<Vec<DeadRow>> {
    let sql = format!(
        "SELECT s.destination AS destination, {ERROR_CODE_SQL} AS error, COUNT(*) AS count \
         FROM steps s WHERE s.status = {} AND s.updated_at >= ?1 GROUP BY 1, 2 LIMIT 100",
        sql_lit(StepStatus::Dead)
    );
    query(&statement(db, &sql, &[num(since)])?).await?.read()
}

/// Destinations whose circuit is open at `now`.
#[derive(Debug)]
pub struct CircuitRow {
    pub destination: String,
    pub open_until: i64,
}

impl FromRow for CircuitRow {
    fn from_row(row: &Row) -> Self {
        CircuitRow {
            destination: row.text("destination"),
            open_until: row.int("open_until"),
        }
    }
}

pub async fn open_circuits(db: &D1Database, now: i64) -> Result<Vec<CircuitRow>> {
    let sql = "SELECT destination, open_until FROM destination_health WHERE open_until > ?1";
    query(&statement(db, sql, &[num(now)])?).await?.read()
}

/// A backfill run (the backfill's `backfill_runs` table, when it exists).
#[derive(Debug, Serialize)]
pub struct BackfillRow {
    pub id: String,
    pub provider: Option<String>,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub listed: Option<i64>,
    pub ingested: Option<i64>,
    pub duplicates: Option<i64>,
}

impl FromRow for BackfillRow {
    fn from_row(row: &Row) -> Self {
        BackfillRow {
            id: row.text("id"),
            provider: row.opt_text("provider"),
            started_at: row.opt_int("started_at"),
            finished_at: row.opt_int("finished_at"),
            listed: row.opt_int("listed"),
            ingested: row.opt_int("ingested"),
            duplicates: row.opt_int("duplicates"),
        }
    }
}

/// The real (not dry) backfill runs finished since `since` that ingested events, newest first
/// (at most [`sql::RECOVERED_RUNS_READ`]): what the `backfill_recovered` rule reads. Runs that
/// found nothing missing are not read, so a resuming run's row each minute cannot push an
/// earlier recovering run out of the read.
pub async fn recovered_backfill_runs(db: &D1Database, since: i64) -> Result<Vec<BackfillRow>> {
    let args = [num(since), num(sql::RECOVERED_RUNS_READ)];
    query(&statement(db, sql::RECOVERED_RUNS, &args)?)
        .await?
        .read()
}

/// The latest real (not dry) backfill runs finished since `since` (newest first). The table is
/// migration 0010's; the cron no longer asks `sqlite_master` for it first (that lookup read more
/// rows every tick than the rest of the tick together, issue 25).
pub async fn backfill_runs(db: &D1Database, since: i64, limit: i64) -> Result<Vec<BackfillRow>> {
    let sql =
        "SELECT CAST(id AS TEXT) AS id, provider, started_at, finished_at, listed, ingested, \
         duplicates FROM backfill_runs WHERE finished_at >= ?1 AND dry_run = 0 \
         ORDER BY finished_at DESC LIMIT ?2";
    query(&statement(db, sql, &[num(since), num(limit)])?)
        .await?
        .read()
}

/// One channel's delivery of an alert, as the admin page lists it.
#[derive(Debug, Serialize)]
pub struct DeliveryRow {
    #[serde(skip_serializing)]
    pub alert_id: i64,
    #[serde(skip_serializing)]
    pub channel: String,
    pub sent: Option<String>,
    pub last_notified_at: Option<i64>,
    pub attempts: i64,
    pub next_at: Option<i64>,
    pub error: Option<String>,
}

impl FromRow for DeliveryRow {
    fn from_row(row: &Row) -> Self {
        DeliveryRow {
            alert_id: row.int("alert_id"),
            channel: row.text("channel"),
            sent: row.opt_text("sent"),
            last_notified_at: row.opt_int("last_notified_at"),
            attempts: row.int("attempts"),
            next_at: row.opt_int("next_at"),
            error: row.opt_text("error"),
        }
    }
}

/// An alert as the admin page lists it, with its deliveries by channel.
#[derive(Debug, Serialize)]
pub struct AlertRow {
    pub id: i64,
    pub kind: String,
    pub key: String,
    pub detail: String,
    pub fired_at: i64,
    pub cleared_at: Option<i64>,
    pub notice: Option<String>,
    /// Channel → its delivery (a JSON object, keys sorted).
    pub deliveries: serde_json::Map<String, serde_json::Value>,
}

impl FromRow for AlertRow {
    fn from_row(row: &Row) -> Self {
        AlertRow {
            id: row.int("id"),
            kind: row.text("kind"),
            key: row.text("key"),
            detail: row.text("detail"),
            fired_at: row.int("fired_at"),
            cleared_at: row.opt_int("cleared_at"),
            notice: row.opt_text("notice"),
            deliveries: serde_json::Map::new(),
        }
    }
}

/// Open alerts first, then the most recent, at most `limit`.
pub async fn list_alerts(db: &D1Database, limit: i64) -> Result<Vec<AlertRow>> {
    let sql = "SELECT id, kind, key, detail, fired_at, cleared_at, notice FROM alerts \
         ORDER BY cleared_at IS NOT NULL, COALESCE(cleared_at, fired_at) DESC, id DESC LIMIT ?1";
    let mut alerts: Vec<AlertRow> = query(&statement(db, sql, &[num(limit)])?).await?.read()?;
    if alerts.is_empty() {
        return Ok(alerts);
    }
    let ids = serde_json::to_string(&alerts.iter().map(|a| a.id).collect::<Vec<_>>())
        .unwrap_or_else(|_| "[]".into());
    let deliveries: Vec<DeliveryRow> = query(&statement(db, sql::DELIVERIES_OF, &[ids.into()])?)
        .await?
        .read()?;
    for delivery in deliveries {
        if let Some(alert) = alerts.iter_mut().find(|a| a.id == delivery.alert_id) {
            let json = serde_json::to_value(&delivery).unwrap_or_default();
            alert.deliveries.insert(delivery.channel, json);
        }
    }
    Ok(alerts)
}

/// The destination named by `ALERT_DESTINATION` with its `type` column, if stored.
pub async fn alert_destination(
    db: &D1Database,
    name: &str,
) -> Result<Option<(String, DestinationRow)>> {
    struct Kinded(String, DestinationRow);
    impl FromRow for Kinded {
        fn from_row(row: &Row) -> Self {
            Kinded(row.text("kind"), DestinationRow::from_row(row))
        }
    }
    let sql =
        "SELECT type AS kind, name, config, paused, created_at, updated_at FROM destinations \
         WHERE name = ?1";
    let row = query(&statement(db, sql, &[name.into()])?)
        .await?
        .read_first::<Kinded>()?;
    Ok(row.map(|Kinded(kind, stored)| (kind, stored)))
}
