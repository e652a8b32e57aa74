//! Validation of the admin API's filters into SQL `WHERE` fragments over `events e` or `steps s`
//! with their arguments in order: the event list's query string ([`EventQuery`]) and a bulk
//! redrive's JSON body ([`RedriveFilter`]). Unknown parameters are refused, so a typo never
//! silently widens what an admin reads or redrives.

use serde_json::Value;

use super::search::Search;
use super::{
    invalid, parse_time, Cursor, FilterError, SqlArg, DEFAULT_PAGE, DEFAULT_REDRIVE,
    ERROR_CODE_SQL, EVENT_STATUSES, MAX_PAGE, MAX_REDRIVE, STEP_STATUSES,
};
use crate::admin::like_contains;
use crate::inbound::sources::{validate_source_name, DEFAULT_SOURCE};
use crate::inbound::webhook::Provider;
use crate::step_kind::Destination;

pub(crate) fn limit_from(text: &str, max: i64) -> Result<i64, FilterError> {
    match text.trim().parse::<i64>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(invalid(format!("limit must be 1..={max}"))),
    }
}

pub(crate) fn time_param(name: &str, text: &str) -> Result<i64, FilterError> {
    parse_time(text).ok_or_else(|| invalid(format!("{name} must be Unix ms or RFC 3339")))
}

pub(crate) fn one_of(name: &str, value: &str, allowed: &[&str]) -> Result<String, FilterError> {
    if allowed.contains(&value) {
        Ok(value.to_string())
    } else {
        Err(invalid(format!(
            "{name} must be one of {}",
            allowed.join(", ")
        )))
    }
}

/// A `source` filter: a valid source name, or `default` for the default path.
pub(crate) fn source_param(value: &str) -> Result<String, FilterError> {
    if value == DEFAULT_SOURCE || validate_source_name(value).is_ok() {
        Ok(value.to_string())
    } else {
        Err(invalid(
            "source must be `default` or a source name (a-z, 0-9, '-', '_', at most 40)",
        ))
    }
}

/// The validated filters of `GET /admin/api/events`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventQuery {
    pub provider: Option<String>,
    /// `default` selects the default path's events (a NULL source).
    pub source: Option<String>,
    pub event_type: Option<String>,
    pub status: Option<String>,
    pub step_status: Option<String>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub q: Option<String>,
    pub limit: i64,
    pub cursor: Option<Cursor>,
    /// Payload search (`pointer`/`equals`, `contains`): paged by a bounded scan when not empty.
    pub search: Search,
}

impl EventQuery {
    /// From query-string pairs. Empty values count as absent, except the search's: `pointer`
    /// and `equals` pair in order (an empty `equals` is the empty string), and an empty
    /// `contains` is refused; none of the three is trimmed. Unknown names are refused so a
    /// typo does not silently widen the result.
    pub fn from_pairs(pairs: &[(String, String)]) -> Result<EventQuery, FilterError> {
        let mut query = EventQuery {
            limit: DEFAULT_PAGE,
            ..EventQuery::default()
        };
        let raw = |wanted: &str| -> Vec<&str> {
            let named = pairs.iter().filter(|(name, _)| name == wanted);
            named.map(|(_, value)| value.as_str()).collect()
        };
        let contains = raw("contains");
        if contains.len() > 1 {
            return Err(invalid("contains may be given once"));
        }
        query.search =
            Search::from_parts(&raw("pointer"), &raw("equals"), contains.first().copied())?;
        for (name, value) in pairs {
            if matches!(name.as_str(), "pointer" | "equals" | "contains") {
                continue;
            }
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
                "source" => query.source = Some(source_param(value)?),
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
        match self.source.as_deref() {
            Some(DEFAULT_SOURCE) => conditions.push("e.source IS NULL".into()),
            Some(s) => text("e.source = ?", s, &mut conditions),
            None => {}
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
    /// No filter was given: the request selects every dead step.
    pub unfiltered: bool,
}

/// What a bulk answer says when it is a dry run only because nothing was filtered.
pub const UNFILTERED_DRY_RUN: &str =
    "no filter given: a dry run; send \"dry_run\": false to act on every match";

/// `dry_run` of a bulk request (redrive, bulk replay): the query string's wins over the body's;
/// when neither says, a request that filters nothing is a dry run (an empty or lost body must
/// never act on everything) and a filtered one is real.
pub(crate) fn bulk_dry_run(
    query: Option<bool>,
    body: &Value,
    unfiltered: bool,
) -> Result<bool, FilterError> {
    match (query, body.get("dry_run")) {
        (Some(d), _) => Ok(d),
        (None, None | Some(Value::Null)) => Ok(unfiltered),
        (None, Some(Value::Bool(b))) => Ok(*b),
        (None, Some(_)) => Err(invalid("dry_run must be a boolean")),
    }
}

pub(crate) fn json_time(body: &Value, name: &str) -> Result<Option<i64>, FilterError> {
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

pub(crate) fn json_text(body: &Value, name: &str) -> Result<Option<String>, FilterError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(_) => Err(invalid(format!("{name} must be a string"))),
    }
}

impl RedriveFilter {
    /// From a JSON object body (empty body: all dead steps, up to the default limit, as a dry
    /// run unless `dry_run` is false, see [`bulk_dry_run`]). `dry_run` from the query string
    /// wins over the body's.
    pub fn from_json(
        body: &[u8],
        query_dry_run: Option<bool>,
    ) -> Result<RedriveFilter, FilterError> {
        let value: Value = if body.iter().all(u8::is_ascii_whitespace) {
            Value::Object(Default::default())
        } else {
            let not_json = || FilterError {
                code: "invalid_json",
                detail: "the body must be a JSON object".into(),
            };
            let text = std::str::from_utf8(body).map_err(|_| not_json())?;
            serde_json::from_str(text).map_err(|_| not_json())?
        };
        if !value.is_object() {
            return Err(FilterError {
                code: "invalid_json",
                detail: "the body must be a JSON object".into(),
            });
        }
        let destination = json_text(&value, "destination")?;
        if let Some(d) = &destination {
            // A built-in destination, or an `http` destination's name (its steps' destination).
            let built_in = Destination::ALL.iter().any(|known| known.name() == d);
            if !built_in && !crate::connections::valid_name(d) {
                let names: Vec<&str> = Destination::ALL.iter().map(|d| d.name()).collect();
                return Err(invalid(format!(
                    "destination must be one of {} or an http destination's name",
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
        let error = json_text(&value, "error")?;
        let (from_ms, to_ms) = (json_time(&value, "from")?, json_time(&value, "to")?);
        let unfiltered = destination.is_none()
            && error.is_none()
            && from_ms.is_none()
            && to_ms.is_none()
            && step_ids.is_empty();
        Ok(RedriveFilter {
            destination,
            error,
            from_ms,
            to_ms,
            step_ids,
            limit,
            dry_run: bulk_dry_run(query_dry_run, &value, unfiltered)?,
            unfiltered,
        })
    }

    /// `WHERE` conditions over dead `steps s` and their arguments (`?` placeholders).
    pub fn where_clause(&self) -> (String, Vec<SqlArg>) {
        let dead = crate::steps::lifecycle::sql_lit(crate::steps::lifecycle::StepStatus::Dead);
        let mut conditions = vec![format!("s.status = {dead}")];
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
            // One JSON array, whatever the number of ids: D1 binds at most 100 parameters.
            conditions.push("s.id IN (SELECT value FROM json_each(?))".into());
            args.push(SqlArg::Text(
                serde_json::Value::from(self.step_ids.clone()).to_string(),
            ));
        }
        (conditions.join(" AND "), args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redrive_of_the_most_step_ids_binds_one_parameter_for_them() {
        let ids: Vec<String> = (0..MAX_REDRIVE)
            .map(|i| format!("evt_{i}:slack.notify"))
            .collect();
        let body = serde_json::json!({ "step_ids": ids, "destination": "slack" }).to_string();
        let filter = RedriveFilter::from_json(body.as_bytes(), None).unwrap();
        let (sql, args) = filter.where_clause();
        assert_eq!(sql.matches('?').count(), args.len());
        assert_eq!(args.len(), 2, "destination and one JSON array");
        let SqlArg::Text(json) = &args[1] else {
            panic!("the ids are one text argument")
        };
        let bound: Vec<String> = serde_json::from_str(json).unwrap();
        assert_eq!(bound, ids);
    }

    #[test]
    fn a_redrive_that_filters_nothing_is_a_dry_run_unless_it_says_otherwise() {
        for body in ["", "{}", r#"{"limit":10}"#] {
            let filter = RedriveFilter::from_json(body.as_bytes(), None).unwrap();
            assert!(filter.dry_run && filter.unfiltered, "{body:?}");
        }
        let explicit = RedriveFilter::from_json(br#"{"dry_run":false}"#, None).unwrap();
        assert!(!explicit.dry_run);
        assert!(!RedriveFilter::from_json(b"", Some(false)).unwrap().dry_run);
        for filtered in [
            r#"{"destination":"slack"}"#,
            r#"{"error":"http_500"}"#,
            r#"{"from":1}"#,
            r#"{"step_ids":["evt_1:slack.notify"]}"#,
        ] {
            let filter = RedriveFilter::from_json(filtered.as_bytes(), None).unwrap();
            assert!(!filter.dry_run && !filter.unfiltered, "{filtered}");
        }
    }

    #[test]
    fn a_group_of_an_http_destination_is_redriven_by_its_name() {
        let body = br#"{"destination":"orders-svc","error":"http_500"}"#;
        let filter = RedriveFilter::from_json(body, None).unwrap();
        assert_eq!(filter.destination.as_deref(), Some("orders-svc"));
        let (sql, args) = filter.where_clause();
        assert!(sql.contains("s.destination = ?"), "{sql}");
        assert_eq!(args.first(), Some(&SqlArg::Text("orders-svc".into())));
        let wrong = RedriveFilter::from_json(br#"{"destination":"Not A Name!"}"#, None);
        assert!(wrong.unwrap_err().detail.contains("http destination"));
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_source_filter_selects_a_source_or_the_default_path() {
        let named = EventQuery::from_pairs(&pairs(&[("source", "eu")])).unwrap();
        let (sql, args) = named.where_clause();
        assert!(sql.contains("e.source = ?"));
        assert_eq!(args, [SqlArg::Text("eu".into())]);
        let default = EventQuery::from_pairs(&pairs(&[("source", "default")])).unwrap();
        let (sql, args) = default.where_clause();
        assert!(sql.contains("e.source IS NULL"));
        assert!(args.is_empty());
        for bad in ["EU", "a b", "x'--", &"a".repeat(41)] {
            let error = EventQuery::from_pairs(&pairs(&[("source", bad)])).unwrap_err();
            assert_eq!(error.code, "invalid_filter");
            assert!(error.detail.starts_with("source"), "{bad}");
        }
    }
}
