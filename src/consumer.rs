//! Queue consumers. STEPS: each message names one step, which `step::run` carries out and
//! answers ack or "retry in N seconds". STEPS_DLQ: whatever Queues gave up on is marked `dead`,
//! so nothing disappears silently. A batch's messages run concurrently (up to six at a time);
//! each is acked or retried on its own and the handler never returns `Err` (that would retry the
//! whole batch).

use edgehooks_handlers::downstream::DownstreamSettings;
use futures_util::{stream, StreamExt};
use worker::wasm_bindgen::JsValue;
use worker::{
    D1Database, Date, Env, MessageBatch, MessageExt, QueueRetryOptionsBuilder, RawMessage,
};

use crate::config::{self, text};
use crate::step::{self, Ack};
use crate::{db, log};

/// The dead-letter queue's name, as in wrangler.toml.
pub const DLQ_QUEUE: &str = "steps-dlq";

/// Messages of one batch in progress at once: a Worker invocation keeps at most six connections
/// open, so a seventh downstream call would wait for a free one while its timeout runs.
const CONCURRENT_MESSAGES: usize = 6;

/// The `step_id` of a message body, if it has one.
fn step_id_of(message: &RawMessage) -> Option<String> {
    let body = message.body();
    js_sys::Reflect::get(&body, &JsValue::from_str("step_id"))
        .ok()?
        .as_string()
}

fn retry_in(secs: u64) -> worker::QueueRetryOptions {
    QueueRetryOptionsBuilder::new()
        .with_delay_seconds(u32::try_from(secs).unwrap_or(u32::MAX))
        .build()
}

pub async fn consume(batch: MessageBatch<JsValue>, env: &Env) {
    let queue = batch.queue();
    let db = match env.d1("DB") {
        Ok(db) => db,
        Err(e) => {
            log::error("d1_unavailable", &e.to_string());
            batch.retry_all_with_options(&retry_in(30));
            return;
        }
    };
    let settings = config::consumer_settings(env);
    let downstream = DownstreamSettings::from_lookup(|name| text(env, name));
    // The batch's messages run concurrently; each is acked or retried on its own. Steps of one
    // entity cannot race: their claims decide whose turn it is inside D1.
    let handled = stream::iter(batch.raw_iter()).map(|message| {
        let (db, settings, downstream, queue) = (&db, &settings, &downstream, queue.as_str());
        async move {
            let Some(step_id) = step_id_of(&message) else {
                log::error(
                    "malformed_message",
                    "queue message without a string step_id",
                );
                message.ack();
                return;
            };
            let decision = if queue == DLQ_QUEUE {
                give_up(db, &step_id).await
            } else {
                match settings {
                    Ok(settings) => step::run(db, &step_id, settings, downstream).await,
                    Err(e) => {
                        log::error("misconfigured", &e.to_string());
                        Ack::RetryIn(300)
                    }
                }
            };
            match decision {
                Ack::Ack => message.ack(),
                Ack::RetryIn(delay) => message.retry_with_options(&retry_in(delay)),
            }
        }
    });
    handled
        .buffer_unordered(CONCURRENT_MESSAGES)
        .for_each(|()| async {})
        .await;
}

/// A message Queues could not deliver after its own retries: the step is dead.
async fn give_up(db: &D1Database, step_id: &str) -> Ack {
    let now = Date::now().as_millis() as i64;
    match db::give_up(db, step_id, now).await {
        Ok(changed) => {
            log::step(
                &log::StepFields::id(step_id),
                "dead",
                None,
                "queue_gave_up",
                0,
                changed,
            );
            Ack::Ack
        }
        Err(e) => {
            log::error("d1_write_failed", &e.to_string());
            Ack::RetryIn(60)
        }
    }
}
