//! The admin API's connections (`/admin/api/connections…`: list, create, read, edit, delete,
//! enable, disable), the preview of which connections and default routes take a stored event
//! (`/admin/api/events/{id}/connections`) and the preview of what a connection's delivery of
//! one would send (`connections/{name}/preview`: its transform, saved or tried, nothing sent).
//! A connection to an `http` destination needs that destination to exist. Every change makes
//! this isolate forget its cached routing.

use edgehooks_handlers::connections::delivery::DeliveredEvent;
use edgehooks_handlers::connections::plan::{EventFacts, Origin};
use edgehooks_handlers::connections::transform::preview::{
    preview as delivery_preview, PreviewRequest,
};
use edgehooks_handlers::connections::transform::EventFields;
use edgehooks_handlers::connections::{Connection, Target};
use edgehooks_handlers::inbound::webhook::Provider;
use edgehooks_handlers::step_kind::StepKind;
use serde_json::{json, Map, Value};
use worker::{D1Database, Env};

use super::http::{answer, invalid, name_taken, ok, Answer};
use crate::clock::now_ms;
use crate::config::config;
use crate::db::admin as events;
use crate::db::connections::{self as store, ConnectionColumns, ConnectionRow};
use crate::error::AppError;
use crate::ingest::routing::{self, connection_json, connection_of, invalidate};

/// `GET connections/{name}`.
pub async fn read(db: &D1Database, name: &str) -> Result<Answer, AppError> {
    Ok(ok(row_view(&load(db, name).await?)))
}

/// `DELETE connections/{name}`.
pub async fn delete(db: &D1Database, name: &str) -> Result<Answer, AppError> {
    if !store::delete_connection(db, name).await? {
        return Err(AppError::NotFound);
    }
    invalidate();
    Ok(ok(json!({ "deleted": name })))
}

fn row_view(row: &ConnectionRow) -> Value {
    let mut view = connection_json(row);
    view["created_at"] = json!(row.created_at);
    view["updated_at"] = json!(row.updated_at);
    view
}

async fn load(db: &D1Database, name: &str) -> Result<ConnectionRow, AppError> {
    store::get_connection(db, name)
        .await?
        .ok_or(AppError::NotFound)
}

/// `GET connections`.
pub async fn list(db: &D1Database) -> Result<Answer, AppError> {
    let rows = store::list_connections(db).await?;
    Ok(ok(
        json!({ "connections": rows.iter().map(row_view).collect::<Vec<_>>() }),
    ))
}

/// Create (`existing` None) or edit a connection: an edit is merged over the stored JSON (the
/// name cannot change), and the result validated as a whole.
pub async fn save(
    db: &D1Database,
    existing: Option<&str>,
    request: &Value,
) -> Result<Answer, AppError> {
    let body = match existing {
        None => request.clone(),
        Some(name) => {
            let mut merged: Map<String, Value> = connection_json(&load(db, name).await?)
                .as_object()
                .cloned()
                .unwrap_or_default();
            let edit = request
                .as_object()
                .ok_or_else(|| invalid("body", "must be a JSON object"))?;
            for (key, value) in edit {
                if key == "name" && value.as_str() != Some(name) {
                    return Err(invalid("name", "cannot be changed"));
                }
                merged.insert(key.clone(), value.clone());
            }
            Value::Object(merged)
        }
    };
    let connection = Connection::from_json(&body)?;
    if let Target::Http(destination) = &connection.target {
        if store::get_destination(db, destination).await?.is_none() {
            return Err(invalid(
                "destination",
                format!("no http destination named {destination} (nor a built-in step)"),
            ));
        }
    }
    let stored = connection.to_json();
    let transform = connection
        .transform
        .as_ref()
        .map(|_| stored["transform"].to_string());
    let columns = ConnectionColumns {
        provider: connection.source.provider.slug(),
        source: connection.source.name.as_deref(),
        account: connection.source.account.as_deref(),
        types: &stored["types"].to_string(),
        conditions: &stored["conditions"].to_string(),
        target: connection.target.name(),
        enabled: connection.enabled,
        transform: transform.as_deref(),
    };
    let created = existing.is_none();
    let saved = store::save_connection(db, &connection.name, &columns, created, now_ms()).await?;
    if created && !saved {
        return Err(name_taken("connection", &connection.name));
    }
    invalidate();
    let row = load(db, &connection.name).await?;
    Ok(answer(if created { 201 } else { 200 }, row_view(&row)))
}

/// `POST connections/{name}/preview {"event_id", "transform"?}`: the body and headers the
/// connection would send for the stored event (the core's `transform::preview`); nothing is
/// sent or written.
pub async fn preview_delivery(
    db: &D1Database,
    name: &str,
    request: &Value,
) -> Result<Answer, AppError> {
    let request = PreviewRequest::from_json(request)?;
    let connection =
        connection_of(&load(db, name).await?).map_err(|field| AppError::Misconfigured {
            detail: format!("the stored connection {name} no longer validates ({field})"),
        })?;
    let (summary, body) = events::get_event(db, &request.event_id)
        .await?
        .ok_or_else(|| invalid("event_id", "no such event"))?;
    let payload = body
        .payload
        .ok_or_else(|| invalid("event_id", "the event's payload was redacted or purged"))?;
    let event = DeliveredEvent {
        fields: EventFields {
            id: &summary.id,
            event_type: &summary.event_type,
            provider: &summary.provider,
            account: summary.account.as_deref(),
        },
        payload: &payload,
    };
    Ok(ok(delivery_preview(&connection, &request, &event)?))
}

/// Which default routes and connections take stored event `id` now (read fresh from D1).
pub async fn preview(env: &Env, db: &D1Database, id: &str) -> Result<Answer, AppError> {
    let (summary, body) = events::get_event(db, id).await?.ok_or(AppError::NotFound)?;
    let provider = Provider::from_slug(&summary.provider).ok_or(AppError::NotFound)?;
    let routes = config(env).provider_routes(provider)?;
    let routing = routing::load(db).await?;
    let payload = body.payload.as_deref().unwrap_or("null");
    let facts = EventFacts {
        provider,
        source: summary.source.as_deref(),
        account: summary.account.as_deref(),
        event_type: &summary.event_type,
        payload,
    };
    let steps: Vec<Value> = routing
        .plan_with_origins(&routes, &facts)
        .iter()
        .map(|(step, origin)| {
            let (origin, connection) = match origin {
                Origin::DefaultRoute => ("default_route", None),
                Origin::Connection(name) => ("connection", Some(name.as_str())),
            };
            json!({ "name": step.name(), "destination": step.destination(), "origin": origin, "connection": connection })
        })
        .collect();
    let connections: Vec<&str> = routing
        .matching(&facts)
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    let routes_off: Vec<&str> = routes
        .steps_for(provider, &summary.event_type)
        .into_iter()
        .filter(|k| routing.is_off(provider, &summary.event_type, *k))
        .map(StepKind::name)
        .collect();
    Ok(ok(json!({
        "event_id": summary.id, "provider": summary.provider, "type": summary.event_type,
        "payload_available": body.payload.is_some(), "steps": steps,
        "connections": connections, "routes_off": routes_off,
    })))
}
