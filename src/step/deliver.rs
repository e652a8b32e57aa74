//! A step of an `http` destination (`http:<name>`): read the destination's current settings
//! from D1, park the step while the destination is paused (no attempt spent; resume sends it
//! again), let an older parked step of the destination go first while it drains, claim the step
//! through the destination's gate (its rate as the budget, its circuit: `gate`), POST the stored
//! payload signed per Standard Webhooks with the destination's timeout, and record the attempt,
//! the step's next state (its max attempts, backoff, `Retry-After`) and the destination's
//! health in one D1 batch: the same ledger, limits and dead letters as the built-in steps.

use crate::db::BatchWindow;
use edgehooks_handlers::connections::delivery::{
    delivery_request, destination_limits, destination_policy, DRAINING_REASON, PAUSED_PARK_SECS,
    PAUSED_REASON,
};
use edgehooks_handlers::connections::HttpDestination;
use edgehooks_handlers::lifecycle::{
    after_attempt, attempts_made, classify_response, AttemptFor, StepStatus,
};
use edgehooks_handlers::limits::{after_call, charges_attempt, HealthChange, Limits};
use edgehooks_handlers::retry::parse_retry_after;

use super::gate::{claim_for_call, ForCall};
use super::work::ack_for;
use super::{defer, finish, storage_failed, Ack};
use crate::clock::now_ms;
use crate::db::{self, AttemptRecord, StepRow};
use crate::downstream;
use crate::log::{self, StepFields};
use crate::routing::destination_of;
use edgehooks_handlers::config::ConsumerSettings;
use edgehooks_handlers::limits::Wait;

/// Run one step of destination `name`.
pub(super) async fn run(
    db: &BatchWindow<'_>,
    fields: &StepFields<'_>,
    row: &StepRow,
    name: &str,
    settings: &ConsumerSettings,
) -> Ack {
    let Some(payload) = row.payload.as_deref() else {
        return finish(db, fields, StepStatus::Dead, "payload_unavailable").await;
    };
    let destination = match db::connections::get_destination(db, name).await {
        Ok(Some(stored)) => match destination_of(&stored) {
            Ok(destination) => destination,
            Err(_) => return finish(db, fields, StepStatus::Dead, "destination_invalid").await,
        },
        Ok(None) => return finish(db, fields, StepStatus::Dead, "destination_missing").await,
        Err(e) => return storage_failed(e),
    };
    let now = now_ms();
    if let Some(ack) = must_wait(db, fields, &destination, now).await {
        return ack;
    }
    let limits = destination_limits(&destination).with_cool_down(settings.cool_down_ms);
    let cleared = match claim_for_call(db, fields, None, name, limits).await {
        ForCall::Call(cleared) => cleared,
        ForCall::Refused(_) => return Ack::Ack,
        ForCall::Done(ack) => return ack,
    };
    let sent = Sent {
        destination: &destination,
        limits,
        attempt: cleared.attempt,
        started: cleared.started,
        probing: cleared.probing,
    };
    call_and_record(db, fields, row, payload, sent, settings).await
}

/// While the destination is paused the step parks; while an older step of the destination is
/// still parked or draining, it waits its turn. `None` when it may go on.
async fn must_wait(
    db: &BatchWindow<'_>,
    fields: &StepFields<'_>,
    destination: &HttpDestination,
    now: i64,
) -> Option<Ack> {
    let wait = if destination.paused {
        Wait {
            secs: PAUSED_PARK_SECS,
            reason: PAUSED_REASON,
        }
    } else {
        match db::connections::older_step_waiting(db, &destination.name, fields.step_id).await {
            Ok(false) => return None,
            Ok(true) => Wait {
                secs: 1,
                reason: DRAINING_REASON,
            },
            Err(e) => return Some(storage_failed(e)),
        }
    };
    Some(defer(db, fields, wait, now).await)
}

/// A claimed attempt about to be made.
struct Sent<'a> {
    destination: &'a HttpDestination,
    limits: Limits,
    attempt: i64,
    started: i64,
    probing: bool,
}

/// Make the signed POST and record what it means in one D1 batch.
async fn call_and_record(
    db: &BatchWindow<'_>,
    fields: &StepFields<'_>,
    row: &StepRow,
    payload: &str,
    sent: Sent<'_>,
    settings: &ConsumerSettings,
) -> Ack {
    let spec = delivery_request(
        sent.destination,
        fields.step_id,
        &row.provider,
        &row.event_type,
        payload,
        sent.started / 1000,
    );
    let outcome = downstream::call(&spec, u64::from(sent.destination.timeout_ms)).await;
    let finished = now_ms();
    let class = classify_response(outcome.status, outcome.unsendable);
    let retry_after = outcome
        .retry_after
        .as_deref()
        .and_then(|v| parse_retry_after(v, finished / 1000));
    let made = attempts_made(sent.attempt, class, sent.probing);
    let policy = destination_policy(settings.policy, sent.destination);
    let decision = policy.decide(class, made, retry_after, js_sys::Math::random());
    let next = after_attempt(decision, AttemptFor::Step, finished);
    let record = AttemptRecord {
        step_id: fields.step_id,
        n: sent.attempt,
        started_at_ms: sent.started,
        duration_ms: finished - sent.started,
        http_status: outcome.status,
        error: next.error.or(outcome.error.as_deref()),
        step_status: next.status,
        next_attempt_at_ms: next.next_attempt_at_ms,
        outcome: None,
    };
    let health = after_call(class, sent.probing);
    let charged = charges_attempt(class, sent.probing);
    if let Err(e) = record_attempt(db, &record, &sent, health, charged, finished).await {
        // The sweeper counts the attempt as lost after the claim's lease.
        log::error("d1_write_failed", &e.to_string());
        return Ack::Ack;
    }
    let error = record.error.unwrap_or("");
    let status = next.status.as_str();
    log::step(
        fields,
        status,
        outcome.status,
        error,
        record.duration_ms,
        true,
    );
    ack_for(next.message)
}

/// The attempt, the step's next state and the destination's health, in one D1 batch.
async fn record_attempt(
    db: &BatchWindow<'_>,
    record: &AttemptRecord<'_>,
    sent: &Sent<'_>,
    health: HealthChange,
    charged: bool,
    finished: i64,
) -> worker::Result<()> {
    let name = sent.destination.name.as_str();
    let mut statements = db::attempt_statements(db, record, finished)?;
    statements.extend(db::record_health(
        db,
        name,
        record.step_id,
        health,
        sent.limits,
        finished,
    )?);
    if !charged {
        statements.extend(db::uncharge_probe(db, record.step_id, sent.attempt)?);
    }
    db.batch(statements).await.map(|_| ())
}
