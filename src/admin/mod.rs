//! Admin entry points: `/admin` (one static HTML page plus its script and stylesheet; the page
//! holds no data and asks for the token in the browser) and `/admin/api/*` (JSON, only with
//! `Authorization: Bearer <one of ADMIN_TOKEN's tokens>`, compared in constant time; refusals
//! logged and counted). Submodules: `api` (the JSON
//! endpoints), `dashboard` (its metrics and alerts endpoints), `page` (the page's paths as the
//! worker sees them: the files themselves are Workers Static Assets), `bulk_replay`
//! (`POST /admin/api/replay`), `replay_plan` (the one planning every replay uses).

mod api;
mod backfill;
mod bulk_replay;
mod connections;
mod dashboard;
mod destinations;
mod gateway;
mod page;
mod replay_plan;

use edgehooks_handlers::auth::{check_bearer, Refusal};
use worker::{Env, Request, Response};

use crate::config::config;
use crate::error::AppError;
use crate::log;
use crate::tally::{metrics, rejections};

pub use page::{asset, page};

/// Largest request body the admin API reads.
const MAX_BODY: u64 = 64 * 1024;

/// Refuse unless the request carries one of the admin bearer tokens. While `ADMIN_TOKEN` is
/// misconfigured (an entry too short or empty) nothing is accepted: `503 misconfigured`. A
/// refused sign-in is logged at `warn` (the reason and path, never what was presented) and
/// counted with the verification failures, so the dashboard and the alert see it.
fn authorize(req: &Request, env: &Env, path: &[&str]) -> Result<(), AppError> {
    let tokens = config(env).admin_tokens()?;
    let presented = req.headers().get("Authorization").ok().flatten();
    check_bearer(presented.as_deref(), &tokens).map_err(|refusal| refused(refusal, path))
}

/// Most characters of the requested path a refusal's log line keeps (the path is the caller's).
const LOGGED_PATH_CHARS: usize = 120;

fn refused(refusal: Refusal, path: &[&str]) -> AppError {
    let reason = refusal.code();
    rejections::count_admin(reason);
    metrics::count_admin_refusal(reason);
    let path: String = format!("/admin/api/{}", path.join("/"))
        .chars()
        .take(LOGGED_PATH_CHARS)
        .collect();
    log::warn(
        "admin_unauthorized",
        serde_json::json!({ "reason": reason, "path": path }),
    );
    AppError::Unauthorized
}

/// The request's body, read once and at most [`MAX_BODY`] bytes (413 past it). A body that
/// cannot be read is `400 unreadable_body`: never taken for an empty one, which a bulk
/// redrive or replay would read as "everything".
pub(crate) async fn read_body(req: &Request) -> Result<Vec<u8>, AppError> {
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

pub async fn api(req: Request, env: &Env, path: &[&str]) -> Result<Response, AppError> {
    authorize(&req, env, path)?;
    if gateway::owns(path) {
        return gateway::handle(req, env, path).await;
    }
    api::handle(req, env, path).await
}
