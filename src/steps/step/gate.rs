//! Claiming a step for an HTTP call through its destination's gate, in one D1 round trip: the
//! claim (for a step that overwrites an entity, only in its turn) and the call's check in the
//! destination's budget (counted only if the claim applied) are one batch, and the core's
//! `limits::gate` then decides from the counters it returned. A claimed step that must wait
//! (circuit open, budget spent, or a half-open circuit whose probe another step took) is given
//! back at once: it ends exactly as a deferral leaves it, without spending an attempt. Both the
//! built-in steps (`call`) and `http` destinations (`deliver`) claim their calls here; a step a
//! drain released adds one statement to its claim's transaction (`claim_for_call_then`: the
//! request for its destination's next page).

use crate::db::batch_window::BatchWindow;
use edgehooks_handlers::steps::limits::{gate, probe_taken, Gate, Health, Limits, Wait};
use worker::D1PreparedStatement;

use super::record::batch_with_retries;
use super::{storage_failed, Ack};
use crate::clock::now_ms;
use crate::db;
use crate::db::claims::Budget;
use crate::db::claims::Claim;
use crate::db::claims::EntityClaim;
use crate::db::claims::HeldClaim;
use crate::db::rows::Answer;
use crate::log;

/// A step claimed for a call its destination's gate let through.
#[derive(Clone, Copy)]
pub(super) struct Cleared {
    pub(super) attempt: i64,
    pub(super) started: i64,
    /// Whether it holds the half-open circuit's probe lease.
    pub(super) probing: bool,
    /// Whether its claim counted a call in the budget and the gate let that call through (a
    /// probe still to be taken, or a claim that only read the counters, did not).
    pub(super) counted: bool,
}

/// How a step's call goes out, for its claim.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Joining {
    /// A call of its own: counted by its claim.
    Alone,
    /// An input of a batch call, whose claim counts that call for everyone in it (the first of
    /// its window to claim): the half-open circuit's probe is the call's to take.
    Charges,
    /// An input of a batch call counted by another claim or when it goes out: its claim only
    /// reads the counters.
    Peeks,
}

/// How claiming a step for a call ended.
pub(super) enum ForCall {
    /// Claimed and let through: make the call.
    Call(Cleared),
    /// The claim was refused (see [`Claim`]); nothing was counted.
    Refused(Claim),
    /// Claimed but made to wait (the claim given back), or D1 failed: what to tell Queues.
    Done(Ack),
}

/// Claim step `fields.step_id` for a call to `destination` and pass the destination's gate.
/// `joining` says whether the call is the step's own or an input of a batch call
/// (`calls::upserts`), and who counts it.
pub(super) async fn claim_for_call(
    db: &BatchWindow<'_>,
    fields: &log::StepFields<'_>,
    entity: Option<&EntityClaim<'_>>,
    destination: &str,
    limits: Limits,
    joining: Joining,
) -> ForCall {
    let now = now_ms();
    let budget = Budget {
        destination,
        limits,
        joins_call: joining == Joining::Peeks,
    };
    match db::claims::claim_for_call(db, fields.step_id, entity, &budget, now).await {
        Ok(answer) => pass_gate(db, fields, &budget, joining, answer, now).await,
        Err(e) => ForCall::Done(storage_failed(e)),
    }
}

/// [`claim_for_call`] with `then` in the claim's transaction, whatever the claim got; with
/// `then`'s answer (`None` when D1 failed).
pub(super) async fn claim_for_call_then(
    db: &BatchWindow<'_>,
    fields: &log::StepFields<'_>,
    destination: &str,
    limits: Limits,
    then: D1PreparedStatement,
) -> (ForCall, Option<Answer>) {
    let now = now_ms();
    let budget = Budget {
        destination,
        limits,
        joins_call: false,
    };
    match db::claims::claim_for_call_then(db, fields.step_id, &budget, now, then).await {
        Ok((answer, then)) => (
            pass_gate(db, fields, &budget, Joining::Alone, answer, now).await,
            then,
        ),
        Err(e) => (ForCall::Done(storage_failed(e)), None),
    }
}

/// What a claim at `now` got, through the destination's gate.
async fn pass_gate(
    db: &BatchWindow<'_>,
    fields: &log::StepFields<'_>,
    budget: &Budget<'_>,
    joining: Joining,
    (claim, health): (Claim, Health),
    now: i64,
) -> ForCall {
    let Claim::Claimed(attempt) = claim else {
        return ForCall::Refused(claim);
    };
    let cleared = |probing, counted| {
        ForCall::Call(Cleared {
            attempt,
            started: now,
            probing,
            counted,
        })
    };
    let held = HeldClaim {
        attempt,
        claimed_at_ms: now,
    };
    match gate(budget.limits, health, now) {
        Gate::Proceed => cleared(false, !budget.joins_call),
        // The batch call takes the probe when it goes out.
        Gate::Probe { .. } if joining != Joining::Alone => cleared(false, false),
        Gate::Wait(wait) => ForCall::Done(give_back(db, fields, held, wait).await),
        Gate::Probe { lease_until_ms } => {
            let taken = db::health::take_probe(
                db,
                budget.destination,
                fields.step_id,
                health,
                lease_until_ms,
            );
            match taken.await {
                Ok(true) => cleared(true, true),
                Ok(false) => ForCall::Done(give_back(db, fields, held, probe_taken()).await),
                Err(e) => {
                    // Not known to be the probe: wait as if another step were.
                    log::error("d1_failed", &e.to_string());
                    ForCall::Done(give_back(db, fields, held, probe_taken()).await)
                }
            }
        }
    }
}

/// Give back the claim `held` of a step that must wait: `enqueued` with its due time and
/// reason, the claim's attempt given back (as a deferral before the claim would have left it),
/// and a fresh message after the wait. Retried in place if D1 fails (left alone, the step would
/// stay `running` until its lease ran out and its attempt would count as lost). A step no
/// longer running under this claim is left to whoever now has it.
pub(super) async fn give_back(
    db: &BatchWindow<'_>,
    fields: &log::StepFields<'_>,
    held: HeldClaim,
    wait: Wait,
) -> Ack {
    give_back_behind(db, fields, held, wait, None).await
}

/// [`give_back`], recording that the step was handed back behind step `ahead` (when `Some`):
/// until that one has ended, each load of this one puts it off again (the core's
/// `steps::behind`).
pub(super) async fn give_back_behind(
    db: &BatchWindow<'_>,
    fields: &log::StepFields<'_>,
    held: HeldClaim,
    wait: Wait,
    ahead: Option<&str>,
) -> Ack {
    let now = now_ms();
    let delay_ms = i64::try_from(wait.secs).map_or(i64::MAX, |s| s.saturating_mul(1000));
    let due = now.saturating_add(delay_ms);
    let statements = || {
        let unclaim = db::claims::unclaim(db, fields.step_id, held, wait.reason, due, now, ahead)?;
        Ok(vec![unclaim])
    };
    match batch_with_retries(db, fields.step_id, statements).await {
        Ok(results) if results.first().is_some_and(|r| r.changes() > 0) => {
            log::step(fields, "deferred", None, wait.reason, 0, true);
            Ack::Resend(wait.secs)
        }
        Ok(_) => Ack::Ack,
        Err(e) => storage_failed(e),
    }
}
