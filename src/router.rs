//! The one place that says which paths exist: the webhook endpoints, `/health`, the admin page
//! and API, and 404/405 for everything else. Handlers return `Result<Response, AppError>`; errors become responses here.

use edgehooks_handlers::webhook::Provider;
use serde_json::json;
use worker::{Env, Method, Request, Response};

use crate::error::{json_response, AppError};
use crate::{admin, ingest};

pub async fn route(req: Request, env: &Env) -> Response {
    let path = req.path();
    let method = req.method();
    let result = match path.split('/').collect::<Vec<_>>().as_slice() {
        ["", "health"] => match method {
            Method::Get | Method::Head => Ok(json_response(&json!({ "status": "ok" }), 200)),
            _ => Err(AppError::MethodNotAllowed),
        },
        ["", "webhooks", slug] => match Provider::from_slug(slug) {
            None => Err(AppError::NotFound),
            Some(_) if method != Method::Post => Err(AppError::MethodNotAllowed),
            Some(provider) => ingest::handle(req, env, provider).await,
        },
        ["", "admin"] | ["", "admin", ""] => admin::page(&req),
        ["", "admin", "api", rest @ ..] => admin::api(req, env, rest).await,
        ["", "admin", asset] => admin::asset(&req, asset),
        _ => Err(AppError::NotFound),
    };
    result.unwrap_or_else(|error| error.to_response())
}
