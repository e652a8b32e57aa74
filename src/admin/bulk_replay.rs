//! `POST /admin/api/replay`: replay every event a filter selects, a page per call. With
//! `connection`, the events that connection takes now (its source, type patterns and payload
//! conditions, decided per scanned row) and, unless `"scope": "event"`, only its step. A dry run
//! (the default of a request that filters nothing) plans each selected event exactly as a real replay does ([`Planner`]) and answers the counts
//! per step name (run again, add, already done, in progress), a sample of event ids and
//! `start_cursor`, which fixes the pass; it reads at most [`DRY_RUN_PAGES`] pages of `scan` rows
//! and answers `count_cursor` when rows remain to count. A real run replays each selected event
//! of a page (at most `limit` selected within `scan` rows read) with the single-event replay and
//! answers `next_cursor` after the last row consumed while rows remain. An event whose payload is
//! gone is listed under `skipped`; a failure after the first row ends the page early
//! (`interrupted`) with a cursor after the last row consumed, so no event is skipped or replayed
//! twice within a pass.

use edgehooks_handlers::admin::{
    BulkReplay, BulkScope, PageWalk, PassCursor, PlanTally, ScannedEvent, Selection, DRY_RUN_PAGES,
    SAMPLE_SIZE, UNFILTERED_DRY_RUN,
};
use edgehooks_handlers::connections::plan::Routing;
use edgehooks_handlers::connections::Connection;
use serde_json::{json, Value};
use worker::{D1Database, Env};

use super::events::replay;
use super::replay_plan::Planner;
use crate::db::bulk_replay as store;
use crate::error::AppError;

/// `POST replay`: one page of a bulk replay (or its dry run).
pub async fn bulk_replay(
    env: &Env,
    db: &D1Database,
    request: &BulkReplay,
) -> Result<Value, AppError> {
    // Read fresh: a connection created a moment ago in another isolate is found.
    let routing = crate::ingest::routing::load(db).await?;
    let connection = selected_connection(&routing, request)?;
    let own_step = connection.filter(|_| request.filter.scope == BulkScope::Connection);
    let mut planner = Planner::new(env, &routing, own_step);
    if request.dry_run {
        dry_run(db, request, &routing, connection, &mut planner).await
    } else {
        run(env, db, request, connection, &mut planner).await
    }
}

/// The connection named by `connection`: `400 unknown_connection` when there is none, `409
/// connection_disabled` when it is switched off (it takes nothing while off).
fn selected_connection<'a>(
    routing: &'a Routing,
    request: &BulkReplay,
) -> Result<Option<&'a Connection>, AppError> {
    let Some(name) = &request.filter.connection else {
        return Ok(None);
    };
    let connection = routing
        .connection(name)
        .ok_or_else(|| AppError::UnknownReference {
            code: "unknown_connection",
            field: "connection",
            detail: format!("no connection is named {name:?}"),
        })?;
    if !connection.enabled {
        return Err(AppError::Conflict {
            code: "connection_disabled",
            detail: format!("connection {name:?} is disabled; enable it to replay through it"),
        });
    }
    Ok(Some(connection))
}

fn selection_of(connection: Option<&Connection>) -> Selection<'_> {
    connection.map_or(Selection::All, Selection::Connection)
}

async fn dry_run(
    db: &D1Database,
    request: &BulkReplay,
    routing: &Routing,
    connection: Option<&Connection>,
    planner: &mut Planner<'_>,
) -> Result<Value, AppError> {
    let selection = selection_of(connection);
    let with_payload = selection.reads_payload()
        || (request.filter.scope == BulkScope::Event && routing.reads_payload());
    let scan = usize::try_from(request.scan).unwrap_or(1);
    let mut at = request.clone();
    let (mut tally, mut sample, mut scanned) = (PlanTally::default(), Vec::new(), 0);
    let mut count_cursor = None;
    for page_number in 0..DRY_RUN_PAGES {
        let fetch = selection.fetch(request.scan, request.scan);
        let rows = store::scan(db, &at, connection, with_payload, fetch).await?;
        let walk = PageWalk::of(&rows, usize::MAX, scan, &selection);
        for row in walk.selected.iter().filter_map(|&i| rows.get(i)) {
            let steps = row.stored_steps();
            tally.add(&planner.plan(&row.stored(&steps))?);
            if sample.len() < SAMPLE_SIZE as usize {
                sample.push(row.id.clone());
            }
        }
        scanned += walk.resume_after.map_or(rows.len().min(scan), |i| i + 1);
        let Some(last) = walk.resume_after.and_then(|i| rows.get(i)) else {
            break;
        };
        at.cursor = Some(after(&at, last));
        if page_number + 1 == DRY_RUN_PAGES {
            count_cursor = at.cursor.as_ref().map(PassCursor::encode);
        }
    }
    let plan = tally.finish();
    let calls = (plan.events + request.limit - 1) / request.limit.max(1);
    let mut answer = json!({
        "dry_run": true,
        "events": plan.events,
        "would_run": plan.would_run,
        "would_add": plan.would_add,
        "unavailable": plan.unavailable,
        "steps": plan.steps,
        "sample": sample,
        "limit": request.limit,
        "calls": calls,
        "scanned": scanned,
        "complete": count_cursor.is_none(),
        "count_cursor": count_cursor,
        "start_cursor": request.pass().encode(),
    });
    if request.unfiltered {
        answer["note"] = json!(UNFILTERED_DRY_RUN);
    }
    Ok(answer)
}

/// The pass position after `row`.
fn after(request: &BulkReplay, row: &ScannedEvent) -> PassCursor {
    PassCursor {
        after: Some((row.received_at, row.id.clone())),
        ..request.pass()
    }
}

/// Totals of one page's replays, per step name too.
#[derive(Default)]
struct Totals {
    requeued: usize,
    added: usize,
    sent: u64,
    /// Step name → (requeued, added), sorted by name.
    by_step: Vec<(String, (usize, usize))>,
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
            self.step(name(id)).0 += 1;
        }
        for id in &added {
            self.step(name(id)).1 += 1;
        }
    }

    /// The totals of step `name`, added in name order if new (a sorted `Vec`, not a map: one
    /// map type fewer in the wasm).
    fn step(&mut self, name: String) -> &mut (usize, usize) {
        let at = match self.by_step.binary_search_by(|(n, _)| n.cmp(&name)) {
            Ok(at) => at,
            Err(at) => {
                self.by_step.insert(at, (name, (0, 0)));
                at
            }
        };
        &mut self.by_step[at].1
    }

    fn steps(&self) -> Value {
        // Straight into a JSON object (sorted by name, as `by_step`): no second map type.
        let steps: serde_json::Map<String, Value> = self
            .by_step
            .iter()
            .map(|(name, (requeued, added))| {
                (
                    name.clone(),
                    json!({ "requeued": requeued, "added": added }),
                )
            })
            .collect();
        Value::Object(steps)
    }
}

async fn run(
    env: &Env,
    db: &D1Database,
    request: &BulkReplay,
    connection: Option<&Connection>,
    planner: &mut Planner<'_>,
) -> Result<Value, AppError> {
    let selection = selection_of(connection);
    let fetch = selection.fetch(request.limit, request.scan);
    let rows = store::scan(db, request, connection, selection.reads_payload(), fetch).await?;
    let limit = usize::try_from(request.limit).unwrap_or(0);
    let walk = PageWalk::of(
        &rows,
        limit,
        usize::try_from(request.scan).unwrap_or(1),
        &selection,
    );
    let (mut replayed, mut skipped) = (Vec::new(), Vec::new());
    let mut totals = Totals::default();
    let mut resume_after = walk.resume_after;
    let mut interrupted = None;
    for (k, row) in walk
        .selected
        .iter()
        .filter_map(|&i| rows.get(i))
        .enumerate()
    {
        match replay(env, db, &row.id, false, planner).await {
            Ok(result) => {
                totals.add(&result);
                replayed.push(row.id.clone());
            }
            Err(AppError::BadRequest { code, .. }) => {
                skipped.push(json!({ "id": row.id, "error": code }));
            }
            Err(e) => match walk.resume_before_selected(k) {
                None => return Err(e),
                Some(before) => {
                    interrupted = Some(json!({ "event_id": row.id, "error": e.code() }));
                    resume_after = Some(before);
                    break;
                }
            },
        }
    }
    let next_cursor = resume_after
        .and_then(|i| rows.get(i))
        .map(|row| request.cursor_after(row.received_at, &row.id));
    Ok(json!({
        "dry_run": false,
        "replayed": replayed,
        "skipped": skipped,
        "requeued": totals.requeued,
        "added": totals.added,
        "sent": totals.sent,
        "steps": totals.steps(),
        "next_cursor": next_cursor,
        "interrupted": interrupted,
    }))
}
