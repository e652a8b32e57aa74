//! Pure helpers for the admin API: the opaque keyset cursor over `(received_at, id)`, validation
//! of event-list filters and redrive requests into SQL `WHERE` fragments with their arguments,
//! the replay plan (which of an event's steps would run again), the dead-letter error code, and
//! the scrubbing that keeps configured secrets out of every admin response.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

use crate::routes::Destination;
use crate::time::rfc3339_to_unix_ms;
use crate::webhook::Provider;

/// Step statuses (DESIGN.md §7, contract).
pub const STEP_STATUSES: [&str; 6] = [
    "pending",
    "enqueued",
    "running",
    "succeeded",
    "skipped_stale",
    "dead",
];
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

fn invalid(detail: impl Into<String>) -> FilterError {
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

fn limit_from(text: &str, max: i64) -> Result<i64, FilterError> {
    match text.trim().parse::<i64>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(invalid(format!("limit must be 1..={max}"))),
    }
}

fn time_param(name: &str, text: &str) -> Result<i64, FilterError> {
    parse_time(text).ok_or_else(|| invalid(format!("{name} must be Unix ms or RFC 3339")))
}

fn one_of(name: &str, value: &str, allowed: &[&str]) -> Result<String, FilterError> {
    if allowed.contains(&value) {
        Ok(value.to_string())
    } else {
        Err(invalid(format!(
            "{name} must be one of {}",
            allowed.join(", ")
        )))
    }
}

/// The validated filters of `GET /admin/api/events`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventQuery {
    pub provider: Option<String>,
    pub event_type: Option<String>,
    pub status: Option<String>,
    pub step_status: Option<String>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub q: Option<String>,
    pub limit: i64,
    pub cursor: Option<Cursor>,
}

impl EventQuery {
    /// From query-string pairs. Empty values count as absent; unknown names are refused so a
    /// typo does not silently widen the result.
    pub fn from_pairs(pairs: &[(String, String)]) -> Result<EventQuery, FilterError> {
        let mut query = EventQuery {
            limit: DEFAULT_PAGE,
            ..EventQuery::default()
        };
        for (name, value) in pairs {
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            match name.as_str() {
                "provider" => {
                    let p = Provider::from_slug(value).ok_or_else(|| {
                        invalid("provider must be stripe, sendgrid, hubspot or shopify")
                    })?;
                    query.provider = Some(p.slug().to_string());
                }
                "type" => query.event_type = Some(value.to_string()),
                "status" => query.status = Some(one_of("status", value, &EVENT_STATUSES)?),
                "step_status" => {
                    query.step_status = Some(one_of("step_status", value, &STEP_STATUSES)?)
                }
                "from" => query.from_ms = Some(time_param("from", value)?),
                "to" => query.to_ms = Some(time_param("to", value)?),
                "q" => query.q = Some(value.chars().take(200).collect()),
                "limit" => query.limit = limit_from(value, MAX_PAGE)?,
                "cursor" => {
                    query.cursor = Some(Cursor::decode(value).ok_or(FilterError {
                        code: "invalid_cursor",
                        detail: "cursor is not one this API returned".into(),
                    })?)
                }
                other => return Err(invalid(format!("unknown parameter {other:?}"))),
            }
        }
        Ok(query)
    }

    /// `WHERE` conditions over `events e` (joined with `AND`; `1 = 1` when none) and their
    /// arguments, in order, for `?` placeholders. The cursor condition is the keyset.
    pub fn where_clause(&self) -> (String, Vec<SqlArg>) {
        let mut conditions = vec!["1 = 1".to_string()];
        let mut args = Vec::new();
        let mut text = |c: &str, v: &str, conditions: &mut Vec<String>| {
            conditions.push(c.to_string());
            args.push(SqlArg::Text(v.to_string()));
        };
        if let Some(p) = &self.provider {
            text("e.provider = ?", p, &mut conditions);
        }
        if let Some(t) = &self.event_type {
            text("e.type = ?", t, &mut conditions);
        }
        if let Some(s) = &self.status {
            text("e.status = ?", s, &mut conditions);
        }
        if let Some(s) = &self.step_status {
            text(
                "EXISTS (SELECT 1 FROM steps s WHERE s.event_id = e.id AND s.status = ?)",
                s,
                &mut conditions,
            );
        }
        if let Some(q) = &self.q {
            conditions.push(
                "(e.id = ? OR e.dedupe_key LIKE ? ESCAPE '\\' OR e.account LIKE ? ESCAPE '\\')"
                    .into(),
            );
            let pattern = like_contains(q);
            args.push(SqlArg::Text(q.clone()));
            args.push(SqlArg::Text(pattern.clone()));
            args.push(SqlArg::Text(pattern));
        }
        if let Some(from) = self.from_ms {
            conditions.push("e.received_at >= ?".into());
            args.push(SqlArg::Int(from));
        }
        if let Some(to) = self.to_ms {
            conditions.push("e.received_at < ?".into());
            args.push(SqlArg::Int(to));
        }
        if let Some(c) = &self.cursor {
            conditions.push("(e.received_at < ? OR (e.received_at = ? AND e.id < ?))".into());
            args.push(SqlArg::Int(c.received_at));
            args.push(SqlArg::Int(c.received_at));
            args.push(SqlArg::Text(c.id.clone()));
        }
        (conditions.join(" AND "), args)
    }
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

/// A validated bulk redrive of dead steps (`POST /admin/api/redrive`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedriveFilter {
    pub destination: Option<String>,
    /// Error code as grouped by the dead-letter view (`http_500`, `network_error`, ...).
    pub error: Option<String>,
    /// Range over the time the step died (`steps.updated_at`).
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub step_ids: Vec<String>,
    pub limit: i64,
    pub dry_run: bool,
}

fn json_time(body: &Value, name: &str) -> Result<Option<i64>, FilterError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .filter(|ms| *ms >= 0)
            .map(Some)
            .ok_or_else(|| invalid(format!("{name} must be Unix ms or RFC 3339"))),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => time_param(name, s).map(Some),
        Some(_) => Err(invalid(format!("{name} must be Unix ms or RFC 3339"))),
    }
}

fn json_text(body: &Value, name: &str) -> Result<Option<String>, FilterError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(_) => Err(invalid(format!("{name} must be a string"))),
    }
}

impl RedriveFilter {
    /// From a JSON object body (empty body: all dead steps, up to the default limit). `dry_run`
    /// from the query string wins over the body's.
    pub fn from_json(
        body: &[u8],
        query_dry_run: Option<bool>,
    ) -> Result<RedriveFilter, FilterError> {
        let value: Value = if body.iter().all(u8::is_ascii_whitespace) {
            Value::Object(Default::default())
        } else {
            serde_json::from_slice(body).map_err(|_| FilterError {
                code: "invalid_json",
                detail: "the body must be a JSON object".into(),
            })?
        };
        if !value.is_object() {
            return Err(FilterError {
                code: "invalid_json",
                detail: "the body must be a JSON object".into(),
            });
        }
        let destination = json_text(&value, "destination")?;
        if let Some(d) = &destination {
            if !Destination::ALL.iter().any(|known| known.name() == d) {
                let names: Vec<&str> = Destination::ALL.iter().map(|d| d.name()).collect();
                return Err(invalid(format!(
                    "destination must be one of {}",
                    names.join(", ")
                )));
            }
        }
        let step_ids = match value.get("step_ids") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) if items.len() <= MAX_REDRIVE as usize => items
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| invalid("step_ids must be strings"))?,
            Some(_) => {
                return Err(invalid(format!(
                    "step_ids must be an array of at most {MAX_REDRIVE}"
                )))
            }
        };
        let limit = match value.get("limit") {
            None | Some(Value::Null) => DEFAULT_REDRIVE,
            Some(v) => limit_from(&v.to_string(), MAX_REDRIVE)?,
        };
        let dry_run = match (query_dry_run, value.get("dry_run")) {
            (Some(d), _) => d,
            (None, None | Some(Value::Null)) => false,
            (None, Some(Value::Bool(b))) => *b,
            (None, Some(_)) => return Err(invalid("dry_run must be a boolean")),
        };
        Ok(RedriveFilter {
            destination,
            error: json_text(&value, "error")?,
            from_ms: json_time(&value, "from")?,
            to_ms: json_time(&value, "to")?,
            step_ids,
            limit,
            dry_run,
        })
    }

    /// `WHERE` conditions over dead `steps s` and their arguments (`?` placeholders).
    pub fn where_clause(&self) -> (String, Vec<SqlArg>) {
        let mut conditions = vec!["s.status = 'dead'".to_string()];
        let mut args = Vec::new();
        if let Some(d) = &self.destination {
            conditions.push("s.destination = ?".into());
            args.push(SqlArg::Text(d.clone()));
        }
        if let Some(e) = &self.error {
            conditions.push(format!("({ERROR_CODE_SQL}) = ?"));
            args.push(SqlArg::Text(e.clone()));
        }
        if let Some(from) = self.from_ms {
            conditions.push("s.updated_at >= ?".into());
            args.push(SqlArg::Int(from));
        }
        if let Some(to) = self.to_ms {
            conditions.push("s.updated_at < ?".into());
            args.push(SqlArg::Int(to));
        }
        if !self.step_ids.is_empty() {
            let marks = vec!["?"; self.step_ids.len()].join(", ");
            conditions.push(format!("s.id IN ({marks})"));
            args.extend(self.step_ids.iter().cloned().map(SqlArg::Text));
        }
        (conditions.join(" AND "), args)
    }
}

/// What replaying an event would do with each of its steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayAction {
    /// `pending`, `enqueued` or `dead`: sent to the queue again (a dead step's attempt counter
    /// restarts at 0; its attempt history is kept).
    Run,
    /// `succeeded` or `skipped_stale`: already done, left alone.
    AlreadyDone,
    /// `running`: an attempt is in flight; left alone.
    InProgress,
}

impl ReplayAction {
    pub fn for_status(status: &str) -> ReplayAction {
        match status {
            "succeeded" | "skipped_stale" => ReplayAction::AlreadyDone,
            "running" => ReplayAction::InProgress,
            _ => ReplayAction::Run,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            ReplayAction::Run => "run",
            ReplayAction::AlreadyDone => "already_done",
            ReplayAction::InProgress => "in_progress",
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let c = Cursor {
            received_at: 1_712_000_000_123,
            id: "evt_abc".into(),
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        for bad in [
            "",
            "!!",
            "djE6",
            "djE6eDpldnQ",
            &URL_SAFE_NO_PAD.encode("v1:5:"),
        ] {
            assert_eq!(Cursor::decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn event_filters_validate_and_build_sql() {
        let q = EventQuery::from_pairs(&pairs(&[
            ("provider", "stripe"),
            ("type", "invoice.payment_failed"),
            ("status", "accepted"),
            ("step_status", "dead"),
            ("from", "2024-04-01T00:00:00Z"),
            ("to", "1712000000000"),
            ("q", "50%_off"),
            ("limit", "10"),
            ("empty", ""),
        ]))
        .unwrap();
        assert_eq!(q.limit, 10);
        assert_eq!(q.from_ms, Some(1_711_929_600_000));
        let (sql, args) = q.where_clause();
        assert_eq!(sql.matches('?').count(), args.len());
        assert!(args.contains(&SqlArg::Text("%50\\%\\_off%".into())));
        assert!(args.contains(&SqlArg::Int(1_712_000_000_000)));

        for (name, value) in [
            ("provider", "paypal"),
            ("status", "dead"),
            ("step_status", "lost"),
            ("from", "yesterday"),
            ("limit", "0"),
            ("limit", "1000"),
            ("bogus", "1"),
        ] {
            let err = EventQuery::from_pairs(&pairs(&[(name, value)])).unwrap_err();
            assert_eq!(err.code, "invalid_filter", "{name}={value}");
        }
        let err = EventQuery::from_pairs(&pairs(&[("cursor", "nope")])).unwrap_err();
        assert_eq!(err.code, "invalid_cursor");
    }

    #[test]
    fn cursor_becomes_a_keyset_condition() {
        let cursor = Cursor {
            received_at: 7,
            id: "evt_b".into(),
        };
        let q = EventQuery::from_pairs(&pairs(&[("cursor", &cursor.encode())])).unwrap();
        let (sql, args) = q.where_clause();
        assert!(sql.ends_with("(e.received_at < ? OR (e.received_at = ? AND e.id < ?))"));
        assert_eq!(
            args,
            vec![SqlArg::Int(7), SqlArg::Int(7), SqlArg::Text("evt_b".into())]
        );
    }

    #[test]
    fn redrive_filters() {
        let f = RedriveFilter::from_json(b"", None).unwrap();
        assert_eq!(
            (f.limit, f.dry_run, f.step_ids.len()),
            (DEFAULT_REDRIVE, false, 0)
        );
        let f = RedriveFilter::from_json(
            br#"{"destination":"hubspot","error":"http_500","from":"2024-04-01T00:00:00Z","to":1712000000000,"step_ids":["a","b"],"dry_run":true,"limit":5}"#,
            None,
        )
        .unwrap();
        assert!(f.dry_run);
        let (sql, args) = f.where_clause();
        assert_eq!(sql.matches('?').count(), args.len());
        assert!(sql.contains("s.id IN (?, ?)"));
        assert!(
            !RedriveFilter::from_json(br#"{"dry_run":true}"#, Some(false))
                .unwrap()
                .dry_run
        );
        for bad in [
            &br#"[]"#[..],
            br#"{"destination":"mailchimp"}"#,
            br#"{"limit":0}"#,
            br#"{"step_ids":[1]}"#,
            br#"{"dry_run":"yes"}"#,
            br#"{"from":"soon"}"#,
            b"{",
        ] {
            assert!(RedriveFilter::from_json(bad, None).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn replay_actions_error_codes_and_scrub() {
        assert_eq!(ReplayAction::for_status("dead"), ReplayAction::Run);
        assert_eq!(ReplayAction::for_status("pending"), ReplayAction::Run);
        assert_eq!(
            ReplayAction::for_status("succeeded"),
            ReplayAction::AlreadyDone
        );
        assert_eq!(
            ReplayAction::for_status("skipped_stale"),
            ReplayAction::AlreadyDone
        );
        assert_eq!(
            ReplayAction::for_status("running"),
            ReplayAction::InProgress
        );
        assert_eq!(error_code(Some("http_500: fake failure")), "http_500");
        assert_eq!(error_code(Some("timeout")), "timeout");
        assert_eq!(error_code(None), "");
        let secrets = vec!["whsec_abcdef".to_string(), "abc".to_string()];
        assert_eq!(
            scrub("x whsec_abcdef y abc", &secrets),
            "x [redacted] y abc"
        );
        assert_eq!(parse_bool(""), Some(true));
        assert_eq!(parse_bool("0"), Some(false));
        assert_eq!(parse_bool("maybe"), None);
    }
}
