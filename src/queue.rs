//! The STEPS queue from the producer side: send step ids (messages carry ids only, never
//! payloads) and mark them `enqueued`. A failed send is logged and left to the sweeper: the
//! steps stay `pending` in D1, which is the transactional outbox.

use serde::Serialize;
use worker::{D1Database, Date, Env};

use crate::{db, log};

/// Body of every STEPS message.
#[derive(Serialize)]
pub struct StepMessage<'a> {
    pub step_id: &'a str,
}

/// Queues accept at most 100 messages per `sendBatch`.
const SEND_BATCH_LIMIT: usize = 100;

/// Send `step_ids` to STEPS and mark them `enqueued`. Returns how many were sent.
pub async fn send_steps(env: &Env, db: &D1Database, step_ids: &[String]) -> usize {
    let queue = match env.queue("STEPS") {
        Ok(queue) => queue,
        Err(e) => {
            log::error("queue_unavailable", &e.to_string());
            return 0;
        }
    };
    let mut sent = 0;
    for chunk in step_ids.chunks(SEND_BATCH_LIMIT) {
        let messages: Vec<StepMessage> =
            chunk.iter().map(|id| StepMessage { step_id: id }).collect();
        if let Err(e) = queue.send_batch(messages).await {
            log::error("queue_send_failed", &e.to_string());
            continue;
        }
        sent += chunk.len();
        if let Err(e) = db::mark_enqueued(db, chunk, Date::now().as_millis() as i64).await {
            // The messages are on their way; a `pending` status only means the sweeper may send
            // a second message, which the consumer's claim makes harmless.
            log::error("mark_enqueued_failed", &e.to_string());
        }
    }
    sent
}
