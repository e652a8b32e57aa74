//! Admin entry points: `/admin` (one static HTML page plus its script and stylesheet; the page
//! holds no data and asks for the token in the browser) and `/admin/api/*` (JSON, only for a
//! signed-in caller whose role the route allows: `access` signs in an `ADMIN_TOKEN` entry, a
//! named token or a Cloudflare Access JWT, refusals logged and counted; the role each route
//! needs is the core's `access::routes` table, a lower role is `403 forbidden_role`; every
//! mutating call, refused ones included, leaves one `audit` row). `route` is the one table of
//! admin API paths; each resource has its
//! file: `status` (health, stats, rejections, storage), `events` (the event log and the replay
//! of one event), `dead` (dead letters, redrive), `bulk_replay` (`POST replay`), `dashboard`
//! (metrics, alerts), `backfill`, `destinations`, `connections` (the preview of an event's
//! connections, and of a connection's delivery), `routes` (default routes off and on), `sources` (the registry's sources),
//! `tokens` (named API tokens, `whoami`), `audit` (the trail). `http` is what they share (body, JSON,
//! errors, the answer), `replay_plan` the one planning every replay uses, `page` the page's
//! paths as the worker sees them (the files themselves are Workers Static Assets).
//!
//! | method | path (after `/admin/api/`) | what |
//! |---|---|---|
//! | GET | `health` | the configuration checks by name: what `/health` keeps to itself |
//! | GET | `stats` | counts per event and step status, rejections in the last 24 h, dead groups |
//! | GET | `rejections` | verification failures per provider and reason (`?hours=24`) |
//! | GET | `storage` | the database's size against `STORAGE_LIMIT_BYTES`, events stored, bytes per event |
//! | GET | `metrics` | the dashboard: minute-bucket series and alerts (`?window=1h\|24h`) |
//! | GET | `alerts` | open and recent alerts |
//! | GET | `events` | list with filters, payload search (`pointer`/`equals`, `contains`: a bounded scan) and an opaque keyset cursor |
//! | GET | `events/{id}` | one event: payload (unless redacted), steps, attempt timeline |
//! | POST | `events/{id}/replay` | re-enqueue the steps not done and add the steps the routes now give the event but it lacks (`?dry_run=true`: only list) |
//! | GET | `events/{id}/connections` | which connections and default routes take the event now |
//! | GET | `dead` | dead steps grouped by destination and error, plus the matching steps |
//! | POST | `redrive` | re-enqueue dead steps by destination/error/time/ids (JSON body, dry run; no filter: a dry run unless `dry_run` is false) |
//! | POST | `replay` | bulk replay by filter, a page per call with a pass cursor (dry run first; no filter: a dry run unless `dry_run` is false) |
//! | GET | `backfill` | the Stripe backfill: enabled or not, checkpoint, last runs |
//! | POST | `backfill/stripe` | one bounded backfill run (`{"since", "dry_run", "cursor"}`) |
//! | POST | `backfill/shopify` | one bounded Shopify reconciliation run of a shop (`{"since", "dry_run", "cursor", "source"}`) |
//! | GET, POST | `destinations` | list, create |
//! | GET, PUT, PATCH, DELETE | `destinations/{name}` | read, edit, delete |
//! | POST | `destinations/{name}/pause`, `…/resume`, `…/test` | pause, resume (release the parked steps), a signed test delivery |
//! | GET, POST | `connections` | list, create |
//! | GET, PUT, PATCH, DELETE | `connections/{name}` | read, edit, delete |
//! | POST | `connections/{name}/enable`, `…/disable` | switch on, off |
//! | POST | `connections/{name}/preview` | the body and headers its delivery of a stored event would send (`{"event_id", "transform"?}`: an unsaved transform to try); nothing sent or written |
//! | GET, POST | `sources` | registry sources (`/webhooks/in/{name}`): list, create |
//! | GET, PUT, PATCH, DELETE | `sources/{name}` | read, edit, delete |
//! | POST | `sources/{name}/secrets`, `…/enable`, `…/disable` | rotate (`{"add", "remove"}`), switch on, off |
//! | GET | `routes` | the default routes in force and which steps are off |
//! | POST | `routes/off`, `routes/on` | turn one default route's step off, on |
//! | GET, POST | `tokens` | list named API tokens (never the token), mint one (`201`, shown once) |
//! | DELETE | `tokens/{name}` | revoke a named token |
//! | GET | `whoami` | the caller: who, how signed in, role |
//! | GET | `audit` | the audit trail, newest first (`who`, `action`, `since`, `until`, `cursor`) |
//!
//! HEAD is answered as GET; a method the router does not know (`PURGE`, `OPTIONS`, …) is `405`
//! with the path's `Allow`, like a known one the path does not take. Every answer passes through `http::respond`, which scrubs any
//! configured secret value.

mod access;
mod access_keys;
mod audit;
mod backfill;
mod bulk_replay;
mod connections;
mod dashboard;
mod dead;
mod destinations;
mod events;
mod http;
mod page;
mod replay_plan;
mod routes;
mod sources;
mod status;
mod tokens;

use edgehooks_handlers::access::routes::decide;
use edgehooks_handlers::access::Identity;
use edgehooks_handlers::admin::{BulkReplay, RedriveFilter};
use edgehooks_handlers::inbound::request_method::RequestMethod;
use edgehooks_handlers::inbound::request_url;
use serde_json::json;
use worker::{D1Database, Env, Request, Response};

use crate::clock::now_ms;
use crate::error::{AppError, ALLOW_GET, ALLOW_POST};
use http::{dry_run_and_body, ok, parse_json, read_body, respond, Answer};

pub use access::authenticate;
pub use page::{asset, page};

/// `/admin/api/{path}`: sign the caller in, check their role against the route's, answer from
/// the table, write the audit row of a mutating call, respond. `method` is the router's reading
/// of the request's (`None`: one no route takes; the role table sees the method as sent, and
/// needs `admin` for one it lacks).
pub async fn api(
    req: Request,
    method: Option<RequestMethod>,
    env: &Env,
    path: &[&str],
) -> Result<Response, AppError> {
    let db = &crate::js_binding::d1(env)?;
    let asked = format!("/admin/api/{}", path.join("/"));
    let caller = access::authenticate(&req, env, db, &asked).await?;
    let decision = decide(caller.role, &req.inner().method(), path);
    let body = match decision.audited {
        Some(_) => audit::body_of(&req).await,
        None => None,
    };
    let answered = match decision.allowed {
        true => route(&req, method, env, db, &caller, path).await,
        false => Err(access::forbidden(&caller, decision.needed, path)),
    };
    if let Some(route) = decision.audited {
        let status = answered
            .as_ref()
            .map_or_else(AppError::status, |a| a.status);
        audit::record(env, db, &caller, route, path, body.as_deref(), status).await;
    }
    respond(env, answered?)
}

/// The one table of admin API paths: which resource answers each method and path.
async fn route(
    req: &Request,
    method: Option<RequestMethod>,
    env: &Env,
    db: &D1Database,
    caller: &Identity,
    path: &[&str],
) -> Result<Answer, AppError> {
    use RequestMethod::{Delete, Get, Patch, Post, Put};
    let Some(method) = method.map(RequestMethod::routed_as) else {
        return Err(method_refused(path));
    };
    let pairs = request_url::query_pairs(&req.inner().url());
    let json_body = || async { parse_json(&read_body(req).await?) };
    match (method, path) {
        (Get, ["health"]) => status::health(env, db).await.map(ok),
        (Get, ["stats"]) => status::stats(db).await.map(ok),
        (Get, ["rejections"]) => status::rejections(db, &pairs).await.map(ok),
        (Get, ["storage"]) => status::storage(env, db).await.map(ok),
        (Get, ["metrics"]) => dashboard::metrics(env, db, &pairs).await.map(ok),
        (Get, ["alerts"]) => dashboard::alerts(env, db).await.map(ok),
        (Get, ["events"]) => events::list(env, db, &pairs).await.map(ok),
        (Get, ["events", id]) => events::one(db, id).await.map(ok),
        (Post, ["events", id, "replay"]) => events::replay_one(env, db, id, &pairs).await.map(ok),
        (Get, ["events", id, "connections"]) => connections::preview(env, db, id).await,
        (Get, ["dead"]) => dead::list(db, &pairs).await.map(ok),
        (Post, ["redrive"]) => {
            let (dry_run, body) = dry_run_and_body(req, &pairs).await?;
            let filter = RedriveFilter::from_json(&body, dry_run)?;
            dead::redrive(env, db, &filter).await.map(ok)
        }
        (Post, ["replay"]) => {
            let (dry_run, body) = dry_run_and_body(req, &pairs).await?;
            let request = BulkReplay::from_json(&body, dry_run, now_ms())?;
            bulk_replay::bulk_replay(env, db, &request).await.map(ok)
        }
        (Get, ["backfill"]) => backfill::admin_status(env, db).await.map(ok),
        (Post, ["backfill", "stripe"]) => backfill::admin_run(env, db, &read_body(req).await?)
            .await
            .map(ok),
        (Post, ["backfill", "shopify"]) => {
            backfill::shopify_admin_run(env, db, &read_body(req).await?)
                .await
                .map(ok)
        }
        (Get, ["destinations"]) => destinations::list(env, db).await,
        (Post, ["destinations"]) => destinations::create(env, db, &read_body(req).await?).await,
        (Get, ["destinations", name]) => destinations::read(env, db, name).await,
        (Put | Patch, ["destinations", name]) => {
            destinations::edit(env, db, name, &json_body().await?).await
        }
        (Delete, ["destinations", name]) => destinations::delete(env, db, name).await,
        (Post, ["destinations", name, "pause"]) => {
            destinations::edit(env, db, name, &json!({ "paused": true })).await
        }
        (Post, ["destinations", name, "resume"]) => {
            destinations::edit(env, db, name, &json!({ "paused": false })).await
        }
        (Post, ["destinations", name, "test"]) => {
            destinations::test_delivery(env, db, name, &json_body().await?).await
        }
        (Get, ["connections"]) => connections::list(db).await,
        (Post, ["connections"]) => connections::save(db, None, &json_body().await?).await,
        (Get, ["connections", name]) => connections::read(db, name).await,
        (Put | Patch, ["connections", name]) => {
            connections::save(db, Some(name), &json_body().await?).await
        }
        (Delete, ["connections", name]) => connections::delete(db, name).await,
        (Post, ["connections", name, "enable"]) => {
            connections::save(db, Some(name), &json!({ "enabled": true })).await
        }
        (Post, ["connections", name, "disable"]) => {
            connections::save(db, Some(name), &json!({ "enabled": false })).await
        }
        (Post, ["connections", name, "preview"]) => {
            connections::preview_delivery(db, name, &json_body().await?).await
        }
        (Get, ["sources"]) => sources::list(db).await,
        (Post, ["sources"]) => sources::create(env, db, &json_body().await?).await,
        (Get, ["sources", name]) => sources::read(db, name).await,
        (Put | Patch, ["sources", name]) => sources::edit(env, db, name, &json_body().await?).await,
        (Delete, ["sources", name]) => sources::delete(db, name).await,
        (Post, ["sources", name, "secrets"]) => {
            sources::rotate_secrets(env, db, name, &json_body().await?).await
        }
        (Post, ["sources", name, "enable"]) => {
            sources::edit(env, db, name, &json!({ "enabled": true })).await
        }
        (Post, ["sources", name, "disable"]) => {
            sources::edit(env, db, name, &json!({ "enabled": false })).await
        }
        (Get, ["routes"]) => routes::list(env, db).await,
        (Post, ["routes", "off"]) => routes::switch(env, db, true, &json_body().await?).await,
        (Post, ["routes", "on"]) => routes::switch(env, db, false, &json_body().await?).await,
        (Get, ["tokens"]) => tokens::list(db).await,
        (Post, ["tokens"]) => tokens::create(db, caller, &json_body().await?).await,
        (Delete, ["tokens", name]) => tokens::delete(db, name).await,
        (Get, ["whoami"]) => Ok(tokens::whoami(caller)),
        (Get, ["audit"]) => audit::list(db, &pairs).await,
        _ => Err(method_refused(path)),
    }
}

/// A path the table has but not with this method: `405` with the methods it allows; any other
/// path: `404`.
fn method_refused(path: &[&str]) -> AppError {
    let allow = match path {
        ["health" | "stats" | "rejections" | "storage" | "metrics" | "alerts" | "events"]
        | ["events", _]
        | ["events", _, "connections"]
        | ["dead" | "backfill" | "routes" | "whoami" | "audit"] => ALLOW_GET,
        ["events", _, "replay"]
        | ["redrive" | "replay"]
        | ["backfill", "stripe" | "shopify"]
        | ["destinations", _, "pause" | "resume" | "test"]
        | ["connections" | "sources", _, "enable" | "disable"]
        | ["connections", _, "preview"]
        | ["sources", _, "secrets"]
        | ["routes", "off" | "on"] => ALLOW_POST,
        ["destinations" | "connections" | "sources"]
        | ["destinations" | "connections" | "sources", _] => "GET, POST, PUT, PATCH, DELETE",
        ["tokens"] => "GET, POST",
        ["tokens", _] => "DELETE",
        _ => return AppError::NotFound,
    };
    AppError::MethodNotAllowed { allow }
}
