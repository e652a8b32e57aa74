//! One bulk replay page over scanned rows. SQL narrows the pass to candidate events (the
//! filter's columns and, with a `connection`, its provider, source and account), oldest first;
//! which of them the pass selects is decided per row in Rust by the connection's own matching
//! ([`Connection::takes`]: type patterns and JSON Pointer conditions on the payload), so a page
//! is bounded by the rows it scans, not by the rows it selects. The cursor resumes after the
//! last row the page consumed (selected or passed over), so across pages every event of the
//! pass is considered exactly once: none skipped, none repeated.

use serde_json::Value;

use super::bulk_replay::BulkReplay;
use super::replay::{StoredEvent, StoredStep};
use super::SqlArg;
use crate::connections::plan::EventFacts;
use crate::connections::Connection;
use crate::inbound::sources::DEFAULT_SOURCE;
use crate::inbound::webhook::Provider;

/// Rows a call reads by default and at most (a real page; each page of a dry run).
pub const DEFAULT_SCAN: i64 = 500;
pub const MAX_SCAN: i64 = 1_000;
/// Pages of `scan` rows one dry-run call counts before answering a `count_cursor`.
pub const DRY_RUN_PAGES: usize = 10;

/// One scanned event with what planning its replay needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedEvent {
    pub id: String,
    pub received_at: i64,
    pub provider: String,
    pub source: Option<String>,
    pub account: Option<String>,
    pub event_type: String,
    pub status: String,
    /// Read only when some matching reads payloads (`NULL` otherwise).
    pub payload: Option<String>,
    /// 1 while the payload is stored (not redacted or purged).
    pub has_payload: i64,
    /// The event's steps as `[[name, status], ...]`.
    pub steps: Option<String>,
}

impl ScannedEvent {
    /// What matching and planning read; `None` for a provider no longer known.
    pub fn facts(&self) -> Option<EventFacts<'_>> {
        Some(EventFacts {
            provider: Provider::from_slug(&self.provider)?,
            source: self.source.as_deref(),
            account: self.account.as_deref(),
            event_type: &self.event_type,
            payload: self.payload.as_deref().unwrap_or("null"),
        })
    }

    /// The stored steps (a malformed list reads as none).
    pub fn stored_steps(&self) -> Vec<StoredStep> {
        let pairs = self
            .steps
            .as_deref()
            .and_then(crate::json_lists::string_pairs)
            .unwrap_or_default();
        pairs
            .into_iter()
            .map(|(name, status)| StoredStep { name, status })
            .collect()
    }

    /// The event as replay plans it, with `steps` from [`ScannedEvent::stored_steps`].
    pub fn stored<'a>(&'a self, steps: &'a [StoredStep]) -> StoredEvent<'a> {
        StoredEvent {
            facts: self.facts(),
            accepted: self.status == "accepted",
            payload_available: self.has_payload != 0,
            steps,
        }
    }
}

/// Which scanned rows a pass selects.
#[derive(Debug, Clone, Copy)]
pub enum Selection<'a> {
    /// Every row the SQL gives.
    All,
    /// The rows this connection takes now.
    Connection(&'a Connection),
}

impl Selection<'_> {
    /// True when deciding needs each row's payload.
    pub fn reads_payload(&self) -> bool {
        matches!(self, Selection::Connection(c) if c.filter.reads_payload())
    }

    pub fn selects(&self, row: &ScannedEvent) -> bool {
        let Selection::Connection(connection) = self else {
            return true;
        };
        let Some(facts) = row.facts() else {
            return false;
        };
        let payload = match connection.filter.reads_payload() {
            true => serde_json::from_str(facts.payload).unwrap_or(Value::Null),
            false => Value::Null,
        };
        row.status == "accepted" && connection.takes(&facts, &payload)
    }

    /// Rows to fetch for a page of `limit` selected within `scan` scanned: one more than can
    /// be consumed, so the page knows whether rows remain.
    pub fn fetch(&self, limit: i64, scan: i64) -> i64 {
        match self {
            Selection::All => limit.min(scan) + 1,
            Selection::Connection(_) => scan + 1,
        }
    }
}

/// What one page does with its scanned rows: the rows selected (indexes, in order) and the row
/// after which the pass resumes (`None`: the pass is done).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageWalk {
    pub selected: Vec<usize>,
    pub resume_after: Option<usize>,
}

impl PageWalk {
    /// Walk `rows` (fetched with [`Selection::fetch`]) in order: select up to `limit` rows
    /// within the first `scan`; stop at whichever bound comes first.
    pub fn of(rows: &[ScannedEvent], limit: usize, scan: usize, selection: &Selection) -> Self {
        let mut selected = Vec::new();
        let mut consumed = 0;
        for (index, row) in rows.iter().take(scan).enumerate() {
            consumed = index + 1;
            if selection.selects(row) {
                selected.push(index);
                if selected.len() >= limit {
                    break;
                }
            }
        }
        let more = rows.len() > consumed;
        PageWalk {
            selected,
            resume_after: consumed.checked_sub(1).filter(|_| more),
        }
    }

    /// The row after which the pass resumes when the `k`-th selected row failed: the row just
    /// before it (rows passed over before it are consumed); `None` when nothing before it was.
    pub fn resume_before_selected(&self, k: usize) -> Option<usize> {
        self.selected.get(k).and_then(|index| index.checked_sub(1))
    }
}

/// The scan's SQL: the rows of what remains of the pass, narrowed to `connection`'s provider,
/// source and account, with their steps, oldest first; the payload only `with_payload`.
pub fn scan_query(
    request: &BulkReplay,
    connection: Option<&Connection>,
    with_payload: bool,
    fetch: i64,
) -> (String, Vec<SqlArg>) {
    let (mut conditions, mut args) = request.where_clause();
    if let Some(connection) = connection {
        conditions.push_str(" AND e.provider = ?");
        args.push(SqlArg::Text(connection.source.provider.slug().to_string()));
        match connection.source.name.as_deref() {
            None => {}
            Some(DEFAULT_SOURCE) => conditions.push_str(" AND e.source IS NULL"),
            Some(name) => {
                conditions.push_str(" AND e.source = ?");
                args.push(SqlArg::Text(name.to_string()));
            }
        }
        if let Some(account) = &connection.source.account {
            conditions.push_str(" AND e.account = ?");
            args.push(SqlArg::Text(account.clone()));
        }
    }
    let payload = if with_payload { "e.payload" } else { "NULL" };
    args.push(SqlArg::Int(fetch));
    let sql = format!(
        "SELECT e.id, e.received_at, e.provider, e.source, e.account, e.type AS event_type, \
         e.status, {payload} AS payload, (e.payload IS NOT NULL) AS has_payload, \
         (SELECT json_group_array(json_array(s.name, s.status)) FROM steps s \
          WHERE s.event_id = e.id) AS steps \
         FROM events e WHERE {conditions} ORDER BY e.received_at, e.id LIMIT ?"
    );
    (sql, args)
}

#[cfg(test)]
#[path = "bulk_scan_tests.rs"]
mod tests;
