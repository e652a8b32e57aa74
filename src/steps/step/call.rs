//! An HTTP attempt of a step, in phases: claim the step through the destination's gate (budget,
//! circuit, and the probe lease of a half-open circuit: `gate`), make the call, let the core decide what
//! it means (response class, attempts charged, the step's next state, what a success writes),
//! and record it all in one D1 transaction. A customer lookup the planner asked for is such an
//! attempt too (against the Stripe destination's budget and circuit); its success stores the
//! customer and the step is planned again.

use edgehooks_handlers::downstream::customers::explain_lookup_failure;
use edgehooks_handlers::downstream::hubspot_batch::upsert_input;
use edgehooks_handlers::downstream::{CustomerLookup, HttpRequestSpec};
use edgehooks_handlers::step_kind::{Destination, StepKind};
use edgehooks_handlers::steps::lifecycle::effects::{lookup_success, step_success};
use edgehooks_handlers::steps::lifecycle::{
    after_attempt, attempts_made, classify_response, AttemptFor, MessageAction, StepStatus,
    SuccessEffect, Transition, RESOLVED,
};
use edgehooks_handlers::steps::limits::{after_call, charges_attempt, Limits};
use edgehooks_handlers::steps::retry::{parse_retry_after, ResponseClass};
use worker::D1PreparedStatement;

use super::gate::{claim_for_call, give_back, give_back_behind, Cleared, ForCall, Joining};
use super::work::{ack_for, Work};
use super::{Ack, Pass};
use crate::clock::now_ms;
use crate::db;
use crate::db::attempts::AttemptRecord;
use crate::db::claims::HeldClaim;
use crate::downstream::{self, CallOutcome};
use crate::log;
use crate::steps::calls::upserts::{CallReport, Join, Joined};
use edgehooks_handlers::consumer::ConsumerSettings;

/// What an HTTP attempt of a step is for.
#[derive(Clone, Copy)]
pub(super) enum Call<'a> {
    /// The step's own request: a 2xx finishes it.
    Step(&'a HttpRequestSpec),
    /// A lookup of the Stripe customer the step is about (to the Stripe destination): a 2xx
    /// stores the customer and the step goes on.
    Lookup(&'a CustomerLookup),
}

impl<'a> Call<'a> {
    fn target(self, kind: StepKind) -> (Destination, &'a HttpRequestSpec) {
        match self {
            Call::Step(spec) => (kind.destination(), spec),
            Call::Lookup(lookup) => (Destination::Stripe, &lookup.request),
        }
    }
}

/// Whose outcome the destination's circuit sees from this attempt.
enum Reports {
    /// The step's own call: its class.
    Own,
    /// A share of a batch call: the whole call for the one input that reports it, nothing for
    /// the others.
    Call(Option<CallReport>),
}

/// An attempt about to be recorded: where it went, under which claim, and the class and status
/// of the call it reports to the destination's circuit (`None`: another input of its batch call
/// does).
struct Recorded {
    destination: Destination,
    limits: Limits,
    claimed: Cleared,
    health: Option<(ResponseClass, Option<u16>)>,
    /// The step the circuit knows the call by (`None`: this one): a batch call's probe is
    /// taken in its first input's name, whichever input reports it.
    circuit_step: Option<String>,
}

/// What the core made of a finished call.
struct Verdict {
    class: ResponseClass,
    /// Whether the attempt counts against the step's `MAX_ATTEMPTS`.
    charged: bool,
    next: Transition,
    /// What the success writes besides the step's state.
    effect: Option<SuccessEffect>,
}

impl Work<'_> {
    /// Claim the step through the destination's gate, make `call` and record it. A lookup that
    /// found its customer stores it and gives [`Pass::Again`]: the step is claimable again and
    /// is planned anew with the customer.
    pub(super) async fn http(&self, call: Call<'_>, settings: &ConsumerSettings) -> Pass {
        let (destination, spec) = call.target(self.kind);
        let limits = settings
            .budgets
            .limits(destination)
            .with_call_timeout(settings.timeout_ms)
            .with_cool_down(settings.cool_down_ms);
        // A HubSpot contact upsert joins the invocation's batch call, which is counted once.
        let joining = match call {
            Call::Step(spec) if self.kind == StepKind::HubSpotUpsertContact => {
                upsert_input(self.step_id, &spec.body)
            }
            _ => None,
        };
        // The first of the window's upserts to claim counts the batch call in its claim.
        let joins = match &joining {
            None => Joining::Alone,
            Some(_) if self.calls.upserts.take_charge() => Joining::Charges,
            Some(_) => Joining::Peeks,
        };
        let claimed = match claim_for_call(
            self.db,
            &self.fields,
            self.entity,
            destination.name(),
            limits,
            joins,
        )
        .await
        {
            ForCall::Call(cleared) => cleared,
            ForCall::Refused(claim) => return Pass::Done(self.refused(claim).await),
            ForCall::Done(ack) => return Pass::Done(ack),
        };
        let (outcome, claimed, reports) = match joining {
            Some(input) => {
                let join = Join {
                    input,
                    spec,
                    occurred_at_ms: self.row.occurred_at,
                    limits,
                    timeout_ms: settings.timeout_ms,
                    charged: joins == Joining::Charges && claimed.counted,
                };
                match self
                    .calls
                    .upserts
                    .join(self.db, &self.calls.slots, join)
                    .await
                {
                    Joined::Answered(share) => {
                        let claimed = Cleared {
                            probing: share.probing,
                            ..claimed
                        };
                        (share.outcome, claimed, Reports::Call(share.reports))
                    }
                    Joined::Wait(wait) => {
                        let held = HeldClaim {
                            attempt: claimed.attempt,
                            claimed_at_ms: claimed.started,
                        };
                        return Pass::Done(give_back(self.db, &self.fields, held, wait).await);
                    }
                    Joined::Behind { wait, ahead } => {
                        let held = HeldClaim {
                            attempt: claimed.attempt,
                            claimed_at_ms: claimed.started,
                        };
                        let back =
                            give_back_behind(self.db, &self.fields, held, wait, Some(&ahead));
                        return Pass::Done(back.await);
                    }
                }
            }
            None => {
                let _slot = self.calls.slots.take().await;
                let outcome = downstream::call(spec, settings.timeout_ms).await;
                (outcome, claimed, Reports::Own)
            }
        };
        let outcome = match call {
            Call::Step(_) => outcome.explained(self.kind),
            Call::Lookup(_) => outcome.explained_with(explain_lookup_failure),
        };
        let finished = now_ms();
        let verdict = self.judge(call, &outcome, claimed, settings, finished);
        let (health, circuit_step) = match reports {
            Reports::Own => (Some((verdict.class, outcome.status)), None),
            Reports::Call(Some(call)) => (Some((call.class, call.status)), Some(call.probe_step)),
            Reports::Call(None) => (None, None),
        };
        let recorded = Recorded {
            destination,
            limits,
            claimed,
            health,
            circuit_step,
        };
        self.record_call(&recorded, &outcome, &verdict, finished)
            .await
    }

    /// The core's reading of the call: its class, whether it is charged, the step's next state
    /// and what a success writes.
    fn judge(
        &self,
        call: Call<'_>,
        outcome: &CallOutcome,
        claimed: Cleared,
        settings: &ConsumerSettings,
        finished: i64,
    ) -> Verdict {
        let class = classify_response(outcome.status, outcome.unsendable);
        let retry_after = outcome
            .retry_after
            .as_deref()
            .and_then(|v| parse_retry_after(v, finished / 1000));
        // A failed half-open probe tested the destination for every waiting step: it is
        // recorded, but not charged to this step's MAX_ATTEMPTS.
        let made = attempts_made(claimed.attempt, class, claimed.probing);
        let decision = settings
            .policy
            .decide(class, made, retry_after, js_sys::Math::random());
        let body = outcome.body.as_deref();
        let (what, effect) = match call {
            Call::Step(_) => (AttemptFor::Step, None),
            Call::Lookup(lookup) => {
                let found = lookup_success(&lookup.customer_id, body);
                (
                    AttemptFor::Lookup {
                        found: found.is_some(),
                    },
                    found,
                )
            }
        };
        let next = after_attempt(decision, what, finished);
        let effect = match (call, next.status) {
            (Call::Step(_), StepStatus::Succeeded) => step_success(self.kind, self.input, body),
            (Call::Lookup(_), _) if next.message == MessageAction::PlanAgain => effect,
            _ => None,
        };
        Verdict {
            class,
            charged: charges_attempt(class, claimed.probing),
            next,
            effect,
        }
    }

    /// Record the attempt with everything it changes in one transaction (retried in place), log
    /// it, and say what follows.
    async fn record_call(
        &self,
        recorded: &Recorded,
        outcome: &CallOutcome,
        verdict: &Verdict,
        finished: i64,
    ) -> Pass {
        let (destination, limits, claimed) =
            (recorded.destination, recorded.limits, recorded.claimed);
        let next = verdict.next;
        let planned_again = next.message == MessageAction::PlanAgain;
        let record = self.attempt_record(claimed, outcome, verdict, finished);
        let health = recorded
            .health
            .map(|(class, status)| after_call(class, status, claimed.probing));
        let statements = || -> worker::Result<Vec<D1PreparedStatement>> {
            let mut statements = db::attempts::attempt_statements(self.db, &record, finished)?;
            let name = destination.name();
            if let Some(health) = health {
                statements.extend(db::health::record_health(
                    self.db,
                    name,
                    recorded.circuit_step.as_deref().unwrap_or(self.step_id),
                    health,
                    limits,
                    finished,
                )?);
            }
            if next.status == StepStatus::Succeeded {
                statements.extend(self.version_statement()?);
            }
            if let Some(effect) = &verdict.effect {
                statements.push(self.effect_statement(effect, finished)?);
            }
            Ok(statements)
        };
        // Counted only when the record changed the step: not when the sweeper had already
        // counted the attempt lost (the step is another claim's, or `dead`), nor when it failed.
        let (pass, changed) = match self.record_with_retries(statements).await {
            Ok(false) => (Pass::Done(Ack::Ack), false),
            Ok(true) if planned_again => (Pass::Again, true),
            Ok(true) => (Pass::Done(ack_for(next.message)), true),
            Err(e) => {
                // The call happened but even the retries could not record it; the step stays
                // `running` and the sweeper counts the attempt as lost after its lease.
                log::error("d1_write_failed", &e.to_string());
                (Pass::Done(Ack::Ack), false)
            }
        };
        let logged = record.outcome.unwrap_or(next.status.as_str());
        let error = record.error.unwrap_or("");
        log::step(
            &self.fields,
            logged,
            outcome.status,
            error,
            record.duration_ms,
            changed,
        );
        pass
    }

    /// The attempt as recorded: its call's status and error (or the core's), and the step's
    /// next state.
    fn attempt_record<'r>(
        &'r self,
        claimed: Cleared,
        outcome: &'r CallOutcome,
        verdict: &Verdict,
        finished: i64,
    ) -> AttemptRecord<'r> {
        let next = verdict.next;
        let planned_again = next.message == MessageAction::PlanAgain;
        AttemptRecord {
            step_id: self.step_id,
            n: claimed.attempt,
            started_at_ms: claimed.started,
            duration_ms: finished - claimed.started,
            http_status: outcome.status,
            error: next.error.or(outcome.error.as_deref()),
            step_status: next.status,
            next_attempt_at_ms: next.next_attempt_at_ms,
            outcome: planned_again.then_some(RESOLVED),
            charged: verdict.charged,
        }
    }
}
