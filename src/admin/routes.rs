//! The admin API's default routes: `GET routes` (every default route in force, with
//! `ROUTES_JSON`, and whether each step is off) and `POST routes/off`, `routes/on` with
//! `{"provider", "event_type", "step"}` (turning one default route's step off or on again).
//! Every change makes this isolate forget its cached routing.

use edgehooks_handlers::inbound::webhook::Provider;
use edgehooks_handlers::step_kind::StepKind;
use serde_json::{json, Value};
use worker::{D1Database, Env};

use super::http::{invalid, ok, Answer};
use crate::clock::now_ms;
use crate::config::config;
use crate::db::connections::{self as store, RouteOffRow};
use crate::error::AppError;
use crate::ingest::routing::{self, invalidate};

/// `POST routes/off` (`off`) and `routes/on` with `{"provider", "event_type", "step"}`.
pub async fn switch(
    env: &Env,
    db: &D1Database,
    off: bool,
    request: &Value,
) -> Result<Answer, AppError> {
    let text = |field: &str| {
        request
            .get(field)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let provider = Provider::from_slug(&text("provider"))
        .ok_or_else(|| invalid("provider", "must be stripe, sendgrid, hubspot or shopify"))?;
    let event_type = text("event_type");
    let step = StepKind::from_name(&text("step"))
        .ok_or_else(|| invalid("step", "must be a built-in step name"))?;
    let table = config(env).provider_routes(provider)?;
    if !table.steps_for(provider, &event_type).contains(&step) {
        return Err(invalid(
            "step",
            format!("is not a default route of {provider} {event_type:?}"),
        ));
    }
    let route = RouteOffRow {
        provider: provider.slug().into(),
        event_type,
        step: step.name().into(),
    };
    let changed = store::set_route_off(db, &route, off, now_ms()).await?;
    invalidate();
    Ok(ok(json!({
        "provider": route.provider, "event_type": route.event_type, "step": route.step,
        "off": off, "changed": changed,
    })))
}

/// `GET routes`.
pub async fn list(env: &Env, db: &D1Database) -> Result<Answer, AppError> {
    let routing = routing::load(db).await?;
    let mut rows = Vec::new();
    for provider in Provider::ALL {
        let table = config(env).provider_routes(provider)?;
        for (p, event_type, steps) in table.rows().filter(|(p, _, _)| *p == provider) {
            let steps: Vec<Value> = steps
                .iter()
                .map(|k| json!({ "step": k.name(), "off": routing.is_off(p, event_type, *k) }))
                .collect();
            rows.push(json!({ "provider": p.slug(), "event_type": event_type, "steps": steps }));
        }
    }
    Ok(ok(json!({ "routes": rows })))
}
