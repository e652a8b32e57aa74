//! Retention's SQL, bound and run (the statements and their rules are
//! `edgehooks_handlers::retention::sql`): one deletion batch (tombstones, attempts, steps and
//! events in one transaction); the bounded payload purge, tombstone expiry, old hourly rejection
//! counts and expired data-request exports, one statement each ([`cleanup_statement`]), each its
//! own D1 call; and what the storage report and alert read (counts, and D1's own size of the
//! database).

use edgehooks_handlers::access::audit;
use edgehooks_handlers::inbound::rejections::hour_of;
use edgehooks_handlers::retention::budget::{Deleted, PURGE_BATCH, TOMBSTONE_EXPIRY_BATCH};
use edgehooks_handlers::retention::cleanup::Cleanup;
use edgehooks_handlers::retention::sql;
use worker::{D1Database, D1PreparedStatement, Result};

use super::rows::{batch, query_answer, run, FromRow, Row};
use super::{num, statement};

/// One deletion batch: at most `limit` events received before `before_ms` whose steps are all
/// finished for good, with their steps and attempts, leaving a tombstone for each accepted one
/// within its provider's window at `now_ms`. One transaction.
pub async fn delete_batch(
    db: &D1Database,
    before_ms: i64,
    limit: u64,
    now_ms: i64,
) -> Result<Deleted> {
    let [tombstones, attempts, steps, events] = sql::deletion_batch();
    let chosen = [num(before_ms), num(limit as i64)];
    let with_now = [num(before_ms), num(limit as i64), num(now_ms)];
    let statements = vec![
        statement(db, &tombstones, &with_now)?,
        statement(db, &attempts, &chosen)?,
        statement(db, &steps, &chosen)?,
        statement(db, &events, &chosen)?,
    ];
    let answers = batch(db, statements).await?;
    let changed = |i: usize| answers.get(i).map_or(0, |a| a.changes() as u64);
    Ok(Deleted {
        tombstones: changed(0),
        attempts: changed(1),
        steps: changed(2),
        events: changed(3),
    })
}

/// The one statement of a cleanup other than the deletion (which is [`delete_batch`]), bound:
/// the purge of at most [`PURGE_BATCH`] payloads of events received before `cutoff` whose
/// steps are all finished for good (never one with work left); at most
/// [`TOMBSTONE_EXPIRY_BATCH`] tombstones expired by `now`; hourly rejection counts older than
/// the cutoff's hour; exports expired by `now`. `None` for the deletion.
pub fn cleanup_statement(
    db: &D1Database,
    cleanup: Cleanup,
    cutoff: i64,
    now: i64,
) -> Option<Result<D1PreparedStatement>> {
    let (sql, args) = match cleanup {
        Cleanup::DeleteEvents => return None,
        Cleanup::PurgePayloads => (
            sql::purge_payloads(),
            vec![num(cutoff), num(PURGE_BATCH as i64), num(now)],
        ),
        Cleanup::ExpireTombstones => (
            sql::EXPIRE_TOMBSTONES.to_string(),
            vec![num(now), num(TOMBSTONE_EXPIRY_BATCH as i64)],
        ),
        Cleanup::DropRejectionCounts => (
            sql::DELETE_OLD_REJECTIONS.to_string(),
            vec![num(hour_of(cutoff))],
        ),
        Cleanup::ExpireExports => (sql::EXPIRE_EXPORTS.to_string(), vec![num(now)]),
        Cleanup::ExpireAudit => (audit::EXPIRE_SQL.to_string(), vec![num(now)]),
    };
    Some(statement(db, &sql, &args))
}

/// Run one statement; the rows it changed.
pub async fn changed_rows(statement: &D1PreparedStatement) -> Result<u64> {
    Ok(run(statement).await?.changes() as u64)
}

/// What the storage report counts, with the database's size after the count.
pub struct StoredCounts {
    pub events: u64,
    pub tombstones: u64,
    /// `meta.size_after` of the counting query; `None` when D1 does not report it.
    pub size_bytes: Option<u64>,
}

struct Counts {
    events: i64,
    tombstones: i64,
}

impl FromRow for Counts {
    fn from_row(row: &Row) -> Self {
        Counts {
            events: row.int("events"),
            tombstones: row.int("tombstones"),
        }
    }
}

/// Events and tombstones stored, and the database's size (one query: it reads every event's
/// index entry, so it is for the admin API, not the every-minute cron).
pub async fn stored_counts(db: &D1Database) -> Result<StoredCounts> {
    let answer = query_answer(&statement(db, sql::STORED_COUNTS, &[])?).await?;
    let counts = answer.rows()?.read_first::<Counts>()?;
    let (events, tombstones) = counts.map_or((0, 0), |c| (c.events, c.tombstones));
    Ok(StoredCounts {
        events: u64::try_from(events).unwrap_or(0),
        tombstones: u64::try_from(tombstones).unwrap_or(0),
        size_bytes: answer.size_after(),
    })
}

/// The database's size in bytes as D1 reports it after a statement that reads no table (the
/// cron's and the health check's storage measure); `None` when D1 does not report it.
pub async fn database_size(db: &D1Database) -> Result<Option<u64>> {
    let answer = query_answer(&statement(db, sql::SIZE_PROBE, &[])?).await?;
    Ok(answer.size_after())
}
