//! The admin page's paths as the worker sees them. The page itself (`admin.html` and the scripts
//! and stylesheets beside it in src/admin/) and the admin API's OpenAPI document
//! (`openapi/admin.json`, at `/admin/api/openapi.json`: public, no token; a request for it that
//! reaches the worker is an API call like any other) are not compiled into the wasm: scripts/build
//! copies them to build/assets/ and Workers Static Assets serves them (`[assets]` in wrangler.toml)
//! with the headers of src/admin/_headers (a strict Content-Security-Policy allowing only these
//! same-origin assets, nosniff, no framing, no caching). It holds no data and needs no token; every
//! API call the script makes carries the bearer token. Static Assets answer only GET and HEAD, so
//! any other method reaches the worker, which answers 405 here; a GET that reaches the worker means
//! the assets are not deployed (404).

use edgehooks_handlers::inbound::request_method::RequestMethod;
use worker::Response;

use crate::error::{AppError, ALLOW_GET};

/// The files served under /admin/ (the JS and CSS of src/admin/ that scripts/build copies).
const ASSETS: [&str; 9] = [
    "admin.js",
    "admin.css",
    "connections.js",
    "connections.css",
    "backfill.js",
    "bulk-replay.js",
    "sources.js",
    "dashboard.js",
    "dashboard.css",
];

fn not_served(method: Option<RequestMethod>) -> Result<Response, AppError> {
    if !method.is_some_and(RequestMethod::reads) {
        return Err(AppError::MethodNotAllowed { allow: ALLOW_GET });
    }
    Err(AppError::NotFound)
}

/// `/admin` reaching the worker (`method`: the request's, `None` for an unknown one).
pub fn page(method: Option<RequestMethod>) -> Result<Response, AppError> {
    not_served(method)
}

/// `/admin/{asset}` reaching the worker.
pub fn asset(method: Option<RequestMethod>, name: &str) -> Result<Response, AppError> {
    if !ASSETS.contains(&name) {
        return Err(AppError::NotFound);
    }
    not_served(method)
}
