//! Bulk replay by filter (`POST /admin/api/replay`): the request's validation into SQL over
//! `events e`, and the pass cursor that makes it resumable. A pass walks the matching events
//! oldest first in `(received_at, id)` order, at most [`MAX_BULK`] per call; the cursor names the
//! last event handled, the pass's upper time bound (fixed at its first call, so events arriving
//! during the pass do not extend it) and a fingerprint of the filter (a cursor is refused with
//! another filter), so calling again with `next_cursor` continues exactly after the last event
//! replayed and no event is replayed twice within one pass. A `connection` selects the events
//! that connection takes now, decided per scanned row ([`super::bulk_scan`]); `scope` says whether
//! only that connection's step is replayed (the default with a connection) or the whole event.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::bulk_scan::{DEFAULT_SCAN, MAX_SCAN};
use super::filters::{bulk_dry_run, json_text, json_time, limit_from, one_of, source_param};
use super::{invalid, FilterError, SqlArg, EVENT_STATUSES, STEP_STATUSES};
use crate::connections::valid_name;
use crate::inbound::sources::DEFAULT_SOURCE;
use crate::inbound::webhook::Provider;
use crate::step_kind::{Destination, StepKind};

/// Events replayed per call by default, and at most (each replay is a few D1 queries and a
/// queue send: 100 stays well inside a paid invocation's 1,000 subrequests).
pub const DEFAULT_BULK: i64 = 25;
pub const MAX_BULK: i64 = 100;
/// Event ids a dry run shows.
pub const SAMPLE_SIZE: i64 = 10;

const KNOWN: [&str; 15] = [
    "provider",
    "source",
    "type",
    "from",
    "to",
    "status",
    "step",
    "destination",
    "step_status",
    "connection",
    "scope",
    "scan",
    "limit",
    "cursor",
    "dry_run",
];

/// Which events a bulk replay selects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BulkFilter {
    pub provider: Option<String>,
    /// A source name, or `default` (the default path's events).
    pub source: Option<String>,
    pub event_type: Option<String>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// Event status (`accepted`, `rejected`).
    pub status: Option<String>,
    /// Events having a step with this name, destination and status (each optional).
    pub step: Option<String>,
    pub destination: Option<String>,
    pub step_status: Option<String>,
    /// Events this connection (by name) takes now.
    pub connection: Option<String>,
    pub scope: BulkScope,
}

/// Which steps of the selected events a bulk replay runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BulkScope {
    /// The whole event, as `POST /admin/api/events/{id}/replay` does (without `connection`, the
    /// only scope; with one, on `"scope": "event"`).
    #[default]
    Event,
    /// Only the selected connection's step (the default with `connection`).
    Connection,
}

/// A validated `POST /admin/api/replay` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkReplay {
    pub filter: BulkFilter,
    pub limit: i64,
    /// Rows a call reads at most (a real page, or each of a dry run's pages).
    pub scan: i64,
    pub dry_run: bool,
    /// No filter was given: the pass selects every event.
    pub unfiltered: bool,
    pub cursor: Option<PassCursor>,
}

/// Where a pass stands: after event `(received_at, id)` (`None` before the first), bounded by
/// `until` (exclusive, Unix ms), for the filter whose fingerprint is `filter`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassCursor {
    pub after: Option<(i64, String)>,
    pub until: i64,
    pub filter: String,
}

impl PassCursor {
    pub fn encode(&self) -> String {
        let (ms, id) = match &self.after {
            Some((ms, id)) => (ms.to_string(), id.as_str()),
            None => (String::new(), ""),
        };
        URL_SAFE_NO_PAD.encode(format!("r1:{}:{}:{ms}:{id}", self.filter, self.until))
    }

    pub fn decode(text: &str) -> Option<PassCursor> {
        let bytes = URL_SAFE_NO_PAD.decode(text.trim()).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let mut parts = text.strip_prefix("r1:")?.splitn(4, ':');
        let filter = parts.next()?.to_string();
        let until = parts.next()?.parse::<i64>().ok()?;
        let (ms, id) = (parts.next()?, parts.next()?);
        let after = match (ms, id) {
            ("", "") => None,
            (ms, id) if !id.is_empty() => Some((ms.parse::<i64>().ok()?, id.to_string())),
            _ => return None,
        };
        Some(PassCursor {
            after,
            until,
            filter,
        })
    }
}

fn invalid_cursor() -> FilterError {
    FilterError {
        code: "invalid_cursor",
        detail: "cursor is not one this endpoint returned for this filter".into(),
    }
}

fn parse_object(body: &[u8]) -> Result<Value, FilterError> {
    let not_object = || FilterError {
        code: "invalid_json",
        detail: "the body must be a JSON object".into(),
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    let text = std::str::from_utf8(body).map_err(|_| not_object())?;
    let value: Value = serde_json::from_str(text).map_err(|_| not_object())?;
    if !value.is_object() {
        return Err(not_object());
    }
    Ok(value)
}

impl BulkFilter {
    fn from_json(value: &Value) -> Result<BulkFilter, FilterError> {
        let provider = json_text(value, "provider")?
            .map(|p| {
                Provider::from_slug(&p)
                    .map(|p| p.slug().to_string())
                    .ok_or_else(|| invalid("provider must be stripe, sendgrid, hubspot or shopify"))
            })
            .transpose()?;
        let step = json_text(value, "step")?;
        if step
            .as_deref()
            .is_some_and(|s| StepKind::from_name(s).is_none())
        {
            return Err(invalid(
                "step must be the name of a step (e.g. slack.notify)",
            ));
        }
        let destination = json_text(value, "destination")?;
        if let Some(d) = &destination {
            let names: Vec<&str> = Destination::ALL.iter().map(|d| d.name()).collect();
            if !names.contains(&d.as_str()) {
                return Err(invalid(format!(
                    "destination must be one of {}",
                    names.join(", ")
                )));
            }
        }
        let connection = json_text(value, "connection")?;
        if connection.as_deref().is_some_and(|c| !valid_name(c)) {
            return Err(invalid("connection must be the name of a connection"));
        }
        let scope = match (json_text(value, "scope")?.as_deref(), &connection) {
            (None, Some(_)) | (Some("connection"), Some(_)) => BulkScope::Connection,
            (None | Some("event"), _) => BulkScope::Event,
            (Some("connection"), None) => {
                return Err(invalid("scope \"connection\" needs a connection"))
            }
            (Some(_), _) => return Err(invalid("scope must be connection or event")),
        };
        let from_ms = json_time(value, "from")?;
        let to_ms = json_time(value, "to")?;
        if let (Some(from), Some(to)) = (from_ms, to_ms) {
            if from >= to {
                return Err(invalid("from must be before to"));
            }
        }
        Ok(BulkFilter {
            provider,
            source: json_text(value, "source")?
                .map(|s| source_param(&s))
                .transpose()?,
            event_type: json_text(value, "type")?,
            from_ms,
            to_ms,
            status: json_text(value, "status")?
                .map(|s| one_of("status", &s, &EVENT_STATUSES))
                .transpose()?,
            step,
            destination,
            step_status: json_text(value, "step_status")?
                .map(|s| one_of("step_status", &s, &STEP_STATUSES))
                .transpose()?,
            connection,
            scope,
        })
    }

    /// A short digest of the filter, carried by the cursor.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(format!("{self:?}").as_bytes());
        hex::encode(digest).chars().take(16).collect()
    }
}

impl BulkReplay {
    /// From the JSON body; `now_ms` bounds a new pass (unless `to` does). Unknown fields are
    /// refused, naming them; `dry_run` from the query string wins over the body's, and a body
    /// that filters nothing (an empty one too) is a dry run unless `dry_run` is false.
    pub fn from_json(
        body: &[u8],
        query_dry_run: Option<bool>,
        now_ms: i64,
    ) -> Result<BulkReplay, FilterError> {
        let value = parse_object(body)?;
        if let Some(unknown) = value
            .as_object()
            .and_then(|o| o.keys().find(|k| !KNOWN.contains(&k.as_str())))
        {
            return Err(invalid(format!("unknown parameter {unknown:?}")));
        }
        let filter = BulkFilter::from_json(&value)?;
        let limit = match value.get("limit") {
            None | Some(Value::Null) => DEFAULT_BULK,
            Some(v) => limit_from(&v.to_string(), MAX_BULK)?,
        };
        let scan = match value.get("scan") {
            None | Some(Value::Null) => DEFAULT_SCAN,
            Some(v) => v
                .as_i64()
                .filter(|n| (1..=MAX_SCAN).contains(n))
                .ok_or_else(|| invalid(format!("scan must be 1..={MAX_SCAN}")))?,
        };
        let unfiltered = filter == BulkFilter::default();
        let dry_run = bulk_dry_run(query_dry_run, &value, unfiltered)?;
        let cursor = match json_text(&value, "cursor")? {
            None => None,
            Some(text) => {
                let cursor = PassCursor::decode(&text).ok_or_else(invalid_cursor)?;
                if cursor.filter != filter.fingerprint() {
                    return Err(invalid_cursor());
                }
                Some(cursor)
            }
        };
        let cursor = cursor.or_else(|| {
            Some(PassCursor {
                after: None,
                until: filter.to_ms.unwrap_or(now_ms + 1),
                filter: filter.fingerprint(),
            })
        });
        Ok(BulkReplay {
            filter,
            limit,
            scan,
            dry_run,
            unfiltered,
            cursor,
        })
    }

    /// The pass position (always set by [`BulkReplay::from_json`]).
    pub fn pass(&self) -> PassCursor {
        self.cursor.clone().unwrap_or(PassCursor {
            after: None,
            until: self.filter.to_ms.unwrap_or(i64::MAX),
            filter: self.filter.fingerprint(),
        })
    }

    /// `WHERE` conditions over `events e` for what remains of the pass, with their arguments.
    pub fn where_clause(&self) -> (String, Vec<SqlArg>) {
        let f = &self.filter;
        let pass = self.pass();
        let mut conditions = vec!["e.received_at < ?".to_string()];
        let mut args = vec![SqlArg::Int(pass.until)];
        let mut text = |sql: &str, value: &str, conditions: &mut Vec<String>| {
            conditions.push(sql.to_string());
            args.push(SqlArg::Text(value.to_string()));
        };
        if let Some(p) = &f.provider {
            text("e.provider = ?", p, &mut conditions);
        }
        match f.source.as_deref() {
            Some(DEFAULT_SOURCE) => conditions.push("e.source IS NULL".into()),
            Some(s) => text("e.source = ?", s, &mut conditions),
            None => {}
        }
        if let Some(t) = &f.event_type {
            text("e.type = ?", t, &mut conditions);
        }
        if let Some(s) = &f.status {
            text("e.status = ?", s, &mut conditions);
        }
        let mut step_conditions = Vec::new();
        for (column, value) in [
            ("s.name", &f.step),
            ("s.destination", &f.destination),
            ("s.status", &f.step_status),
        ] {
            if let Some(v) = value {
                step_conditions.push(format!("{column} = ?"));
                args.push(SqlArg::Text(v.clone()));
            }
        }
        if !step_conditions.is_empty() {
            conditions.push(format!(
                "EXISTS (SELECT 1 FROM steps s WHERE s.event_id = e.id AND {})",
                step_conditions.join(" AND ")
            ));
        }
        if let Some(from) = f.from_ms {
            conditions.push("e.received_at >= ?".into());
            args.push(SqlArg::Int(from));
        }
        if let Some((ms, id)) = pass.after {
            conditions.push("(e.received_at > ? OR (e.received_at = ? AND e.id > ?))".into());
            args.extend([SqlArg::Int(ms), SqlArg::Int(ms), SqlArg::Text(id)]);
        }
        (conditions.join(" AND "), args)
    }

    /// The cursor after event `(received_at, id)`, for the same pass.
    pub fn cursor_after(&self, received_at: i64, id: &str) -> String {
        PassCursor {
            after: Some((received_at, id.to_string())),
            ..self.pass()
        }
        .encode()
    }
}

#[cfg(test)]
#[path = "bulk_replay_tests.rs"]
mod tests;
