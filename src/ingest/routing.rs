//! What operators changed at runtime (connections, default routes turned off), as ingest plans
//! with it: read from D1 and kept in isolate memory for at most [`ROUTING_TTL_MS`] (5 s), so a
//! change made through the admin API reaches every isolate within seconds with no redeploy; the
//! isolate that served the change forgets its copy at once. Also the stored rows as the core's
//! typed values (a row that no longer validates is logged and left out, never a panic).

use std::cell::RefCell;
use std::rc::Rc;

use edgehooks_handlers::connections::plan::{RouteOff, Routing};
use edgehooks_handlers::connections::{Connection, HttpDestination};
use edgehooks_handlers::inbound::webhook::Provider;
use edgehooks_handlers::step_kind::StepKind;
use serde_json::{json, Value};
use worker::D1Database;

use crate::db::connections::{self as store, ConnectionRow, DestinationRow, RouteOffRow};
use crate::log;

/// How long an isolate plans with the routing it read, at most.
pub const ROUTING_TTL_MS: i64 = 5_000;

thread_local! {
    static CACHED: RefCell<Option<(i64, Rc<Routing>)>> = const { RefCell::new(None) };
}

/// Forget this isolate's copy (after an admin change).
pub fn invalidate() {
    CACHED.with(|cached| cached.borrow_mut().take());
}

/// The routing in force: this isolate's copy if younger than the TTL, else read from D1.
pub async fn current(db: &D1Database) -> worker::Result<Rc<Routing>> {
    let now = crate::clock::now_ms();
    let fresh = CACHED.with(|cached| {
        cached
            .borrow()
            .as_ref()
            .filter(|(at, _)| now - at < ROUTING_TTL_MS)
            .map(|(_, routing)| Rc::clone(routing))
    });
    if let Some(routing) = fresh {
        return Ok(routing);
    }
    let routing = Rc::new(load(db).await?);
    CACHED.with(|cached| *cached.borrow_mut() = Some((now, Rc::clone(&routing))));
    Ok(routing)
}

/// Read every connection and route switch from D1.
pub async fn load(db: &D1Database) -> worker::Result<Routing> {
    let connections = store::list_connections(db)
        .await?
        .iter()
        .filter_map(|row| {
            connection_of(row)
                .map_err(|field| {
                    log::error(
                        "stored_connection_invalid",
                        &format!("{} ({field})", row.name),
                    )
                })
                .ok()
        })
        .collect();
    let routes_off = store::list_routes_off(db)
        .await?
        .iter()
        .filter_map(route_off_of)
        .collect();
    Ok(Routing {
        connections,
        routes_off,
    })
}

/// A stored connection as the JSON the admin API takes (and shows).
pub fn connection_json(row: &ConnectionRow) -> Value {
    let parse = |text: &str| serde_json::from_str::<Value>(text).unwrap_or(Value::Null);
    json!({
        "name": row.name,
        "source": match &row.source {
            Some(source) => format!("{}:{source}", row.provider),
            None => row.provider.clone(),
        },
        "account": row.account,
        "types": parse(&row.types),
        "conditions": parse(&row.conditions),
        "destination": row.target,
        "enabled": row.enabled != 0,
        "transform": row.transform.as_deref().map(parse),
    })
}

/// A stored connection as the core's value; `Err` names the field that no longer validates.
pub fn connection_of(row: &ConnectionRow) -> Result<Connection, String> {
    Connection::from_json(&connection_json(row)).map_err(|e| e.field)
}

/// A stored destination as the core's value (with its secrets); `Err` names the bad field.
pub fn destination_of(row: &DestinationRow) -> Result<HttpDestination, String> {
    let mut config: Value = serde_json::from_str(&row.config).map_err(|_| "config".to_string())?;
    if let Some(object) = config.as_object_mut() {
        object.insert("name".into(), json!(row.name));
        object.insert("type".into(), json!("http"));
        object.insert("paused".into(), json!(row.paused != 0));
    }
    HttpDestination::from_json(&config).map_err(|e| e.field)
}

pub fn route_off_of(row: &RouteOffRow) -> Option<RouteOff> {
    Some(RouteOff {
        provider: Provider::from_slug(&row.provider)?,
        event_type: row.event_type.clone(),
        step: StepKind::from_name(&row.step)?,
    })
}
