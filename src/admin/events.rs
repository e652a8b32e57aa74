//! The admin API's events: `GET events` (a page, with filters, payload search and an opaque
//! keyset cursor), `GET events/{id}` (one event: payload unless redacted, the delivery's masked
//! request headers, steps, attempt timeline) and
//! `POST events/{id}/replay` (re-enqueue the steps not done and add the steps the routes now
//! give the event but it lacks; `?dry_run=true` only lists). [`replay`] is the one replay of an
//! event, which the bulk replay runs for each event it selects.

use edgehooks_handlers::admin::{
    Cursor, EventQuery, EventReplayPlan, ReplayAction, SearchPage, StoredEvent, StoredStep,
};
use edgehooks_handlers::connections::plan::EventFacts;
use edgehooks_handlers::inbound::ids;
use edgehooks_handlers::inbound::webhook::Provider;
use serde_json::{json, Map, Value};
use worker::{D1Database, Env};

use super::http::{dry_run_param, to_json};
use super::replay_plan::Planner;
use crate::clock::now_ms;
use crate::config::config;
use crate::db::admin as store;
use crate::error::AppError;
use crate::steps::dispatch::send_dispatched;

/// `GET events`. A payload search pages by a bounded scan (`SEARCH_SCAN_ROWS`): its answer
/// says whether the page stopped on the bound (`scan_stopped`; `next_cursor` continues).
pub async fn list(
    env: &Env,
    db: &D1Database,
    pairs: &[(String, String)],
) -> Result<Value, AppError> {
    let query = EventQuery::from_pairs(pairs)?;
    if !query.search.is_empty() {
        return search(env, db, &query).await;
    }
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
    Ok(json!({ "events": to_json(&rows), "next_cursor": next_cursor, "scan_stopped": false }))
}

async fn search(env: &Env, db: &D1Database, query: &EventQuery) -> Result<Value, AppError> {
    let scan = config(env).search_scan_rows()?;
    let (mut rows, boundary) = store::search_events(db, query, scan).await?;
    let hits: Vec<Cursor> = rows
        .iter()
        .map(|r| Cursor {
            received_at: r.received_at,
            id: r.id.clone(),
        })
        .collect();
    let limit = usize::try_from(query.limit).unwrap_or(0);
    let page = SearchPage::of(&hits, boundary, limit);
    rows.truncate(page.keep);
    Ok(json!({
        "events": to_json(&rows),
        "next_cursor": page.next.map(|c| c.encode()),
        "scan_stopped": page.scan_stopped,
    }))
}

/// `GET events/{id}`.
pub async fn one(db: &D1Database, id: &str) -> Result<Value, AppError> {
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
    let headers = body
        .headers
        .as_deref()
        .and_then(|h| serde_json::from_str::<Value>(h).ok());
    let mut event = to_json(&summary);
    if let Some(map) = event.as_object_mut() {
        map.insert("key_index".into(), json!(body.key_index));
        map.insert("origin".into(), json!(body.origin));
        map.insert("payload".into(), json!(body.payload));
        map.insert("redacted".into(), json!(redacted));
        map.insert("headers".into(), json!(headers));
    }
    Ok(json!({ "event": event, "steps": to_json(&steps), "timeline": timeline }))
}

/// `POST events/{id}/replay`: the whole event, with the routing in force.
pub async fn replay_one(
    env: &Env,
    db: &D1Database,
    id: &str,
    pairs: &[(String, String)],
) -> Result<Value, AppError> {
    let dry_run = dry_run_param(pairs)?.unwrap_or(false);
    let routing = crate::ingest::routing::current(db).await?;
    replay(env, db, id, dry_run, &mut Planner::new(env, &routing, None)).await
}

/// Replay an event: re-enqueue its steps that are not done, and plan, store (`pending`) and
/// enqueue the steps it would plan now but does not have yet (`added_steps`), as `planner`
/// decides (the whole event, or one connection's step). A dry run only lists both. A broken
/// `ROUTES_JSON` for the provider answers `503 misconfigured` (planning with the wrong routes
/// could not be undone), as ingest does.
pub async fn replay(
    env: &Env,
    db: &D1Database,
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
    // Each requeued step under its new dispatch number; an added one at its first (0).
    let to_send: Vec<(String, i64)> = requeued
        .iter()
        .map(|s| (s.id.clone(), s.dispatch))
        .chain(added.iter().map(|id| (id.clone(), 0)))
        .collect();
    let sent = send_dispatched(env, db, &to_send).await;
    let requeued: Vec<&String> = requeued.iter().map(|s| &s.id).collect();
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
