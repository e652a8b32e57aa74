//! What every admin API handler reads from a request and answers with: the body (read once,
//! bounded), JSON bodies and query flags, the `400`/`409` errors resources share, and the
//! [`Answer`] (status and JSON body) that `respond` turns into the one response shape: secrets
//! scrubbed, `Cache-Control: no-store`.

use edgehooks_handlers::admin::{parse_bool, scrub, FilterError};
use serde_json::Value;
use worker::{Env, Request, Response};

use crate::config::config;
use crate::error::AppError;

impl From<FilterError> for AppError {
    fn from(e: FilterError) -> Self {
        AppError::BadRequest {
            code: e.code,
            detail: e.detail,
        }
    }
}

/// Largest request body the admin API reads.
const MAX_BODY: u64 = 64 * 1024;

/// A handler's answer: status and JSON body.
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

pub fn answer(status: u16, body: Value) -> Answer {
    Answer { status, body }
}

/// A `200` answer.
pub fn ok(body: Value) -> Answer {
    answer(200, body)
}

/// Serialize, scrub every configured secret value, answer with `Cache-Control: no-store`.
pub fn respond(env: &Env, answer: Answer) -> Result<Response, AppError> {
    let secrets = config(env).secret_values();
    let text = scrub(&answer.body.to_string(), &secrets);
    let headers = worker::Headers::new();
    let _ = headers.set("Content-Type", "application/json");
    let _ = headers.set("Cache-Control", "no-store");
    Ok(Response::builder()
        .with_status(answer.status)
        .with_headers(headers)
        .fixed(text.into_bytes()))
}

/// The request's body, read once and at most [`MAX_BODY`] bytes (413 past it). A body that
/// cannot be read is `400 unreadable_body`: never taken for an empty one, which a bulk
/// redrive or replay would read as "everything".
pub async fn read_body(req: &Request) -> Result<Vec<u8>, AppError> {
    let declared = req
        .headers()
        .get("Content-Length")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse().ok());
    // The same runtime object (`Request::clone` would be JS's, a second request).
    let runtime = Clone::clone(req.inner());
    crate::ingest::read_body(runtime, declared, MAX_BODY).await
}

/// The request body as JSON (an empty body is `{}`); 400 `invalid_field` naming `body`.
pub fn parse_json(body: &[u8]) -> Result<Value, AppError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    // Through `&str`: one serde_json reader in the wasm (every other parse reads text).
    let text =
        std::str::from_utf8(body).map_err(|_| invalid("body", "not valid JSON (not UTF-8)"))?;
    serde_json::from_str(text).map_err(|e| invalid("body", format!("not valid JSON ({e})")))
}

/// `400 invalid_field` naming `field`.
pub fn invalid(field: &str, detail: impl Into<String>) -> AppError {
    AppError::InvalidField {
        field: field.into(),
        detail: detail.into(),
    }
}

/// `409 name_taken`: a `kind` (connection, destination) named `name` exists already.
pub fn name_taken(kind: &str, name: &str) -> AppError {
    AppError::Conflict {
        code: "name_taken",
        detail: format!("a {kind} named {name} exists"),
    }
}

/// The query's `dry_run` flag, if given; anything but true or false is `400 invalid_filter`.
pub fn dry_run_param(pairs: &[(String, String)]) -> Result<Option<bool>, AppError> {
    match pairs.iter().find(|(k, _)| k == "dry_run") {
        None => Ok(None),
        Some((_, v)) => parse_bool(v).map(Some).ok_or(AppError::BadRequest {
            code: "invalid_filter",
            detail: "dry_run must be true or false".into(),
        }),
    }
}

/// A bulk action's `POST`: the query's `dry_run` flag (checked first), then the body.
pub async fn dry_run_and_body(
    req: &Request,
    pairs: &[(String, String)],
) -> Result<(Option<bool>, Vec<u8>), AppError> {
    let dry_run = dry_run_param(pairs)?;
    Ok((dry_run, read_body(req).await?))
}

/// A serializable value as JSON (`null` if it cannot be).
pub fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}
