//! A step of an `http` destination (`http:<name>`): read the destination's current settings
//! and its line from D1, then take the step's place in the line (the core's
//! `connections::drain`): park it while the destination is paused (no attempt spent); a parked
//! step of an active destination only asks for the next release; a step behind a drain joins
//! the line; a released step is claimed with the next release asked for in the same D1
//! transaction (the claim that takes a page's last step releases the next page, which is sent
//! at once). Then claim the step through the destination's gate (its rate as the budget, its
//! circuit: `gate`), POST the stored payload (or what the transform of the connection that
//! takes the event now makes of it: the core's `transform::resolve`) signed per Standard
//! Webhooks over exactly the bytes sent, with the destination's timeout, and record the attempt, the step's next state (its max attempts,
//! backoff, `Retry-After`) and the destination's health in one D1 batch: the same ledger,
//! limits and dead letters as the built-in steps.

use crate::db::batch_window::BatchWindow;
use crate::sealing::open_destination;
use crate::steps::calls::Calls;
use edgehooks_handlers::connections::delivery::{
    destination_limits, destination_policy, signed, step_delivery, DeliveredEvent,
};
use edgehooks_handlers::connections::drain::{
    place, Line, Place, DRAINING_REASON, PAUSED_PARK_SECS, PAUSED_REASON,
};
use edgehooks_handlers::connections::transform::sql::read_destination_connections;
use edgehooks_handlers::connections::transform::{
    DestinationConnections, EventFields, Transformed, CONNECTION_INVALID,
};
use edgehooks_handlers::connections::HttpDestination;
use edgehooks_handlers::steps::lifecycle::{
    after_attempt, attempts_made, classify_response, AttemptFor, StepStatus,
};
use edgehooks_handlers::steps::limits::{after_call, charges_attempt, HealthChange, Limits};
use edgehooks_handlers::steps::retry::parse_retry_after;
use worker::{D1PreparedStatement, Env};

use super::gate::{claim_for_call, claim_for_call_then, ForCall, Joining};
use super::record::batch_with_retries;
use super::work::ack_for;
use super::{defer, finish, storage_failed, Ack};
use crate::clock::now_ms;
use crate::db;
use crate::db::attempts::AttemptRecord;
use crate::db::connections::{self as line, destination_for_step};
use crate::db::steps::StepRow;
use crate::downstream;
use crate::log::{self, StepFields};
use crate::steps::dispatch::send_released;
use edgehooks_handlers::consumer::ConsumerSettings;
use edgehooks_handlers::steps::limits::Wait;

/// Where a step runs: the invocation's bindings and settings.
pub(super) struct Runner<'a, 'w> {
    pub env: &'a Env,
    pub db: &'a BatchWindow<'w>,
    pub calls: &'a Calls,
    pub settings: &'a ConsumerSettings,
}

/// Run one step of destination `name`.
pub(super) async fn run(
    runner: &Runner<'_, '_>,
    fields: &StepFields<'_>,
    row: &StepRow,
    name: &str,
) -> Ack {
    let db = runner.db;
    let Some(payload) = row.payload.as_deref() else {
        return end_without_call(runner, fields, row, name, "payload_unavailable").await;
    };
    let loaded = match load_destination(runner, fields, row, name).await {
        Ok(loaded) => loaded,
        Err(ack) => return ack,
    };
    let destination = loaded.destination;
    let limits = destination_limits(&destination).with_cool_down(runner.settings.cool_down_ms);
    let released = match place(destination.paused, row.last_error.as_deref(), loaded.line) {
        Place::Park => return park(db, fields).await,
        Place::AwaitRelease => return ask_release(runner, fields, name, false).await,
        Place::Join => return ask_release(runner, fields, name, true).await,
        Place::Released => true,
        Place::Go => false,
    };
    let unsigned = match shape(row, payload, loaded.connections.as_ref()) {
        Ok(unsigned) => unsigned,
        Err(note) => return end_without_call(runner, fields, row, name, note).await,
    };
    let for_call = match released {
        true => claim_released(runner, fields, name, limits).await,
        false => claim_for_call(db, fields, None, name, limits, Joining::Alone).await,
    };
    let cleared = match for_call {
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
    call_and_record(runner, fields, unsigned, sent).await
}

/// A destination as a step runs with it.
struct Loaded {
    destination: HttpDestination,
    line: Line,
    /// Its readable connections (the one that takes the event says how the step is sent).
    connections: Option<DestinationConnections>,
}

/// The destination's current settings, its line and its connections (one that no longer
/// validates is logged `stored_connection_invalid` and skipped); `Err` with how the step ended
/// when the destination is missing or no longer valid (`dead`), or D1 failed.
async fn load_destination(
    runner: &Runner<'_, '_>,
    fields: &StepFields<'_>,
    row: &StepRow,
    name: &str,
) -> Result<Loaded, Ack> {
    let note = match destination_for_step(runner.db, name).await {
        Ok(Some(stored)) => match (
            open_destination(runner.env, &stored.destination).await,
            read_destination_connections(stored.connections.as_deref()),
        ) {
            (Ok(destination), Ok(connections)) => {
                log_unreadable(connections.as_ref());
                return Ok(Loaded {
                    destination,
                    line: stored.line,
                    connections,
                });
            }
            (Err(_), _) => "destination_invalid",
            (_, Err(_)) => CONNECTION_INVALID,
        },
        Ok(None) => "destination_missing",
        Err(e) => return Err(storage_failed(e)),
    };
    Err(end_without_call(runner, fields, row, name, note).await)
}

/// Each of the destination's stored connections that no longer validates, as routing logs it.
fn log_unreadable(connections: Option<&DestinationConnections>) {
    for unreadable in connections.iter().flat_map(|c| &c.unreadable) {
        log::error("stored_connection_invalid", unreadable);
    }
}

/// The delivery before its signature (the core's `step_delivery`); `Err` with the note the
/// step ends `dead` with.
fn shape(
    row: &StepRow,
    payload: &str,
    connections: Option<&DestinationConnections>,
) -> Result<Transformed, &'static str> {
    let fields = EventFields {
        id: &row.event_id,
        event_type: &row.event_type,
        provider: &row.provider,
        account: row.account.as_deref(),
    };
    let event = DeliveredEvent { fields, payload };
    step_delivery(&event, row.source.as_deref(), connections)
}

/// The destination is paused: park the step (no attempt) and look again later.
async fn park(db: &BatchWindow<'_>, fields: &StepFields<'_>) -> Ack {
    let wait = Wait {
        secs: PAUSED_PARK_SECS,
        reason: PAUSED_REASON,
    };
    defer(db, fields, wait, now_ms()).await
}

/// Ask for the destination's next release (after parking this step at its place in the line,
/// when it `joins`), send what it released, and ack: the step goes when its page does.
async fn ask_release(
    runner: &Runner<'_, '_>,
    fields: &StepFields<'_>,
    name: &str,
    joins: bool,
) -> Ack {
    let (db, now) = (runner.db, now_ms());
    let mut statements = Vec::new();
    if joins {
        match line::join_line(db, fields.step_id, now) {
            Ok(join) => statements.push(join),
            Err(e) => return storage_failed(e),
        }
    }
    match release_statement(runner, name, now) {
        Ok(release) => statements.push(release),
        Err(e) => return storage_failed(e),
    }
    let answers = match db.shared_batch(statements).await {
        Ok(answers) => answers,
        Err(e) => return storage_failed(e),
    };
    if joins && answers.first().is_some_and(|a| a.changes() > 0) {
        log::step(fields, "deferred", None, PAUSED_REASON, 0, true);
    }
    if let Some(release) = answers.last() {
        send_page(runner, name, release).await;
    }
    Ack::Ack
}

/// The statement releasing destination `name`'s next page (of the configured page size).
fn release_statement(
    runner: &Runner<'_, '_>,
    name: &str,
    now: i64,
) -> worker::Result<worker::D1PreparedStatement> {
    line::release_page(runner.db, name, runner.settings.drain_page, now)
}

/// Claim a step its drain released, asking in the same transaction for the next release (the
/// claim of a page's last step lets it go), and send what that released.
async fn claim_released(
    runner: &Runner<'_, '_>,
    fields: &StepFields<'_>,
    name: &str,
    limits: Limits,
) -> ForCall {
    let release = match release_statement(runner, name, now_ms()) {
        Ok(release) => release,
        Err(e) => return ForCall::Done(storage_failed(e)),
    };
    let (for_call, released) = claim_for_call_then(runner.db, fields, name, limits, release).await;
    if let Some(release) = released {
        send_page(runner, name, &release).await;
    }
    for_call
}

/// Send the steps a release statement answered (nothing when it released none).
async fn send_page(runner: &Runner<'_, '_>, name: &str, release: &db::rows::Answer) {
    match line::released(release) {
        Ok(page) => {
            send_released(runner.env, runner.db, name, page).await;
        }
        // Released but not readable: they are `pending`, so the sweeper sends them.
        Err(e) => log::error("d1_read_failed", &e.to_string()),
    }
}

/// End the step `dead` with `note` without a call; a released step then asks for the next
/// release, so its page's end still lets the next page go.
async fn end_without_call(
    runner: &Runner<'_, '_>,
    fields: &StepFields<'_>,
    row: &StepRow,
    name: &str,
    note: &str,
) -> Ack {
    let ack = finish(runner.db, fields, StepStatus::Dead, note).await;
    if row.last_error.as_deref() == Some(DRAINING_REASON) {
        ask_release(runner, fields, name, false).await;
    }
    ack
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
    runner: &Runner<'_, '_>,
    fields: &StepFields<'_>,
    unsigned: Transformed,
    sent: Sent<'_>,
) -> Ack {
    let (db, settings) = (runner.db, runner.settings);
    let spec = signed(
        sent.destination,
        fields.step_id,
        unsigned,
        sent.started / 1000,
    );
    let outcome = {
        let _slot = runner.calls.slots.take().await;
        downstream::call(&spec, u64::from(sent.destination.timeout_ms)).await
    };
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
        charged: charges_attempt(class, sent.probing),
    };
    let health = after_call(class, outcome.status, sent.probing);
    let changed = match record_attempt(db, &record, &sent, health, finished).await {
        Ok(changed) => changed,
        Err(e) => {
            // Even the retries failed: the sweeper counts the attempt as lost after the lease.
            log::error("d1_write_failed", &e.to_string());
            return Ack::Ack;
        }
    };
    let error = record.error.unwrap_or("");
    let status = next.status.as_str();
    log::step(
        fields,
        status,
        outcome.status,
        error,
        record.duration_ms,
        changed,
    );
    ack_for(next.message)
}

/// The attempt, the step's next state and the destination's health, in one D1 batch retried in
/// place while D1 fails (`record::batch_with_retries`, as the built-in steps record theirs: a
/// delivery left unrecorded would be sent again by the sweeper): whether the step was still
/// this claim's to record (`db::attempts::recorded`).
async fn record_attempt(
    db: &BatchWindow<'_>,
    record: &AttemptRecord<'_>,
    sent: &Sent<'_>,
    health: HealthChange,
    finished: i64,
) -> worker::Result<bool> {
    let name = sent.destination.name.as_str();
    let statements = || -> worker::Result<Vec<D1PreparedStatement>> {
        let mut statements = db::attempts::attempt_statements(db, record, finished)?;
        statements.extend(db::health::record_health(
            db,
            name,
            record.step_id,
            health,
            sent.limits,
            finished,
        )?);
        Ok(statements)
    };
    batch_with_retries(db, record.step_id, statements)
        .await
        .map(|answers| db::attempts::recorded(&answers, 0))
}
