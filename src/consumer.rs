//! Queue consumers. STEPS: claim the step in D1, build its request in the core, call the
//! destination, record the attempt, then ack or retry with the policy's delay; after
//! `MAX_ATTEMPTS`, or on a permanent failure, the step is `dead`. STEPS_DLQ: whatever Queues gave
//! up on is marked `dead`, so nothing disappears silently. Each message is acked or retried
//! individually and the handler never returns `Err` (that would retry the whole batch).

use edgehooks_handlers::downstream::{build, StepInput};
use edgehooks_handlers::retry::{classify_status, parse_retry_after, Decision, ResponseClass};
use edgehooks_handlers::routes::StepKind;
use edgehooks_handlers::webhook::Provider;
use serde_json::json;
use worker::wasm_bindgen::JsValue;
use worker::{
    D1Database, Date, Env, MessageBatch, MessageExt, QueueRetryOptionsBuilder, RawMessage,
};

use crate::config::{self, ConsumerSettings};
use crate::db::{self, AttemptRecord};
use crate::downstream;
use crate::log;

/// The dead-letter queue's name, as in wrangler.toml.
pub const DLQ_QUEUE: &str = "steps-dlq";

/// What to tell Queues about one message.
enum Ack {
    Ack,
    RetryIn(u64),
}

fn now_ms() -> i64 {
    Date::now().as_millis() as i64
}

/// The `step_id` of a message body, if it has one.
fn step_id_of(message: &RawMessage) -> Option<String> {
    let body = message.body();
    js_sys::Reflect::get(&body, &JsValue::from_str("step_id"))
        .ok()?
        .as_string()
}

pub async fn consume(batch: MessageBatch<JsValue>, env: &Env) {
    let queue = batch.queue();
    let db = match env.d1("DB") {
        Ok(db) => db,
        Err(e) => {
            log::error("d1_unavailable", &e.to_string());
            batch.retry_all_with_options(
                &QueueRetryOptionsBuilder::new()
                    .with_delay_seconds(30)
                    .build(),
            );
            return;
        }
    };
    let settings = config::consumer_settings(env);
    for message in batch.raw_iter() {
        let Some(step_id) = step_id_of(&message) else {
            log::error(
                "malformed_message",
                "queue message without a string step_id",
            );
            message.ack();
            continue;
        };
        let decision = if queue == DLQ_QUEUE {
            give_up(&db, &step_id).await
        } else {
            match &settings {
                Ok(settings) => run_step(env, &db, &step_id, settings).await,
                Err(e) => {
                    log::error("misconfigured", &e.to_string());
                    Ack::RetryIn(300)
                }
            }
        };
        match decision {
            Ack::Ack => message.ack(),
            Ack::RetryIn(delay) => message.retry_with_options(
                &QueueRetryOptionsBuilder::new()
                    .with_delay_seconds(u32::try_from(delay).unwrap_or(u32::MAX))
                    .build(),
            ),
        }
    }
}

/// A message Queues could not deliver after its own retries: the step is dead.
async fn give_up(db: &D1Database, step_id: &str) -> Ack {
    match db::mark_dead(db, step_id, "queue_gave_up", now_ms()).await {
        Ok(changed) => {
            log_step(step_id, "dead", None, "queue_gave_up", 0, changed);
            Ack::Ack
        }
        Err(e) => {
            log::error("d1_write_failed", &e.to_string());
            Ack::RetryIn(60)
        }
    }
}

/// End a step without calling downstream.
async fn end_dead(db: &D1Database, step_id: &str, error: &str) -> Ack {
    match db::mark_dead(db, step_id, error, now_ms()).await {
        Ok(_) => {
            log_step(step_id, "dead", None, error, 0, true);
            Ack::Ack
        }
        Err(e) => {
            log::error("d1_write_failed", &e.to_string());
            Ack::RetryIn(60)
        }
    }
}

async fn run_step(env: &Env, db: &D1Database, step_id: &str, settings: &ConsumerSettings) -> Ack {
    let row = match db::load_step(db, step_id).await {
        Ok(Some(row)) => row,
        Ok(None) => {
            log::error("unknown_step", step_id);
            return Ack::Ack;
        }
        Err(e) => {
            log::error("d1_read_failed", &e.to_string());
            return Ack::RetryIn(30);
        }
    };
    if !matches!(row.status.as_str(), "pending" | "enqueued") {
        // Finished (at-least-once delivery sent it again) or running under another message.
        return Ack::Ack;
    }
    let Some(kind) = StepKind::from_name(&row.name) else {
        return end_dead(db, step_id, "unknown_step").await;
    };
    let Some(destination) = config::destination(env, kind.destination()) else {
        log::error("destination_disabled", kind.destination().name());
        return end_dead(db, step_id, "destination_disabled").await;
    };
    let (Some(provider), Some(payload)) =
        (Provider::from_slug(&row.provider), row.payload.as_deref())
    else {
        return end_dead(db, step_id, "payload_unavailable").await;
    };
    let input = StepInput {
        step_id,
        provider,
        event_type: &row.event_type,
        payload,
    };
    let spec = match build(kind, &input, &destination) {
        Ok(spec) => spec,
        Err(e) => return end_dead(db, step_id, &e.code()).await,
    };

    let started = now_ms();
    let attempt = match db::claim_step(db, step_id, started).await {
        Ok(Some(n)) => n,
        Ok(None) => return Ack::Ack,
        Err(e) => {
            log::error("d1_write_failed", &e.to_string());
            return Ack::RetryIn(30);
        }
    };
    let outcome = downstream::call(&spec, settings.timeout_ms).await;
    let finished = now_ms();
    let class = match (outcome.status, outcome.unsendable) {
        (Some(status), _) => classify_status(status),
        (None, true) => ResponseClass::Permanent,
        (None, false) => ResponseClass::Retryable,
    };
    let retry_after = outcome
        .retry_after
        .as_deref()
        .and_then(|v| parse_retry_after(v, finished / 1000));
    let attempts_made = u32::try_from(attempt).unwrap_or(u32::MAX);
    let decision =
        settings
            .policy
            .decide(class, attempts_made, retry_after, js_sys::Math::random());
    let (step_status, next_attempt_at, ack) = match decision {
        Decision::Succeeded => ("succeeded", None, Ack::Ack),
        Decision::Dead => ("dead", None, Ack::Ack),
        Decision::RetryAfter { delay_secs } => (
            "enqueued",
            Some(finished + (delay_secs as i64) * 1000),
            Ack::RetryIn(delay_secs),
        ),
    };
    let record = AttemptRecord {
        step_id,
        n: attempt,
        started_at_ms: started,
        duration_ms: finished - started,
        http_status: outcome.status,
        error: outcome.error.as_deref(),
        step_status,
        next_attempt_at_ms: next_attempt_at,
    };
    if let Err(e) = db::record_attempt(db, &record, finished).await {
        // The call happened but is not recorded; the step stays `running` and the sweeper
        // re-enqueues it after its lease. Downstream idempotency keys absorb the repeat.
        log::error("d1_write_failed", &e.to_string());
    }
    log_step(
        step_id,
        step_status,
        outcome.status,
        outcome.error.as_deref().unwrap_or(""),
        finished - started,
        true,
    );
    ack
}

fn log_step(
    step_id: &str,
    outcome: &str,
    status: Option<u16>,
    error: &str,
    latency_ms: i64,
    changed: bool,
) {
    log::record(
        "step_attempt",
        json!({
            "step_id": step_id,
            "outcome": outcome,
            "http_status": status,
            "error": (!error.is_empty()).then(|| error.split(':').next().unwrap_or(error)),
            "latency_ms": latency_ms,
            "changed": changed,
        }),
    );
}
