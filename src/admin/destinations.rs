//! The admin API's `http` destinations (`/admin/api/destinations…`): list, create, read, edit
//! (including a rotated secret), delete, pause and resume, and sending a stored event as a
//! signed test delivery. A resume (`POST …/resume`, or any edit that sets `paused: false`)
//! releases the first page of the parked steps, oldest first, and sends it (or, when a page is
//! still out, sends that page again: its messages may have been lost before the resume); the
//! consumer releases each next page as the last step of the one before is claimed. A
//! destination's secrets are stored and never answered: the view has their count and their
//! fingerprints keyed by `SECRETS_KEY` (none without it). Every change makes this isolate forget
//! its cached routing; others pick it up within `ROUTING_TTL_MS`.

use edgehooks_handlers::connections::delivery::{
    apply_edit, delivery_request, public_view, stored_form,
};
use edgehooks_handlers::connections::HttpDestination;
use serde_json::{json, Value};
use worker::{D1Database, Env};

use super::http::{answer, invalid, name_taken, ok, parse_json, Answer};
use crate::clock::now_ms;
use crate::config::config;
use crate::db::admin as events;
use crate::db::connections::{self as store, DestinationColumns, DestinationRow};
use crate::error::AppError;
use crate::ingest::routing::invalidate;
use crate::sealing::{open_config, open_destination, seal_destination_config};
use crate::steps::dispatch::send_released;

/// The view of a destination, its fingerprints keyed by `SECRETS_KEY` (none without it, or while
/// it is malformed: the admin health names it).
fn view(env: &Env, row: &DestinationRow, destination: &HttpDestination) -> Value {
    let key = config(env).secrets_key().ok().flatten();
    let mut view = public_view(destination, key.as_ref());
    if let Some(map) = view.as_object_mut() {
        map.insert("created_at".into(), json!(row.created_at));
        map.insert("updated_at".into(), json!(row.updated_at));
    }
    view
}

/// A stored destination with its typed value; 404 when missing.
async fn load(
    env: &Env,
    db: &D1Database,
    name: &str,
) -> Result<(DestinationRow, HttpDestination), AppError> {
    let row = store::get_destination(db, name)
        .await?
        .ok_or(AppError::NotFound)?;
    let destination =
        open_destination(env, &row)
            .await
            .map_err(|field| AppError::Misconfigured {
                detail: format!("stored destination {name} no longer validates ({field})"),
            })?;
    Ok((row, destination))
}

/// `GET destinations`.
pub async fn list(env: &Env, db: &D1Database) -> Result<Answer, AppError> {
    let rows = store::list_destinations(db).await?;
    let mut views: Vec<Value> = Vec::with_capacity(rows.len());
    for row in &rows {
        if let Ok(destination) = open_destination(env, row).await {
            views.push(view(env, row, &destination));
        }
    }
    Ok(ok(json!({ "destinations": views })))
}

fn columns<'a>(destination: &'a HttpDestination, config: &'a str) -> DestinationColumns<'a> {
    DestinationColumns {
        url: &destination.url,
        config,
        timeout_ms: i64::from(destination.timeout_ms),
        max_attempts: destination.max_attempts.map(i64::from),
        rate_per_sec: destination.rate_per_sec.map(i64::from),
        paused: destination.paused,
    }
}

/// `POST destinations`.
pub async fn create(env: &Env, db: &D1Database, body: &[u8]) -> Result<Answer, AppError> {
    let request = parse_json(body)?;
    let destination = HttpDestination::from_json(&request)?;
    let config = seal_destination_config(env, &destination.name, stored_form(&request))
        .await?
        .to_string();
    let now = now_ms();
    if !store::save_destination(
        db,
        &destination.name,
        &columns(&destination, &config),
        true,
        now,
    )
    .await?
    {
        return Err(name_taken("destination", &destination.name));
    }
    invalidate();
    let (row, stored) = load(env, db, &destination.name).await?;
    Ok(answer(201, view(env, &row, &stored)))
}

/// `GET destinations/{name}`: the view and the connections that use it.
pub async fn read(env: &Env, db: &D1Database, name: &str) -> Result<Answer, AppError> {
    let (row, destination) = load(env, db, name).await?;
    let mut body = view(env, &row, &destination);
    body["connections"] = json!(store::connections_to(db, name).await?);
    Ok(ok(body))
}

/// Edit a destination; an edit that sets `paused: false` resumes it (see [`resume`]).
pub async fn edit(
    env: &Env,
    db: &D1Database,
    name: &str,
    change: &Value,
) -> Result<Answer, AppError> {
    let (row, current) = load(env, db, name).await?;
    // The stored form with its secrets opened: an edit merges into what the operator gave.
    let mut stored: Value = open_config(env, &row).await.unwrap_or_else(|_| json!({}));
    stored["name"] = json!(name);
    stored["type"] = json!("http");
    stored["paused"] = json!(current.paused);
    let merged = apply_edit(&stored, change)?;
    let destination = HttpDestination::from_json(&merged)?;
    let config = seal_destination_config(env, name, merged)
        .await?
        .to_string();
    store::save_destination(db, name, &columns(&destination, &config), false, now_ms()).await?;
    invalidate();
    let (row, stored) = load(env, db, name).await?;
    let mut body = view(env, &row, &stored);
    if change.get("paused") == Some(&Value::Bool(false)) {
        let (resumed, sent) = resume(env, db, name).await?;
        body["resumed"] = json!(resumed);
        body["sent"] = json!(sent);
    }
    Ok(ok(body))
}

/// `DELETE destinations/{name}`: refused (`409 destination_in_use`) while connections use it.
pub async fn delete(env: &Env, db: &D1Database, name: &str) -> Result<Answer, AppError> {
    load(env, db, name).await?;
    if store::delete_destination(db, name).await? {
        invalidate();
        return Ok(ok(json!({ "deleted": name })));
    }
    let users = store::connections_to(db, name).await?;
    Err(AppError::Conflict {
        code: "destination_in_use",
        detail: format!("connections use it: {}", users.join(", ")),
    })
}

/// Resume a destination no longer paused: release the first page of its parked steps, oldest
/// first, and send it; a page still out (released, not claimed) is sent again instead. Returns
/// how many steps now drain (that page and those parked behind it) and how many were sent now.
async fn resume(env: &Env, db: &D1Database, name: &str) -> Result<(usize, usize), AppError> {
    let page_size = config(env).drain_page_size()?;
    let (page, still_parked) = store::release_for_resume(db, name, page_size, now_ms()).await?;
    let draining = page.len() + usize::try_from(still_parked).unwrap_or(0);
    let sent = send_released(env, db, name, page).await;
    Ok((draining, sent))
}

/// Send stored event `event_id` to the destination now, signed, outside the ledger (the webhook
/// id is `test:<event id>:<ms>`), and answer what the destination said.
pub async fn test_delivery(
    env: &Env,
    db: &D1Database,
    name: &str,
    request: &Value,
) -> Result<Answer, AppError> {
    let (_, destination) = load(env, db, name).await?;
    let event_id = request
        .get("event_id")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("event_id", "must name a stored event"))?;
    let (summary, body) = events::get_event(db, event_id)
        .await?
        .ok_or_else(|| invalid("event_id", "no such event"))?;
    let payload = body
        .payload
        .ok_or_else(|| invalid("event_id", "the event's payload was redacted or purged"))?;
    let started = now_ms();
    let webhook_id = format!("test:{event_id}:{started}");
    let spec = delivery_request(
        &destination,
        &webhook_id,
        &summary.provider,
        &summary.event_type,
        &payload,
        started / 1000,
    );
    let outcome = crate::downstream::call(&spec, u64::from(destination.timeout_ms)).await;
    let delivered = outcome.status.is_some_and(|s| (200..300).contains(&s));
    Ok(ok(json!({
        "destination": name, "event_id": event_id, "webhook_id": webhook_id, "ok": delivered,
        "status": outcome.status, "error": outcome.error, "duration_ms": now_ms() - started,
    })))
}
