//! `POST /webhooks/{provider}`: read the raw body once within the size limit, verify and parse
//! it with the pure core, skip events KV already knows, store new events and their planned steps
//! in one D1 transaction, send the new step ids to the STEPS queue, then answer. Nothing is
//! acknowledged before D1 has it; a failed queue send leaves the steps `pending` for the sweeper.

use edgehooks_handlers::ids;
use edgehooks_handlers::ingest::{verify_and_parse, IngestError};
use edgehooks_handlers::webhook::{Clock, InboundRequest, ParsedEvent, Provider};
use futures_util::future::join_all;
use futures_util::StreamExt;
use serde_json::json;
use worker::{Date, Env, Request, Response};

use crate::config::{self, IngestSettings};
use crate::db::{self, PlannedEvent};
use crate::error::{json_response, AppError};
use crate::log;
use crate::queue::send_steps;

/// KV key marking an event as stored in D1.
fn hint_key(provider: Provider, dedupe_key: &str) -> String {
    format!("seen:{}", ids::event_id(provider, dedupe_key))
}

/// Read the body, refusing (413) as soon as it passes `limit` instead of buffering it all.
async fn read_body(req: &mut Request, limit: u64) -> Result<Vec<u8>, AppError> {
    let declared = req
        .headers()
        .get("Content-Length")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(AppError::PayloadTooLarge { limit });
    }
    let mut body = Vec::with_capacity(declared.unwrap_or(0).min(limit) as usize);
    let Ok(mut stream) = req.stream() else {
        return Ok(body);
    };
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| AppError::BadRequest {
            code: "unreadable_body",
            detail: "the request body could not be read".into(),
        })?;
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(AppError::PayloadTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

pub async fn handle(mut req: Request, env: &Env, provider: Provider) -> Result<Response, AppError> {
    let started = Date::now().as_millis() as i64;
    let settings = config::ingest_settings(env)?;
    let keys = config::provider_keys(env, provider)?;
    let routes = config::routes(env)?;
    if keys.is_empty() {
        return Err(AppError::ProviderDisabled);
    }
    let body = read_body(&mut req, settings.max_body_bytes).await?;
    let headers: Vec<(String, String)> = req.headers().entries().collect();
    let url = req.inner().url();
    let inbound = InboundRequest {
        method: "POST",
        url: &url,
        headers: &headers,
        body: &body,
    };
    let clock = Clock {
        now_unix: started / 1000,
        tolerance_secs: settings.tolerance_secs,
    };
    let db = env.d1("DB")?;

    let accepted = match verify_and_parse(&keys, &inbound, clock) {
        Ok(accepted) => accepted,
        Err(IngestError::Verify(reason)) => {
            if let Err(e) = db::count_rejection(&db, provider, reason.code(), started).await {
                log::error("rejection_count_failed", &e.to_string());
            }
            log_request(provider, None, "rejected", reason.code(), started);
            return Err(AppError::Verification(reason));
        }
        Err(IngestError::Parse {
            key_index,
            error: reason,
        }) => {
            // Verified but unusable: keep it for admins so nothing the provider sent is lost.
            db::insert_rejected(&db, provider, key_index, &body, reason.code(), started).await?;
            log_request(provider, None, "unparsable", reason.code(), started);
            return Err(AppError::Unparsable(reason));
        }
    };

    let fresh = filter_known(env, provider, &accepted.events).await;
    let duplicates_from_kv = accepted.events.len() - fresh.len();
    let planned: Vec<PlannedEvent> = fresh
        .iter()
        .map(|event| PlannedEvent {
            id: ids::event_id(provider, &event.dedupe_key),
            event,
            steps: routes.steps_for(provider, &event.event_type),
        })
        .collect();
    let inserted = if planned.is_empty() {
        Vec::new()
    } else {
        db::insert_events(&db, provider, accepted.key_index, started, &planned).await?
    };

    let new_step_ids: Vec<String> = planned
        .iter()
        .zip(&inserted)
        .filter(|(_, is_new)| **is_new)
        .flat_map(|(plan, _)| plan.step_ids())
        .collect();
    if !new_step_ids.is_empty() {
        send_steps(env, &db, &new_step_ids).await;
    }
    remember(env, provider, &fresh, settings).await;

    let new_events = inserted.iter().filter(|n| **n).count();
    let duplicates = duplicates_from_kv + (inserted.len() - new_events);
    let first_type = accepted.events.first().map(|e| e.event_type.as_str());
    if new_events == 0 {
        log_request(provider, first_type, "duplicate", "", started);
        return Ok(json_response(&json!({ "status": "duplicate" }), 200));
    }
    log_request(provider, first_type, "accepted", "", started);
    Ok(json_response(
        &json!({ "status": "accepted", "events": new_events, "duplicates": duplicates }),
        200,
    ))
}

/// Drop events whose KV hint says D1 already has them. KV errors count as "unknown": D1's
/// unique constraint remains the authority.
async fn filter_known<'a>(
    env: &Env,
    provider: Provider,
    events: &'a [ParsedEvent],
) -> Vec<&'a ParsedEvent> {
    let Ok(kv) = env.kv("IDEMPOTENCY") else {
        return events.iter().collect();
    };
    let lookups = events.iter().map(|event| {
        let key = hint_key(provider, &event.dedupe_key);
        let kv = &kv;
        async move { matches!(kv.get(&key).text().await, Ok(Some(_))) }
    });
    let known = join_all(lookups).await;
    events
        .iter()
        .zip(known)
        .filter(|(_, seen)| !seen)
        .map(|(e, _)| e)
        .collect()
}

/// Record KV hints for events now durably in D1 (new or duplicate). Best effort.
async fn remember(
    env: &Env,
    provider: Provider,
    events: &[&ParsedEvent],
    settings: IngestSettings,
) {
    let Ok(kv) = env.kv("IDEMPOTENCY") else {
        return;
    };
    let puts = events.iter().map(|event| {
        let key = hint_key(provider, &event.dedupe_key);
        let kv = &kv;
        async move {
            match kv.put(&key, "1") {
                Ok(put) => put
                    .expiration_ttl(settings.hint_ttl_secs)
                    .execute()
                    .await
                    .is_ok(),
                Err(_) => false,
            }
        }
    });
    let failed = join_all(puts).await.into_iter().filter(|ok| !ok).count();
    if failed > 0 {
        log::error(
            "kv_hint_failed",
            &format!("{failed} dedupe hints not written"),
        );
    }
}

fn log_request(
    provider: Provider,
    event_type: Option<&str>,
    outcome: &str,
    error: &str,
    started: i64,
) {
    log::record(
        "request",
        json!({
            "provider": provider.slug(),
            "event_type": event_type,
            "outcome": outcome,
            "error": (!error.is_empty()).then_some(error),
            "latency_ms": Date::now().as_millis() as i64 - started,
        }),
    );
}
