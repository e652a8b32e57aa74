//! Admin entry points: `/admin` (one static HTML page plus its script and stylesheet; the page
//! holds no data and asks for the token in the browser) and `/admin/api/*` (JSON, only with
//! `Authorization: Bearer $ADMIN_TOKEN`, compared in constant time). Submodules: `api` (the JSON
//! endpoints), `dashboard` (its metrics and alerts endpoints), `page` (the page's paths as the
//! worker sees them: the files themselves are Workers Static Assets), `bulk_replay`
//! (`POST /admin/api/replay`), `replay_plan` (the one planning every replay uses).

mod api;
mod bulk_replay;
mod connections;
mod dashboard;
mod destinations;
mod gateway;
mod page;
mod replay_plan;

use edgehooks_handlers::auth::bearer_matches;
use worker::{Env, Request, Response};

use crate::config::config;
use crate::error::AppError;

pub use page::{asset, page};

/// Refuse unless the request carries the admin bearer token.
fn authorize(req: &Request, env: &Env) -> Result<(), AppError> {
    let expected = config(env).admin_token();
    let presented = req.headers().get("Authorization").ok().flatten();
    if bearer_matches(presented.as_deref(), expected.trim()) {
        Ok(())
    } else {
        Err(AppError::Unauthorized)
    }
}

pub async fn api(req: Request, env: &Env, path: &[&str]) -> Result<Response, AppError> {
    authorize(&req, env)?;
    if gateway::owns(path) {
        return gateway::handle(req, env, path).await;
    }
    api::handle(req, env, path).await
}
