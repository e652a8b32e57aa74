//! The step ledger's SQL: mark sent steps `enqueued`, load a step with its event, end it
//! without a call, put it off, and end it for a dead letter. The statements are the core's
//! (`edgehooks_handlers::steps::lifecycle::claim`, `edgehooks_handlers::steps::recovery`), next to their rules;
//! claims are in `claims`, attempt records in `attempts`, the sweeper's queries in `sweep`.

use edgehooks_handlers::steps::behind::{Ahead, AHEAD_COLUMNS, AHEAD_JOIN};
use edgehooks_handlers::steps::lifecycle::{claim as sql, StepStatus};
use edgehooks_handlers::steps::recovery::give_up_sql;
use edgehooks_handlers::steps::timing::RUNNING_LEASE_MS;
use worker::{D1Database, Result};

use super::rows::{query, run, FromRow, Row};
use super::{num, statement};

/// Mark freshly sent steps `enqueued` (only those still `pending`): one statement for the
/// whole list (the ids travel as one JSON array parameter).
pub async fn mark_enqueued(db: &D1Database, step_ids: &[String], now_ms: i64) -> Result<()> {
    if step_ids.is_empty() {
        return Ok(());
    }
    let ids =
        serde_json::to_string(step_ids).map_err(|e| worker::Error::RustError(e.to_string()))?;
    statement(db, &sql::mark_enqueued(), &[ids.into(), num(now_ms)])?
        .run()
        .await?;
    Ok(())
}

/// A step with what its execution needs from the event.
#[derive(Debug)]
pub struct StepRow {
    pub id: String,
    pub event_id: String,
    pub name: String,
    pub status: String,
    pub provider: String,
    pub event_type: String,
    pub account: Option<String>,
    /// The named source it arrived on (`None`: `/webhooks/{provider}`).
    pub source: Option<String>,
    pub occurred_at: Option<i64>,
    pub payload: Option<String>,
    /// Why it last waited or failed (`destination_paused`: parked in its destination's line).
    pub last_error: Option<String>,
    /// When a scheduled retry or a deferral makes it due (`next_attempt_at`, Unix ms).
    pub due_at: Option<i64>,
    /// The entity it overwrites, as ingest stored it (`None`: no entity, or a row stored before
    /// ingest recorded entities).
    pub entity: Option<String>,
    /// The step it was handed back behind, while that one is still there (the core's
    /// `steps::behind`).
    pub ahead: Option<Ahead>,
}

impl FromRow for StepRow {
    fn from_row(row: &Row) -> Self {
        StepRow {
            id: row.text("id"),
            event_id: row.text("event_id"),
            name: row.text("name"),
            status: row.text("status"),
            provider: row.text("provider"),
            event_type: row.text("event_type"),
            account: row.opt_text("account"),
            source: row.opt_text("source"),
            occurred_at: row.opt_int("occurred_at"),
            payload: row.opt_text("payload"),
            last_error: row.opt_text("last_error"),
            due_at: row.opt_int("next_attempt_at"),
            entity: row.opt_text("entity"),
            ahead: ahead_of(row),
        }
    }
}

/// The step ahead as the load read it: `None` when there is none, it is gone, or its status is
/// unknown (nothing to wait for).
fn ahead_of(row: &Row) -> Option<Ahead> {
    Some(Ahead {
        status: StepStatus::parse(&row.opt_text("ahead_status")?)?,
        due_ms: row.opt_int("ahead_due"),
        updated_at_ms: row.opt_int("ahead_updated")?,
    })
}

/// The columns of a [`StepRow`], from [`step_rows`].
const STEP_ROW_COLUMNS: &str = "s.id, s.event_id, s.name, s.status, e.provider, \
     e.type AS event_type, e.account, e.source, e.occurred_at, e.payload, s.last_error, \
     s.next_attempt_at, s.entity";

/// `SELECT` the columns of [`StepRow`] from a step with its event and the step ahead of it.
fn step_rows() -> String {
    format!(
        "SELECT {STEP_ROW_COLUMNS}, {AHEAD_COLUMNS} \
         FROM steps s JOIN events e ON e.id = s.event_id {AHEAD_JOIN}"
    )
}

pub async fn load_step(db: &D1Database, step_id: &str) -> Result<Option<StepRow>> {
    let sql = format!("{} WHERE s.id = ?1", step_rows());
    query(&statement(db, &sql, &[step_id.into()])?)
        .await?
        .read_first()
}

/// The steps of a whole message batch with their events, in one query (the ids travel as one
/// JSON array parameter): a consumer batch of n messages costs one round trip here instead of
/// n. Ids with no step are simply absent.
pub async fn load_steps(db: &D1Database, step_ids: &[String]) -> Result<Vec<StepRow>> {
    if step_ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids =
        serde_json::to_string(step_ids).map_err(|e| worker::Error::RustError(e.to_string()))?;
    let sql = format!(
        "{} WHERE s.id IN (SELECT value FROM json_each(?1))",
        step_rows()
    );
    query(&statement(db, &sql, &[ids.into()])?).await?.read()
}

/// Finish a step that needed no downstream call: `skipped` (the event does not call for it, the
/// reason in `last_error`), `skipped_stale` or `dead`. Only a claimable step changes (not one
/// finished, nor one running under another delivery's claim).
pub async fn finish_without_call(
    db: &D1Database,
    step_id: &str,
    status: StepStatus,
    note: &str,
    now_ms: i64,
) -> Result<bool> {
    let result = run(&statement(
        db,
        &sql::finish_without_call(),
        &[
            step_id.into(),
            status.as_str().into(),
            note.into(),
            num(now_ms),
        ],
    )?)
    .await?;
    Ok(result.changes() > 0)
}

/// End a step Queues gave up on (`dead`, `queue_gave_up`) by the core's rule
/// `edgehooks_handlers::steps::recovery::dead_letter_ends`: only while the step still has the dispatch
/// number the message carried (a sweeper re-send or an admin redrive since bumped it), is
/// unfinished, and is not running under a live lease (that attempt records its own outcome).
pub async fn give_up(
    db: &D1Database,
    step_id: &str,
    message_dispatch: i64,
    now_ms: i64,
) -> Result<bool> {
    let result = run(&statement(
        db,
        &give_up_sql(),
        &[
            step_id.into(),
            num(now_ms),
            num(now_ms - RUNNING_LEASE_MS),
            num(message_dispatch),
        ],
    )?)
    .await?;
    Ok(result.changes() > 0)
}

/// Put a step off without charging an attempt (open circuit, spent budget, another call for its
/// entity in flight): it stays `enqueued` with its due time, so the sweeper does not mistake it
/// for lost. A step running under another delivery is left alone (its runner records its
/// outcome); false when nothing changed.
pub async fn defer(
    db: &D1Database,
    step_id: &str,
    reason: &str,
    due_ms: i64,
    now_ms: i64,
) -> Result<bool> {
    let result = run(&statement(
        db,
        &sql::defer(),
        &[step_id.into(), num(due_ms), reason.into(), num(now_ms)],
    )?)
    .await?;
    Ok(result.changes() > 0)
}
