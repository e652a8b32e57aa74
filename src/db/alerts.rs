//! The alerts' SQL (the statements' text lives beside their rules in
//! `edgehooks_handlers::alerts::sql`): what the cron reads to evaluate the rules (dead steps,
//! open circuits, backfill runs when the `backfill_runs` table exists), the open alerts and
//! their changes, the notices due and their outcome, and the list the admin page shows.
//!
//! Writes: `alerts`, `alert_notices`.

use edgehooks_handlers::admin::ERROR_CODE_SQL;
use edgehooks_handlers::alerts::sql;
use edgehooks_handlers::alerts::state::Change;
use edgehooks_handlers::lifecycle::{sql_lit, StepStatus};
use serde::{Deserialize, Serialize};
use worker::{D1Database, D1PreparedStatement, Result};

use super::{num, statement};

/// A stored alert that has not cleared.
#[derive(Debug, Deserialize)]
pub struct OpenRow {
    pub id: i64,
    pub kind: String,
    pub key: String,
    pub detail: String,
}

pub async fn open_alerts(db: &D1Database) -> Result<Vec<OpenRow>> {
    statement(db, sql::OPEN, &[])?.all().await?.results()
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
                ],
            ),
            Change::Clear { id } => statement(db, sql::CLEAR, &[num(*id), num(now)]),
            Change::Update { id, detail } => {
                statement(db, sql::UPDATE_DETAIL, &[num(*id), detail.as_str().into()])
            }
        })
        .collect()
}

/// A notice due, as stored.
#[derive(Debug, Deserialize)]
pub struct NoticeRow {
    pub id: i64,
    pub kind: String,
    pub key: String,
    pub detail: String,
    pub notice: String,
    pub fired_at: i64,
    pub notice_attempts: i64,
    pub notice_next_at: Option<i64>,
    pub last_notified_at: Option<i64>,
}

pub async fn pending_notices(db: &D1Database) -> Result<Vec<NoticeRow>> {
    statement(db, sql::PENDING_NOTICES, &[])?
        .all()
        .await?
        .results()
}

#[derive(Deserialize)]
struct Count {
    n: i64,
}

/// Notices sent since `since`.
pub async fn notices_sent_since(db: &D1Database, since: i64) -> Result<u64> {
    let row: Option<Count> = statement(db, sql::SENT_SINCE, &[num(since)])?
        .first(None)
        .await?;
    Ok(row.map_or(0, |r| r.n.max(0) as u64))
}

/// A notice went out: clear it and log it, in one batch.
pub async fn notice_sent(db: &D1Database, id: i64, state: &str, now: i64) -> Result<()> {
    let args = [num(id), state.into(), num(now)];
    db.batch(vec![
        statement(db, sql::NOTICE_SENT, &args)?,
        statement(db, sql::LOG_NOTICE, &args)?,
    ])
    .await?;
    Ok(())
}

/// A send failed: count it and wait until `next_at`.
pub async fn notice_failed(db: &D1Database, id: i64, next_at: i64, error: &str) -> Result<()> {
    statement(
        db,
        sql::NOTICE_FAILED,
        &[num(id), num(next_at), error.into()],
    )?
    .run()
    .await?;
    Ok(())
}

/// Dead steps per destination and error code that died since `since`.
#[derive(Debug, Deserialize)]
pub struct DeadRow {
    pub destination: String,
    pub error: String,
    pub count: i64,
}

pub async fn dead_groups(db: &D1Database, since: i64) -> Result<Vec<DeadRow>> {
    let sql = format!(
        "SELECT s.destination AS destination, {ERROR_CODE_SQL} AS error, COUNT(*) AS count \
         FROM steps s WHERE s.status = {} AND s.updated_at >= ?1 GROUP BY 1, 2 LIMIT 100",
        sql_lit(StepStatus::Dead)
    );
    statement(db, &sql, &[num(since)])?.all().await?.results()
}

/// Destinations whose circuit is open at `now`.
#[derive(Debug, Deserialize)]
pub struct CircuitRow {
    pub destination: String,
    pub open_until: i64,
}

pub async fn open_circuits(db: &D1Database, now: i64) -> Result<Vec<CircuitRow>> {
    statement(
        db,
        "SELECT destination, open_until FROM destination_health WHERE open_until > ?1",
        &[num(now)],
    )?
    .all()
    .await?
    .results()
}

/// A backfill run (the backfill's `backfill_runs` table, when it exists).
#[derive(Debug, Deserialize, Serialize)]
pub struct BackfillRow {
    pub id: String,
    pub provider: Option<String>,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub listed: Option<i64>,
    pub ingested: Option<i64>,
    pub duplicates: Option<i64>,
}

#[derive(Deserialize)]
struct TableName {
    #[allow(dead_code)]
    name: String,
}

/// The latest real (not dry) backfill runs finished since `since` (newest first), or none when
/// the table does not exist (a database not yet migrated past 0010).
pub async fn backfill_runs(db: &D1Database, since: i64, limit: i64) -> Result<Vec<BackfillRow>> {
    let exists: Option<TableName> = statement(
        db,
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'backfill_runs'",
        &[],
    )?
    .first(None)
    .await?;
    if exists.is_none() {
        return Ok(Vec::new());
    }
    statement(
        db,
        "SELECT CAST(id AS TEXT) AS id, provider, started_at, finished_at, listed, ingested, \
         duplicates FROM backfill_runs WHERE finished_at >= ?1 AND dry_run = 0 \
         ORDER BY finished_at DESC LIMIT ?2",
        &[num(since), num(limit)],
    )?
    .all()
    .await?
    .results()
}

/// An alert as the admin page lists it.
#[derive(Debug, Deserialize, Serialize)]
pub struct AlertRow {
    pub id: i64,
    pub kind: String,
    pub key: String,
    pub detail: String,
    pub fired_at: i64,
    pub cleared_at: Option<i64>,
    pub last_notified_at: Option<i64>,
    pub notice: Option<String>,
    pub notice_attempts: i64,
    pub notice_next_at: Option<i64>,
    pub notice_error: Option<String>,
}

/// Open alerts first, then the most recent, at most `limit`.
pub async fn list_alerts(db: &D1Database, limit: i64) -> Result<Vec<AlertRow>> {
    statement(
        db,
        "SELECT id, kind, key, detail, fired_at, cleared_at, last_notified_at, notice, \
         notice_attempts, notice_next_at, notice_error FROM alerts \
         ORDER BY cleared_at IS NOT NULL, COALESCE(cleared_at, fired_at) DESC, id DESC LIMIT ?1",
        &[num(limit)],
    )?
    .all()
    .await?
    .results()
}
