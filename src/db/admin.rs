//! The admin API's SQL: event pages (keyset over `(received_at, id)`; a payload search's page
//! is the core's bounded scan), one event with its steps
//! and attempts, dead letters (grouped and listed), rejection counts, dashboard totals, the
//! resets that replay and redrive do before the steps are sent to the queue again, and the
//! steps replay adds when the routes gained some after the event arrived.

use edgehooks_handlers::admin::{
    search_sql, Cursor, EventQuery, RedriveFilter, SqlArg, ERROR_CODE_SQL,
};
use edgehooks_handlers::by_name::ByName;
use edgehooks_handlers::connections::plan::PlannedStep;
use edgehooks_handlers::inbound::ids;
use edgehooks_handlers::steps::lifecycle::redrive::requeue_sql;
use edgehooks_handlers::steps::lifecycle::{sql_in, sql_lit, StepStatus, FINISHED};
use serde::Serialize;
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, Result};

use super::ingest::insert_step;
use super::rows::{batch, query, FromRow, Row};
use super::{num, statement};

pub(crate) fn bind(args: &[SqlArg]) -> Vec<JsValue> {
    args.iter()
        .map(|a| match a {
            SqlArg::Text(t) => JsValue::from_str(t),
            SqlArg::Int(n) => num(*n),
        })
        .collect()
}

/// One row of the event list (no payload).
#[derive(Debug, Serialize)]
pub struct EventSummary {
    pub id: String,
    pub provider: String,
    /// The source it arrived on; `None` for the default path.
    pub source: Option<String>,
    pub dedupe_key: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub account: Option<String>,
    pub occurred_at: Option<i64>,
    pub received_at: i64,
    pub status: String,
    pub payload_bytes: i64,
    pub redacted_at: Option<i64>,
    pub error: Option<String>,
    /// For a rejected element of a batch: its position in the batch array (from 0).
    pub batch_index: Option<i64>,
    pub steps: i64,
    pub steps_done: i64,
    pub steps_dead: i64,
}

impl FromRow for EventSummary {
    fn from_row(row: &Row) -> Self {
        EventSummary {
            id: row.text("id"),
            provider: row.text("provider"),
            source: row.opt_text("source"),
            dedupe_key: row.text("dedupe_key"),
            event_type: row.text("type"),
            account: row.opt_text("account"),
            occurred_at: row.opt_int("occurred_at"),
            received_at: row.int("received_at"),
            status: row.text("status"),
            payload_bytes: row.int("payload_bytes"),
            redacted_at: row.opt_int("redacted_at"),
            error: row.opt_text("error"),
            batch_index: row.opt_int("batch_index"),
            steps: row.int("steps"),
            steps_done: row.int("steps_done"),
            steps_dead: row.int("steps_dead"),
        }
    }
}

/// The columns of an event summary (steps done: the lifecycle's finished set).
fn summary_columns() -> String {
    format!(
        "e.id, e.provider, e.source, e.dedupe_key, e.type, e.account, e.occurred_at, \
         e.received_at, e.status, e.payload_bytes, e.redacted_at, e.error, e.batch_index, \
         (SELECT COUNT(*) FROM steps s WHERE s.event_id = e.id) AS steps, \
         (SELECT COUNT(*) FROM steps s WHERE s.event_id = e.id \
            AND s.status IN {}) AS steps_done, \
         (SELECT COUNT(*) FROM steps s WHERE s.event_id = e.id AND s.status = {}) AS steps_dead",
        sql_in(&FINISHED),
        sql_lit(StepStatus::Dead)
    )
}

/// Up to `query.limit + 1` events, newest first (the extra row tells the caller there is more).
pub async fn list_events(db: &D1Database, query: &EventQuery) -> Result<Vec<EventSummary>> {
    let (conditions, mut args) = query.where_clause();
    args.push(SqlArg::Int(query.limit + 1));
    let sql = format!(
        "SELECT {} FROM events e WHERE {conditions} \
         ORDER BY e.received_at DESC, e.id DESC LIMIT ?",
        summary_columns()
    );
    let rows = super::rows::query(&statement(db, &sql, &bind(&args))?).await?;
    rows.read()
}

/// A page of a payload search (the core's [`search_sql`], one batch, one transaction): up to
/// `limit + 1` hits among at most `scan` rows the filters select, and the boundary row (the
/// `scan`-th such row), if the filters select that many.
pub async fn search_events(
    db: &D1Database,
    query: &EventQuery,
    scan: i64,
) -> Result<(Vec<EventSummary>, Option<Cursor>)> {
    let (conditions, args) = query.where_clause();
    let [(hits, hit_args), (bound, bound_args)] = search_sql(
        (&conditions, &args),
        &query.search,
        &summary_columns(),
        query.limit,
        scan,
    );
    let statements = vec![
        statement(db, &hits, &bind(&hit_args))?,
        statement(db, &bound, &bind(&bound_args))?,
    ];
    let mut answers = batch(db, statements).await?.into_iter();
    let (Some(hits), Some(bound)) = (answers.next(), answers.next()) else {
        return Ok((Vec::new(), None));
    };
    let hits = hits.rows()?.read::<EventSummary>()?;
    let boundary = bound.rows()?.read_first::<Boundary>()?.map(|b| b.0);
    Ok((hits, boundary))
}

/// The row a search page's scan bound stops at.
struct Boundary(Cursor);

impl FromRow for Boundary {
    fn from_row(row: &Row) -> Self {
        Boundary(Cursor {
            received_at: row.int("received_at"),
            id: row.text("id"),
        })
    }
}

/// What only the detail view shows: the payload (NULL once redacted or purged), the delivery's
/// request headers as stored (masked; NULL for a backfill, older rows, or once the payload is
/// dropped) and which configured secret verified the event (an index, never the secret).
#[derive(Debug, Serialize)]
pub struct EventBody {
    pub key_index: Option<i64>,
    /// `webhook` or `backfill` (how the event reached us).
    pub origin: Option<String>,
    pub payload: Option<String>,
    pub headers: Option<String>,
}

impl FromRow for EventBody {
    fn from_row(row: &Row) -> Self {
        EventBody {
            key_index: row.opt_int("key_index"),
            origin: row.opt_text("origin"),
            payload: row.opt_text("payload"),
            headers: row.opt_text("headers"),
        }
    }
}

pub async fn get_event(db: &D1Database, id: &str) -> Result<Option<(EventSummary, EventBody)>> {
    let summary = statement(
        db,
        &format!("SELECT {} FROM events e WHERE e.id = ?1", summary_columns()),
        &[id.into()],
    )?;
    let body = statement(
        db,
        "SELECT key_index, origin, payload, headers FROM events WHERE id = ?1",
        &[id.into()],
    )?;
    let mut results = batch(db, vec![summary, body]).await?.into_iter();
    let (Some(summary), Some(body)) = (results.next(), results.next()) else {
        return Ok(None);
    };
    let summary = summary.rows()?.read_first::<EventSummary>()?;
    let body = body.rows()?.read_first::<EventBody>()?;
    Ok(summary.zip(body))
}

#[derive(Debug, Serialize)]
pub struct StepView {
    pub id: String,
    pub name: String,
    pub destination: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Option<i64>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl FromRow for StepView {
    fn from_row(row: &Row) -> Self {
        StepView {
            id: row.text("id"),
            name: row.text("name"),
            destination: row.text("destination"),
            status: row.text("status"),
            attempts: row.int("attempts"),
            next_attempt_at: row.opt_int("next_attempt_at"),
            last_status: row.opt_int("last_status"),
            last_error: row.opt_text("last_error"),
            created_at: row.int("created_at"),
            updated_at: row.int("updated_at"),
        }
    }
}

pub async fn event_steps(db: &D1Database, event_id: &str) -> Result<Vec<StepView>> {
    let sql = "SELECT id, name, destination, status, attempts, next_attempt_at, last_status, \
         last_error, created_at, updated_at FROM steps WHERE event_id = ?1 ORDER BY created_at, name";
    query(&statement(db, sql, &[event_id.into()])?)
        .await?
        .read()
}

#[derive(Debug, Serialize)]
pub struct AttemptView {
    pub id: i64,
    pub step_id: String,
    pub n: i64,
    pub started_at: i64,
    pub duration_ms: i64,
    pub status: Option<i64>,
    pub outcome: String,
    pub error: Option<String>,
}

impl FromRow for AttemptView {
    fn from_row(row: &Row) -> Self {
        AttemptView {
            id: row.int("id"),
            step_id: row.text("step_id"),
            n: row.int("n"),
            started_at: row.int("started_at"),
            duration_ms: row.int("duration_ms"),
            status: row.opt_int("status"),
            outcome: row.text("outcome"),
            error: row.opt_text("error"),
        }
    }
}

/// Every attempt of every step of the event, in the order they happened.
pub async fn event_attempts(db: &D1Database, event_id: &str) -> Result<Vec<AttemptView>> {
    let sql = "SELECT a.id, a.step_id, a.n, a.started_at, a.duration_ms, a.status, a.outcome, \
         a.error FROM attempts a JOIN steps s ON s.id = a.step_id WHERE s.event_id = ?1 \
         ORDER BY a.started_at, a.id";
    query(&statement(db, sql, &[event_id.into()])?)
        .await?
        .read()
}

#[derive(Debug, Serialize)]
pub struct DeadGroup {
    pub destination: String,
    pub error: String,
    pub count: i64,
    pub oldest: i64,
    pub newest: i64,
}

impl FromRow for DeadGroup {
    fn from_row(row: &Row) -> Self {
        DeadGroup {
            destination: row.text("destination"),
            error: row.text("error"),
            count: row.int("count"),
            oldest: row.int("oldest"),
            newest: row.int("newest"),
        }
    }
}

/// Dead steps grouped by destination and error code, largest groups first.
pub async fn dead_groups(db: &D1Database) -> Result<Vec<DeadGroup>> {
    let sql = format!(
        "SELECT s.destination, {ERROR_CODE_SQL} AS error, COUNT(*) AS count, \
         MIN(s.updated_at) AS oldest, MAX(s.updated_at) AS newest \
         FROM steps s WHERE s.status = {} GROUP BY 1, 2 ORDER BY count DESC, 1, 2 LIMIT 200",
        sql_lit(StepStatus::Dead)
    );
    query(&statement(db, &sql, &[])?).await?.read()
}

#[derive(Debug, Serialize)]
pub struct DeadStep {
    pub id: String,
    pub event_id: String,
    pub name: String,
    pub destination: String,
    pub attempts: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub updated_at: i64,
    pub provider: String,
    pub event_type: String,
}

impl FromRow for DeadStep {
    fn from_row(row: &Row) -> Self {
        DeadStep {
            id: row.text("id"),
            event_id: row.text("event_id"),
            name: row.text("name"),
            destination: row.text("destination"),
            attempts: row.int("attempts"),
            last_status: row.opt_int("last_status"),
            last_error: row.opt_text("last_error"),
            updated_at: row.int("updated_at"),
            provider: row.text("provider"),
            event_type: row.text("event_type"),
        }
    }
}

/// Dead steps matching `filter`, most recently dead first, up to `filter.limit + 1`.
pub async fn dead_steps(db: &D1Database, filter: &RedriveFilter) -> Result<Vec<DeadStep>> {
    let (conditions, mut args) = filter.where_clause();
    args.push(SqlArg::Int(filter.limit + 1));
    let sql = format!(
        "SELECT s.id, s.event_id, s.name, s.destination, s.attempts, s.last_status, s.last_error, \
         s.updated_at, e.provider, e.type AS event_type FROM steps s JOIN events e ON e.id = s.event_id \
         WHERE {conditions} ORDER BY s.updated_at DESC, s.id DESC LIMIT ?"
    );
    query(&statement(db, &sql, &bind(&args))?).await?.read()
}

#[derive(Debug, Serialize)]
pub struct RejectionCount {
    pub provider: String,
    /// A registry source's name (provider `in`), else `""`.
    pub source: String,
    pub reason: String,
    pub count: i64,
    pub last_hour: i64,
}

impl FromRow for RejectionCount {
    fn from_row(row: &Row) -> Self {
        RejectionCount {
            provider: row.text("provider"),
            source: row.text("source"),
            reason: row.text("reason"),
            count: row.int("count"),
            last_hour: row.int("last_hour"),
        }
    }
}

/// Verification failures per provider, registry source and reason since `since_hour` (Unix
/// seconds).
pub async fn rejection_counts(db: &D1Database, since_hour: i64) -> Result<Vec<RejectionCount>> {
    let sql = edgehooks_handlers::inbound::rejections::COUNTS_SINCE;
    query(&statement(db, sql, &[num(since_hour)])?)
        .await?
        .read()
}

#[derive(Debug, Serialize)]
pub struct StatusCount {
    pub status: String,
    pub count: i64,
}

impl FromRow for StatusCount {
    fn from_row(row: &Row) -> Self {
        StatusCount {
            status: row.text("status"),
            count: row.int("count"),
        }
    }
}

/// `(event counts per status, step counts per status)`.
pub async fn status_counts(db: &D1Database) -> Result<(Vec<StatusCount>, Vec<StatusCount>)> {
    let events = statement(
        db,
        "SELECT status, COUNT(*) AS count FROM events GROUP BY status",
        &[],
    )?;
    let steps = statement(
        db,
        "SELECT status, COUNT(*) AS count FROM steps GROUP BY status",
        &[],
    )?;
    let mut results = batch(db, vec![events, steps]).await?.into_iter();
    let mut next = || -> Result<Vec<StatusCount>> {
        match results.next() {
            Some(r) => r.rows()?.read(),
            None => Ok(Vec::new()),
        }
    };
    Ok((next()?, next()?))
}

/// Make steps runnable again before they are sent to the queue: a `dead` step becomes
/// `enqueued` with its attempt counter back at 0 (a fresh retry budget; its attempt rows stay
/// as history); a `pending` or `enqueued` one (only when `only_dead` is false) keeps its counter.
/// Each gets a new dispatch number, so a dead letter of an earlier send can no longer end it.
/// One statement whatever the number of ids (bound as one JSON array: D1 binds at most 100
/// parameters); it re-checks the status, so a step that moved meanwhile is left alone. Returns
/// the steps that changed, in the order given, each with its new dispatch number (what its
/// message must carry).
pub async fn requeue_for_admin(
    db: &D1Database,
    step_ids: &[String],
    only_dead: bool,
    now_ms: i64,
) -> Result<Vec<Requeued>> {
    if step_ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = requeue_sql(only_dead);
    let ids = serde_json::to_string(step_ids).unwrap_or_else(|_| "[]".into());
    let mut changed: ByName<Requeued> =
        query(&statement(db, &sql, &[ids.as_str().into(), num(now_ms)])?)
            .await?
            .read::<Requeued>()?
            .into_iter()
            .map(|step| (step.id.clone(), step))
            .collect();
    Ok(step_ids
        .iter()
        .filter_map(|id| changed.remove(id))
        .collect())
}

/// A step a requeue changed, with its new dispatch number.
pub struct Requeued {
    pub id: String,
    pub dispatch: i64,
}

impl FromRow for Requeued {
    fn from_row(row: &Row) -> Self {
        Requeued {
            id: row.text("id"),
            dispatch: row.int("dispatch"),
        }
    }
}

/// Store `steps` as new `pending` steps of event `event_id`, in one transaction. Each insert is
/// `ON CONFLICT DO NOTHING`, so a step that exists (e.g. added by a concurrent replay) is left
/// alone. Returns the ids this call inserted, in order.
pub async fn add_steps(
    db: &D1Database,
    event_id: &str,
    steps: &[PlannedStep],
    now_ms: i64,
) -> Result<Vec<String>> {
    let statements = steps
        .iter()
        .map(|step| insert_step(db, event_id, step, now_ms))
        .collect::<Result<Vec<_>>>()?;
    if statements.is_empty() {
        return Ok(Vec::new());
    }
    let answers = batch(db, statements).await?;
    Ok(steps
        .iter()
        .zip(answers.iter())
        .filter(|(_, a)| a.changes() > 0)
        .map(|(step, _)| ids::step_id(event_id, &step.name()))
        .collect())
}
