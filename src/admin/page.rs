//! The admin page's static assets, compiled into the worker: `admin.html`, `admin.js` and
//! `admin.css`, the connections screen's `connections.js` and `connections.css`, `backfill.js`
//! (the Stripe backfill panel), `bulk-replay.js` (the bulk replay panel) and the dashboard's
//! `dashboard.js` and `dashboard.css`; no build step.
//! Served without authentication because they contain no data;
//! every API call the script makes carries the bearer token. A strict Content-Security-Policy
//! allows only these same-origin assets.

use worker::{Headers, Method, Request, Response};

use crate::error::{AppError, ALLOW_GET};

const HTML: &str = include_str!("admin.html");
const JS: &str = include_str!("admin.js");
const BACKFILL_JS: &str = include_str!("backfill.js");
const CSS: &str = include_str!("admin.css");
const GATEWAY_JS: &str = include_str!("connections.js");
const GATEWAY_CSS: &str = include_str!("connections.css");
/// The bulk replay panel (its own file; uses admin.js's helpers).
const BULK_REPLAY_JS: &str = include_str!("bulk-replay.js");
const DASHBOARD_JS: &str = include_str!("dashboard.js");
const DASHBOARD_CSS: &str = include_str!("dashboard.css");

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                   img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn serve(req: &Request, body: &'static str, content_type: &str) -> Result<Response, AppError> {
    if !matches!(req.method(), Method::Get | Method::Head) {
        return Err(AppError::MethodNotAllowed { allow: ALLOW_GET });
    }
    let headers = Headers::new();
    for (name, value) in [
        ("Content-Type", content_type),
        ("Content-Security-Policy", CSP),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("X-Frame-Options", "DENY"),
        ("Cache-Control", "no-cache"),
    ] {
        let _ = headers.set(name, value);
    }
    Ok(Response::builder()
        .with_status(200)
        .with_headers(headers)
        .fixed(body.as_bytes().to_vec()))
}

/// `GET /admin`.
pub fn page(req: &Request) -> Result<Response, AppError> {
    serve(req, HTML, "text/html; charset=utf-8")
}

/// `GET /admin/{admin.js, admin.css, connections.js, connections.css, backfill.js,
/// bulk-replay.js, dashboard.js, dashboard.css}`.
pub fn asset(req: &Request, name: &str) -> Result<Response, AppError> {
    match name {
        "admin.js" => serve(req, JS, "text/javascript; charset=utf-8"),
        "backfill.js" => serve(req, BACKFILL_JS, "text/javascript; charset=utf-8"),
        "admin.css" => serve(req, CSS, "text/css; charset=utf-8"),
        "connections.js" => serve(req, GATEWAY_JS, "text/javascript; charset=utf-8"),
        "connections.css" => serve(req, GATEWAY_CSS, "text/css; charset=utf-8"),
        "bulk-replay.js" => serve(req, BULK_REPLAY_JS, "text/javascript; charset=utf-8"),
        "dashboard.js" => serve(req, DASHBOARD_JS, "text/javascript; charset=utf-8"),
        "dashboard.css" => serve(req, DASHBOARD_CSS, "text/css; charset=utf-8"),
        _ => Err(AppError::NotFound),
    }
}
