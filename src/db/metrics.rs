//! The dashboard's SQL: add the isolate's tally to the minute buckets and, in the same batch, to
//! `/metrics`' running totals (the core's `metrics::sql`; each table in one statement with one
//! bound JSON array, whatever the number of buckets), read them back for
//! `GET /admin/api/metrics`, the alerts and `GET /metrics`, and drop minute buckets past
//! `METRICS_RETENTION_DAYS` (never a total: a counter does not go down).
//!
//! Writes: `metric_events`, `metric_steps`, `metric_request_totals`, `metric_rejection_totals`,
//! `metric_step_totals`.

use edgehooks_handlers::alerts::sql::{DELETE_OLD_EVENT_METRICS, DELETE_OLD_STEP_METRICS};
use edgehooks_handlers::metrics::scrape::{
    histogram_of, RejectionTotal, RequestTotal, StepGauge, StepTotal,
};
use edgehooks_handlers::metrics::{sql, Flush};
use worker::{D1Database, D1PreparedStatement, Result};

use super::rows::{batch, query, Answer, FromRow, Row};
use super::{num, statement};

fn json_error(e: serde_json::Error) -> worker::Error {
    worker::Error::RustError(e.to_string())
}

/// Add a flushed tally to its buckets, in one batch.
pub async fn add_metrics(db: &D1Database, flush: &Flush) -> Result<()> {
    let mut statements = Vec::new();
    if !flush.events.is_empty() {
        let json = serde_json::to_string(&flush.events).map_err(json_error)?;
        statements.push(statement(
            db,
            sql::ADD_EVENT_BUCKETS,
            &[json.as_str().into()],
        )?);
        statements.push(statement(
            db,
            sql::ADD_REJECTION_TOTALS,
            &[json.as_str().into()],
        )?);
    }
    if !flush.steps.is_empty() {
        let json = serde_json::to_string(&flush.steps).map_err(json_error)?;
        let hs: Vec<String> = (0..10).map(|i| format!("h{i}")).collect();
        let extract: Vec<String> = (0..10)
            .map(|i| format!("json_extract(value, '$.histogram[{i}]')"))
            .collect();
        let add: Vec<String> = hs
            .iter()
            .map(|h| format!("{h} = {h} + excluded.{h}"))
            .collect();
        let sql = format!(
            "INSERT INTO metric_steps (minute, destination, outcome, count, {}) \
             SELECT json_extract(value, '$.minute'), json_extract(value, '$.destination'), \
             json_extract(value, '$.outcome'), json_extract(value, '$.count'), {} \
             FROM json_each(?1) WHERE true ON CONFLICT (minute, destination, outcome) DO UPDATE \
             SET count = count + excluded.count, {}",
            hs.join(", "),
            extract.join(", "),
            add.join(", ")
        );
        statements.push(statement(db, &sql, &[json.as_str().into()])?);
        statements.push(statement(
            db,
            &sql::add_step_totals(),
            &[json.as_str().into()],
        )?);
    }
    if !flush.requests.is_empty() {
        let json = serde_json::to_string(&flush.requests).map_err(json_error)?;
        statements.push(statement(
            db,
            &sql::add_request_totals(),
            &[json.as_str().into()],
        )?);
    }
    if !statements.is_empty() {
        db.batch(statements).await?;
    }
    Ok(())
}

/// One `metric_events` row.
#[derive(Debug, serde::Serialize)]
pub struct EventMetricRow {
    pub minute: i64,
    pub provider: String,
    /// A registry source's name (provider `in`), else `""`.
    pub source: String,
    pub outcome: String,
    pub reason: String,
    pub count: i64,
}

impl FromRow for EventMetricRow {
    fn from_row(row: &Row) -> Self {
        EventMetricRow {
            minute: row.int("minute"),
            provider: row.text("provider"),
            source: row.text("source"),
            outcome: row.text("outcome"),
            reason: row.text("reason"),
            count: row.int("count"),
        }
    }
}

/// One `metric_steps` row with its histogram as a JSON array text.
#[derive(Debug)]
pub struct StepMetricRow {
    pub minute: i64,
    pub destination: String,
    pub outcome: String,
    pub count: i64,
    pub histogram: String,
}

impl FromRow for StepMetricRow {
    fn from_row(row: &Row) -> Self {
        StepMetricRow {
            minute: row.int("minute"),
            destination: row.text("destination"),
            outcome: row.text("outcome"),
            count: row.int("count"),
            histogram: row.text("histogram"),
        }
    }
}

/// Event buckets since `from_minute`.
pub async fn event_buckets(db: &D1Database, from_minute: i64) -> Result<Vec<EventMetricRow>> {
    query(&statement(db, sql::EVENT_BUCKETS, &[num(from_minute)])?)
        .await?
        .read()
}

/// Step buckets since `from_minute`.
pub async fn step_buckets(db: &D1Database, from_minute: i64) -> Result<Vec<StepMetricRow>> {
    let sql = "SELECT minute, destination, outcome, count, \
         json_array(h0, h1, h2, h3, h4, h5, h6, h7, h8, h9) AS histogram FROM metric_steps \
         WHERE minute >= ?1 ORDER BY minute, destination, outcome LIMIT 20000";
    query(&statement(db, sql, &[num(from_minute)])?)
        .await?
        .read()
}

/// Signature failures per provider, registry source and reason since `from_minute`.
#[derive(Debug)]
pub struct FailureRow {
    pub provider: String,
    pub source: String,
    pub reason: String,
    pub count: i64,
}

impl FromRow for FailureRow {
    fn from_row(row: &Row) -> Self {
        FailureRow {
            provider: row.text("provider"),
            source: row.text("source"),
            reason: row.text("reason"),
            count: row.int("count"),
        }
    }
}

pub async fn signature_failures(db: &D1Database, from_minute: i64) -> Result<Vec<FailureRow>> {
    query(&statement(
        db,
        sql::SIGNATURE_FAILURES,
        &[num(from_minute)],
    )?)
    .await?
    .read()
}

/// The latest minute each provider and registry source delivered a verified request in.
#[derive(Debug)]
pub struct LastSeenRow {
    pub provider: String,
    pub source: String,
    pub minute: i64,
}

impl FromRow for LastSeenRow {
    fn from_row(row: &Row) -> Self {
        LastSeenRow {
            provider: row.text("provider"),
            source: row.text("source"),
            minute: row.int("minute"),
        }
    }
}

pub async fn last_seen(db: &D1Database) -> Result<Vec<LastSeenRow>> {
    query(&statement(db, sql::LAST_SEEN, &[])?).await?.read()
}

/// Drop buckets older than `oldest_minute`.
pub fn delete_old_metrics(db: &D1Database, oldest_minute: i64) -> Result<Vec<D1PreparedStatement>> {
    Ok(vec![
        statement(db, DELETE_OLD_EVENT_METRICS, &[num(oldest_minute)])?,
        statement(db, DELETE_OLD_STEP_METRICS, &[num(oldest_minute)])?,
    ])
}

/// A row of `/metrics`' reads, as the core's type (`Scraped` because the row types are the
/// core's).
struct Scraped<T>(T);

impl FromRow for Scraped<RequestTotal> {
    fn from_row(row: &Row) -> Self {
        Scraped(RequestTotal {
            provider: row.text("provider"),
            source: row.text("source"),
            outcome: row.text("outcome"),
            status: u16::try_from(row.int("status")).unwrap_or(0),
            count: unsigned(row.int("count")),
            stored: unsigned(row.int("stored")),
            duplicates: unsigned(row.int("duplicates")),
            latency_sum_ms: unsigned(row.int("latency_sum_ms")),
            histogram: histogram_of(&row.text("histogram")),
        })
    }
}

impl FromRow for Scraped<RejectionTotal> {
    fn from_row(row: &Row) -> Self {
        Scraped(RejectionTotal {
            provider: row.text("provider"),
            source: row.text("source"),
            reason: row.text("reason"),
            count: unsigned(row.int("count")),
        })
    }
}

impl FromRow for Scraped<StepTotal> {
    fn from_row(row: &Row) -> Self {
        Scraped(StepTotal {
            destination: row.text("destination"),
            outcome: row.text("outcome"),
            count: unsigned(row.int("count")),
            latency_sum_ms: unsigned(row.int("latency_sum_ms")),
            histogram: histogram_of(&row.text("histogram")),
        })
    }
}

impl FromRow for Scraped<StepGauge> {
    fn from_row(row: &Row) -> Self {
        Scraped(StepGauge {
            destination: row.text("destination"),
            status: row.text("status"),
            count: unsigned(row.int("count")),
        })
    }
}

fn unsigned(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// What `GET /metrics` reads: the running totals and the step gauges, in one batch, and the
/// database's size D1 reports with it.
pub struct Totals {
    pub requests: Vec<RequestTotal>,
    pub rejections: Vec<RejectionTotal>,
    pub steps: Vec<StepTotal>,
    pub outstanding: Vec<StepGauge>,
    pub parked: Vec<StepGauge>,
    pub database_bytes: Option<u64>,
}

fn scraped<T>(answer: Option<&Answer>) -> Result<Vec<T>>
where
    Scraped<T>: FromRow,
{
    let Some(answer) = answer else {
        return Ok(Vec::new());
    };
    let rows: Vec<Scraped<T>> = answer.rows()?.read()?;
    Ok(rows.into_iter().map(|Scraped(t)| t).collect())
}

pub async fn totals(db: &D1Database) -> Result<Totals> {
    let statements = vec![
        statement(db, &sql::request_totals(), &[])?,
        statement(db, sql::REJECTION_TOTALS, &[])?,
        statement(db, &sql::step_totals(), &[])?,
        statement(db, &sql::outstanding_steps(), &[])?,
        statement(db, &sql::parked_steps(), &[])?,
    ];
    let answers = batch(db, statements).await?;
    Ok(Totals {
        requests: scraped(answers.first())?,
        rejections: scraped(answers.get(1))?,
        steps: scraped(answers.get(2))?,
        outstanding: scraped(answers.get(3))?,
        parked: scraped(answers.get(4))?,
        database_bytes: answers.last().and_then(Answer::size_after),
    })
}
