//! The SQL of connections, `http` destinations and default routes turned off (migration 0008):
//! the admin API's reads and writes, the rows ingest plans with, the destination a step of it
//! runs with and its line, and a paused destination's drain: a step joining the line, the
//! release of the next page (that SQL is the core's, `edgehooks_handlers::connections::sql`), and
//! the sealing of destination secrets still plaintext and the count the admin health shows
//! (`edgehooks_handlers::sealed::reseal`), and the destinations' own maximum attempts the
//! sweeper recovers their lost attempts by (`edgehooks_handlers::connections::recovery`).

use edgehooks_handlers::by_name::ByName;
use edgehooks_handlers::connections::drain::{in_line_order, Line, ReleasedStep};
use edgehooks_handlers::connections::recovery::MAX_ATTEMPTS_SQL;
use edgehooks_handlers::connections::sql as drain_sql;
use edgehooks_handlers::health::secrets::PlaintextRows;
use edgehooks_handlers::sealed::reseal;
use worker::{D1Database, D1PreparedStatement, Result};

use super::rows::{batch, query, run, Answer, FromRow, Row};
use super::{num, opt_num, opt_text, statement};

/// A stored destination: its validated JSON (with secrets) and bookkeeping.
#[derive(Debug)]
pub struct DestinationRow {
    pub name: String,
    pub config: String,
    pub paused: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl FromRow for DestinationRow {
    fn from_row(row: &Row) -> Self {
        DestinationRow {
            name: row.text("name"),
            config: row.text("config"),
            paused: row.int("paused"),
            created_at: row.int("created_at"),
            updated_at: row.int("updated_at"),
        }
    }
}

/// A stored connection.
#[derive(Debug)]
pub struct ConnectionRow {
    pub name: String,
    pub provider: String,
    /// The selected source (`None`: every source; `default`: the plain path).
    pub source: Option<String>,
    pub account: Option<String>,
    pub types: String,
    pub conditions: String,
    pub target: String,
    pub enabled: i64,
    /// Its transform's JSON (`None`: the payload verbatim).
    pub transform: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl FromRow for ConnectionRow {
    fn from_row(row: &Row) -> Self {
        ConnectionRow {
            name: row.text("name"),
            provider: row.text("provider"),
            source: row.opt_text("source"),
            account: row.opt_text("account"),
            types: row.text("types"),
            conditions: row.text("conditions"),
            target: row.text("target"),
            enabled: row.int("enabled"),
            transform: row.opt_text("transform"),
            created_at: row.int("created_at"),
            updated_at: row.int("updated_at"),
        }
    }
}

/// A default route turned off.
#[derive(Debug)]
pub struct RouteOffRow {
    pub provider: String,
    pub event_type: String,
    pub step: String,
}

impl FromRow for RouteOffRow {
    fn from_row(row: &Row) -> Self {
        RouteOffRow {
            provider: row.text("provider"),
            event_type: row.text("event_type"),
            step: row.text("step"),
        }
    }
}

/// The columns of a destination besides its name and bookkeeping.
pub struct DestinationColumns<'a> {
    pub url: &'a str,
    pub config: &'a str,
    pub timeout_ms: i64,
    pub max_attempts: Option<i64>,
    pub rate_per_sec: Option<i64>,
    pub paused: bool,
}

const DESTINATION_COLUMNS: &str = "name, config, paused, created_at, updated_at";
const CONNECTION_COLUMNS: &str =
    "name, provider, source, account, types, conditions, target, enabled, transform, \
     created_at, updated_at";

pub async fn list_destinations(db: &D1Database) -> Result<Vec<DestinationRow>> {
    let sql = format!("SELECT {DESTINATION_COLUMNS} FROM destinations ORDER BY name");
    query(&statement(db, &sql, &[])?).await?.read()
}

pub async fn get_destination(db: &D1Database, name: &str) -> Result<Option<DestinationRow>> {
    let sql = format!("SELECT {DESTINATION_COLUMNS} FROM destinations WHERE name = ?1");
    query(&statement(db, &sql, &[name.into()])?)
        .await?
        .read_first()
}

/// Insert (`create`: false when the name is taken) or replace a destination's settings.
pub async fn save_destination(
    db: &D1Database,
    name: &str,
    columns: &DestinationColumns<'_>,
    create: bool,
    now_ms: i64,
) -> Result<bool> {
    let sql = if create {
        "INSERT INTO destinations (name, type, url, config, timeout_ms, max_attempts, rate_per_sec, \
         paused, created_at, updated_at) VALUES (?1, 'http', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8) \
         ON CONFLICT DO NOTHING"
    } else {
        "UPDATE destinations SET url = ?2, config = ?3, timeout_ms = ?4, max_attempts = ?5, \
         rate_per_sec = ?6, paused = ?7, updated_at = ?8 WHERE name = ?1"
    };
    let args = [
        name.into(),
        columns.url.into(),
        columns.config.into(),
        num(columns.timeout_ms),
        opt_num(columns.max_attempts),
        opt_num(columns.rate_per_sec),
        num(i64::from(columns.paused)),
        num(now_ms),
    ];
    let result = run(&statement(db, sql, &args)?).await?;
    Ok(result.changes() > 0)
}

/// Up to `limit` destinations still holding a plaintext signing secret, by name (the core's
/// `sealed::reseal`).
pub async fn unsealed_destinations(db: &D1Database, limit: i64) -> Result<Vec<DestinationRow>> {
    let sql = reseal::unsealed_destinations_sql();
    query(&statement(db, &sql, &[num(limit)])?).await?.read()
}

/// Replace destination `name`'s config `read` with its sealed form; false when the row no
/// longer holds `read` (edited in the meantime, or sealed by another tick).
pub async fn reseal_destination(
    db: &D1Database,
    name: &str,
    sealed: &str,
    read: &str,
) -> Result<bool> {
    let args = [name.into(), sealed.into(), read.into()];
    let result = run(&statement(db, reseal::RESEAL_DESTINATION_SQL, &args)?).await?;
    Ok(result.changes() > 0)
}

/// How many destinations and registry sources still hold a plaintext secret.
pub async fn count_plaintext_secrets(db: &D1Database) -> Result<PlaintextRows> {
    let sql = reseal::count_plaintext_sql();
    let counts = query(&statement(db, &sql, &[])?)
        .await?
        .read_first::<Counts>()?;
    Ok(counts.map_or_else(PlaintextRows::default, |c| c.0))
}

struct Counts(PlaintextRows);

impl FromRow for Counts {
    fn from_row(row: &Row) -> Self {
        Counts(PlaintextRows {
            destinations: u64::try_from(row.int("destinations")).unwrap_or(0),
            sources: u64::try_from(row.int("sources")).unwrap_or(0),
        })
    }
}

/// Delete a destination no connection targets: false when it is missing or in use.
pub async fn delete_destination(db: &D1Database, name: &str) -> Result<bool> {
    let sql = "DELETE FROM destinations WHERE name = ?1 \
               AND NOT EXISTS (SELECT 1 FROM connections WHERE target = ?1)";
    let result = run(&statement(db, sql, &[name.into()])?).await?;
    Ok(result.changes() > 0)
}

pub async fn connections_to(db: &D1Database, target: &str) -> Result<Vec<String>> {
    let sql = "SELECT name FROM connections WHERE target = ?1 ORDER BY name";
    query(&statement(db, sql, &[target.into()])?)
        .await?
        .texts("name")
}

pub async fn list_connections(db: &D1Database) -> Result<Vec<ConnectionRow>> {
    let sql = format!("SELECT {CONNECTION_COLUMNS} FROM connections ORDER BY created_at, name");
    query(&statement(db, &sql, &[])?).await?.read()
}

pub async fn get_connection(db: &D1Database, name: &str) -> Result<Option<ConnectionRow>> {
    let sql = format!("SELECT {CONNECTION_COLUMNS} FROM connections WHERE name = ?1");
    query(&statement(db, &sql, &[name.into()])?)
        .await?
        .read_first()
}

/// A connection's columns as the admin API validated them.
pub struct ConnectionColumns<'a> {
    pub provider: &'a str,
    pub source: Option<&'a str>,
    pub account: Option<&'a str>,
    pub types: &'a str,
    pub conditions: &'a str,
    pub target: &'a str,
    pub enabled: bool,
    pub transform: Option<&'a str>,
}

/// Insert (`create`: false when the name is taken) or replace a connection.
pub async fn save_connection(
    db: &D1Database,
    name: &str,
    columns: &ConnectionColumns<'_>,
    create: bool,
    now_ms: i64,
) -> Result<bool> {
    let sql = if create {
        "INSERT INTO connections (name, provider, account, types, conditions, target, enabled, \
         created_at, updated_at, source, transform) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10) \
         ON CONFLICT DO NOTHING"
    } else {
        "UPDATE connections SET provider = ?2, account = ?3, types = ?4, conditions = ?5, \
         target = ?6, enabled = ?7, updated_at = ?8, source = ?9, transform = ?10 \
         WHERE name = ?1"
    };
    let args = [
        name.into(),
        columns.provider.into(),
        opt_text(columns.account),
        columns.types.into(),
        columns.conditions.into(),
        columns.target.into(),
        num(i64::from(columns.enabled)),
        num(now_ms),
        opt_text(columns.source),
        opt_text(columns.transform),
    ];
    let result = run(&statement(db, sql, &args)?).await?;
    Ok(result.changes() > 0)
}

pub async fn delete_connection(db: &D1Database, name: &str) -> Result<bool> {
    let sql = "DELETE FROM connections WHERE name = ?1";
    let result = run(&statement(db, sql, &[name.into()])?).await?;
    Ok(result.changes() > 0)
}

pub async fn list_routes_off(db: &D1Database) -> Result<Vec<RouteOffRow>> {
    let sql =
        "SELECT provider, event_type, step FROM routes_off ORDER BY provider, event_type, step";
    query(&statement(db, sql, &[])?).await?.read()
}

/// Turn a default route off (`off`) or back on; false when nothing changed.
pub async fn set_route_off(
    db: &D1Database,
    route: &RouteOffRow,
    off: bool,
    now_ms: i64,
) -> Result<bool> {
    let args = [
        route.provider.as_str().into(),
        route.event_type.as_str().into(),
        route.step.as_str().into(),
    ];
    let result = if off {
        let sql = "INSERT INTO routes_off (provider, event_type, step, created_at) \
                   VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING";
        let mut with_now = args.to_vec();
        with_now.push(num(now_ms));
        run(&statement(db, sql, &with_now)?).await?
    } else {
        let sql = "DELETE FROM routes_off WHERE provider = ?1 AND event_type = ?2 AND step = ?3";
        run(&statement(db, sql, &args)?).await?
    };
    Ok(result.changes() > 0)
}

/// Each named destination's own `max_attempts` (`None`: the global), by name, in one query: what
/// the sweeper's recovery of their lost attempts counts against (the core's
/// `connections::recovery`). A name no longer stored is absent.
pub async fn destination_max_attempts(
    db: &D1Database,
    names: &[String],
) -> Result<ByName<Option<i64>>> {
    let names =
        serde_json::to_string(names).map_err(|e| worker::Error::RustError(e.to_string()))?;
    let rows: Vec<MaxAttempts> = query(&statement(db, MAX_ATTEMPTS_SQL, &[names.into()])?)
        .await?
        .read()?;
    Ok(rows.into_iter().map(|r| (r.name, r.max_attempts)).collect())
}

/// What [`destination_max_attempts`] reads.
struct MaxAttempts {
    name: String,
    max_attempts: Option<i64>,
}

impl FromRow for MaxAttempts {
    fn from_row(row: &Row) -> Self {
        MaxAttempts {
            name: row.text("name"),
            max_attempts: row.opt_int("max_attempts"),
        }
    }
}

/// A destination as one of its steps runs with it: its row, its line, and its connections
/// as JSON when one of them has a transform (the core's `transform::sql`).
pub async fn destination_for_step(db: &D1Database, name: &str) -> Result<Option<ForStep>> {
    let sql = drain_sql::destination_with_line(DESTINATION_COLUMNS);
    query(&statement(db, &sql, &[name.into()])?)
        .await?
        .read_first::<ForStep>()
}

/// What [`destination_for_step`] reads.
pub struct ForStep {
    pub destination: DestinationRow,
    pub line: Line,
    pub connections: Option<String>,
}

impl FromRow for ForStep {
    fn from_row(row: &Row) -> Self {
        ForStep {
            destination: DestinationRow::from_row(row),
            line: Line {
                parked: row.flag("parked"),
                released: row.flag("released"),
            },
            connections: row.opt_text("connections"),
        }
    }
}

/// The statement parking step `step_id` at its place in its destination's line.
pub fn join_line(db: &D1Database, step_id: &str, now_ms: i64) -> Result<D1PreparedStatement> {
    statement(db, &drain_sql::join_line(), &[step_id.into(), num(now_ms)])
}

/// The statement releasing destination `name`'s next page of `page` parked steps, if its line
/// lets one go (see [`released`] for what it answers).
pub fn release_page(
    db: &D1Database,
    name: &str,
    page: u32,
    now_ms: i64,
) -> Result<D1PreparedStatement> {
    let args = [name.into(), num(i64::from(page)), num(now_ms)];
    statement(db, &drain_sql::release_page(), &args)
}

impl FromRow for ReleasedStep {
    fn from_row(row: &Row) -> Self {
        ReleasedStep {
            id: row.text("id"),
            dispatch: row.int("dispatch"),
            created_at: row.int("created_at"),
            seq: row.int("seq"),
        }
    }
}

/// The steps a [`release_page`] statement released, oldest first.
pub fn released(answer: &Answer) -> Result<Vec<ReleasedStep>> {
    Ok(in_line_order(answer.rows()?.read()?))
}

/// A resume of destination `name`, in one D1 transaction: the released steps still waiting for
/// their claim are sent again (their messages may have been lost before the resume: a failed
/// send, a killed runtime), or else its next page is released. Answers the steps to send,
/// oldest first, and how many steps are still parked behind them.
pub async fn release_for_resume(
    db: &D1Database,
    name: &str,
    page: u32,
    now_ms: i64,
) -> Result<(Vec<ReleasedStep>, i64)> {
    let again = statement(
        db,
        &drain_sql::resend_released(),
        &[name.into(), num(now_ms)],
    )?;
    let count = statement(db, &drain_sql::parked_count(), &[name.into()])?;
    let statements = vec![again, release_page(db, name, page, now_ms)?, count];
    let answers = batch(db, statements).await?;
    let mut steps = Vec::new();
    for answer in answers.iter().take(2) {
        steps.extend(answer.rows()?.read::<ReleasedStep>()?);
    }
    let parked = match answers.get(2) {
        Some(answer) => answer
            .rows()?
            .read_first::<Parked>()?
            .map_or(0, |p| p.parked),
        None => 0,
    };
    Ok((in_line_order(steps), parked))
}

struct Parked {
    parked: i64,
}

impl FromRow for Parked {
    fn from_row(row: &Row) -> Self {
        Parked {
            parked: row.int("parked"),
        }
    }
}
