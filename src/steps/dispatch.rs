//! Step dispatch, the STEPS queue from the producer side: send step ids (messages carry ids only,
//! never payloads) and mark them `enqueued` (a page a paused destination's drain released goes
//! the same way; ingest's marks are gathered across the isolate's requests and written in
//! `waitUntil`, which no answer awaits: `edgehooks_handlers::steps::outbox_marks`), and send the
//! fresh, delayed message that carries a deferred or retried step (a new message starts with a
//! fresh Queues retry count, so waiting never spends `max_retries`). A failed send is logged and
//! left to the sweeper: D1 keeps the step `pending` (the transactional outbox) or `enqueued` with
//! its due time. Messages go out through the binding's own `sendBatch`, written as one JSON array
//! that the runtime parses: one string crossing, where workers-rs' `send_batch` builds every
//! message and option field by field through `serde_wasm_bindgen`.

use std::cell::RefCell;
use std::time::Duration;

use edgehooks_handlers::connections::drain::ReleasedStep;
use edgehooks_handlers::steps::outbox_marks::{Added, OutboxMarks, MARK_WINDOW_MS};
use serde::Serialize;
use worker::js_sys::{Function, JSON};
use worker::wasm_bindgen::JsValue;
use worker::{Context, D1Database, Delay, Env};

use crate::js_binding::{self, describe, resolved};
use crate::{db, log};

/// Body of every STEPS message. `dispatch` is the step's dispatch number the message belongs
/// to (absent: 0, the first send at ingest); a dead-lettered message only ends the step while
/// that number is still the step's (see `edgehooks_handlers::steps::recovery::dead_letter_ends`).
#[derive(Serialize)]
pub struct StepMessage<'a> {
    pub step_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dispatch: Option<u32>,
}

/// One message as `sendBatch` takes it: the body (content type `json`, as workers-rs sends it)
/// and, for a message that must wait, its delay.
#[derive(Serialize)]
struct Outgoing<'a> {
    body: StepMessage<'a>,
    #[serde(rename = "contentType")]
    content_type: &'static str,
    #[serde(rename = "delaySeconds", skip_serializing_if = "Option::is_none")]
    delay_seconds: Option<u32>,
}

impl<'a> Outgoing<'a> {
    fn new(step_id: &'a str, dispatch: i64, delay_seconds: Option<u32>) -> Self {
        Outgoing {
            body: StepMessage {
                step_id,
                dispatch: dispatch_number(dispatch),
            },
            content_type: "json",
            delay_seconds,
        }
    }
}

/// Queues accept at most 100 messages per `sendBatch`.
const SEND_BATCH_LIMIT: usize = 100;

/// The STEPS binding and its `sendBatch`; `None` (logged as `queue_unavailable`) without it.
fn steps_queue(env: &Env) -> Option<(JsValue, Function)> {
    js_binding::method(env, "STEPS", "sendBatch")
        .map_err(|e| log::error("queue_unavailable", &describe(&e, "no STEPS binding")))
        .ok()
}

/// `STEPS.sendBatch(messages)`; the error is a message for the log.
async fn send_batch(
    (queue, send): &(JsValue, Function),
    messages: &[Outgoing<'_>],
) -> Result<(), String> {
    let json = serde_json::to_string(messages).map_err(|e| e.to_string())?;
    let sent = async { resolved(send.call1(queue, &JSON::parse(&json)?)?).await };
    sent.await
        .map(|_| ())
        .map_err(|e: JsValue| describe(&e, "sendBatch failed"))
}

fn dispatch_number(dispatch: i64) -> Option<u32> {
    (dispatch != 0).then(|| u32::try_from(dispatch).unwrap_or(u32::MAX))
}

/// Send `step_ids` (at their first dispatch) to STEPS and mark them `enqueued`. Returns how many
/// were sent.
pub async fn send_steps(env: &Env, db: &D1Database, step_ids: &[String]) -> usize {
    send_dispatched(env, db, &first_dispatch(step_ids)).await
}

/// Send each `(step id, dispatch number)` to STEPS and mark the `pending` ones `enqueued`.
/// Returns how many were sent. No steps: no binding call at all.
pub async fn send_dispatched(env: &Env, db: &D1Database, steps: &[(String, i64)]) -> usize {
    let sent = send_messages(env, steps).await;
    for ids in sent.chunks(SEND_BATCH_LIMIT) {
        mark_enqueued(db, ids).await;
    }
    sent.len()
}

thread_local! {
    /// The isolate's sent steps whose `enqueued` mark is not written yet.
    static OUTBOX_MARKS: RefCell<OutboxMarks> = const { RefCell::new(OutboxMarks::new()) };
}

/// Ingest's send: `step_ids` (at their first dispatch) go to STEPS before the answer; their
/// `enqueued` marks join the isolate's gathered ones, and the request that starts a gathering
/// writes them all in `waitUntil`, which its answer does not await (`outbox_marks`). Returns how
/// many were sent.
pub async fn send_new_steps(env: &Env, ctx: &Context, step_ids: &[String]) -> usize {
    let sent = send_messages(env, &first_dispatch(step_ids)).await;
    let count = sent.len();
    let added = OUTBOX_MARKS.with(|marks| marks.borrow_mut().add(sent, crate::clock::now_ms()));
    if added == Added::OwesFlush {
        let env = env.clone();
        ctx.wait_until(async move { flush_outbox_marks(&env).await });
    }
    count
}

/// Wait for the requests that follow, then mark every gathered step `enqueued`.
async fn flush_outbox_marks(env: &Env) {
    Delay::from(Duration::from_millis(MARK_WINDOW_MS)).await;
    let chunks = OUTBOX_MARKS.with(|marks| marks.borrow_mut().take());
    let db = match js_binding::d1(env) {
        Ok(db) => db,
        Err(e) => return log::error("mark_enqueued_failed", &e.to_string()),
    };
    for ids in chunks {
        mark_enqueued(&db, &ids).await;
    }
}

fn first_dispatch(step_ids: &[String]) -> Vec<(String, i64)> {
    step_ids.iter().map(|id| (id.clone(), 0)).collect()
}

/// Send each `(step id, dispatch number)` to STEPS, one `sendBatch` per 100; the ids of the
/// messages sent. A failed send is logged and its steps left to the sweeper.
async fn send_messages(env: &Env, steps: &[(String, i64)]) -> Vec<String> {
    if steps.is_empty() {
        return Vec::new();
    }
    let Some(queue) = steps_queue(env) else {
        return Vec::new();
    };
    let mut sent = Vec::with_capacity(steps.len());
    for chunk in steps.chunks(SEND_BATCH_LIMIT) {
        let messages: Vec<Outgoing> = chunk
            .iter()
            .map(|(id, dispatch)| Outgoing::new(id, *dispatch, None))
            .collect();
        match send_batch(&queue, &messages).await {
            Ok(()) => sent.extend(chunk.iter().map(|(id, _)| id.clone())),
            Err(e) => log::error("queue_send_failed", &e),
        }
    }
    sent
}

/// Mark sent steps `enqueued` (those still `pending`). A failure is logged: the messages are on
/// their way, and a `pending` status only means the sweeper may send a second message, which the
/// consumer's claim makes harmless.
async fn mark_enqueued(db: &D1Database, ids: &[String]) {
    if let Err(e) = db::steps::mark_enqueued(db, ids, crate::clock::now_ms()).await {
        log::error("mark_enqueued_failed", &e.to_string());
    }
}

/// Send a page a drain of destination `name` released (oldest first, each under its new
/// dispatch number) and mark it `enqueued`; a failed send leaves it `pending` for the sweeper.
/// Returns how many were sent.
pub async fn send_released(
    env: &Env,
    db: &D1Database,
    name: &str,
    page: Vec<ReleasedStep>,
) -> usize {
    if page.is_empty() {
        return 0;
    }
    let steps: Vec<(String, i64)> = page.into_iter().map(|s| (s.id, s.dispatch)).collect();
    let sent = send_dispatched(env, db, &steps).await;
    log::record(
        "drain_page",
        serde_json::json!({ "destination": name, "released": steps.len(), "sent": sent }),
    );
    sent
}

/// A step to send again after `delay_secs`, under the dispatch number its message carried.
pub struct Resend {
    pub step_id: String,
    pub dispatch: i64,
    pub delay_secs: u32,
}

/// Send fresh delayed messages for `resends` (one `sendBatch` per 100). False when a send
/// failed: those steps are in D1 as `enqueued` with their due time, and the sweeper re-sends
/// them once that has long passed.
pub async fn resend(env: &Env, resends: &[Resend]) -> bool {
    if resends.is_empty() {
        return true;
    }
    let Some(queue) = steps_queue(env) else {
        return false;
    };
    let mut all_sent = true;
    for chunk in resends.chunks(SEND_BATCH_LIMIT) {
        let messages: Vec<Outgoing> = chunk
            .iter()
            .map(|r| Outgoing::new(&r.step_id, r.dispatch, Some(r.delay_secs)))
            .collect();
        if let Err(e) = send_batch(&queue, &messages).await {
            log::error("queue_send_failed", &e);
            all_sent = false;
        }
    }
    all_sent
}
