//! Bulk replay's SQL: one scan of what remains of a pass (the core's [`scan_query`]: the
//! filter's rows, narrowed to a connection's provider, source and account, with their steps,
//! oldest first in `(received_at, id)` order, the pass cursor's keyset). Which scanned rows are
//! selected, and where the pass resumes, is the core's [`edgehooks_handlers::admin::PageWalk`];
//! the replay of each event is the single-event replay's own SQL.

use edgehooks_handlers::admin::{scan_query, BulkReplay, ScannedEvent};
use edgehooks_handlers::connections::Connection;
use worker::{D1Database, Result};

use super::admin::bind;
use super::rows::{query, FromRow, Row};
use super::statement;

/// Up to `fetch` rows of the pass after its cursor; payloads only `with_payload`.
pub async fn scan(
    db: &D1Database,
    request: &BulkReplay,
    connection: Option<&Connection>,
    with_payload: bool,
    fetch: i64,
) -> Result<Vec<ScannedEvent>> {
    let (sql, args) = scan_query(request, connection, with_payload, fetch);
    query(&statement(db, &sql, &bind(&args))?).await?.read()
}

impl FromRow for ScannedEvent {
    fn from_row(row: &Row) -> Self {
        ScannedEvent {
            id: row.text("id"),
            received_at: row.int("received_at"),
            provider: row.text("provider"),
            source: row.opt_text("source"),
            account: row.opt_text("account"),
            event_type: row.text("event_type"),
            status: row.text("status"),
            payload: row.opt_text("payload"),
            has_payload: row.int("has_payload"),
            steps: row.opt_text("steps"),
        }
    }
}
