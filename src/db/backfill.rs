//! The Stripe backfill's SQL: its scheduled state (`backfill_state`, one row per provider: the
//! checkpoint, an unfinished run's cursor, the backoff), the record of every run
//! (`backfill_runs`), and which listed event ids are already stored (a dry run's `missing`).
//! Events themselves are stored by ingest's own insert ([`super::insert_planned`]).
//!
//! Writes: `backfill_state`, `backfill_runs`.

use edgehooks_handlers::backfill::plan::Cursor;
use edgehooks_handlers::backfill::{Resume, State};
use serde::{Deserialize, Serialize};
use worker::{D1Database, Result};

use super::{num, opt_num, opt_text, statement};

#[derive(Deserialize)]
struct StateRow {
    checkpoint: Option<f64>,
    run_since: Option<f64>,
    run_cursor: Option<String>,
    run_newest: Option<f64>,
    last_started_at: Option<f64>,
    not_before: f64,
    failures: f64,
}

/// The scheduled state of `provider` (the default before its first run). A stored cursor that
/// does not decode is dropped: the run starts again from its checkpoint.
pub async fn backfill_state(db: &D1Database, provider: &str) -> Result<State> {
    let row = statement(
        db,
        "SELECT checkpoint, run_since, run_cursor, run_newest, last_started_at, not_before, \
         failures FROM backfill_state WHERE provider = ?1",
        &[provider.into()],
    )?
    .first::<StateRow>(None)
    .await?;
    let Some(row) = row else {
        return Ok(State::default());
    };
    let resume = match (
        row.run_since,
        row.run_cursor.as_deref().and_then(Cursor::decode),
    ) {
        (Some(since), Some(cursor)) => Some(Resume {
            since: since as i64,
            cursor,
            newest: row.run_newest.map(|n| n as i64),
        }),
        _ => None,
    };
    Ok(State {
        checkpoint: row.checkpoint.map(|c| c as i64),
        resume,
        last_started_ms: row.last_started_at.map(|t| t as i64),
        not_before_ms: row.not_before as i64,
        failures: row.failures.max(0.0) as u32,
    })
}

/// Store the scheduled state of `provider`.
pub async fn save_backfill_state(db: &D1Database, provider: &str, state: &State) -> Result<()> {
    let resume = state.resume.as_ref();
    statement(
        db,
        "INSERT INTO backfill_state (provider, checkpoint, run_since, run_cursor, run_newest, \
         last_started_at, not_before, failures) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
         ON CONFLICT (provider) DO UPDATE SET checkpoint = excluded.checkpoint, \
         run_since = excluded.run_since, run_cursor = excluded.run_cursor, \
         run_newest = excluded.run_newest, last_started_at = excluded.last_started_at, \
         not_before = excluded.not_before, failures = excluded.failures",
        &[
            provider.into(),
            opt_num(state.checkpoint),
            opt_num(resume.map(|r| r.since)),
            opt_text(resume.map(|r| r.cursor.encode()).as_deref()),
            opt_num(resume.and_then(|r| r.newest)),
            opt_num(state.last_started_ms),
            num(state.not_before_ms),
            num(i64::from(state.failures)),
        ],
    )?
    .run()
    .await?;
    Ok(())
}

/// One run, as recorded in `backfill_runs` and listed by the admin API.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    pub provider: String,
    pub origin: String,
    pub dry_run: bool,
    pub started_at: i64,
    pub finished_at: i64,
    pub since: i64,
    pub listed: i64,
    pub ingested: i64,
    pub duplicates: i64,
    pub complete: bool,
    pub next_cursor: Option<String>,
    pub error: Option<String>,
}

/// Record a finished run.
pub async fn record_backfill_run(db: &D1Database, run: &RunRecord) -> Result<()> {
    statement(
        db,
        "INSERT INTO backfill_runs (provider, origin, dry_run, started_at, finished_at, since, \
         listed, ingested, duplicates, complete, next_cursor, error) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        &[
            run.provider.as_str().into(),
            run.origin.as_str().into(),
            num(i64::from(run.dry_run)),
            num(run.started_at),
            num(run.finished_at),
            num(run.since),
            num(run.listed),
            num(run.ingested),
            num(run.duplicates),
            num(i64::from(run.complete)),
            opt_text(run.next_cursor.as_deref()),
            opt_text(run.error.as_deref()),
        ],
    )?
    .run()
    .await?;
    Ok(())
}

#[derive(Deserialize)]
struct RunRow {
    provider: String,
    origin: String,
    dry_run: f64,
    started_at: f64,
    finished_at: f64,
    since: f64,
    listed: f64,
    ingested: f64,
    duplicates: f64,
    complete: f64,
    next_cursor: Option<String>,
    error: Option<String>,
}

/// The latest runs of `provider`, newest first.
pub async fn recent_backfill_runs(
    db: &D1Database,
    provider: &str,
    limit: i64,
) -> Result<Vec<RunRecord>> {
    let rows = statement(
        db,
        "SELECT provider, origin, dry_run, started_at, finished_at, since, listed, ingested, \
         duplicates, complete, next_cursor, error FROM backfill_runs WHERE provider = ?1 \
         ORDER BY started_at DESC, id DESC LIMIT ?2",
        &[provider.into(), num(limit)],
    )?
    .all()
    .await?
    .results::<RunRow>()?;
    Ok(rows
        .into_iter()
        .map(|r| RunRecord {
            provider: r.provider,
            origin: r.origin,
            dry_run: r.dry_run != 0.0,
            started_at: r.started_at as i64,
            finished_at: r.finished_at as i64,
            since: r.since as i64,
            listed: r.listed as i64,
            ingested: r.ingested as i64,
            duplicates: r.duplicates as i64,
            complete: r.complete != 0.0,
            next_cursor: r.next_cursor,
            error: r.error,
        })
        .collect())
}

/// How many of `dedupe_keys` `provider` already has stored (one bound JSON array, whatever
/// their number: D1 binds at most 100 parameters).
pub async fn count_stored(db: &D1Database, provider: &str, dedupe_keys: &[&str]) -> Result<i64> {
    #[derive(Deserialize)]
    struct Count {
        stored: f64,
    }
    let keys =
        serde_json::to_string(dedupe_keys).map_err(|e| worker::Error::RustError(e.to_string()))?;
    let row = statement(
        db,
        "SELECT COUNT(*) AS stored FROM events WHERE provider = ?1 AND dedupe_key IN \
         (SELECT value FROM json_each(?2))",
        &[provider.into(), keys.as_str().into()],
    )?
    .first::<Count>(None)
    .await?;
    Ok(row.map_or(0, |c| c.stored as i64))
}
