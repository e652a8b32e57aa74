//! The admin API's backfill request, `POST /admin/api/backfill/stripe` with `{"since": <unix s>,
//! "dry_run": true, "cursor": "<from a previous answer>"}`: validated here, each error naming
//! its field (`invalid_since`, `invalid_dry_run`, `invalid_cursor`, `invalid_body`).

use serde_json::{Map, Value};

use super::clamp_since;
use super::plan::Cursor;

/// A validated admin request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminRequest {
    /// `created[gte]`, clamped to Stripe's 30 days and the retention cutoff.
    pub since: i64,
    pub dry_run: bool,
    /// Continue a run that stopped at its bound.
    pub cursor: Cursor,
}

/// Why a request was refused: a stable code and a sentence naming the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestError {
    pub code: &'static str,
    pub detail: String,
}

fn refuse(code: &'static str, detail: &str) -> RequestError {
    RequestError {
        code,
        detail: detail.into(),
    }
}

impl AdminRequest {
    /// Read the JSON body at `now_s` (Unix seconds), retention keeping events since
    /// `kept_since` (`super::kept_since`).
    pub fn from_json(
        body: &[u8],
        now_s: i64,
        kept_since: i64,
    ) -> Result<AdminRequest, RequestError> {
        let value: Value = std::str::from_utf8(body)
            .ok()
            .and_then(|text| serde_json::from_str(text).ok())
            .ok_or_else(|| refuse("invalid_body", "the body must be a JSON object"))?;
        let Value::Object(fields) = value else {
            return Err(refuse("invalid_body", "the body must be a JSON object"));
        };
        Ok(AdminRequest {
            since: since_field(&fields, now_s, kept_since)?,
            dry_run: dry_run_field(&fields)?,
            cursor: cursor_field(&fields)?,
        })
    }
}

fn since_field(
    fields: &Map<String, Value>,
    now_s: i64,
    kept_since: i64,
) -> Result<i64, RequestError> {
    let since = fields
        .get("since")
        .ok_or_else(|| refuse("invalid_since", "since (Unix seconds) is required"))?
        .as_i64()
        .filter(|s| *s >= 0)
        .ok_or_else(|| {
            refuse(
                "invalid_since",
                "since must be a non-negative whole number of Unix seconds",
            )
        })?;
    if since > now_s {
        return Err(refuse("invalid_since", "since is in the future"));
    }
    Ok(clamp_since(since, now_s, kept_since))
}

fn dry_run_field(fields: &Map<String, Value>) -> Result<bool, RequestError> {
    match fields.get("dry_run") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(flag)) => Ok(*flag),
        Some(_) => Err(refuse("invalid_dry_run", "dry_run must be true or false")),
    }
}

fn cursor_field(fields: &Map<String, Value>) -> Result<Cursor, RequestError> {
    match fields.get("cursor") {
        None | Some(Value::Null) => Ok(Cursor::default()),
        Some(Value::String(text)) => Cursor::decode(text).ok_or_else(|| {
            refuse(
                "invalid_cursor",
                "cursor must be a next_cursor from a previous answer",
            )
        }),
        Some(_) => Err(refuse(
            "invalid_cursor",
            "cursor must be a next_cursor from a previous answer",
        )),
    }
}
