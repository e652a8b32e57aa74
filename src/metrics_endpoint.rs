//! `GET /metrics`: the Prometheus text exposition format (0.0.4) for a caller signed in as the
//! admin API signs callers in (an `ADMIN_TOKEN` entry, a named token, a Cloudflare Access JWT;
//! every role is at least `viewer`, which is what it needs); a refused sign-in is `401`, counted
//! and logged like the admin API's. This isolate's tally is written first (one D1 batch, only
//! when it holds counts), so the answer includes what this isolate counted; then one D1 batch
//! reads the running totals and the step gauges (the core's `metrics::sql`) and the core renders
//! them (`metrics::scrape`). Other isolates' unflushed counts (at most a minute) show at a later
//! scrape. Counters come from totals that only grow.

use edgehooks_handlers::access::Role;
use edgehooks_handlers::metrics::exposition::CONTENT_TYPE;
use edgehooks_handlers::metrics::scrape::Scrape;
use worker::{Env, Headers, Request, Response};

use crate::error::AppError;
use crate::{admin, db, tally};

/// The path, as the sign-in logs it.
const PATH: &str = "/metrics";
/// The least role that may scrape.
const NEEDED: Role = Role::Viewer;

pub async fn scrape(req: Request, env: &Env) -> Result<Response, AppError> {
    let d1 = crate::js_binding::d1(env)?;
    let caller = admin::authenticate(&req, env, &d1, PATH).await?;
    if !caller.role.allows(NEEDED) {
        return Err(AppError::Forbidden {
            needed: NEEDED.name(),
            role: caller.role.name(),
        });
    }
    tally::flush::<tally::Metrics>(env).await;
    let totals = db::metrics::totals(&d1).await?;
    let body = Scrape {
        requests: totals.requests,
        rejections: totals.rejections,
        steps: totals.steps,
        outstanding: totals.outstanding,
        parked: totals.parked,
        database_bytes: totals.database_bytes,
    }
    .render();
    let headers = Headers::new();
    headers.set("Content-Type", CONTENT_TYPE)?;
    headers.set("Cache-Control", "no-store")?;
    Ok(Response::ok(body)?.with_headers(headers))
}
