//! Queue consumers. STEPS: each message names one step, which `step::run` carries out and
//! answers ack, "send it again in N seconds" (a deferral or a scheduled retry: the message is
//! acked and a fresh delayed message is sent, so waiting never spends one of Queues'
//! `max_retries`; so does a step waiting while the consumer's settings are broken) or, only
//! when D1 itself failed, a Queues retry. STEPS_DLQ: a message Queues
//! gave up on marks its step `dead` only while the step is still in the dispatch that message
//! was about (`steps::recovery::dead_letter_ends`), so nothing disappears silently and a redrive,
//! re-send or success always wins. A batch's messages all run at once, with at most six
//! downstream calls in flight and their HubSpot contact upserts sent together as batch upserts
//! (`calls`); each is acked or retried on its own and the handler never returns `Err` (that
//! would retry the whole batch).

use edgehooks_handlers::by_name::ByName;
use edgehooks_handlers::consumer::ConsumerSettings;
use edgehooks_handlers::downstream::DownstreamSettings;
use edgehooks_handlers::settings::ConfigError;
use edgehooks_handlers::step_kind::StepKind;
use edgehooks_handlers::steps::lifecycle::StepStatus;
use edgehooks_handlers::steps::recovery::{resend_delay_secs, QUEUE_GAVE_UP};
use futures_util::{stream, StreamExt};
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, Env, MessageBatch, MessageExt, QueueRetryOptionsBuilder, RawMessage};

use crate::config::config;
use crate::db::batch_window::BatchWindow;
use crate::steps::calls::Calls;
use crate::steps::dispatch::{resend, Resend};
use crate::steps::step::{self, Ack};
use crate::{db, log};

/// The dead-letter queue's name, as in wrangler.toml.
pub const DLQ_QUEUE: &str = "steps-dlq";

/// The `step_id` of a message body, if it has one.
fn step_id_of(message: &RawMessage) -> Option<String> {
    let body = message.body();
    js_sys::Reflect::get(&body, &JsValue::from_str("step_id"))
        .ok()?
        .as_string()
}

/// The dispatch number a message body carries (absent or not a whole number: 0, the first
/// send at ingest).
fn dispatch_of(message: &RawMessage) -> i64 {
    let body = message.body();
    js_sys::Reflect::get(&body, &JsValue::from_str("dispatch"))
        .ok()
        .and_then(|v| v.as_f64())
        .filter(|n| n.is_finite() && *n >= 0.0 && n.fract() == 0.0 && *n <= f64::from(u32::MAX))
        .map_or(0, |n| n as i64)
}

fn retry_in(secs: u64) -> worker::QueueRetryOptions {
    QueueRetryOptionsBuilder::new()
        .with_delay_seconds(u32::try_from(secs).unwrap_or(u32::MAX))
        .build()
}

pub async fn consume(batch: MessageBatch<JsValue>, env: &Env) {
    let queue = batch.queue();
    let db = match crate::js_binding::d1(env) {
        Ok(db) => db,
        Err(e) => {
            log::error("d1_unavailable", &e.to_string());
            batch.retry_all_with_options(&retry_in(30));
            return;
        }
    };
    let config = config(env);
    let settings = config.consumer();
    let downstream = config.downstream();
    let messages: Vec<RawMessage> = batch.raw_iter().collect();
    let mut preloaded = preload(&db, &queue, &messages).await;
    // The batch's messages run concurrently; each is acked or retried on its own. Steps of one
    // entity cannot race: their claims decide whose turn it is inside D1. Claims and attempt
    // records issued in the same turn share one D1 round trip (`BatchWindow`); downstream calls
    // take one of six connection slots, and HubSpot contact upserts go out together (`Calls`).
    let window = BatchWindow::new(&db);
    let calls = Calls::new();
    let all_at_once = messages.len().max(1);
    let resends: Vec<(RawMessage, Resend)> = stream::iter(messages)
        .map(|message| {
            let row = step_id_of(&message).and_then(|id| preloaded.remove(&id));
            let at = Invocation {
                env,
                queue: &queue,
                db: &window,
                calls: &calls,
            };
            handle(at, message, row, &settings, &downstream)
        })
        .buffer_unordered(all_at_once)
        .filter_map(|r| async move { r })
        .collect()
        .await;
    let (messages, resends): (Vec<RawMessage>, Vec<Resend>) = resends.into_iter().unzip();
    // Sent before the ack: a lost ack only repeats a message, which the claim makes harmless. A
    // failed send is acked too: D1 holds the step `enqueued` with its due time, and the sweeper
    // sends it again; retrying the old message instead would spend a Queues retry on waiting.
    resend(env, &resends).await;
    for message in messages {
        message.ack();
    }
}

/// The batch's steps with their events, loaded in one query (STEPS only; the dead-letter queue
/// reads nothing). A failed load costs nothing but the saving: each step then loads its own row.
async fn preload(
    db: &D1Database,
    queue: &str,
    messages: &[RawMessage],
) -> ByName<db::steps::StepRow> {
    if queue == DLQ_QUEUE {
        return ByName::new();
    }
    let ids: Vec<String> = messages.iter().filter_map(step_id_of).collect();
    match db::steps::load_steps(db, &ids).await {
        Ok(rows) => rows.into_iter().map(|row| (row.id.clone(), row)).collect(),
        Err(e) => {
            log::error("d1_failed", &e.to_string());
            ByName::new()
        }
    }
}

/// What every message of the invocation shares.
#[derive(Clone, Copy)]
struct Invocation<'a, 'w> {
    env: &'a Env,
    queue: &'a str,
    db: &'a BatchWindow<'w>,
    calls: &'a Calls,
}

/// Handle one message: ack or retry it, or hand it back with the fresh message that replaces
/// it (sent, then the old one acked, once the whole batch is handled). `row` is the step as the
/// batch's preload read it, if it did.
async fn handle(
    at: Invocation<'_, '_>,
    message: RawMessage,
    row: Option<db::steps::StepRow>,
    settings: &Result<ConsumerSettings, ConfigError>,
    downstream: &DownstreamSettings,
) -> Option<(RawMessage, Resend)> {
    let (env, queue, db) = (at.env, at.queue, at.db);
    let _working = db.step();
    // A HubSpot contact upsert may join the invocation's batch call: its window waits for it.
    let upsert = StepKind::HubSpotUpsertContact.name();
    let _expected = row
        .as_ref()
        .filter(|r| r.name == upsert)
        .map(|r| at.calls.upserts.expect(&r.id));
    let Some(step_id) = step_id_of(&message) else {
        log::error(
            "malformed_message",
            "queue message without a string step_id",
        );
        message.ack();
        return None;
    };
    let dispatch = dispatch_of(&message);
    let decision = if queue == DLQ_QUEUE {
        give_up(db, &step_id, dispatch).await
    } else {
        match settings {
            Ok(settings) => step::run(env, db, at.calls, &step_id, row, settings, downstream).await,
            Err(e) => {
                log::error("misconfigured", &e.to_string());
                step::wait_misconfigured(db, &step_id).await
            }
        }
    };
    match decision {
        Ack::Ack => message.ack(),
        Ack::RetryIn(delay) => message.retry_with_options(&retry_in(delay)),
        Ack::Resend(delay) => {
            let resend = Resend {
                step_id,
                dispatch,
                delay_secs: resend_delay_secs(delay),
            };
            return Some((message, resend));
        }
    }
    None
}

/// A message Queues could not deliver after its own retries: its step is dead, unless it has
/// moved on since (redriven, re-sent, running under a live claim, or finished).
async fn give_up(db: &D1Database, step_id: &str, dispatch: i64) -> Ack {
    let now = crate::clock::now_ms();
    match db::steps::give_up(db, step_id, dispatch, now).await {
        Ok(changed) => {
            log::step(
                &log::StepFields::id(step_id),
                StepStatus::Dead.as_str(),
                None,
                QUEUE_GAVE_UP,
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
