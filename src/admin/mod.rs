//! Admin page and API: `/admin` (one HTML page, token asked for in the browser) and
//! `/admin/api/*` (JSON, `Authorization: Bearer $ADMIN_TOKEN`, constant-time check).

use edgehooks_handlers::auth::bearer_matches;
use worker::{Env, Request, Response};

use crate::config::text;
use crate::error::AppError;

pub fn page(_req: &Request, _env: &Env) -> Result<Response, AppError> {
    Err(AppError::NotFound)
}

/// Refuse unless the request carries the admin bearer token.
fn authorize(req: &Request, env: &Env) -> Result<(), AppError> {
    let expected = text(env, "ADMIN_TOKEN").unwrap_or_default();
    let presented = req.headers().get("Authorization").ok().flatten();
    if bearer_matches(presented.as_deref(), expected.trim()) {
        Ok(())
    } else {
        Err(AppError::Unauthorized)
    }
}

pub async fn api(req: Request, env: &Env, _path: &[&str]) -> Result<Response, AppError> {
    authorize(&req, env)?;
    Err(AppError::NotFound)
}
