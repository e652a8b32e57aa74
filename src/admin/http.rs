//! The admin API's gateway paths, routed here from `api`: `destinations…` (see
//! `destinations`), `connections…`, `routes…` (default routes turned off and on) and
//! `events/{id}/connections` (see `connections`). Bodies are JSON; answers carry their own
//! status (201 on create) and pass through the same secret scrubbing as every admin answer.

use serde_json::Value;
use worker::{Env, Method, Request, Response};

use super::{connections, destinations};
use crate::config::config;
use crate::error::AppError;

/// A handler's answer: status and JSON body.
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

pub fn answer(status: u16, body: Value) -> Answer {
    Answer { status, body }
}

/// The request body as JSON (an empty body is `{}`); 400 `invalid_field` naming `body`.
pub fn parse_json(body: &[u8]) -> Result<Value, AppError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    serde_json::from_slice(body).map_err(|e| AppError::InvalidField {
        field: "body".into(),
        detail: format!("not valid JSON ({e})"),
    })
}

/// Whether `path` (after `/admin/api/`) is one of these.
pub fn owns(path: &[&str]) -> bool {
    matches!(
        path,
        ["destinations", ..] | ["connections", ..] | ["routes", ..] | ["events", _, "connections"]
    )
}

pub async fn handle(req: Request, env: &Env, path: &[&str]) -> Result<Response, AppError> {
    let method = req.method();
    let body = match method {
        Method::Get | Method::Head | Method::Delete => Vec::new(),
        _ => super::read_body(&req).await?,
    };
    let method = if method == Method::Head {
        Method::Get
    } else {
        method
    };
    let db = crate::js_binding::d1(env)?;
    let answer = match path {
        ["destinations", rest @ ..] => destinations::handle(env, &db, &method, rest, &body).await?,
        ["connections", rest @ ..] => connections::handle(&db, &method, rest, &body).await?,
        ["routes", rest @ ..] => connections::routes(env, &db, &method, rest, &body).await?,
        ["events", id, "connections"] if method == Method::Get => {
            connections::preview(env, &db, id).await?
        }
        ["events", _, "connections"] => {
            return Err(AppError::MethodNotAllowed { allow: "GET, HEAD" })
        }
        _ => return Err(AppError::NotFound),
    };
    respond(env, answer)
}

fn respond(env: &Env, answer: Answer) -> Result<Response, AppError> {
    let secrets = config(env).secret_values();
    let text = edgehooks_handlers::admin::scrub(&answer.body.to_string(), &secrets);
    let headers = worker::Headers::new();
    let _ = headers.set("Content-Type", "application/json");
    let _ = headers.set("Cache-Control", "no-store");
    Ok(Response::builder()
        .with_status(answer.status)
        .with_headers(headers)
        .fixed(text.into_bytes()))
}
