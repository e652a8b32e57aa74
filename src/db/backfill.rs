//! The Stripe backfill's SQL: its scheduled state (`backfill_state`, one row per provider: the
//! checkpoint, an unfinished run's cursor, the backoff), the record of every run
//! (`backfill_runs`), and which listed event ids are already stored (a dry run's `missing`).
//! Events themselves are stored by ingest's own insert ([`super::ingest::insert_planned`]).
//!
//! Writes: `backfill_state`, `backfill_runs`.

use edgehooks_handlers::backfill::plan::Cursor;
use edgehooks_handlers::backfill::{Resume, State};
use serde::Serialize;
use worker::{D1Database, Result};

use super::rows::{query, FromRow, Row};
use super::{num, opt_num, opt_text, statement};

struct StateRow {
    checkpoint: Option<i64>,
    run_since: Option<i64>,
    run_cursor: Option<String>,
    run_newest: Option<i64>,
    last_started_at: Option<i64>,
    not_before: i64,
    failures: i64,
}

impl FromRow for StateRow {
    fn from_row(row: &Row) -> Self {
        StateRow {
            checkpoint: row.opt_int("checkpoint"),
            run_since: row.opt_int("run_since"),
            run_cursor: row.opt_text("run_cursor"),
            run_newest: row.opt_int("run_newest"),
            last_started_at: row.opt_int("last_started_at"),
            not_before: row.int("not_before"),
            failures: row.int("failures"),
        }
    }
}

/// The scheduled state of `provider` (the default before its first run). A stored cursor that
/// does not decode is dropped: the run starts again from its checkpoint.
pub async fn backfill_state(db: &D1Database, provider: &str) -> Result<State> {
    let sql = "SELECT checkpoint, run_since, run_cursor, run_newest, last_started_at, not_before, \
         failures FROM backfill_state WHERE provider = ?1";
    let row = query(&statement(db, sql, &[provider.into()])?)
        .await?
        .read_first::<StateRow>()?;
    let Some(row) = row else {
        return Ok(State::default());
    };
    let resume = match (
        row.run_since,
        row.run_cursor.as_deref().and_then(Cursor::decode),
    ) {
        (Some(since), Some(cursor)) => Some(Resume {
            since,
            cursor,
            newest: row.run_newest,
        }),
        _ => None,
    };
    Ok(State {
        checkpoint: row.checkpoint,
        resume,
        last_started_ms: row.last_started_at,
        not_before_ms: row.not_before,
        failures: u32::try_from(row.failures.max(0)).unwrap_or(u32::MAX),
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
#[derive(Debug, Clone, Serialize)]
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

impl FromRow for RunRecord {
    fn from_row(row: &Row) -> Self {
        RunRecord {
            provider: row.text("provider"),
            origin: row.text("origin"),
            dry_run: row.flag("dry_run"),
            started_at: row.int("started_at"),
            finished_at: row.int("finished_at"),
            since: row.int("since"),
            listed: row.int("listed"),
            ingested: row.int("ingested"),
            duplicates: row.int("duplicates"),
            complete: row.flag("complete"),
            next_cursor: row.opt_text("next_cursor"),
            error: row.opt_text("error"),
        }
    }
}

/// The latest runs of `provider`, newest first.
pub async fn recent_backfill_runs(
    db: &D1Database,
    provider: &str,
    limit: i64,
) -> Result<Vec<RunRecord>> {
    let sql =
        "SELECT provider, origin, dry_run, started_at, finished_at, since, listed, ingested, \
         duplicates, complete, next_cursor, error FROM backfill_runs WHERE provider = ?1 \
         ORDER BY started_at DESC, id DESC LIMIT ?2";
    query(&statement(db, sql, &[provider.into(), num(limit)])?)
        .await?
        .read()
}

/// How many of `dedupe_keys` `provider` already has stored (one bound JSON array, whatever
/// their number: D1 binds at most 100 parameters).
pub async fn count_stored(db: &D1Database, provider: &str, dedupe_keys: &[&str]) -> Result<i64> {
    let keys =
        serde_json::to_string(dedupe_keys).map_err(|e| worker::Error::RustError(e.to_string()))?;
    struct Count(i64);
    impl FromRow for Count {
        fn from_row(row: &Row) -> Self {
            Count(row.int("stored"))
        }
    }
    let sql = "SELECT COUNT(*) AS stored FROM events WHERE provider = ?1 AND dedupe_key IN \
         (SELECT value FROM json_each(?2))";
    let row = query(&statement(
        db,
        sql,
        &[provider.into(), keys.as_str().into()],
    )?)
    .await?
    .read_first::<Count>()?;
    Ok(row.map_or(0, |c| c.0))
}
