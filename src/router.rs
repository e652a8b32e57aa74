//! The one place that says which paths exist: the webhook endpoints, `/health`, `/metrics`
//! (Prometheus, signed in as the admin API is), the admin page and API, and 404/405 for
//! everything else. Handlers return `Result<Response, AppError>`; errors become responses here.
//! The method is read here once, from the runtime's string ([`RequestMethod`]): one no route
//! takes is `405` with the path's `Allow`, never read as another (workers-rs' `Method` reads an
//! unknown one as `GET`).
//! `/health` answers anyone with the overall state alone (`{"status":"ok"}`, `"degraded"` or
//! `"misconfigured"`, always 200): which provider, source, destination or setting is affected,
//! and the storage figures, are for admins (`GET /admin/api/health`).

use edgehooks_handlers::inbound::request_method::RequestMethod;
use edgehooks_handlers::inbound::request_url;
use edgehooks_handlers::inbound::webhook::Provider;
use worker::worker_sys::web_sys;
use worker::{Context, Env, Request, Response};

use crate::error::{json_response, AppError, ALLOW_GET, ALLOW_POST};
use crate::{admin, health, ingest, log, metrics_endpoint};

/// Route the runtime's request. Only the admin paths wrap it in workers-rs' `Request` (which
/// reads `request.cf` and copies the method and path); webhooks and `/health` read what they
/// need from it directly.
pub async fn route(req: web_sys::Request, env: &Env, ctx: &Context) -> web_sys::Response {
    let url = req.url();
    let path = request_url::path(&url);
    let method = RequestMethod::parse(&req.method());
    let reads = method.is_some_and(RequestMethod::reads);
    let result = match path.split('/').collect::<Vec<_>>().as_slice() {
        ["", "health"] if reads => Ok(json_response(&health::public(env).await, 200)),
        ["", "metrics"] if reads => metrics_endpoint::scrape(Request::from(req), env).await,
        ["", "health"] | ["", "metrics"] => Err(AppError::MethodNotAllowed { allow: ALLOW_GET }),
        ["", "webhooks", slug] | ["", "webhooks", slug, _] => match Provider::from_slug(slug) {
            None => Err(AppError::NotFound),
            Some(_) if method != Some(RequestMethod::Post) => {
                Err(AppError::MethodNotAllowed { allow: ALLOW_POST })
            }
            // Sources added at runtime: `/webhooks/in/{name}`.
            Some(Provider::Registry) => {
                let name = path.split('/').nth(3).map(str::to_string);
                let response = ingest::registry::handle(req, &url, env, ctx, name).await;
                return response.unwrap_or_else(|e| e.to_response()).into();
            }
            // Ingest logs its own request line, misconfiguration included.
            Some(provider) => {
                let source = path.split('/').nth(3).map(str::to_string);
                let response = ingest::handle(req, &url, env, ctx, provider, source).await;
                return response.unwrap_or_else(|e| e.to_response()).into();
            }
        },
        ["", "admin", ..] => admin_route(Request::from(req), method, env, path).await,
        _ => Err(AppError::NotFound),
    };
    if let Err(AppError::Misconfigured { detail }) = &result {
        log::error("misconfigured", detail);
    }
    result.unwrap_or_else(|error| error.to_response()).into()
}

/// The admin page, its assets and its JSON API (`method`: the request's, `None` for one no route
/// takes).
async fn admin_route(
    req: Request,
    method: Option<RequestMethod>,
    env: &Env,
    path: &str,
) -> Result<Response, AppError> {
    match path.split('/').collect::<Vec<_>>().as_slice() {
        ["", "admin"] | ["", "admin", ""] => admin::page(method),
        ["", "admin", "api", rest @ ..] => admin::api(req, method, env, rest).await,
        ["", "admin", asset] => admin::asset(method, asset),
        _ => Err(AppError::NotFound),
    }
}
