//! The admin JSON API (`/admin/api/*`, already authorized by the caller): routing and handlers.
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `health` | the configuration checks by name: what `/health` keeps to itself |
//! | GET | `stats` | counts per event and step status, rejections in the last 24 h, dead groups |
//! | GET | `events` | list with filters and an opaque keyset cursor |
//! | GET | `events/{id}` | one event: payload (unless redacted), steps, attempt timeline |
//! | POST | `events/{id}/replay` | re-enqueue the steps not done and add the steps the routes now give the event but it lacks (`?dry_run=true`: only list) |
//! | GET | `dead` | dead steps grouped by destination and error, plus the matching steps |
//! | POST | `redrive` | re-enqueue dead steps by destination/error/time/ids (JSON body, dry run; no filter: a dry run unless `dry_run` is false) |
//! | GET | `rejections` | verification failures per provider and reason (`?hours=24`) |
//! | GET | `metrics` | the dashboard: minute-bucket series and alerts (`?window=1h\|24h`, see `dashboard`) |
//! | GET | `alerts` | open and recent alerts |
//! | GET | `backfill` | the Stripe backfill: enabled or not, checkpoint, last runs |
//! | POST | `backfill/stripe` | one bounded backfill run (`{"since", "dry_run", "cursor"}`) |
//! | POST | `backfill/shopify` | one bounded Shopify reconciliation run of a shop (`{"since", "dry_run", "cursor", "source"}`) |
//! | POST | `replay` | bulk replay by filter, a page per call with a pass cursor (dry run first; no filter: a dry run unless `dry_run` is false) |
//! | GET | `storage` | the database's size against `STORAGE_LIMIT_BYTES`, events stored, bytes per event |
//!
//! Every response body passes through [`scrub`], which replaces any configured secret value.

use edgehooks_handlers::admin::{
    parse_bool, scrub, BulkReplay, Cursor, EventQuery, EventReplayPlan, FilterError, RedriveFilter,
    ReplayAction, StoredEvent, StoredStep, STEP_STATUSES, UNFILTERED_DRY_RUN,
};
use edgehooks_handlers::connections::plan::EventFacts;
use edgehooks_handlers::ids;
use edgehooks_handlers::request_url;
use edgehooks_handlers::retention::storage::StorageReport;
use edgehooks_handlers::webhook::Provider;
use serde_json::{json, Map, Value};
use worker::{Env, Method, Request, Response};

use super::read_body;
use super::replay_plan::Planner;
use crate::clock::now_ms;
use crate::config::config;
use crate::db::admin as store;
use crate::error::{AppError, ALLOW_GET, ALLOW_POST};
use crate::steps::dispatch::send_steps;

impl From<FilterError> for AppError {
    fn from(e: FilterError) -> Self {
        AppError::BadRequest {
            code: e.code,
            detail: e.detail,
        }
    }
}

/// Serialize, scrub secrets, answer with `Cache-Control: no-store`.
fn respond(env: &Env, body: &Value) -> Result<Response, AppError> {
    let secrets = config(env).secret_values();
    let bytes = scrub(&body.to_string(), &secrets).into_bytes();
    let headers = worker::Headers::new();
    let _ = headers.set("Content-Type", "application/json");
    let _ = headers.set("Cache-Control", "no-store");
    Ok(Response::builder()
        .with_status(200)
        .with_headers(headers)
        .fixed(bytes))
}

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

fn dry_run_param(pairs: &[(String, String)]) -> Result<Option<bool>, AppError> {
    match pairs.iter().find(|(k, _)| k == "dry_run") {
        None => Ok(None),
        Some((_, v)) => parse_bool(v).map(Some).ok_or(AppError::BadRequest {
            code: "invalid_filter",
            detail: "dry_run must be true or false".into(),
        }),
    }
}

pub async fn handle(req: Request, env: &Env, path: &[&str]) -> Result<Response, AppError> {
    let method = req.method();
    let get = matches!(method, Method::Get | Method::Head);
    let post = method == Method::Post;
    let pairs = request_url::query_pairs(&req.inner().url());
    let db = crate::js_binding::d1(env)?;
    let body = match path {
        ["health"] if get => config(env).health(),
        ["stats"] if get => stats(&db).await?,
        ["events"] if get => events(&db, &pairs).await?,
        ["events", id] if get => event(&db, id).await?,
        ["events", id, "replay"] if post => {
            let dry_run = dry_run_param(&pairs)?.unwrap_or(false);
            let routing = crate::ingest::routing::current(&db).await?;
            replay(
                env,
                &db,
                id,
                dry_run,
                &mut Planner::new(env, &routing, None),
            )
            .await?
        }
        ["dead"] if get => dead(&db, &pairs).await?,
        ["redrive"] if post => {
            let dry_run = dry_run_param(&pairs)?;
            let filter = RedriveFilter::from_json(&read_body(&req).await?, dry_run)?;
            redrive(env, &db, &filter).await?
        }
        ["rejections"] if get => rejections(&db, &pairs).await?,
        ["metrics"] if get => super::dashboard::metrics(env, &db, &pairs).await?,
        ["alerts"] if get => super::dashboard::alerts(env, &db).await?,
        ["backfill"] if get => super::backfill::admin_status(env, &db).await?,
        ["storage"] if get => storage(env, &db).await?,
        ["backfill", "stripe"] if post => {
            super::backfill::admin_run(env, &db, &read_body(&req).await?).await?
        }
        ["backfill", "shopify"] if post => {
            super::backfill::shopify_admin_run(env, &db, &read_body(&req).await?).await?
        }
        ["replay"] if post => {
            let dry_run = dry_run_param(&pairs)?;
            let body = read_body(&req).await?;
            let request = BulkReplay::from_json(&body, dry_run, now_ms())?;
            super::bulk_replay::bulk_replay(env, &db, &request).await?
        }
        ["health"]
        | ["stats"]
        | ["events"]
        | ["events", _]
        | ["dead"]
        | ["rejections"]
        | ["metrics"]
        | ["alerts"]
        | ["backfill"]
        | ["storage"] => return Err(AppError::MethodNotAllowed { allow: ALLOW_GET }),
        ["events", _, "replay"] | ["redrive"] | ["backfill", "stripe" | "shopify"] | ["replay"] => {
            return Err(AppError::MethodNotAllowed { allow: ALLOW_POST })
        }
        _ => return Err(AppError::NotFound),
    };
    respond(env, &body)
}

fn counts(rows: Vec<store::StatusCount>, all: &[&str]) -> Map<String, Value> {
    let mut map: Map<String, Value> = all.iter().map(|s| (s.to_string(), json!(0))).collect();
    for row in rows {
        map.insert(row.status, json!(row.count));
    }
    map
}

async fn stats(db: &worker::D1Database) -> Result<Value, AppError> {
    let (events, steps) = store::status_counts(db).await?;
    let since_hour = now_ms() / 1000 / 3600 * 3600 - 23 * 3600;
    let rejections = store::rejection_counts(db, since_hour).await?;
    let groups = store::dead_groups(db).await?;
    Ok(json!({
        "events": counts(events, &["accepted", "rejected"]),
        "steps": counts(steps, &STEP_STATUSES),
        "rejections_24h": rejections.iter().map(|r| r.count).sum::<i64>(),
        "dead_groups": groups.len(),
        "isolate": crate::isolate::stats(),
    }))
}

/// `GET /admin/api/storage`: how close the database is to D1's size limit (the core's
/// `StorageReport`). Counting events reads every event's index entry: an admin's request, not
/// the cron's.
async fn storage(env: &Env, db: &worker::D1Database) -> Result<Value, AppError> {
    let limit_bytes = config(env).storage_limit_bytes()?;
    let counts = crate::db::retention::stored_counts(db).await?;
    Ok(StorageReport {
        bytes_used: counts.size_bytes,
        limit_bytes,
        events: counts.events,
        tombstones: counts.tombstones,
    }
    .to_json())
}

async fn events(db: &worker::D1Database, pairs: &[(String, String)]) -> Result<Value, AppError> {
    let query = EventQuery::from_pairs(pairs)?;
    let mut rows = store::list_events(db, &query).await?;
    let limit = usize::try_from(query.limit).unwrap_or(0);
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next_cursor = rows.last().filter(|_| more).map(|last| {
        Cursor {
            received_at: last.received_at,
            id: last.id.clone(),
        }
        .encode()
    });
    Ok(json!({ "events": to_json(&rows), "next_cursor": next_cursor }))
}

async fn event(db: &worker::D1Database, id: &str) -> Result<Value, AppError> {
    let (summary, body) = store::get_event(db, id).await?.ok_or(AppError::NotFound)?;
    let steps = store::event_steps(db, id).await?;
    let attempts = store::event_attempts(db, id).await?;
    let names: Map<String, Value> = steps
        .iter()
        .map(|s| (s.id.clone(), json!(s.name)))
        .collect();
    // The timeline: receipt, then every attempt in order, labelled with its step's name.
    let mut timeline = vec![json!({
        "at": summary.received_at, "kind": "received", "detail": summary.status,
    })];
    timeline.extend(attempts.iter().map(|a| {
        json!({
            "at": a.started_at, "kind": "attempt", "step_id": a.step_id,
            "step": names.get(&a.step_id).cloned().unwrap_or(Value::Null),
            "n": a.n, "duration_ms": a.duration_ms, "status": a.status,
            "outcome": a.outcome, "error": a.error,
        })
    }));
    let redacted = body.payload.is_none();
    let mut event = to_json(&summary);
    if let Some(map) = event.as_object_mut() {
        map.insert("key_index".into(), json!(body.key_index));
        map.insert("origin".into(), json!(body.origin));
        map.insert("payload".into(), json!(body.payload));
        map.insert("redacted".into(), json!(redacted));
    }
    Ok(json!({ "event": event, "steps": to_json(&steps), "timeline": timeline }))
}

/// Replay an event: re-enqueue its steps that are not done, and plan, store (`pending`) and
/// enqueue the steps it would plan now but does not have yet (`added_steps`), as `planner`
/// decides (the whole event, or one connection's step). A dry run only lists both. A broken
/// `ROUTES_JSON` for the provider answers `503 misconfigured` (planning with the wrong routes
/// could not be undone), as ingest does.
pub(super) async fn replay(
    env: &Env,
    db: &worker::D1Database,
    id: &str,
    dry_run: bool,
    planner: &mut Planner<'_>,
) -> Result<Value, AppError> {
    let (summary, body) = store::get_event(db, id).await?.ok_or(AppError::NotFound)?;
    let steps = store::event_steps(db, id).await?;
    let stored: Vec<StoredStep> = steps
        .iter()
        .map(|s| StoredStep {
            name: s.name.clone(),
            status: s.status.clone(),
        })
        .collect();
    let facts = Provider::from_slug(&summary.provider).map(|provider| EventFacts {
        provider,
        source: summary.source.as_deref(),
        account: summary.account.as_deref(),
        event_type: &summary.event_type,
        payload: body.payload.as_deref().unwrap_or("null"),
    });
    let plan = planner.plan(&StoredEvent {
        facts,
        accepted: summary.status == "accepted",
        payload_available: body.payload.is_some(),
        steps: &stored,
    })?;
    let (listing, to_run, added_listing) = replay_listing(&summary.id, &steps, &plan);
    let mut result = json!({
        "dry_run": dry_run,
        "event_id": summary.id,
        "payload_available": body.payload.is_some(),
        "steps": listing,
        "would_run": to_run.len(),
        "added_steps": added_listing,
        "would_add": plan.add.len(),
    });
    if dry_run {
        return Ok(result);
    }
    if plan.blocked {
        return Err(AppError::BadRequest {
            code: "payload_unavailable",
            detail: "the event's payload was redacted or purged; its steps cannot run again".into(),
        });
    }
    let now = now_ms();
    let requeued = store::requeue_for_admin(db, &to_run, false, now).await?;
    let added = store::add_steps(db, &summary.id, &plan.add, now).await?;
    let to_send: Vec<String> = requeued.iter().chain(&added).cloned().collect();
    let sent = send_steps(env, db, &to_send).await;
    if let Some(map) = result.as_object_mut() {
        map.insert("requeued".into(), json!(requeued));
        map.insert("added".into(), json!(added));
        map.insert("sent".into(), json!(sent));
    }
    Ok(result)
}

/// The stored steps in the plan's scope with their action, the ids of those sent again, and
/// the steps to add, as a replay answers them.
fn replay_listing(
    event_id: &str,
    steps: &[store::StepView],
    plan: &EventReplayPlan,
) -> (Vec<Value>, Vec<String>, Vec<Value>) {
    let listing = steps
        .iter()
        .filter(|s| plan.stored.iter().any(|(name, _)| *name == s.name))
        .map(|s| {
            let action = ReplayAction::for_status(&s.status);
            json!({
                "id": s.id, "name": s.name, "destination": s.destination,
                "status": s.status, "attempts": s.attempts, "action": action.code(),
            })
        })
        .collect();
    let to_run = plan
        .to_run()
        .filter_map(|name| steps.iter().find(|s| s.name == name))
        .map(|s| s.id.clone())
        .collect();
    let added = plan
        .add
        .iter()
        .map(|step| {
            json!({
                "id": ids::step_id(event_id, &step.name()), "name": step.name(),
                "destination": step.destination(), "action": "add",
            })
        })
        .collect();
    (listing, to_run, added)
}

/// Query-string pairs as the JSON object [`RedriveFilter::from_json`] reads.
fn filter_from_pairs(pairs: &[(String, String)]) -> Result<RedriveFilter, AppError> {
    let mut object = Map::new();
    for (name, value) in pairs {
        let value = match (name.as_str(), value.parse::<i64>()) {
            ("limit" | "from" | "to", Ok(n)) => json!(n),
            ("destination" | "error" | "from" | "to" | "limit", _) => json!(value),
            _ => {
                return Err(AppError::BadRequest {
                    code: "invalid_filter",
                    detail: format!("unknown parameter {name:?}"),
                })
            }
        };
        object.insert(name.clone(), value);
    }
    Ok(RedriveFilter::from_json(
        Value::Object(object).to_string().as_bytes(),
        Some(true),
    )?)
}

async fn dead(db: &worker::D1Database, pairs: &[(String, String)]) -> Result<Value, AppError> {
    let filter = filter_from_pairs(pairs)?;
    let groups = store::dead_groups(db).await?;
    let mut steps = store::dead_steps(db, &filter).await?;
    let more = steps.len() > usize::try_from(filter.limit).unwrap_or(0);
    steps.truncate(usize::try_from(filter.limit).unwrap_or(0));
    Ok(json!({ "groups": to_json(&groups), "steps": to_json(&steps), "more": more }))
}

async fn redrive(
    env: &Env,
    db: &worker::D1Database,
    filter: &RedriveFilter,
) -> Result<Value, AppError> {
    let mut steps = store::dead_steps(db, filter).await?;
    let limit = usize::try_from(filter.limit).unwrap_or(0);
    let more = steps.len() > limit;
    steps.truncate(limit);
    let ids: Vec<String> = steps.iter().map(|s| s.id.clone()).collect();
    let mut result = json!({
        "dry_run": filter.dry_run,
        "matched": ids.len(),
        "more": more,
        "steps": to_json(&steps),
    });
    if filter.dry_run {
        if filter.unfiltered {
            result["note"] = json!(UNFILTERED_DRY_RUN);
        }
        return Ok(result);
    }
    let redriven = store::requeue_for_admin(db, &ids, true, now_ms()).await?;
    let sent = send_steps(env, db, &redriven).await;
    if let Some(map) = result.as_object_mut() {
        map.insert("redriven".into(), json!(redriven));
        map.insert("sent".into(), json!(sent));
    }
    Ok(result)
}

async fn rejections(
    db: &worker::D1Database,
    pairs: &[(String, String)],
) -> Result<Value, AppError> {
    let mut hours = 24_i64;
    for (name, value) in pairs {
        match (name.as_str(), value.trim().parse::<i64>()) {
            ("hours", Ok(h)) if (1..=24 * 90).contains(&h) => hours = h,
            _ => {
                return Err(AppError::BadRequest {
                    code: "invalid_filter",
                    detail: "only hours=1..2160 is accepted".into(),
                })
            }
        }
    }
    let since_hour = now_ms() / 1000 / 3600 * 3600 - (hours - 1) * 3600;
    let rows = store::rejection_counts(db, since_hour).await?;
    let total: i64 = rows.iter().map(|r| r.count).sum();
    Ok(
        json!({ "hours": hours, "since_hour": since_hour, "total": total, "rejections": to_json(&rows) }),
    )
}
