//! Pure helpers for the admin API: the opaque keyset cursor over `(received_at, id)`, the value
//! parsers its filters share, the replay plan (which of an event's steps would run again), the
//! dead-letter error code, and the scrubbing that keeps configured secrets out of every admin
//! response. [`filters`] validates event-list filters and redrive requests into SQL; [`replay`]
//! finds the steps the current routes give an event that it does not have yet; [`bulk_replay`]
//! validates a bulk replay by filter and its pass cursor, [`bulk_scan`] walks a page of scanned
//! rows (a connection's matching per row), [`bulk_plan`] counts what it would do; every replay
//! path plans each event with [`replay::plan_event_replay`]; [`search`] turns the event list's
//! payload search (JSON Pointer equality, substring) into a bounded scan's SQL.

mod bulk_plan;
mod bulk_replay;
mod bulk_scan;
mod filters;
mod replay;
mod search;

pub use bulk_plan::{BulkPlan, PlanTally, StepPlan};
pub use bulk_replay::{
    BulkFilter, BulkReplay, BulkScope, PassCursor, DEFAULT_BULK, MAX_BULK, SAMPLE_SIZE,
};
pub use bulk_scan::{
    scan_query, PageWalk, ScannedEvent, Selection, DEFAULT_SCAN, DRY_RUN_PAGES, MAX_SCAN,
};
pub use filters::{EventQuery, RedriveFilter, UNFILTERED_DRY_RUN};
pub use replay::{
    plan_event_replay, steps_to_add, EventReplayPlan, ReplayScope, StoredEvent, StoredStep,
};
pub use search::{
    pointer_paths, pointer_tokens, search_sql, Expected, PointerCondition, Search, SearchPage,
    MAX_POINTERS,
};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::settings::{table, Config};
use crate::time::rfc3339_to_unix_ms;

/// Step statuses (the lifecycle's, in its order).
pub const STEP_STATUSES: [&str; 7] = crate::steps::lifecycle::STEP_STATUS_NAMES;
/// Event statuses.
pub const EVENT_STATUSES: [&str; 2] = ["accepted", "rejected"];
pub const DEFAULT_PAGE: i64 = 50;
pub const MAX_PAGE: i64 = 200;
pub const DEFAULT_REDRIVE: i64 = 100;
pub const MAX_REDRIVE: i64 = 500;

/// A rejected filter: `code` is the stable error code, `detail` names the parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    pub code: &'static str,
    pub detail: String,
}

pub fn invalid(detail: impl Into<String>) -> FilterError {
    FilterError {
        code: "invalid_filter",
        detail: detail.into(),
    }
}

/// A SQL argument; the shell binds `Int` as f64 (D1 rejects BigInt).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlArg {
    Text(String),
    Int(i64),
}

/// Position after the last event of a page, newest first: the next page holds rows strictly
/// older in `(received_at, id)` order. Opaque to clients (base64url of `v1:<ms>:<id>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub received_at: i64,
    pub id: String,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("v1:{}:{}", self.received_at, self.id))
    }

    pub fn decode(text: &str) -> Option<Cursor> {
        let bytes = URL_SAFE_NO_PAD.decode(text.trim()).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let rest = text.strip_prefix("v1:")?;
        let (ms, id) = rest.split_once(':')?;
        let received_at = ms.parse::<i64>().ok()?;
        (!id.is_empty()).then(|| Cursor {
            received_at,
            id: id.to_string(),
        })
    }
}

/// Unix milliseconds, or an RFC 3339 time.
pub fn parse_time(text: &str) -> Option<i64> {
    let text = text.trim();
    text.parse::<i64>()
        .ok()
        .filter(|ms| *ms >= 0)
        .or_else(|| rfc3339_to_unix_ms(text))
}

/// `true/1/yes` or `false/0/no` (empty means true: `?dry_run`).
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "" | "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

/// `%text%` for `LIKE ... ESCAPE '\'`, with `%`, `_` and `\` taken literally.
pub fn like_contains(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// SQL expression for the error code of a step's `last_error` (the part before `:`), as used to
/// group dead letters; `''` when there is none.
pub const ERROR_CODE_SQL: &str = "CASE WHEN s.last_error IS NULL THEN '' \
     WHEN instr(s.last_error, ':') > 0 THEN substr(s.last_error, 1, instr(s.last_error, ':') - 1) \
     ELSE s.last_error END";

/// The error code of a `last_error` text, matching [`ERROR_CODE_SQL`].
pub fn error_code(last_error: Option<&str>) -> &str {
    match last_error {
        None => "",
        Some(e) => e.split(':').next().unwrap_or(e),
    }
}

pub use crate::steps::lifecycle::ReplayAction;

impl<L: Fn(&str) -> Option<String>> Config<L> {
    /// Every configured secret value, whole and each comma-separated entry, for scrubbing.
    pub fn secret_values(&self) -> Vec<String> {
        let source_settings: Vec<String> = self
            .sources()
            .unwrap_or_default()
            .into_iter()
            .map(|s| s.key_setting)
            .collect();
        table::secret_names()
            .filter_map(|name| self.raw(name))
            .chain(self.shopify_source_tokens())
            .chain(
                source_settings
                    .iter()
                    .filter_map(|name| (self.lookup)(name)),
            )
            .flat_map(|value| {
                let mut parts: Vec<String> =
                    value.split(',').map(|s| s.trim().to_string()).collect();
                parts.push(value);
                parts
            })
            .collect()
    }
}

/// Replace every occurrence of each secret (at least 6 characters; shorter values are not
/// treated as secrets worth matching) with `[redacted]`.
pub fn scrub(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for secret in secrets.iter().map(|s| s.trim()).filter(|s| s.len() >= 6) {
        if out.contains(secret) {
            out = out.replace(secret, "[redacted]");
        }
    }
    out
}
