//! Carrying out one step: load it with its event, plan it in the core, claim it — for a step
//! that overwrites an entity, only when it is its turn, in the same D1 transaction as the claim
//! (a stale step ends `skipped_stale`, one whose entity is busy is put off) —, and for an HTTP
//! call count it in the destination's budget in that same transaction and respect the budget
//! and circuit (a claimed step that must wait is given back as if deferred, not charged an
//! attempt; a half-open circuit lets only the step holding its probe lease call), do the work
//! (an HTTP call or a D1 change), and record the attempt with the step's new state, the
//! destination's health and the state its success writes, in one D1 transaction. A step the
//! event does not call for ends `skipped` with the core's reason (`skipped_stale` if its entity
//! already made it stale). A step about the person behind a Stripe customer id plans with the
//! stored customer, or first looks it up (an attempt of its own) and is planned again. A step
//! handed back behind another (`after_step`: a HubSpot upsert behind an older input of its
//! contact) is put off again, uncharged, until that one has ended, as the core's
//! `steps::behind` reads the step ahead its load returned. This file loads and plans the step
//! in named phases; `work` claims it and does local work, `gate` claims
//! it for a call, `call` makes HTTP attempts, `record` records them.

mod call;
mod deliver;
mod gate;
mod record;
mod work;

use crate::db::batch_window::BatchWindow;
use crate::steps::calls::Calls;
use edgehooks_handlers::connections::plan::PlannedStep;
use edgehooks_handlers::downstream::{
    contact_change, entity_key, plan, turn, BuildError, CallTiming, ContactLink,
    DownstreamSettings, KnownCustomer, StepAction, StepInput, Turn,
};
use edgehooks_handlers::inbound::webhook::Provider;
use edgehooks_handlers::step_kind::StepKind;
use edgehooks_handlers::steps::behind::wait_behind;
use edgehooks_handlers::steps::lifecycle::StepStatus;
use edgehooks_handlers::steps::limits::Wait;
use edgehooks_handlers::steps::timing::{secs_until_due, RUNNING_LEASE_MS};

use crate::clock::now_ms;

use crate::db;
use crate::db::claims::EntityClaim;
use crate::log;
use call::Call;
use deliver::Runner;
use edgehooks_handlers::consumer::{ConsumerSettings, MISCONFIGURED_WAIT};
use work::Work;
use worker::Env;

/// What to do with the message.
// `Ack::Ack` (done with the message) is the name every caller already uses.
#[allow(clippy::enum_variant_names)]
pub enum Ack {
    Ack,
    /// Done with this message; run the step again in this many seconds, from a fresh message
    /// (a deferral or a scheduled retry: never one of Queues' `max_retries`).
    Resend(u64),
    /// Let Queues deliver this message again (counted against `max_retries`): only when D1
    /// itself failed, so there is no record to come back from.
    RetryIn(u64),
}

/// How one pass over a step ended: with what to tell Queues, or with the customer it needed now
/// stored, so that it is planned again.
pub(crate) enum Pass {
    Done(Ack),
    Again,
}

/// The Stripe customer a planned lookup asks for, when D1 already knows it.
async fn stored_customer(
    db: &BatchWindow<'_>,
    planned: &Result<StepAction, BuildError>,
) -> worker::Result<Option<KnownCustomer>> {
    match planned {
        Ok(StepAction::Resolve(lookup)) => {
            db::customers::known_customer(db, &lookup.customer_id).await
        }
        _ => Ok(None),
    }
}

/// A D1 failure mid-step: the message comes back later (the claim, if taken, is recovered by
/// the sweeper after its lease).
fn storage_failed(e: worker::Error) -> Ack {
    log::error("d1_failed", &e.to_string());
    Ack::RetryIn(30)
}

/// End the step without a call, in `status` with `note`, and ack.
async fn finish(
    db: &BatchWindow<'_>,
    step: &log::StepFields<'_>,
    status: StepStatus,
    note: &str,
) -> Ack {
    match db::steps::finish_without_call(db, step.step_id, status, note, now_ms()).await {
        Ok(changed) => {
            log::step(step, status.as_str(), None, note, 0, changed);
            Ack::Ack
        }
        Err(e) => storage_failed(e),
    }
}

/// Put the step off for `wait` without charging an attempt or a Queues retry: D1 records it
/// `enqueued` with its due time and reason, and a fresh message comes back after the wait (if
/// that send fails, the sweeper sends it). A step that is no longer claimable (finished, or
/// running under another delivery of its message) is left to whoever runs it.
async fn defer(db: &BatchWindow<'_>, step: &log::StepFields<'_>, wait: Wait, now: i64) -> Ack {
    let delay_ms = i64::try_from(wait.secs).map_or(i64::MAX, |s| s.saturating_mul(1000));
    let due = now.saturating_add(delay_ms);
    match db::steps::defer(db, step.step_id, wait.reason, due, now).await {
        Ok(true) => {
            log::step(step, "deferred", None, wait.reason, 0, true);
            Ack::Resend(wait.secs)
        }
        Ok(false) => Ack::Ack,
        Err(e) => storage_failed(e),
    }
}

/// The consumer's settings are broken: the step waits in D1 (`enqueued`, `misconfigured`) and
/// comes back in a fresh message, spending no attempt and no Queues retry.
pub async fn wait_misconfigured(db: &BatchWindow<'_>, step_id: &str) -> Ack {
    defer(
        db,
        &log::StepFields::id(step_id),
        MISCONFIGURED_WAIT,
        now_ms(),
    )
    .await
}

/// Carry out a verdict that the step may not call now: `skipped_stale`, or a delay while an
/// older step of its entity calls. `None` for [`Turn::Go`].
async fn not_its_turn(
    db: &BatchWindow<'_>,
    step: &log::StepFields<'_>,
    verdict: Turn,
) -> Option<Ack> {
    match verdict {
        Turn::Go => None,
        Turn::Stale { reason } => Some(finish(db, step, StepStatus::SkippedStale, reason).await),
        Turn::Wait { secs } => {
            let wait = Wait {
                secs,
                reason: "entity_busy",
            };
            Some(defer(db, step, wait, now_ms()).await)
        }
    }
}

/// A step the core cannot plan ends `dead` with the reason's code (a disabled destination is
/// also logged, naming the missing setting's destination).
async fn unplannable(db: &BatchWindow<'_>, step: &log::StepFields<'_>, e: &BuildError) -> Ack {
    if let BuildError::DestinationDisabled(d) = e {
        log::error(
            "destination_disabled",
            &format!("{} has no token or URL configured", d.name()),
        );
    }
    finish(db, step, StepStatus::Dead, &e.code()).await
}

/// Run the step `step_id`. `preloaded` is its row as the message batch's one query read it;
/// `None` loads it here. A second pass (after a customer lookup) always reads it again.
pub async fn run(
    env: &Env,
    db: &BatchWindow<'_>,
    calls: &Calls,
    step_id: &str,
    preloaded: Option<db::steps::StepRow>,
    settings: &ConsumerSettings,
    downstream: &DownstreamSettings,
) -> Ack {
    let mut preloaded = preloaded;
    let runner = Runner {
        env,
        db,
        calls,
        settings,
    };
    // At most one customer lookup per delivery: the second pass finds it stored.
    for _ in 0..2 {
        let row = match preloaded.take() {
            Some(row) => claimable(row),
            None => load(db, step_id).await,
        };
        if let Pass::Done(ack) = run_step(&runner, step_id, row, downstream).await {
            return ack;
        }
    }
    Ack::Resend(1)
}

/// A loaded step that can be planned: its row, kind and log fields.
struct Loaded<'a> {
    row: &'a db::steps::StepRow,
    kind: StepKind,
    provider: Provider,
    payload: &'a str,
}

/// One pass over the loaded step: plan it, screen it against its entity, then do its work.
async fn run_step(
    runner: &Runner<'_, '_>,
    step_id: &str,
    loaded: Result<db::steps::StepRow, Pass>,
    downstream: &DownstreamSettings,
) -> Pass {
    let db = runner.db;
    let row = match loaded {
        Ok(row) => row,
        Err(pass) => return pass,
    };
    if let Some(ack) = behind_another(runner, step_id, &row).await {
        return Pass::Done(ack);
    }
    if let Some(PlannedStep::Http(destination)) = PlannedStep::from_name(&row.name) {
        let fields = log::StepFields {
            step_id,
            name: Some(&row.name),
            destination: Some(&destination),
            provider: Some(&row.provider),
            event_type: Some(&row.event_type),
        };
        return Pass::Done(deliver::run(runner, &fields, &row, &destination).await);
    }
    let kind = StepKind::from_name(&row.name);
    let fields = fields_of(step_id, &row, kind);
    let Some(kind) = kind else {
        return Pass::Done(finish(db, &fields, StepStatus::Dead, "unknown_step").await);
    };
    let (Some(provider), Some(payload)) =
        (Provider::from_slug(&row.provider), row.payload.as_deref())
    else {
        return Pass::Done(finish(db, &fields, StepStatus::Dead, "payload_unavailable").await);
    };
    let loaded = Loaded {
        row: &row,
        kind,
        provider,
        payload,
    };
    let link = match linked_contact(db, kind, payload).await {
        Ok(link) => link,
        Err(e) => return Pass::Done(storage_failed(e)),
    };
    let first = StepInput {
        step_id,
        provider: loaded.provider,
        event_type: &row.event_type,
        payload: loaded.payload,
        occurred_at_ms: row.occurred_at,
        account: row.account.as_deref(),
        link: link.as_ref(),
        customer: None,
    };
    // A step about the person behind a Stripe customer id: plan with the stored customer.
    let planned = plan(kind, &first, downstream);
    let customer = match stored_customer(db, &planned).await {
        Ok(customer) => customer,
        Err(e) => return Pass::Done(storage_failed(e)),
    };
    let input = StepInput {
        customer: customer.as_ref(),
        ..first
    };
    let planned = match &customer {
        Some(_) => plan(kind, &input, downstream),
        None => planned,
    };
    let action = match planned {
        Ok(action) => action,
        Err(e) => return Pass::Done(unplannable(db, &fields, &e).await),
    };
    carry_out(runner, &loaded, fields, &input, action).await
}

/// A step handed back behind another that has not ended is put off again, uncharged, as the
/// core's `steps::behind` says (from the step ahead its load read); `None`: it may run.
async fn behind_another(
    runner: &Runner<'_, '_>,
    step_id: &str,
    row: &db::steps::StepRow,
) -> Option<Ack> {
    let now = now_ms();
    let timing = CallTiming {
        timeout_ms: runner.settings.timeout_ms,
        lease_ms: RUNNING_LEASE_MS,
    };
    let wait = wait_behind(row.ahead, now, timing)?;
    let fields = fields_of(step_id, row, StepKind::from_name(&row.name));
    Some(defer(runner.db, &fields, wait, now).await)
}

/// What every log line about the step names.
fn fields_of<'a>(
    step_id: &'a str,
    row: &'a db::steps::StepRow,
    kind: Option<StepKind>,
) -> log::StepFields<'a> {
    log::StepFields {
        step_id,
        name: Some(&row.name),
        destination: kind.map(|k| k.destination().name()),
        provider: Some(&row.provider),
        event_type: Some(&row.event_type),
    }
}

/// Load the step with its event: `Err` with how the pass ends when it is unknown, no longer
/// claimable (finished, or running under another message) or D1 failed.
async fn load(db: &BatchWindow<'_>, step_id: &str) -> Result<db::steps::StepRow, Pass> {
    match db::steps::load_step(db, step_id).await {
        Ok(Some(row)) => claimable(row),
        Ok(None) => {
            log::error("unknown_step", step_id);
            Err(Pass::Done(Ack::Ack))
        }
        Err(e) => Err(Pass::Done(storage_failed(e))),
    }
}

/// A loaded row goes on only while claimable and due: finished (at-least-once delivery sent it
/// again) or running under another message, the message is acked (the claim would refuse it
/// anyway); claimable but not yet due (a duplicate of a message that scheduled a retry or a
/// wait), it comes back at the due time in a fresh message, writing nothing, so that a
/// `Retry-After` is honoured whichever message arrives first (the claim refuses it too).
fn claimable(row: db::steps::StepRow) -> Result<db::steps::StepRow, Pass> {
    let claimable = StepStatus::parse(&row.status).is_some_and(StepStatus::is_claimable);
    if !claimable {
        return Err(Pass::Done(Ack::Ack));
    }
    match secs_until_due(row.due_at, now_ms()) {
        Some(secs) => Err(Pass::Done(Ack::Resend(secs))),
        None => Ok(row),
    }
}

/// stripe.update_customer needs the Stripe customer linked to the HubSpot contact.
async fn linked_contact(
    db: &BatchWindow<'_>,
    kind: StepKind,
    payload: &str,
) -> worker::Result<Option<ContactLink>> {
    if kind != StepKind::StripeUpdateCustomer {
        return Ok(None);
    }
    match contact_change(payload) {
        Ok(change) => db::links::contact_link(db, &change.contact_id).await,
        Err(_) => Ok(None),
    }
}

/// The entity the step overwrites: as ingest stored it with the step, else (a row stored before
/// ingest recorded entities) read from the event again by the core's rule.
fn entity_of(row: &db::steps::StepRow, kind: StepKind, input: &StepInput<'_>) -> Option<String> {
    row.entity.clone().or_else(|| entity_key(kind, input))
}

/// Do the planned step's work (a skip first screened against its entity).
async fn carry_out(
    runner: &Runner<'_, '_>,
    loaded: &Loaded<'_>,
    fields: log::StepFields<'_>,
    input: &StepInput<'_>,
    action: StepAction,
) -> Pass {
    let (db, settings) = (runner.db, runner.settings);
    let (row, kind, step_id) = (loaded.row, loaded.kind, input.step_id);
    let ordering = entity_of(row, kind, input).zip(row.occurred_at);
    let entity = ordering.as_ref().map(|(key, occurred_at)| EntityClaim {
        entity: key,
        name: &row.name,
        occurred_at_ms: *occurred_at,
        event_id: &row.event_id,
        stored: row.entity.is_some(),
    });
    let timing = CallTiming {
        timeout_ms: settings.timeout_ms,
        lease_ms: RUNNING_LEASE_MS,
    };
    if let (Some(claim), StepAction::Skip(_)) = (&entity, &action) {
        // A deliberate skip takes no claim, so only this look tells it that its entity already
        // made it stale. Every other step learns that from its claim, in the same round trip.
        if let Some(pass) = screen(db, &fields, claim, timing).await {
            return pass;
        }
    }
    let work = Work {
        db,
        calls: runner.calls,
        step_id,
        fields,
        kind,
        row,
        input,
        entity: entity.as_ref(),
        timing,
    };
    match action {
        // The event does not call for the step (e.g. our own HubSpot write echoing back, a
        // contact linked to no Stripe customer, a deleted customer): `skipped`, with the reason.
        StepAction::Skip(reason) => {
            Pass::Done(finish(db, &fields, StepStatus::Skipped, reason.code()).await)
        }
        StepAction::Local(action) => Pass::Done(work.local(&action, settings).await),
        StepAction::Http(spec) => work.http(Call::Step(&spec), settings).await,
        StepAction::Resolve(lookup) => work.http(Call::Lookup(&lookup), settings).await,
    }
}

/// Advisory: a skip its entity already makes stale ends `skipped_stale` here (a skip makes no
/// call, so it need not wait for one in flight). `Some` with how the pass ends when the step is
/// stale, no longer claimable, or D1 failed.
async fn screen(
    db: &BatchWindow<'_>,
    fields: &log::StepFields<'_>,
    claim: &EntityClaim<'_>,
    timing: CallTiming,
) -> Option<Pass> {
    let now = now_ms();
    match db::claims::entity_standing(db, fields.step_id, claim, now).await {
        Ok(Some(standing)) => match turn(claim.occurred_at_ms, standing, now, timing) {
            Turn::Wait { .. } => None,
            verdict => not_its_turn(db, fields, verdict).await.map(Pass::Done),
        },
        Ok(None) => Some(Pass::Done(Ack::Ack)),
        Err(e) => Some(Pass::Done(storage_failed(e))),
    }
}
