//! `POST /admin/api/replay`: replay every event a filter selects, a page per call. A dry run
//! answers how many events match what remains of the pass, what replaying them would do per step
//! name (run again, add, already done, in progress: the single replay's decisions) and a sample of
//! event ids, plus `start_cursor`, which fixes the pass to what was counted. A real run replays
//! each event of the page with the single-event replay (`api::replay`: the same requeue, the same
//! added steps) and answers `next_cursor` while events remain. An event whose payload is gone is
//! listed under `skipped`; a failure after the first event ends the page early (`interrupted`)
//! with a cursor after the last event replayed, so no event is replayed twice within a pass.

use std::collections::BTreeMap;

use edgehooks_handlers::admin::{bulk_plan, BulkReplay, EventGroup};
use edgehooks_handlers::routes::RouteTable;
use edgehooks_handlers::webhook::Provider;
use serde_json::{json, Value};
use worker::{D1Database, Env};

use super::api::replay;
use crate::config::config;
use crate::db::bulk_replay as store;
use crate::error::AppError;

pub(super) async fn bulk_replay(
    env: &Env,
    db: &D1Database,
    request: &BulkReplay,
) -> Result<Value, AppError> {
    if request.dry_run {
        dry_run(env, db, request).await
    } else {
        run(env, db, request).await
    }
}

/// The routes in force for each provider with accepted events among `groups` (a broken
/// `ROUTES_JSON` is `503 misconfigured`, as for a single replay).
fn routes_for(env: &Env, groups: &[EventGroup]) -> Result<Vec<(Provider, RouteTable)>, AppError> {
    let mut routes: Vec<(Provider, RouteTable)> = Vec::new();
    for group in groups.iter().filter(|g| g.status == "accepted") {
        if let Some(provider) = Provider::from_slug(&group.provider) {
            if !routes.iter().any(|(p, _)| *p == provider) {
                routes.push((provider, config(env).provider_routes(provider)?));
            }
        }
    }
    Ok(routes)
}

async fn dry_run(env: &Env, db: &D1Database, request: &BulkReplay) -> Result<Value, AppError> {
    let (events, steps, sample) = store::plan_counts(db, request).await?;
    let routes = routes_for(env, &events)?;
    let plan = bulk_plan(&events, &steps, &|provider, event_type| {
        routes
            .iter()
            .find(|(p, _)| *p == provider)
            .map(|(p, table)| table.steps_for(*p, event_type))
            .unwrap_or_default()
    });
    let calls = (plan.events + request.limit - 1) / request.limit.max(1);
    Ok(json!({
        "dry_run": true,
        "events": plan.events,
        "would_run": plan.would_run,
        "would_add": plan.would_add,
        "steps": plan.steps,
        "sample": sample,
        "limit": request.limit,
        "calls": calls,
        "start_cursor": request.pass().encode(),
    }))
}

/// Totals of one page's replays, per step name too.
#[derive(Default)]
struct Totals {
    requeued: usize,
    added: usize,
    sent: u64,
    by_step: BTreeMap<String, (usize, usize)>,
}

impl Totals {
    fn add(&mut self, result: &Value) {
        let ids = |key: &str| -> Vec<String> {
            result[key]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        let (requeued, added) = (ids("requeued"), ids("added"));
        self.requeued += requeued.len();
        self.added += added.len();
        self.sent += result["sent"].as_u64().unwrap_or(0);
        let name = |id: &str| id.split_once(':').map_or(id, |(_, n)| n).to_string();
        for id in &requeued {
            self.by_step.entry(name(id)).or_default().0 += 1;
        }
        for id in &added {
            self.by_step.entry(name(id)).or_default().1 += 1;
        }
    }
}

async fn run(env: &Env, db: &D1Database, request: &BulkReplay) -> Result<Value, AppError> {
    let rows = store::page(db, request).await?;
    let limit = usize::try_from(request.limit).unwrap_or(0);
    let more = rows.len() > limit;
    let (mut replayed, mut skipped) = (Vec::new(), Vec::new());
    let mut totals = Totals::default();
    let mut last = None;
    let mut interrupted = None;
    for row in rows.iter().take(limit) {
        match replay(env, db, &row.id, false).await {
            Ok(result) => {
                totals.add(&result);
                replayed.push(row.id.clone());
            }
            Err(AppError::BadRequest { code, .. }) => {
                skipped.push(json!({ "id": row.id, "error": code }));
            }
            Err(e) if last.is_none() => return Err(e),
            Err(e) => {
                interrupted = Some(json!({ "event_id": row.id, "error": e.code() }));
                break;
            }
        }
        last = Some(row);
    }
    let next_cursor = last
        .filter(|_| more || interrupted.is_some())
        .map(|row| request.cursor_after(row.received_at, &row.id));
    let steps: BTreeMap<&String, Value> = totals
        .by_step
        .iter()
        .map(|(name, (requeued, added))| (name, json!({ "requeued": requeued, "added": added })))
        .collect();
    Ok(json!({
        "dry_run": false,
        "replayed": replayed,
        "skipped": skipped,
        "requeued": totals.requeued,
        "added": totals.added,
        "sent": totals.sent,
        "steps": steps,
        "next_cursor": next_cursor,
        "interrupted": interrupted,
    }))
}
